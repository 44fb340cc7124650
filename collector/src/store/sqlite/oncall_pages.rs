//! [`OncallPageStore`] in SQLite, on [`SqliteNotifyStore`] (see [`crate::store::oncall_pages`]).

use super::SqliteNotifyStore;
use crate::events::Event;
use crate::store::columns::time_text as text;
use crate::store::exec::{Exec, Transact};
use crate::store::oncall_pages::{self, AckError, OncallPage, OncallPageStore, PAGE_COLUMNS};
use crate::store::StoreError;
use chrono::{DateTime, Utc};
use rusqlite::params;

impl SqliteNotifyStore {
    fn pages(&self, sql: &str, p: impl rusqlite::Params) -> Result<Vec<OncallPage>, StoreError> {
        super::decoded(&self.conn(), sql, p, oncall_pages::decode)
    }
}

impl OncallPageStore for SqliteNotifyStore {
    fn open_page(
        &self,
        incident_key: &str,
        since: DateTime<Utc>,
        event: &Event,
        next_at: Option<DateTime<Utc>>,
    ) -> Result<OncallPage, StoreError> {
        let json = serde_json::to_string(event).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.conn().execute(
            "INSERT INTO notify_pages (incident_key, since, page, step, next_at)
             VALUES (?1, ?2, ?3, 0, ?4) ON CONFLICT (incident_key, since) DO NOTHING",
            params![incident_key, text(since), json, next_at.map(text)],
        )?;
        let sql = format!(
            "SELECT {PAGE_COLUMNS} FROM notify_pages WHERE incident_key = ?1 AND since = ?2"
        );
        self.pages(&sql, params![incident_key, text(since)])?
            .into_iter()
            .next()
            .ok_or_else(|| StoreError::Corrupt("page not stored".into()))
    }

    fn page(&self, id: i64) -> Result<Option<OncallPage>, StoreError> {
        let sql = format!("SELECT {PAGE_COLUMNS} FROM notify_pages WHERE id = ?1");
        Ok(self.pages(&sql, [id])?.into_iter().next())
    }

    fn due_pages(&self, now: DateTime<Utc>) -> Result<Vec<OncallPage>, StoreError> {
        let sql = format!(
            "SELECT {PAGE_COLUMNS} FROM notify_pages
             WHERE next_at IS NOT NULL AND next_at <= ?1
               AND acknowledged_at IS NULL AND closed_at IS NULL ORDER BY id"
        );
        self.pages(&sql, [text(now)])
    }

    fn set_step(
        &self,
        id: i64,
        step: u32,
        next_at: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        self.conn().execute(
            "UPDATE notify_pages SET step = ?2, next_at = ?3 WHERE id = ?1",
            params![id, step, next_at.map(text)],
        )?;
        Ok(())
    }

    fn close_page(
        &self,
        incident_key: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<OncallPage>, StoreError> {
        let sql = format!(
            "SELECT {PAGE_COLUMNS} FROM notify_pages
             WHERE incident_key = ?1 AND closed_at IS NULL ORDER BY id DESC LIMIT 1"
        );
        let Some(mut page) = self.pages(&sql, [incident_key])?.into_iter().next() else {
            return Ok(None);
        };
        self.conn().execute(
            "UPDATE notify_pages SET closed_at = ?2, next_at = NULL WHERE id = ?1",
            params![page.id, text(at)],
        )?;
        page.closed_at = Some(at);
        page.next_at = None;
        Ok(Some(page))
    }

    fn acknowledge(&self, id: i64, at: DateTime<Utc>, by: &str) -> Result<OncallPage, AckError> {
        oncall_pages::acknowledge(self, id, at, by)
    }
}

impl Transact for SqliteNotifyStore {
    fn transaction<R>(
        &self,
        f: impl FnOnce(&mut dyn Exec) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        super::transaction(&mut self.conn(), f)
    }
}
