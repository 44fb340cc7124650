//! Incidents registered by hand: faults no probe sees (e-mail, telephony, a cloud service),
//! registered by an operator with the services or municipalities they hit, a start, an end
//! (none while open), a title and a description; updates are appended, never edited. Tables
//! `manual_incidents` and `manual_incident_updates`.
//!
//! [`IncidentStore`] is what the HTTP API and the CLI write through; the report and alerting
//! read the same rows through [`crate::store::Store::manual_incidents`] (see [`list`]).
//! [`IncidentStore::ongoing`] gives the open incidents with their latest update, for a status
//! page.

use super::StoreError;
use chrono::{DateTime, Utc};
use serde::Serialize;

/// One incident registered by hand.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ManualIncident {
    pub id: i64,
    pub title: String,
    pub description: String,
    /// Services named (inventory ids); may be empty when only municipalities are given.
    pub services: Vec<String>,
    /// The municipalities it hits (given, or those of its services).
    pub municipalities: Vec<String>,
    pub start: DateTime<Utc>,
    /// `None` while open.
    pub end: Option<DateTime<Utc>>,
    /// The device behind it (its root cause), when the operator named one: it makes the
    /// registration one incident with the outages of that cause the probes saw.
    pub cause: Option<String>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    /// Updates, oldest first.
    pub updates: Vec<IncidentUpdate>,
}

impl ManualIncident {
    /// The latest update, if any.
    pub fn latest_update(&self) -> Option<&IncidentUpdate> {
        self.updates.last()
    }
}

/// A note added to an incident ("the supplier is restarting the mail service").
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IncidentUpdate {
    pub at: DateTime<Utc>,
    pub by: String,
    pub text: String,
}

/// A new incident, as checked by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewManualIncident {
    pub title: String,
    pub description: String,
    pub services: Vec<String>,
    pub municipalities: Vec<String>,
    pub start: DateTime<Utc>,
    pub end: Option<DateTime<Utc>>,
    pub cause: Option<String>,
    pub by: String,
}

/// What the API and the CLI change.
pub trait IncidentStore: Send + Sync {
    fn add(&self, new: &NewManualIncident, now: DateTime<Utc>) -> Result<i64, StoreError>;
    fn get(&self, id: i64) -> Result<Option<ManualIncident>, StoreError>;
    /// Appends an update.
    fn add_update(&self, id: i64, update: &IncidentUpdate) -> Result<(), StoreError>;
    /// Sets the end (closes it); `Err(Closed)` when it already has one.
    fn close(&self, id: i64, end: DateTime<Utc>) -> Result<(), StoreError>;
    /// Every incident overlapping `[from, to)` (open ones reach forever), oldest first.
    fn list(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<ManualIncident>, StoreError>;
    /// The open incidents with their updates, oldest first.
    fn ongoing(&self) -> Result<Vec<ManualIncident>, StoreError>;
}

/// The columns of `manual_incidents` both backends read, in the order they decode them.
pub(crate) const SELECT: &str =
    "SELECT id, title, description, services, municipalities, start_utc, \
                      end_utc, created_by, created_at, cause FROM manual_incidents";

/// Shared stores (`Arc<dyn IncidentStore>`) are stores too.
impl<T: IncidentStore + ?Sized> IncidentStore for std::sync::Arc<T> {
    fn add(&self, new: &NewManualIncident, now: DateTime<Utc>) -> Result<i64, StoreError> {
        (**self).add(new, now)
    }

    fn get(&self, id: i64) -> Result<Option<ManualIncident>, StoreError> {
        (**self).get(id)
    }

    fn add_update(&self, id: i64, update: &IncidentUpdate) -> Result<(), StoreError> {
        (**self).add_update(id, update)
    }

    fn close(&self, id: i64, end: DateTime<Utc>) -> Result<(), StoreError> {
        (**self).close(id, end)
    }

    fn list(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<ManualIncident>, StoreError> {
        (**self).list(from, to)
    }

    fn ongoing(&self) -> Result<Vec<ManualIncident>, StoreError> {
        (**self).ongoing()
    }
}
