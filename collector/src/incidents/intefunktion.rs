//! Intefunktion cases registered by hand: the service desk's case about one of the
//! agreement's functions (a service of `kind: function`), for a fault the probes do not see or
//! before they confirm it. What an operator gives is checked here, once for `POST
//! /api/v1/intefunktion` and `driftvakt-collector intefunktion add`, then kept by
//! [`IntefunktionStore`]; the report links a case to the probes' case of the same function at
//! the same time and measures its working time (`report::intefunktion`).

use super::{by, instant_ok, text, IncidentError};
use crate::inventory::Inventory;
use crate::store::{IntefunktionStore, ManualIntefunktionCase, NewIntefunktionCase};
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
}

/// A closing as given (the JSON body of `PATCH /api/v1/intefunktion/{id}`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntefunktionClose {
    pub end: DateTime<Utc>,
}

/// Checks `r` against the inventory and registers it for the function's municipality.
pub fn register(
    inv: &Inventory,
    store: &dyn IntefunktionStore,
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
