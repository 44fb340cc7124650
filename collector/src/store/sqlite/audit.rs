//! [`AuditStore`] in SQLite (see [`crate::store::audit`]).

use super::Handle;
use crate::store::audit::{decode, AuditEntry, AuditStore, INSERT, SELECT_RECENT};
use crate::store::columns::time_text as text;
use crate::store::StoreError;
use rusqlite::params;
use std::path::Path;

/// The `audit_log` table in the collector's SQLite file.
#[derive(Debug)]
pub struct SqliteAuditStore {
    conn: Handle,
}

impl SqliteAuditStore {
    /// The table in the SQLite database at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Ok(SqliteAuditStore {
            conn: Handle::open(path)?,
        })
    }
}

impl AuditStore for SqliteAuditStore {
    fn insert(&self, e: &AuditEntry) -> Result<i64, StoreError> {
        let conn = self.conn.lock();
        conn.execute(
            &super::placeholders(INSERT),
            params![text(e.at), e.who, e.action, e.detail, e.peer, e.outcome],
        )?;
        Ok(conn.last_insert_rowid())
    }

    fn recent(&self, limit: i64) -> Result<Vec<AuditEntry>, StoreError> {
        let conn = self.conn.lock();
        let mut stmt = conn.prepare_cached(&super::placeholders(SELECT_RECENT))?;
        let rows = stmt
            .query_map([limit], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter().map(decode).collect()
    }
}
