//! What has been announced: table `alerting_state` in the collector's database, one row per
//! open condition (key, start, and the opening event as JSON, from which the closing event is
//! built). Rows are written right after the notifier has enqueued the opening event and
//! deleted right after it has enqueued the closing one; the notifier's own incident table and
//! idempotency keys make a repeat of either call (a crash in between) harmless.

use super::pg::{self, Pool};
use super::sqlite as db;
use super::StoreError;
use crate::events::Event;
use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{params, Connection};
use std::path::Path;
use std::sync::Arc;

/// One announced condition.
#[derive(Debug, Clone, PartialEq)]
pub struct Announced {
    pub key: String,
    pub since: DateTime<Utc>,
    pub event: Event,
}

/// The `alerting_state` table, on SQLite or PostgreSQL.
#[derive(Debug)]
pub enum AnnouncedStore {
    Sqlite(db::Handle),
    Postgres(Arc<Pool>),
}

impl AnnouncedStore {
    /// Opens (creating if needed) the table in the SQLite database at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Ok(AnnouncedStore::Sqlite(db::Handle::open(path)?))
    }

    /// Every announced condition, by key.
    pub fn all(&self) -> Result<Vec<Announced>, StoreError> {
        let conn = match self {
            AnnouncedStore::Sqlite(h) => h.lock(),
            AnnouncedStore::Postgres(pool) => return pg::announced_all(pool),
        };
        all(&conn)
    }

    pub fn put(&self, a: &Announced) -> Result<(), StoreError> {
        match self {
            AnnouncedStore::Sqlite(h) => put(&h.lock(), a),
            AnnouncedStore::Postgres(pool) => pg::announced_put(pool, a),
        }
    }

    pub fn delete(&self, key: &str) -> Result<(), StoreError> {
        match self {
            AnnouncedStore::Sqlite(h) => {
                h.lock()
                    .execute("DELETE FROM alerting_state WHERE key = ?1", params![key])?;
                Ok(())
            }
            AnnouncedStore::Postgres(pool) => pg::announced_delete(pool, key),
        }
    }
}

fn all(conn: &Connection) -> Result<Vec<Announced>, StoreError> {
    {
        let mut stmt = conn.prepare("SELECT key, since, event FROM alerting_state ORDER BY key")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (key, since, event) = row?;
            let since = DateTime::parse_from_rfc3339(&since)
                .map_err(|e| StoreError::Corrupt(format!("{key}: since: {e}")))?
                .with_timezone(&Utc);
            let event = serde_json::from_str(&event)
                .map_err(|e| StoreError::Corrupt(format!("{key}: event: {e}")))?;
            out.push(Announced { key, since, event });
        }
        Ok(out)
    }
}

fn put(conn: &Connection, a: &Announced) -> Result<(), StoreError> {
    {
        let event = serde_json::to_string(&a.event)
            .map_err(|e| StoreError::Corrupt(format!("{}: event: {e}", a.key)))?;
        conn.execute(
            "INSERT OR REPLACE INTO alerting_state (key, since, event) VALUES (?1, ?2, ?3)",
            params![
                a.key,
                // Full precision: a finding's start is a probe time (nanoseconds), and `check`
                // compares it with this one; truncated, every check saw a "later start" and
                // closed and reopened the alert before it could be sent.
                a.since.to_rfc3339_opts(SecondsFormat::AutoSi, true),
                event
            ],
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::AlertKind;

    #[test]
    fn the_start_comes_back_to_the_nanosecond() {
        let dir = tempfile::tempdir().unwrap();
        let store = AnnouncedStore::open(&dir.path().join("a.db")).unwrap();
        let since = DateTime::parse_from_rfc3339("2026-11-23T18:52:47.335734652Z")
            .unwrap()
            .with_timezone(&Utc);
        let a = Announced {
            key: "device:ups:on_battery".into(),
            since,
            event: Event::DeviceAlertCleared {
                device_id: "ups".into(),
                kind: AlertKind::OnBattery,
                until: since,
            },
        };
        store.put(&a).unwrap();
        assert_eq!(store.all().unwrap(), [a]);
    }
}
