//! [`AnnouncedStore`] on PostgreSQL (see [`crate::store::announced`]).

use super::{get, Pool};
use crate::store::announced::{decode, encode, Announced, AnnouncedStore};
use crate::store::StoreError;
use std::sync::Arc;

/// The `alerting_state` table on PostgreSQL.
pub struct PgAnnouncedStore {
    pool: Arc<Pool>,
}

impl PgAnnouncedStore {
    pub fn new(pool: Arc<Pool>) -> PgAnnouncedStore {
        PgAnnouncedStore { pool }
    }
}

impl AnnouncedStore for PgAnnouncedStore {
    fn all(&self) -> Result<Vec<Announced>, StoreError> {
        let rows: Vec<(String, String, String)> = self.pool.run(async |c| {
            let rows = c
                .sql()
                .query(
                    "SELECT key, since, event FROM alerting_state ORDER BY key",
                    &[],
                )
                .await?;
            rows.iter()
                .map(|r| Ok((get(r, 0)?, get(r, 1)?, get(r, 2)?)))
                .collect()
        })?;
        rows.into_iter()
            .map(|(key, since, event)| decode(key, &since, &event))
            .collect()
    }

    fn put(&self, a: &Announced) -> Result<(), StoreError> {
        let (since, event) = encode(a)?;
        self.pool.run(async |c| {
            c.sql()
                .exec(
                    "INSERT INTO alerting_state (key, since, event) VALUES ($1, $2, $3)
                     ON CONFLICT (key) DO UPDATE SET since = EXCLUDED.since, event = EXCLUDED.event",
                    &[&a.key, &since, &event],
                )
                .await
        })?;
        Ok(())
    }

    fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.pool.run(async |c| {
            c.sql()
                .exec("DELETE FROM alerting_state WHERE key = $1", &[&key])
                .await
        })?;
        Ok(())
    }
}
