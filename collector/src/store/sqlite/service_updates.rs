//! [`ServiceUpdateStore`] in SQLite (see [`crate::store::service_updates`]).

use super::Handle;
use crate::store::columns::time_text as text;
use crate::store::service_updates::{decode, ServiceUpdate, ServiceUpdateStore, SELECT_SINCE};
use crate::store::StoreError;
use chrono::{DateTime, Utc};
use rusqlite::params;
use std::path::Path;

/// The `service_updates` table in the collector's SQLite file.
#[derive(Debug)]
pub struct SqliteServiceUpdateStore {
    conn: Handle,
}

impl SqliteServiceUpdateStore {
    /// The table in the SQLite database at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Ok(SqliteServiceUpdateStore {
            conn: Handle::open(path)?,
        })
    }
}

impl ServiceUpdateStore for SqliteServiceUpdateStore {
    fn insert(&self, u: &ServiceUpdate) -> Result<i64, StoreError> {
        let conn = self.conn.lock();
        conn.execute(
            "INSERT INTO service_updates (service_id, since, at, by, text)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![u.service_id, text(u.since), text(u.at), u.by, u.text],
        )?;
        Ok(conn.last_insert_rowid())
    }

    fn since(&self, from: DateTime<Utc>) -> Result<Vec<ServiceUpdate>, StoreError> {
        let conn = self.conn.lock();
        let mut stmt = conn.prepare_cached(&super::placeholders(SELECT_SINCE))?;
        let rows = stmt
            .query_map([text(from)], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter().map(decode).collect()
    }
}
