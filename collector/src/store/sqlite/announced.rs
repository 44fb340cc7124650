//! [`AnnouncedStore`] in SQLite (see [`crate::store::announced`]).

use super::Handle;
use crate::store::announced::{decode, encode, Announced, AnnouncedStore};
use crate::store::StoreError;
use rusqlite::params;
use std::path::Path;

/// The `alerting_state` table in the collector's SQLite file.
#[derive(Debug)]
pub struct SqliteAnnouncedStore {
    conn: Handle,
}

impl SqliteAnnouncedStore {
    /// Opens (creating if needed) the table in the SQLite database at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Ok(SqliteAnnouncedStore {
            conn: Handle::open(path)?,
        })
    }
}

impl AnnouncedStore for SqliteAnnouncedStore {
    fn all(&self) -> Result<Vec<Announced>, StoreError> {
        let conn = self.conn.lock();
        let mut stmt = conn.prepare("SELECT key, since, event FROM alerting_state ORDER BY key")?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter()
            .map(|(key, since, event)| decode(key, &since, &event))
            .collect()
    }

    fn put(&self, a: &Announced) -> Result<(), StoreError> {
        let (since, event) = encode(a)?;
        self.conn.lock().execute(
            "INSERT OR REPLACE INTO alerting_state (key, since, event) VALUES (?1, ?2, ?3)",
            params![a.key, since, event],
        )?;
        Ok(())
    }

    fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.conn
            .lock()
            .execute("DELETE FROM alerting_state WHERE key = ?1", params![key])?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::Event;
    use crate::notify::AlertKind;
    use chrono::{DateTime, Utc};

    #[test]
    fn the_start_comes_back_to_the_nanosecond() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteAnnouncedStore::open(&dir.path().join("a.db")).unwrap();
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
