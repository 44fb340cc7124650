//! On-call cases registered by hand: a call to the on-call technician that no alarm raised (a
//! department phoning about a locked-out system at night), with the municipality and the
//! department (verksamheten) it is billed to, its start and end, a title and a description.
//! Table `oncall_manual_cases` (migration 14); the report bills them with the cases the
//! alerting started (`report::oncall`).

use super::db::{self, time_from_text as instant, time_text as text};
use super::StoreError;
use chrono::{DateTime, Utc};
use rusqlite::params;
use serde::Serialize;
use std::path::Path;

/// One on-call case registered by hand.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ManualOncallCase {
    pub id: i64,
    pub municipality: String,
    /// The department (verksamheten) it is billed to.
    pub department: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub title: String,
    pub description: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

/// A new case, as checked by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewManualOncallCase {
    pub municipality: String,
    pub department: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub title: String,
    pub description: String,
    pub by: String,
}

/// What the API, the CLI and the report use.
pub trait OncallCaseStore: Send + Sync {
    fn add(&self, new: &NewManualOncallCase, now: DateTime<Utc>) -> Result<i64, StoreError>;
    fn get(&self, id: i64) -> Result<Option<ManualOncallCase>, StoreError>;
    /// The cases that start in `[from, to)`, oldest first.
    fn starting(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<ManualOncallCase>, StoreError>;
}

pub(super) const SELECT: &str = "SELECT id, municipality, department, start_utc, end_utc, title, \
                                 description, created_by, created_at FROM oncall_manual_cases";

/// A case from its columns in [`SELECT`]'s order, times as text.
pub(super) fn from_columns(id: i64, texts: [String; 8]) -> Result<ManualOncallCase, StoreError> {
    let [municipality, department, start, end, title, description, by, created] = texts;
    Ok(ManualOncallCase {
        id,
        municipality,
        department,
        start: instant(&start)?,
        end: instant(&end)?,
        title,
        description,
        created_by: by,
        created_at: instant(&created)?,
    })
}

/// [`OncallCaseStore`] on the collector's SQLite database.
pub struct SqliteOncallCaseStore {
    conn: db::Handle,
}

impl SqliteOncallCaseStore {
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Ok(SqliteOncallCaseStore {
            conn: db::Handle::open(path)?,
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
