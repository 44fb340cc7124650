//! Updates an operator adds to a service disturbance the probes found ("Leverantören felsöker,
//! beräknas klart 14.00"): the probed counterpart of [`super::IncidentUpdate`] on incidents
//! registered by hand. Table `service_updates`: the service, the start of the outage it was
//! written for (`since`), when, by whom and the text; appended, never edited.
//!
//! Readers match an update to an outage by time (`at` inside the outage), so an outage whose
//! start moved with late results keeps its updates.
//! [`ServiceUpdateStore`] is the trait; `SqliteServiceUpdateStore` and `PgServiceUpdateStore` keep it.

use super::columns::time_from_text as instant;
use super::StoreError;
use chrono::{DateTime, Utc};
use serde::Serialize;

/// One update of a service disturbance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceUpdate {
    pub id: i64,
    pub service_id: String,
    /// The start of the outage it was written for.
    pub since: DateTime<Utc>,
    pub at: DateTime<Utc>,
    pub by: String,
    pub text: String,
}

/// The `service_updates` table.
pub trait ServiceUpdateStore: Send + Sync {
    /// Appends `update` (its `id` is ignored); returns the id it got.
    fn insert(&self, update: &ServiceUpdate) -> Result<i64, StoreError>;

    /// Every update written at or after `from`, oldest first.
    fn since(&self, from: DateTime<Utc>) -> Result<Vec<ServiceUpdate>, StoreError>;

    /// Appends an update; returns it with its id.
    fn add(
        &self,
        service_id: &str,
        since: DateTime<Utc>,
        at: DateTime<Utc>,
        by: &str,
        body: &str,
    ) -> Result<ServiceUpdate, StoreError> {
        let mut update = ServiceUpdate {
            id: 0,
            service_id: service_id.to_string(),
            since,
            at,
            by: by.to_string(),
            text: body.to_string(),
        };
        update.id = self.insert(&update)?;
        Ok(update)
    }
}

/// Shared stores (`Arc<dyn ServiceUpdateStore>`) are stores too.
impl<T: ServiceUpdateStore + ?Sized> ServiceUpdateStore for std::sync::Arc<T> {
    fn insert(&self, update: &ServiceUpdate) -> Result<i64, StoreError> {
        (**self).insert(update)
    }

    fn since(&self, from: DateTime<Utc>) -> Result<Vec<ServiceUpdate>, StoreError> {
        (**self).since(from)
    }
}

/// The columns both backends select, in the order [`decode`] takes them.
pub(crate) const SELECT_SINCE: &str =
    "SELECT id, service_id, since, at, by, text FROM service_updates
     WHERE at >= $1 ORDER BY at, id";

/// A row read back: (id, service, since, at, by, text).
pub(crate) fn decode(
    (id, service_id, since, at, by, text): (i64, String, String, String, String, String),
) -> Result<ServiceUpdate, StoreError> {
    Ok(ServiceUpdate {
        id,
        service_id,
        since: instant(&since)?,
        at: instant(&at)?,
        by,
        text,
    })
}
