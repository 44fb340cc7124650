//! [`OncallPageStore`] in SQLite, on [`SqliteNotifyStore`] (see [`crate::store::oncall_pages`]).

use super::SqliteNotifyStore;
use crate::events::Event;
use crate::store::columns::{time_from_text as instant, time_text as text};
use crate::store::oncall_pages::{ackable, AckError, OncallPage, OncallPageStore, PAGE_COLUMNS};
use crate::store::StoreError;
use chrono::{DateTime, Utc};
use rusqlite::{params, Row};

type RawPage = (
    i64,
    String,
    String,
    String,
    u32,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

fn raw_page(r: &Row) -> rusqlite::Result<RawPage> {
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
}

fn to_page(r: RawPage) -> Result<OncallPage, StoreError> {
    let opt = |s: Option<String>| s.as_deref().map(instant).transpose();
    Ok(OncallPage {
        id: r.0,
        incident_key: r.1,
        since: instant(&r.2)?,
        event: serde_json::from_str(&r.3)
            .map_err(|e| StoreError::Corrupt(format!("page {}: {e}", r.0)))?,
        step: r.4,
        next_at: opt(r.5)?,
        acknowledged_at: opt(r.6)?,
        acknowledged_by: r.7,
        closed_at: opt(r.8)?,
    })
}

impl SqliteNotifyStore {
    fn pages(&self, sql: &str, p: impl rusqlite::Params) -> Result<Vec<OncallPage>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(sql)?;
        let rows = stmt.query_map(p, raw_page)?;
        rows.map(|r| r.map_err(StoreError::from).and_then(to_page))
            .collect()
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
        let mut page = self.page(id)?.ok_or(AckError::Unknown(id))?;
        ackable(&page)?;
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(StoreError::from)?;
        let n = tx
            .execute(
                "UPDATE notify_pages SET acknowledged_at = ?2, acknowledged_by = ?3, next_at = NULL
                 WHERE id = ?1 AND acknowledged_at IS NULL AND closed_at IS NULL",
                params![id, text(at), by],
            )
            .map_err(StoreError::from)?;
        if n != 1 {
            drop(tx);
            drop(conn);
            let now = self.page(id)?.ok_or(AckError::Unknown(id))?;
            return Err(
                match (now.acknowledged_at, now.acknowledged_by, now.closed_at) {
                    (Some(at), Some(by), _) => AckError::AlreadyAcknowledged { id, at, by },
                    (_, _, Some(at)) => AckError::Over { id, at },
                    _ => AckError::Unknown(id),
                },
            );
        }
        if let Event::DeviceAlert {
            device_id,
            kind,
            since,
            ..
        } = &page.event
        {
            tx.execute(
                "UPDATE notify_oncall_cases SET acknowledged_at = ?4
                 WHERE device_id = ?1 AND kind = ?2 AND since = ?3 AND acknowledged_at IS NULL",
                params![device_id, kind.tag(), text(*since), text(at)],
            )
            .map_err(StoreError::from)?;
        }
        tx.commit().map_err(StoreError::from)?;
        page.acknowledged_at = Some(at);
        page.acknowledged_by = Some(by.to_string());
        page.next_at = None;
        Ok(page)
    }
}
