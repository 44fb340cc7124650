//! Intefunktion cases registered by hand: the service desk's case about one of the
//! agreement's functions (a service of `kind: function`), for a fault the probes do not see or
//! before they confirm it. What an operator gives is checked here, once for `POST
//! /api/v1/intefunktion` and `driftvakt-collector intefunktion add`, then kept by
//! [`IntefunktionStore`]; the report links a case to the probes' case of the same function at
//! the same time and measures its working time (`report::intefunktion`). The desk may also
//! link a case to an incident registered by hand (`manual_incidents`: the avbrott that
//! counts against the yearly goal), when registering it or later ([`change`]).

use super::{by, instant_ok, text, IncidentError};
use crate::inventory::Inventory;
use crate::store::{IncidentStore, IntefunktionStore, ManualIntefunktionCase, NewIntefunktionCase};
use chrono::{DateTime, Utc};
use serde::Deserialize;

/// A case as given (the JSON body of `POST /api/v1/intefunktion`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntefunktionRegistration {
    /// The function's service id.
    pub function: String,
    pub start: DateTime<Utc>,
    /// Absent while the function still does not work.
    #[serde(default)]
    pub end: Option<DateTime<Utc>>,
    pub title: String,
    #[serde(default)]
    pub description: String,
    /// Who registers it (default `operator`).
    #[serde(default)]
    pub by: Option<String>,
    /// The incident registered by hand (`POST /api/v1/incidents`) it belongs to.
    #[serde(default)]
    pub incident: Option<i64>,
}

/// A change as given (the JSON body of `PATCH /api/v1/intefunktion/{id}`): a closing, a link
/// to an incident, or both.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntefunktionChange {
    #[serde(default)]
    pub end: Option<DateTime<Utc>>,
    /// The incident registered by hand the case belongs to.
    #[serde(default)]
    pub incident: Option<i64>,
}

/// Checks `r` against the inventory (and its incident against `incidents`) and registers it
/// for the function's municipality.
pub fn register(
    inv: &Inventory,
    store: &dyn IntefunktionStore,
    incidents: &dyn IncidentStore,
    r: &IntefunktionRegistration,
    now: DateTime<Utc>,
) -> Result<ManualIntefunktionCase, IncidentError> {
    let (_, function) = inv
        .functions()
        .find(|(s, _)| s.id == r.function)
        .ok_or_else(|| {
            let known: Vec<&str> = inv.functions().map(|(s, _)| s.id.as_str()).collect();
            IncidentError::Invalid(format!(
                "unknown function `{}` (the inventory's functions: {})",
                r.function,
                known.join(", ")
            ))
        })?;
    instant_ok("start", r.start, now)?;
    if let Some(end) = r.end {
        instant_ok("end", end, now)?;
        if end <= r.start {
            return Err(IncidentError::Invalid("end must be after start".into()));
        }
    }
    let new = NewIntefunktionCase {
        function: r.function.clone(),
        municipality: function.municipality.clone(),
        start: r.start,
        end: r.end,
        title: text("title", &r.title, true)?,
        description: text("description", &r.description, false)?,
        by: by(&r.by)?,
        incident: r
            .incident
            .map(|i| known_incident(incidents, i))
            .transpose()?,
    };
    let id = store.add(&new, now)?;
    store.get(id)?.ok_or(IncidentError::Unknown(id))
}

/// Closes case `id` at `end` (`409` when it was closed).
pub fn close(
    store: &dyn IntefunktionStore,
    id: i64,
    end: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<ManualIntefunktionCase, IncidentError> {
    let current = store.get(id)?.ok_or(IncidentError::Unknown(id))?;
    instant_ok("end", end, now)?;
    if end <= current.start {
        return Err(IncidentError::Invalid("end must be after start".into()));
    }
    store.close(id, end)?;
    store.get(id)?.ok_or(IncidentError::Unknown(id))
}

/// `incident` when an incident registered by hand has that id.
fn known_incident(incidents: &dyn IncidentStore, incident: i64) -> Result<i64, IncidentError> {
    match incidents.get(incident)? {
        Some(_) => Ok(incident),
        None => Err(IncidentError::Invalid(format!(
            "no incident with id {incident} (register it with POST /api/v1/incidents first)"
        ))),
    }
}

/// Applies `c` to case `id`: links it to its incident, then closes it at its end (`409` when
/// it was closed, `400` for a wrong end or unknown incident; nothing is changed then).
pub fn change(
    store: &dyn IntefunktionStore,
    incidents: &dyn IncidentStore,
    id: i64,
    c: &IntefunktionChange,
    now: DateTime<Utc>,
) -> Result<ManualIntefunktionCase, IncidentError> {
    let current = store.get(id)?.ok_or(IncidentError::Unknown(id))?;
    if c.end.is_none() && c.incident.is_none() {
        return Err(IncidentError::Invalid(
            "give `end` (close the case), `incident` (link it), or both".into(),
        ));
    }
    if let (Some(_), Some(at)) = (c.end, current.end) {
        return Err(IncidentError::Conflict(format!(
            "case {id} was closed at {}",
            at.to_rfc3339()
        )));
    }
    if let Some(end) = c.end {
        instant_ok("end", end, now)?;
        if end <= current.start {
            return Err(IncidentError::Invalid("end must be after start".into()));
        }
    }
    if let Some(i) = c.incident {
        store.link(id, known_incident(incidents, i)?)?;
    }
    match c.end {
        Some(end) => close(store, id, end, now),
        None => store.get(id)?.ok_or(IncidentError::Unknown(id)),
    }
}
