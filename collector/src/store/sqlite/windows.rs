//! [`WindowStore`] in SQLite (see [`crate::store::windows`]).

use super::Handle;
use crate::calendar::{Activation, AdhocWindow, NewAdhocWindow};
use crate::store::columns::{
    instant_secs as instant_text, parse_date, time_from_text as parse_instant,
};
use crate::store::windows::{adhoc_from_row, WindowStore};
use crate::store::StoreError;
use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::{params, Connection, OptionalExtension};
use std::path::Path;
use std::sync::MutexGuard;

/// [`WindowStore`] in SQLite (WAL mode).
#[derive(Debug)]
pub struct SqliteWindowStore {
    conn: Handle,
}

impl SqliteWindowStore {
    /// Opens (creating if needed) the database at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Ok(SqliteWindowStore {
            conn: Handle::open(path)?,
        })
    }

    /// A private in-memory database (tests).
    pub fn open_in_memory() -> Result<Self, StoreError> {
        Ok(SqliteWindowStore {
            conn: Handle::in_memory()?,
        })
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock()
    }
}

fn find_activation(conn: &Connection, date: NaiveDate) -> Result<Option<Activation>, StoreError> {
    let row = conn
        .query_row(
            "SELECT activated_by, activated_at FROM calendar_secondary_activations WHERE date = ?1",
            params![date.to_string()],
            |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)),
        )
        .optional()?;
    row.map(|(by, at)| {
        Ok(Activation {
            date,
            activated_by: by,
            activated_at: parse_instant(&at)?,
        })
    })
    .transpose()
}

impl WindowStore for SqliteWindowStore {
    fn activate_secondary(
        &self,
        date: NaiveDate,
        by: &str,
        at: DateTime<Utc>,
    ) -> Result<Activation, StoreError> {
        let conn = self.conn();
        if let Some(existing) = find_activation(&conn, date)? {
            return Err(StoreError::AlreadyActivated {
                date,
                by: existing.activated_by,
                at: existing.activated_at,
            });
        }
        conn.execute(
            "INSERT INTO calendar_secondary_activations (date, activated_by, activated_at)
             VALUES (?1, ?2, ?3)",
            params![date.to_string(), by, instant_text(at)],
        )?;
        Ok(Activation {
            date,
            activated_by: by.to_string(),
            activated_at: at,
        })
    }

    fn withdraw_secondary(&self, date: NaiveDate) -> Result<(), StoreError> {
        let deleted = self.conn().execute(
            "DELETE FROM calendar_secondary_activations WHERE date = ?1",
            params![date.to_string()],
        )?;
        if deleted == 0 {
            return Err(StoreError::NotActivated(date));
        }
        Ok(())
    }

    fn list_activations(&self) -> Result<Vec<Activation>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT date, activated_by, activated_at FROM calendar_secondary_activations
             ORDER BY date",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })?;
        rows.map(|row| {
            let (date, by, at) = row?;
            Ok(Activation {
                date: parse_date(&date)?,
                activated_by: by,
                activated_at: parse_instant(&at)?,
            })
        })
        .collect()
    }

    fn add_adhoc(&self, w: &NewAdhocWindow) -> Result<i64, StoreError> {
        let conn = self.conn();
        conn.execute(
            "INSERT INTO calendar_adhoc_windows
                 (start_utc, end_utc, scope, reason, created_by, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                instant_text(w.start),
                instant_text(w.end),
                w.scope.to_string(),
                w.reason,
                w.created_by,
                instant_text(w.created_at)
            ],
        )?;
        Ok(conn.last_insert_rowid())
    }

    fn cancel_adhoc(&self, id: i64, by: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        let conn = self.conn();
        let existing = conn
            .query_row(
                "SELECT cancelled_by, cancelled_at FROM calendar_adhoc_windows WHERE id = ?1",
                params![id],
                |r| {
                    Ok((
                        r.get::<_, Option<String>>(0)?,
                        r.get::<_, Option<String>>(1)?,
                    ))
                },
            )
            .optional()?
            .ok_or(StoreError::UnknownWindow(id))?;
        if let (Some(prev_by), Some(prev_at)) = existing {
            return Err(StoreError::AlreadyCancelled {
                id,
                by: prev_by,
                at: parse_instant(&prev_at)?,
            });
        }
        conn.execute(
            "UPDATE calendar_adhoc_windows SET cancelled_by = ?2, cancelled_at = ?3 WHERE id = ?1",
            params![id, by, instant_text(at)],
        )?;
        Ok(())
    }

    fn list_adhoc(&self) -> Result<Vec<AdhocWindow>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT id, start_utc, end_utc, scope, reason, created_by, created_at,
                    cancelled_by, cancelled_at
             FROM calendar_adhoc_windows ORDER BY start_utc, id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
                r.get(8)?,
            ))
        })?;
        rows.map(|row| adhoc_from_row(row?)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::WindowScope;

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn activation_is_refused_twice_and_withdrawal_needs_one() {
        let store = SqliteWindowStore::open_in_memory().unwrap();
        let date = NaiveDate::from_ymd_opt(2026, 3, 24).unwrap();
        store
            .activate_secondary(date, "anna", utc("2026-03-20T08:00:00Z"))
            .unwrap();
        let err = store
            .activate_secondary(date, "bo", utc("2026-03-21T08:00:00Z"))
            .unwrap_err();
        assert!(
            err.to_string().contains("already activated (by anna"),
            "{err}"
        );
        store.withdraw_secondary(date).unwrap();
        assert!(matches!(
            store.withdraw_secondary(date),
            Err(StoreError::NotActivated(_))
        ));
    }

    #[test]
    fn adhoc_windows_round_trip_and_cancel_once() {
        let store = SqliteWindowStore::open_in_memory().unwrap();
        let id = store
            .add_adhoc(&NewAdhocWindow {
                start: utc("2026-05-05T17:00:00Z"),
                end: utc("2026-05-05T19:00:00Z"),
                scope: WindowScope::Site("Kommunhuset Tranemo".into()),
                reason: "Byte av UPS".into(),
                created_by: "anna".into(),
                created_at: utc("2026-05-01T08:00:00Z"),
            })
            .unwrap();
        let listed = store.list_adhoc().unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].id, id);
        assert_eq!(
            listed[0].scope,
            WindowScope::Site("Kommunhuset Tranemo".into())
        );
        store
            .cancel_adhoc(id, "bo", utc("2026-05-02T08:00:00Z"))
            .unwrap();
        assert!(matches!(
            store.cancel_adhoc(id, "bo", utc("2026-05-02T09:00:00Z")),
            Err(StoreError::AlreadyCancelled { .. })
        ));
        assert!(matches!(
            store.cancel_adhoc(id + 1, "bo", utc("2026-05-02T09:00:00Z")),
            Err(StoreError::UnknownWindow(_))
        ));
        assert_eq!(
            store.list_adhoc().unwrap()[0].cancelled_by.as_deref(),
            Some("bo")
        );
    }
}
