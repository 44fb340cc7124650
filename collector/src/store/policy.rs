//! The notifier's policy state next to the outbox: the failures it follows (opened, suppressed
//! in a window, closing), the lines of pending digests, the on-call cases and when each report
//! schedule last ran. [`super::SqliteNotifyStore`] implements [`PolicyStore`].

use super::StoreError;
use crate::events::Event;
use crate::store::outbox::{OncallCase, OutboxId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A failure the notifier is following, from the event that opened it to its recovery (table
/// `notify_incidents`; not an incident of the report, nor one registered by hand).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    pub key: String,
    /// The event that opened it.
    pub event: Event,
    pub state: FailureState,
    /// The opening notices (one per recipient).
    pub notices: Vec<OutboxId>,
    pub updated_at: DateTime<Utc>,
}

/// Where a followed failure is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum FailureState {
    /// Inside a window until `until`: nothing sent yet.
    Suppressed { until: DateTime<Utc> },
    /// Opening notices enqueued (possibly still held).
    Open,
    /// Recovered at `at`; the recovery notices are held for hold-down.
    Closing {
        at: DateTime<Utc>,
        notices: Vec<OutboxId>,
    },
}

/// Failure and digest state next to the outbox.
pub trait PolicyStore: Send + Sync {
    fn failure(&self, key: &str) -> Result<Option<Failure>, StoreError>;
    fn put_failure(&self, incident: &Failure) -> Result<(), StoreError>;
    fn delete_failure(&self, key: &str) -> Result<(), StoreError>;
    fn failures(&self) -> Result<Vec<Failure>, StoreError>;
    /// Adds a line to digest `digest`, remembering which incident (`source`) it came from.
    fn add_digest_item(&self, digest: OutboxId, source: &str, line: &str)
        -> Result<(), StoreError>;
    fn digest_items(&self, digest: OutboxId) -> Result<Vec<String>, StoreError>;
    /// Removes the lines that came from `source`; returns the digests they were in.
    fn remove_digest_items(&self, source: &str) -> Result<Vec<OutboxId>, StoreError>;
    fn oncall_cases(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<OncallCase>, StoreError>;
    /// Records that the subject of the on-call case of `device_id` and alert `kind` that began
    /// at `since` recovered at `at` (the first recovery counts).
    fn resolve_oncall_case(
        &self,
        device_id: &str,
        kind: &str,
        since: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// When schedule `name` was last evaluated.
    fn schedule_mark(&self, name: &str) -> Result<Option<DateTime<Utc>>, StoreError>;
    fn set_schedule_mark(&self, name: &str, at: DateTime<Utc>) -> Result<(), StoreError>;
}

/// Shared stores (`Arc<dyn PolicyStore>`) are stores too.
impl<T: PolicyStore + ?Sized> PolicyStore for std::sync::Arc<T> {
    fn failure(&self, key: &str) -> Result<Option<Failure>, StoreError> {
        (**self).failure(key)
    }

    fn put_failure(&self, incident: &Failure) -> Result<(), StoreError> {
        (**self).put_failure(incident)
    }

    fn delete_failure(&self, key: &str) -> Result<(), StoreError> {
        (**self).delete_failure(key)
    }

    fn failures(&self) -> Result<Vec<Failure>, StoreError> {
        (**self).failures()
    }

    fn add_digest_item(
        &self,
        digest: OutboxId,
        source: &str,
        line: &str,
    ) -> Result<(), StoreError> {
        (**self).add_digest_item(digest, source, line)
    }

    fn digest_items(&self, digest: OutboxId) -> Result<Vec<String>, StoreError> {
        (**self).digest_items(digest)
    }

    fn remove_digest_items(&self, source: &str) -> Result<Vec<OutboxId>, StoreError> {
        (**self).remove_digest_items(source)
    }

    fn oncall_cases(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<OncallCase>, StoreError> {
        (**self).oncall_cases(from, to)
    }

    fn resolve_oncall_case(
        &self,
        device_id: &str,
        kind: &str,
        since: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        (**self).resolve_oncall_case(device_id, kind, since, at)
    }

    fn schedule_mark(&self, name: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        (**self).schedule_mark(name)
    }

    fn set_schedule_mark(&self, name: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        (**self).set_schedule_mark(name, at)
    }
}

/// A followed failure read back from its JSON column.
pub(crate) fn parse_failure(json: &str) -> Result<Failure, StoreError> {
    serde_json::from_str(json).map_err(|e| StoreError::Corrupt(format!("incident: {e}")))
}
