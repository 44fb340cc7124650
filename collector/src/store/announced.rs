//! What has been announced: table `alerting_state` in the collector's database, one row per
//! open condition (key, start, and the opening event as JSON, from which the closing event is
//! built). Rows are written right after the notifier has enqueued the opening event and
//! deleted right after it has enqueued the closing one; the notifier's own incident table and
//! idempotency keys make a repeat of either call (a crash in between) harmless.
//! [`AnnouncedStore`] is the trait; `SqliteAnnouncedStore` and `PgAnnouncedStore` keep it.

use super::StoreError;
use crate::events::Event;
use chrono::{DateTime, SecondsFormat, Utc};

/// One announced condition.
#[derive(Debug, Clone, PartialEq)]
pub struct Announced {
    pub key: String,
    pub since: DateTime<Utc>,
    pub event: Event,
}

/// The `alerting_state` table.
pub trait AnnouncedStore: Send + Sync {
    /// Every announced condition, by key.
    fn all(&self) -> Result<Vec<Announced>, StoreError>;
    /// Stores (or replaces) the condition under its key.
    fn put(&self, a: &Announced) -> Result<(), StoreError>;
    /// Forgets the condition under `key`.
    fn delete(&self, key: &str) -> Result<(), StoreError>;
}

/// Shared stores (`Arc<dyn AnnouncedStore>`) are stores too.
impl<T: AnnouncedStore + ?Sized> AnnouncedStore for std::sync::Arc<T> {
    fn all(&self) -> Result<Vec<Announced>, StoreError> {
        (**self).all()
    }

    fn put(&self, a: &Announced) -> Result<(), StoreError> {
        (**self).put(a)
    }

    fn delete(&self, key: &str) -> Result<(), StoreError> {
        (**self).delete(key)
    }
}

/// `a`'s columns as both backends write them: its start at full precision and its event as
/// JSON. Full precision: a finding's start is a probe time (nanoseconds), and `check` compares
/// it with this one; truncated, every check saw a "later start" and closed and reopened the
/// alert before it could be sent.
pub(crate) fn encode(a: &Announced) -> Result<(String, String), StoreError> {
    let event = serde_json::to_string(&a.event)
        .map_err(|e| StoreError::Corrupt(format!("{}: event: {e}", a.key)))?;
    Ok((a.since.to_rfc3339_opts(SecondsFormat::AutoSi, true), event))
}

/// A row (key, since, event) read back.
pub(crate) fn decode(key: String, since: &str, event: &str) -> Result<Announced, StoreError> {
    let since = DateTime::parse_from_rfc3339(since)
        .map_err(|e| StoreError::Corrupt(format!("{key}: since: {e}")))?
        .with_timezone(&Utc);
    let event = serde_json::from_str(event)
        .map_err(|e| StoreError::Corrupt(format!("{key}: event: {e}")))?;
    Ok(Announced { key, since, event })
}
