//! [`RegisterStore`] in SQLite (see [`crate::store::register`]).

use super::Handle;
use crate::store::exec::{Exec, Transact};
use crate::store::register::{self, decode, RegisterChange, RegisterStore, SELECT};
use crate::store::StoreError;
use std::path::Path;

/// The `register_changes` table in the collector's SQLite file.
#[derive(Debug)]
pub struct SqliteRegisterStore {
    conn: Handle,
}

impl SqliteRegisterStore {
    /// Opens (creating if needed) the table in the SQLite database at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Ok(SqliteRegisterStore {
            conn: Handle::open(path)?,
        })
    }
}

impl Transact for SqliteRegisterStore {
    fn transaction<R>(
        &self,
        f: impl FnOnce(&mut dyn Exec) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        super::transaction(&mut self.conn.lock(), f)
    }
}

impl RegisterStore for SqliteRegisterStore {
    fn history(&self) -> Result<Vec<RegisterChange>, StoreError> {
        let conn = self.conn.lock();
        let mut stmt = conn.prepare(SELECT)?;
        let rows = stmt
            .query_map([], |r| {
                Ok([r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?])
            })?
            .collect::<Result<Vec<[String; 5]>, _>>()?;
        rows.into_iter().map(decode).collect()
    }

    fn record(&self, changes: &[RegisterChange]) -> Result<(), StoreError> {
        register::record(self, changes)
    }
}
