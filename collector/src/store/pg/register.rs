//! [`RegisterStore`] on PostgreSQL (see [`crate::store::register`]).

use super::{get, Pool};
use crate::store::exec::{Exec, Transact};
use crate::store::register::{self, decode, RegisterChange, RegisterStore, SELECT};
use crate::store::StoreError;
use std::sync::Arc;

/// The `register_changes` table on PostgreSQL.
pub struct PgRegisterStore {
    pool: Arc<Pool>,
}

impl PgRegisterStore {
    pub fn new(pool: Arc<Pool>) -> PgRegisterStore {
        PgRegisterStore { pool }
    }
}

impl Transact for PgRegisterStore {
    fn transaction<R>(
        &self,
        f: impl FnOnce(&mut dyn Exec) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        self.pool.transaction(f)
    }
}

impl RegisterStore for PgRegisterStore {
    fn history(&self) -> Result<Vec<RegisterChange>, StoreError> {
        let rows: Vec<[String; 5]> = self.pool.run(async |c| {
            let rows = c.sql().query(SELECT, &[]).await?;
            rows.iter()
                .map(|r| Ok([get(r, 0)?, get(r, 1)?, get(r, 2)?, get(r, 3)?, get(r, 4)?]))
                .collect()
        })?;
        rows.into_iter().map(decode).collect()
    }

    fn record(&self, changes: &[RegisterChange]) -> Result<(), StoreError> {
        register::record(self, changes)
    }
}
