//! [`AuditStore`] on PostgreSQL (see [`crate::store::audit`]).

use super::{get, Pool};
use crate::store::audit::{decode, AuditEntry, AuditStore, INSERT, SELECT_RECENT};
use crate::store::columns::time_text as text;
use crate::store::StoreError;
use std::sync::Arc;

/// The `audit_log` table on PostgreSQL.
pub struct PgAuditStore {
    pool: Arc<Pool>,
}

impl PgAuditStore {
    pub fn new(pool: Arc<Pool>) -> PgAuditStore {
        PgAuditStore { pool }
    }
}

impl AuditStore for PgAuditStore {
    fn insert(&self, e: &AuditEntry) -> Result<i64, StoreError> {
        let sql = format!("{INSERT} RETURNING id");
        self.pool.run(async |c| {
            let row = c
                .sql()
                .one(
                    &sql,
                    &[
                        &text(e.at),
                        &e.who,
                        &e.action,
                        &e.detail,
                        &e.peer,
                        &e.outcome,
                    ],
                )
                .await?;
            get(&row, 0)
        })
    }

    fn recent(&self, limit: i64) -> Result<Vec<AuditEntry>, StoreError> {
        let rows = self.pool.run(async |c| {
            let rows = c.sql().query(SELECT_RECENT, &[&limit]).await?;
            rows.iter()
                .map(|r| {
                    Ok((
                        get(r, 0)?,
                        get(r, 1)?,
                        get(r, 2)?,
                        get(r, 3)?,
                        get(r, 4)?,
                        get(r, 5)?,
                        get(r, 6)?,
                    ))
                })
                .collect::<Result<Vec<_>, StoreError>>()
        })?;
        rows.into_iter().map(decode).collect()
    }
}
