//! [`ServiceUpdateStore`] on PostgreSQL (see [`crate::store::service_updates`]).

use super::{get, Pool};
use crate::store::columns::time_text as text;
use crate::store::service_updates::{decode, ServiceUpdate, ServiceUpdateStore, SELECT_SINCE};
use crate::store::StoreError;
use chrono::{DateTime, Utc};
use std::sync::Arc;

/// The `service_updates` table on PostgreSQL.
pub struct PgServiceUpdateStore {
    pool: Arc<Pool>,
}

impl PgServiceUpdateStore {
    pub fn new(pool: Arc<Pool>) -> PgServiceUpdateStore {
        PgServiceUpdateStore { pool }
    }
}

impl ServiceUpdateStore for PgServiceUpdateStore {
    fn insert(&self, u: &ServiceUpdate) -> Result<i64, StoreError> {
        self.pool.run(async |c| {
            let row = c
                .sql()
                .one(
                    "INSERT INTO service_updates (service_id, since, at, by, text)
                     VALUES ($1, $2, $3, $4, $5) RETURNING id",
                    &[&u.service_id, &text(u.since), &text(u.at), &u.by, &u.text],
                )
                .await?;
            get(&row, 0)
        })
    }

    fn since(&self, from: DateTime<Utc>) -> Result<Vec<ServiceUpdate>, StoreError> {
        let rows = self.pool.run(async |c| {
            let rows = c.sql().query(SELECT_SINCE, &[&text(from)]).await?;
            rows.iter()
                .map(|r| {
                    Ok((
                        get(r, 0)?,
                        get(r, 1)?,
                        get(r, 2)?,
                        get(r, 3)?,
                        get(r, 4)?,
                        get(r, 5)?,
                    ))
                })
                .collect::<Result<Vec<_>, StoreError>>()
        })?;
        rows.into_iter().map(decode).collect()
    }
}
