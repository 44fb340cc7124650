//! [`OncallCaseStore`] in SQLite (see [`crate::store::oncall`]).

use super::Handle;
use crate::store::columns::time_text as text;
use crate::store::oncall::{
    from_columns, ManualOncallCase, NewManualOncallCase, OncallCaseStore, SELECT,
};
use crate::store::StoreError;
use chrono::{DateTime, Utc};
use rusqlite::params;
use std::path::Path;

/// [`OncallCaseStore`] on the collector's SQLite database.
pub struct SqliteOncallCaseStore {
    conn: Handle,
}

impl SqliteOncallCaseStore {
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Ok(SqliteOncallCaseStore {
            conn: Handle::open(path)?,
        })
    }

    fn query(
        &self,
        filter: &str,
        args: impl rusqlite::Params,
    ) -> Result<Vec<ManualOncallCase>, StoreError> {
        let conn = self.conn.lock();
        let mut stmt = conn.prepare(&format!("{SELECT} WHERE {filter} ORDER BY start_utc, id"))?;
        let rows: Vec<(i64, [String; 8])> = stmt
            .query_map(args, |r| {
                Ok((
                    r.get(0)?,
                    [
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                        r.get(6)?,
                        r.get(7)?,
                        r.get(8)?,
                    ],
                ))
            })?
            .collect::<Result<_, _>>()?;
        rows.into_iter()
            .map(|(id, t)| from_columns(id, t))
            .collect()
    }
}

impl OncallCaseStore for SqliteOncallCaseStore {
    fn add(&self, new: &NewManualOncallCase, now: DateTime<Utc>) -> Result<i64, StoreError> {
        let conn = self.conn.lock();
        conn.execute(
            "INSERT INTO oncall_manual_cases (municipality, department, start_utc, end_utc,
                 title, description, created_by, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                new.municipality,
                new.department,
                text(new.start),
                text(new.end),
                new.title,
                new.description,
                new.by,
                text(now)
            ],
        )?;
        Ok(conn.last_insert_rowid())
    }

    fn get(&self, id: i64) -> Result<Option<ManualOncallCase>, StoreError> {
        Ok(self.query("id = ?1", [id])?.pop())
    }

    fn starting(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<ManualOncallCase>, StoreError> {
        self.query(
            "start_utc >= ?1 AND start_utc < ?2",
            params![text(from), text(to)],
        )
    }
}
