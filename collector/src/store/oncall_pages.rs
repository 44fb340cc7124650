//! On-call pages (table `notify_pages`): one row per device alert that paged on-call, with the
//! escalation step it has reached (the index in the municipality's on-call list), when it
//! escalates next, and who acknowledged it when. Acknowledging also fills
//! `notify_oncall_cases.acknowledged_at` of the case the page recorded, in one transaction.

use super::columns::{
    opt_time_from_text as opt_instant, time_from_text as instant, time_text as text,
};
use super::exec::{Arg, Cells, Exec, Transact};
use super::StoreError;
use crate::events::Event;
use chrono::{DateTime, Utc};
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

/// The columns of `notify_pages` both backends read, in the order they decode them.
pub(crate) const PAGE_COLUMNS: &str =
    "id, incident_key, since, page, step, next_at, acknowledged_at, acknowledged_by, closed_at";

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

/// [`OncallPageStore::acknowledge`], written once for every backend: page `id` is acknowledged
/// at `at` by `by` at most once, and its on-call case's `acknowledged_at` is filled in the same
/// transaction; a page taken meanwhile (acknowledged, or recovered) says by whom or since when.
pub(crate) fn acknowledge<S: OncallPageStore + Transact + ?Sized>(
    store: &S,
    id: i64,
    at: DateTime<Utc>,
    by: &str,
) -> Result<OncallPage, AckError> {
    let mut page = store.page(id)?.ok_or(AckError::Unknown(id))?;
    ackable(&page)?;
    if !store.transaction(|tx| take_acknowledgement(tx, &page, at, by))? {
        let now = store.page(id)?.ok_or(AckError::Unknown(id))?;
        return Err(
            match (now.acknowledged_at, now.acknowledged_by, now.closed_at) {
                (Some(at), Some(by), _) => AckError::AlreadyAcknowledged { id, at, by },
                (_, _, Some(at)) => AckError::Over { id, at },
                _ => AckError::Unknown(id),
            },
        );
    }
    page.acknowledged_at = Some(at);
    page.acknowledged_by = Some(by.to_string());
    page.next_at = None;
    Ok(page)
}

/// Inside the transaction: marks `page` acknowledged unless it was acknowledged or closed
/// meanwhile (then `false`, nothing written), and fills its on-call case's `acknowledged_at`.
fn take_acknowledgement(
    tx: &mut dyn Exec,
    page: &OncallPage,
    at: DateTime<Utc>,
    by: &str,
) -> Result<bool, StoreError> {
    let at = text(at);
    let taken = tx.exec(
        "UPDATE notify_pages SET acknowledged_at = $2, acknowledged_by = $3, next_at = NULL
         WHERE id = $1 AND acknowledged_at IS NULL AND closed_at IS NULL",
        &[Arg::Int(page.id), Arg::Text(&at), Arg::Text(by)],
    )?;
    if taken != 1 {
        return Ok(false);
    }
    if let Event::DeviceAlert {
        device_id,
        kind,
        since,
        ..
    } = &page.event
    {
        tx.exec(
            "UPDATE notify_oncall_cases SET acknowledged_at = $4
             WHERE device_id = $1 AND kind = $2 AND since = $3 AND acknowledged_at IS NULL",
            &[
                Arg::Text(device_id),
                Arg::Text(kind.tag()),
                Arg::Text(&text(*since)),
                Arg::Text(&at),
            ],
        )?;
    }
    Ok(true)
}

/// A page read back ([`PAGE_COLUMNS`], in order).
pub(crate) fn decode(r: &dyn Cells) -> Result<OncallPage, StoreError> {
    let id = r.int(0)?;
    Ok(OncallPage {
        id,
        incident_key: r.text(1)?,
        since: instant(&r.text(2)?)?,
        event: serde_json::from_str(&r.text(3)?)
            .map_err(|e| StoreError::Corrupt(format!("page {id}: {e}")))?,
        step: r.int(4)? as u32,
        next_at: opt_instant(r.opt_text(5)?)?,
        acknowledged_at: opt_instant(r.opt_text(6)?)?,
        acknowledged_by: r.opt_text(7)?,
        closed_at: opt_instant(r.opt_text(8)?)?,
    })
}
