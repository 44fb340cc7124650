//! The outbox: every notice is written here, fully rendered, before anything is sent. A row's
//! idempotency key is unique, so the same notice is never enqueued twice; delivery claims due
//! rows, sends them and marks them sent (see `notify::delivery`). The narrow [`OutboxStore`]
//! trait is what the notifier needs; [`super::SqliteNotifyStore`] implements it on the
//! collector's database (table `notify_outbox`). An on-call case is recorded with the page that
//! reports it.

use super::columns::{opt_time_from_text as opt_instant, time_from_text as instant};
use super::exec::Cells;
use super::StoreError;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// One alert handled by on-call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OncallCase {
    /// When the page was sent.
    pub at: DateTime<Utc>,
    pub device_id: String,
    pub device_name: String,
    /// The alert kind's tag (`down`, `on_battery`, ...).
    pub kind: String,
    pub municipality: String,
    /// When the problem started.
    pub since: DateTime<Utc>,
    /// When the on-call technician acknowledged the page (it ends the billable time if the
    /// subject is still down); `None` until then.
    #[serde(default)]
    pub acknowledged_at: Option<DateTime<Utc>>,
    /// When the subject recovered (the alert cleared); `None` while it has not.
    #[serde(default)]
    pub resolved_at: Option<DateTime<Utc>>,
}

/// The columns of `notify_outbox` both backends read, in the order they decode them.
pub(crate) const COLUMNS: &str = "id, idempotency_key, kind, recipient, sender, subject, message_id, \
                                  status, created_at, due_at, attempts, last_error, sent_at, raw, channel";

/// A row id in the outbox.
pub type OutboxId = i64;

/// Where a notice is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Waiting until `due_at` (held down, waiting for office hours, or backing off).
    Pending,
    /// Claimed by a sender until `due_at` (the lease); pending again if the lease runs out.
    Sending,
    Sent,
    /// Refused permanently; kept and listed.
    Failed,
    /// Withdrawn before it was sent (the outage ended first).
    Cancelled,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Sending => "sending",
            Status::Sent => "sent",
            Status::Failed => "failed",
            Status::Cancelled => "cancelled",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Status {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "pending" => Ok(Status::Pending),
            "sending" => Ok(Status::Sending),
            "sent" => Ok(Status::Sent),
            "failed" => Ok(Status::Failed),
            "cancelled" => Ok(Status::Cancelled),
            _ => Err(format!(
                "unknown status {s:?}: write pending, sending, sent, failed or cancelled"
            )),
        }
    }
}

/// A rendered notice to enqueue.
#[derive(Debug, Clone)]
pub struct NewNotice {
    /// Unique: e.g. `service-down:{service}:{since}:{recipient}`.
    pub key: String,
    /// The template kind (`service_down`, `alert`, `digest`, ...).
    pub kind: String,
    pub recipient: String,
    pub sender: String,
    pub subject: String,
    pub message_id: String,
    /// The complete RFC 5322 message.
    pub raw: Vec<u8>,
    /// Not sent before this instant.
    pub due_at: DateTime<Utc>,
    /// Recorded as an on-call case when this notice is sent.
    pub oncall_case: Option<OncallCase>,
    /// The channel that sends it: `mail` (the default) or a name under `notify.channels`.
    pub channel: String,
}

/// One outbox row.
#[derive(Debug, Clone, Serialize)]
pub struct OutboxRow {
    pub id: OutboxId,
    pub key: String,
    pub kind: String,
    pub recipient: String,
    pub sender: String,
    pub subject: String,
    pub message_id: String,
    pub status: Status,
    pub created_at: DateTime<Utc>,
    pub due_at: DateTime<Utc>,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub sent_at: Option<DateTime<Utc>>,
    /// `mail` or a configured channel's name.
    pub channel: String,
    #[serde(skip)]
    pub raw: Vec<u8>,
}

/// Counts per status (for metrics and the CLI).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct OutboxStats {
    /// Pending and being sent.
    pub pending: u64,
    pub sent: u64,
    pub failed: u64,
    pub cancelled: u64,
}

impl OutboxStats {
    /// Adds `n` rows of the stored `status`.
    pub fn add(&mut self, status: &str, n: i64) {
        let n = n.max(0) as u64;
        match status {
            "pending" | "sending" => self.pending += n,
            "sent" => self.sent += n,
            "failed" => self.failed += n,
            _ => self.cancelled += n,
        }
    }
}

/// What the notifier needs from the outbox.
pub trait OutboxStore: Send + Sync {
    /// Inserts `notice` unless its key exists; `None` when it did.
    fn enqueue(
        &self,
        notice: &NewNotice,
        now: DateTime<Utc>,
    ) -> Result<Option<OutboxId>, StoreError>;
    /// Whether a notice with `key` was ever enqueued (in any status).
    fn exists(&self, key: &str) -> Result<bool, StoreError>;
    fn get(&self, id: OutboxId) -> Result<Option<OutboxRow>, StoreError>;
    /// Claims up to `limit` rows that are pending and due at `now`, or whose sending lease ran
    /// out: marks them `sending` until `lease_until` and counts the attempt.
    fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<OutboxRow>, StoreError>;
    /// Marks a claimed row sent (and records its on-call case) in one transaction.
    fn mark_sent(&self, id: OutboxId, at: DateTime<Utc>) -> Result<(), StoreError>;
    /// Puts a claimed row back to pending until `due_at`, with the error.
    fn reschedule(
        &self,
        id: OutboxId,
        due_at: DateTime<Utc>,
        error: &str,
    ) -> Result<(), StoreError>;
    fn mark_failed(&self, id: OutboxId, error: &str) -> Result<(), StoreError>;
    /// Cancels a pending row; `false` when it was no longer pending.
    fn cancel(&self, id: OutboxId) -> Result<bool, StoreError>;
    /// Replaces the message of a pending row; `false` when it was no longer pending.
    fn update_pending(&self, id: OutboxId, subject: &str, raw: &[u8]) -> Result<bool, StoreError>;
    /// Rows, oldest first, optionally of one status.
    fn list(&self, status: Option<Status>) -> Result<Vec<OutboxRow>, StoreError>;
    fn stats(&self) -> Result<OutboxStats, StoreError>;
    /// Notices to `recipient` enqueued at or after `since`, cancelled ones excluded.
    fn count_since(&self, recipient: &str, since: DateTime<Utc>) -> Result<u64, StoreError>;
    /// The pending digest for `recipient`, if one is collecting.
    fn pending_digest(&self, recipient: &str) -> Result<Option<OutboxRow>, StoreError>;
}

/// Shared stores (`Arc<dyn OutboxStore>`) are stores too.
impl<T: OutboxStore + ?Sized> OutboxStore for std::sync::Arc<T> {
    fn enqueue(
        &self,
        notice: &NewNotice,
        now: DateTime<Utc>,
    ) -> Result<Option<OutboxId>, StoreError> {
        (**self).enqueue(notice, now)
    }

    fn exists(&self, key: &str) -> Result<bool, StoreError> {
        (**self).exists(key)
    }

    fn get(&self, id: OutboxId) -> Result<Option<OutboxRow>, StoreError> {
        (**self).get(id)
    }

    fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<OutboxRow>, StoreError> {
        (**self).claim_due(now, lease_until, limit)
    }

    fn mark_sent(&self, id: OutboxId, at: DateTime<Utc>) -> Result<(), StoreError> {
        (**self).mark_sent(id, at)
    }

    fn reschedule(
        &self,
        id: OutboxId,
        due_at: DateTime<Utc>,
        error: &str,
    ) -> Result<(), StoreError> {
        (**self).reschedule(id, due_at, error)
    }

    fn mark_failed(&self, id: OutboxId, error: &str) -> Result<(), StoreError> {
        (**self).mark_failed(id, error)
    }

    fn cancel(&self, id: OutboxId) -> Result<bool, StoreError> {
        (**self).cancel(id)
    }

    fn update_pending(&self, id: OutboxId, subject: &str, raw: &[u8]) -> Result<bool, StoreError> {
        (**self).update_pending(id, subject, raw)
    }

    fn list(&self, status: Option<Status>) -> Result<Vec<OutboxRow>, StoreError> {
        (**self).list(status)
    }

    fn stats(&self) -> Result<OutboxStats, StoreError> {
        (**self).stats()
    }

    fn count_since(&self, recipient: &str, since: DateTime<Utc>) -> Result<u64, StoreError> {
        (**self).count_since(recipient, since)
    }

    fn pending_digest(&self, recipient: &str) -> Result<Option<OutboxRow>, StoreError> {
        (**self).pending_digest(recipient)
    }
}

/// An outbox row read back ([`COLUMNS`], in order).
pub(crate) fn decode(r: &dyn Cells) -> Result<OutboxRow, StoreError> {
    Ok(OutboxRow {
        id: r.int(0)?,
        key: r.text(1)?,
        kind: r.text(2)?,
        recipient: r.text(3)?,
        sender: r.text(4)?,
        subject: r.text(5)?,
        message_id: r.text(6)?,
        status: r.text(7)?.parse().map_err(StoreError::Corrupt)?,
        created_at: instant(&r.text(8)?)?,
        due_at: instant(&r.text(9)?)?,
        attempts: r.int(10)? as u32,
        last_error: r.opt_text(11)?,
        sent_at: opt_instant(r.opt_text(12)?)?,
        raw: r.bytes(13)?,
        channel: r.text(14)?,
    })
}
