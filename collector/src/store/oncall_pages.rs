//! On-call pages (table `notify_pages`): one row per device alert that paged on-call, with the
//! escalation step it has reached (the index in the municipality's on-call list), when it
//! escalates next, and who acknowledged it when. Acknowledging also fills
//! `notify_oncall_cases.acknowledged_at` of the case the page recorded, in one transaction.
//! [`super::SqliteNotifyStore`] implements [`OncallPageStore`].

use super::db::{time_from_text as instant, time_text as text};
use super::{SqliteNotifyStore, StoreError};
use crate::events::Event;
use chrono::{DateTime, Utc};
use rusqlite::{params, Row};
use serde::Serialize;

/// One on-call page and its escalation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OncallPage {
    /// The alert id of `POST /api/v1/alerts/{id}/ack`.
    pub id: i64,
    /// The notifier's incident (`device:ID:KIND`).
    pub incident_key: String,
    pub since: DateTime<Utc>,
    /// The device alert that paged.
    #[serde(skip)]
    pub event: Event,
    /// Index of the on-call contact who has it now.
    pub step: u32,
    /// When it goes to the next contact unless acknowledged; `None` when the chain has ended.
    pub next_at: Option<DateTime<Utc>>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub acknowledged_by: Option<String>,
    /// When the alert recovered (the chain stops).
    pub closed_at: Option<DateTime<Utc>>,
}

/// Why an acknowledgement was not taken.
#[derive(Debug, thiserror::Error)]
pub enum AckError {
    #[error("no alert with id {0}")]
    Unknown(i64),
    #[error("alert {id} was already acknowledged at {at} by {by}")]
    AlreadyAcknowledged {
        id: i64,
        at: DateTime<Utc>,
        by: String,
    },
    #[error("alert {id} is over (recovered at {at})")]
    Over { id: i64, at: DateTime<Utc> },
    #[error("the acknowledgement link has expired")]
    Expired,
    #[error("not a valid acknowledgement link")]
    BadToken,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Pages and their escalation.
pub trait OncallPageStore: Send + Sync {
    /// Records a page for `incident_key` (idempotent: an existing page for the same incident and
    /// start is returned as it is).
    fn open_page(
        &self,
        incident_key: &str,
        since: DateTime<Utc>,
        event: &Event,
        next_at: Option<DateTime<Utc>>,
    ) -> Result<OncallPage, StoreError>;
    fn page(&self, id: i64) -> Result<Option<OncallPage>, StoreError>;
    /// Unacknowledged, open pages whose `next_at` is at or before `now`.
    fn due_pages(&self, now: DateTime<Utc>) -> Result<Vec<OncallPage>, StoreError>;
    fn set_step(
        &self,
        id: i64,
        step: u32,
        next_at: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError>;
    /// Ends the chain of the open page of `incident_key` (it recovered); returns it.
    fn close_page(
        &self,
        incident_key: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<OncallPage>, StoreError>;
    /// Acknowledges page `id` at `at` by `by`, once; fills the on-call case's
    /// `acknowledged_at`.
    fn acknowledge(&self, id: i64, at: DateTime<Utc>, by: &str) -> Result<OncallPage, AckError>;
}

const PAGE_COLUMNS: &str =
    "id, incident_key, since, page, step, next_at, acknowledged_at, acknowledged_by, closed_at";

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

/// Shared stores (`Arc<dyn OncallPageStore>`) are stores too.
impl<T: OncallPageStore + ?Sized> OncallPageStore for std::sync::Arc<T> {
    fn open_page(
        &self,
        incident_key: &str,
        since: DateTime<Utc>,
        event: &Event,
        next_at: Option<DateTime<Utc>>,
    ) -> Result<OncallPage, StoreError> {
        (**self).open_page(incident_key, since, event, next_at)
    }

    fn page(&self, id: i64) -> Result<Option<OncallPage>, StoreError> {
        (**self).page(id)
    }

    fn due_pages(&self, now: DateTime<Utc>) -> Result<Vec<OncallPage>, StoreError> {
        (**self).due_pages(now)
    }

    fn set_step(
        &self,
        id: i64,
        step: u32,
        next_at: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        (**self).set_step(id, step, next_at)
    }

    fn close_page(
        &self,
        incident_key: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<OncallPage>, StoreError> {
        (**self).close_page(incident_key, at)
    }

    fn acknowledge(&self, id: i64, at: DateTime<Utc>, by: &str) -> Result<OncallPage, AckError> {
        (**self).acknowledge(id, at, by)
    }
}

/// Whether `page` can still be acknowledged: not already, and not over.
pub(crate) fn ackable(page: &OncallPage) -> Result<(), AckError> {
    let id = page.id;
    if let (Some(at), Some(by)) = (page.acknowledged_at, &page.acknowledged_by) {
        return Err(AckError::AlreadyAcknowledged {
            id,
            at,
            by: by.clone(),
        });
    }
    if let Some(at) = page.closed_at {
        return Err(AckError::Over { id, at });
    }
    Ok(())
}
