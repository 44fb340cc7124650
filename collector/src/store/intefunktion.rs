//! Intefunktion cases registered by hand: the service desk's own case about one of the
//! agreement's functions (a user phoned: nobody can print in Kommunhuset), with the function
//! (a service of `kind: function`) and its municipality, start, end (none while open), title
//! and description, and the incident (`manual_incidents`) it is linked to, if any. Table
//! `intefunktion_cases` (migrations 17 and 18). The report links a registered
//! case to the case the probes opened for the same function at the same time (one case), and
//! measures the rest on their own (`report::intefunktion`).

use super::columns::time_from_text as instant;
use super::StoreError;
use chrono::{DateTime, Utc};
use serde::Serialize;

/// One intefunktion case registered by hand.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ManualIntefunktionCase {
    pub id: i64,
    /// The function's service id.
    pub function: String,
    pub municipality: String,
    pub start: DateTime<Utc>,
    /// `None` while open.
    pub end: Option<DateTime<Utc>>,
    pub title: String,
    pub description: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    /// The incident registered by hand (`manual_incidents.id`) the desk linked it to.
    pub incident: Option<i64>,
}

/// A new case, as checked by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewIntefunktionCase {
    pub function: String,
    pub municipality: String,
    pub start: DateTime<Utc>,
    pub end: Option<DateTime<Utc>>,
    pub title: String,
    pub description: String,
    pub by: String,
    /// The incident it belongs to (checked by the caller).
    pub incident: Option<i64>,
}

/// What the API, the CLI and the report use.
pub trait IntefunktionStore: Send + Sync {
    fn add(&self, new: &NewIntefunktionCase, now: DateTime<Utc>) -> Result<i64, StoreError>;
    fn get(&self, id: i64) -> Result<Option<ManualIntefunktionCase>, StoreError>;
    /// Closes open case `id` at `end` (`IncidentClosed` when it was closed).
    fn close(&self, id: i64, end: DateTime<Utc>) -> Result<(), StoreError>;
    /// Links case `id` to incident `incident` (`UnknownIncident` when the case is unknown).
    fn link(&self, id: i64, incident: i64) -> Result<(), StoreError>;
    /// The cases that start before `to` and are open or end after `from`, oldest first.
    fn between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<ManualIntefunktionCase>, StoreError>;
}

pub(super) const SELECT: &str = "SELECT id, service_id, municipality, start_utc, end_utc, title, \
                                 description, created_by, created_at, incident_id \
                                 FROM intefunktion_cases";

/// The filter of [`IntefunktionStore::between`], `$1` = from and `$2` = to as text.
pub(super) const BETWEEN: &str = "start_utc < $2 AND (end_utc IS NULL OR end_utc > $1)";

/// The closing statement: `$1` the end, `$2` the id; changes no row when it is closed.
pub(super) const CLOSE: &str =
    "UPDATE intefunktion_cases SET end_utc = $1 WHERE id = $2 AND end_utc IS NULL";

/// The linking statement: `$1` the incident, `$2` the case's id.
pub(super) const LINK: &str = "UPDATE intefunktion_cases SET incident_id = $1 WHERE id = $2";

/// A case from its columns in [`SELECT`]'s order, times as text (`end` null while open).
pub(super) fn from_columns(
    id: i64,
    texts: [String; 7],
    end: Option<String>,
    incident: Option<i64>,
) -> Result<ManualIntefunktionCase, StoreError> {
    let [function, municipality, start, title, description, by, created] = texts;
    Ok(ManualIntefunktionCase {
        id,
        function,
        municipality,
        start: instant(&start)?,
        end: end.as_deref().map(instant).transpose()?,
        title,
        description,
        created_by: by,
        created_at: instant(&created)?,
        incident,
    })
}

/// Why closing changed nothing: the case is unknown or was closed.
pub(super) fn not_closed(case: Option<ManualIntefunktionCase>, id: i64) -> StoreError {
    match case.and_then(|c| c.end) {
        Some(at) => StoreError::IncidentClosed { id, at },
        None => StoreError::UnknownIncident(id),
    }
}
