//! [`IntefunktionStore`] in SQLite (see [`crate::store::intefunktion`]).

use super::Handle;
use crate::store::columns::time_text as text;
use crate::store::intefunktion::{
    from_columns, not_closed, IntefunktionStore, ManualIntefunktionCase, NewIntefunktionCase,
    BETWEEN, CLOSE, LINK, SELECT,
};
use crate::store::StoreError;
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection};
use std::path::Path;

/// [`IntefunktionStore`] on the collector's SQLite database.
pub struct SqliteIntefunktionStore {
    conn: Handle,
}

/// The shared statement with SQLite's numbered placeholders.
fn numbered(sql: &str) -> String {
    sql.replace('$', "?")
}

impl SqliteIntefunktionStore {
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Ok(SqliteIntefunktionStore {
            conn: Handle::open(path)?,
        })
    }

    fn query(
        &self,
        filter: &str,
        args: impl rusqlite::Params,
    ) -> Result<Vec<ManualIntefunktionCase>, StoreError> {
        query(&self.conn.lock(), filter, args)
    }
}

/// The cases of `filter` (shared SQL, `$n` placeholders) on `conn`, oldest first.
fn query(
    conn: &Connection,
    filter: &str,
    args: impl rusqlite::Params,
) -> Result<Vec<ManualIntefunktionCase>, StoreError> {
    let sql = format!("{SELECT} WHERE {} ORDER BY start_utc, id", numbered(filter));
    let mut stmt = conn.prepare(&sql)?;
    type Row = (i64, [String; 7], Option<String>, Option<i64>);
    let rows: Vec<Row> = stmt
        .query_map(args, |r| {
            Ok((
                r.get(0)?,
                [
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                    r.get(8)?,
                ],
                r.get(4)?,
                r.get(9)?,
            ))
        })?
        .collect::<Result<_, _>>()?;
    rows.into_iter()
        .map(|(id, t, end, incident)| from_columns(id, t, end, incident))
        .collect()
}

/// The cases overlapping `[from, to)` (milliseconds) on `conn`: the core store's
/// [`crate::store::Store::intefunktion_cases`].
pub fn list(
    conn: &Connection,
    from: i64,
    to: i64,
) -> Result<Vec<ManualIntefunktionCase>, StoreError> {
    let at = |ms: i64| text(crate::availability::at(ms));
    query(conn, BETWEEN, params![at(from), at(to)])
}

impl IntefunktionStore for SqliteIntefunktionStore {
    fn add(&self, new: &NewIntefunktionCase, now: DateTime<Utc>) -> Result<i64, StoreError> {
        let conn = self.conn.lock();
        conn.execute(
            "INSERT INTO intefunktion_cases (service_id, municipality, start_utc, end_utc,
                 title, description, created_by, created_at, incident_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                new.function,
                new.municipality,
                text(new.start),
                new.end.map(text),
                new.title,
                new.description,
                new.by,
                text(now),
                new.incident
            ],
        )?;
        Ok(conn.last_insert_rowid())
    }

    fn get(&self, id: i64) -> Result<Option<ManualIntefunktionCase>, StoreError> {
        Ok(self.query("id = $1", [id])?.pop())
    }

    fn close(&self, id: i64, end: DateTime<Utc>) -> Result<(), StoreError> {
        let changed = self
            .conn
            .lock()
            .execute(&numbered(CLOSE), params![text(end), id])?;
        if changed == 1 {
            return Ok(());
        }
        Err(not_closed(self.get(id)?, id))
    }

    fn link(&self, id: i64, incident: i64) -> Result<(), StoreError> {
        let changed = self
            .conn
            .lock()
            .execute(&numbered(LINK), params![incident, id])?;
        if changed == 1 {
            Ok(())
        } else {
            Err(StoreError::UnknownIncident(id))
        }
    }

    fn between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<ManualIntefunktionCase>, StoreError> {
        self.query(BETWEEN, params![text(from), text(to)])
    }
}
