//! Incidents registered by hand (a fault no probe sees: e-mail, telephony, a cloud service):
//! what an operator gives is checked here, once for the HTTP API (`http/incidents.rs`) and the
//! CLI (`driftvakt-collector incident`), then kept by [`IncidentStore`]. They count against the
//! yearly goal and appear in reports like probed incidents; alerting sends the same störning
//! and åtgärdat notices for them (`alerting::manual`). Updates of a disturbance the probes
//! found are checked in [`service`].

pub mod intefunktion;
pub mod oncall;
pub mod service;

use crate::availability::check_year;
use crate::inventory::Inventory;
use crate::store::{IncidentStore, IncidentUpdate, ManualIncident, NewManualIncident, StoreError};
use chrono::{DateTime, Utc};
use serde::Deserialize;

/// Longest title, description or update text, in characters.
pub const MAX_TEXT: usize = 2000;

/// Why a registration or change was refused.
#[derive(Debug, thiserror::Error)]
pub enum IncidentError {
    /// What the operator gave is wrong (HTTP 400).
    #[error("{0}")]
    Invalid(String),
    /// No such incident (HTTP 404).
    #[error("no incident with id {0}")]
    Unknown(i64),
    /// Already closed (HTTP 409).
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for IncidentError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::UnknownIncident(id) => IncidentError::Unknown(id),
            e @ StoreError::IncidentClosed { .. } => IncidentError::Conflict(e.to_string()),
            e => IncidentError::Store(e),
        }
    }
}

impl crate::store::StoreCause for IncidentError {
    fn store_error(&self) -> Option<&StoreError> {
        match self {
            IncidentError::Store(e) => Some(e),
            _ => None,
        }
    }
}

/// A registration as given (the JSON body of `POST /api/v1/incidents`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Registration {
    #[serde(default)]
    pub services: Vec<String>,
    #[serde(default)]
    pub municipalities: Vec<String>,
    pub start: DateTime<Utc>,
    #[serde(default)]
    pub end: Option<DateTime<Utc>>,
    pub title: String,
    #[serde(default)]
    pub description: String,
    /// The device behind it (an inventory id), when known: the registration is then one
    /// incident with the outages of that cause the probes saw (see `report::incidents`). A
    /// registration naming a service the probes saw down at the same time is linked without it.
    #[serde(default)]
    pub cause: Option<String>,
    /// Who registers it (default `operator`).
    #[serde(default)]
    pub by: Option<String>,
}

/// A change as given (the JSON body of `PATCH /api/v1/incidents/{id}`): an update text, an
/// end (closes it), or both.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Change {
    #[serde(default)]
    pub update: Option<String>,
    #[serde(default)]
    pub end: Option<DateTime<Utc>>,
    #[serde(default)]
    pub by: Option<String>,
}

pub(crate) fn text(what: &str, s: &str, required: bool) -> Result<String, IncidentError> {
    let t = s.trim();
    if required && t.is_empty() {
        return Err(IncidentError::Invalid(format!("{what} must not be empty")));
    }
    if t.chars().count() > MAX_TEXT {
        return Err(IncidentError::Invalid(format!(
            "{what} has more than {MAX_TEXT} characters"
        )));
    }
    if let Some(why) = driftvakt_common::xml::refusal(what, t) {
        return Err(IncidentError::Invalid(why));
    }
    Ok(t.to_string())
}

pub(crate) fn by(b: &Option<String>) -> Result<String, IncidentError> {
    let b = b.as_deref().unwrap_or("operator").trim();
    if b.is_empty() || b.chars().count() > 100 {
        return Err(IncidentError::Invalid(
            "`by` must have 1–100 characters".into(),
        ));
    }
    if let Some(why) = driftvakt_common::xml::refusal("by", b) {
        return Err(IncidentError::Invalid(why));
    }
    Ok(b.to_string())
}

pub(crate) fn instant_ok(
    what: &str,
    t: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), IncidentError> {
    check_year(t).map_err(|e| IncidentError::Invalid(format!("{what}: {e}")))?;
    if t > now + chrono::Duration::minutes(5) {
        return Err(IncidentError::Invalid(format!(
            "{what} ({t}) is in the future"
        )));
    }
    Ok(())
}

/// Checks `r` against the inventory and registers it; the municipalities are those given plus
/// those of the services named.
pub fn register(
    inv: &Inventory,
    store: &dyn IncidentStore,
    r: &Registration,
    now: DateTime<Utc>,
) -> Result<ManualIncident, IncidentError> {
    if r.services.is_empty() && r.municipalities.is_empty() {
        return Err(IncidentError::Invalid(
            "name the `services` or `municipalities` the incident hits".into(),
        ));
    }
    let known = inv.municipalities();
    let mut municipalities: Vec<String> = Vec::new();
    for s in &r.services {
        let service = inv
            .services
            .iter()
            .find(|x| &x.id == s)
            .ok_or_else(|| IncidentError::Invalid(format!("unknown service `{s}`")))?;
        for m in service.members.iter().filter_map(|m| inv.device(m)) {
            if !municipalities.contains(&m.municipality) {
                municipalities.push(m.municipality.clone());
            }
        }
    }
    for m in &r.municipalities {
        if !known.contains(m) {
            return Err(IncidentError::Invalid(format!(
                "unknown municipality `{m}` (the inventory has {})",
                known.join(", ")
            )));
        }
        if !municipalities.contains(m) {
            municipalities.push(m.clone());
        }
    }
    if let Some(c) = &r.cause {
        if inv.device(c).is_none() {
            return Err(IncidentError::Invalid(format!(
                "unknown device `{c}` as `cause`"
            )));
        }
    }
    instant_ok("start", r.start, now)?;
    if let Some(end) = r.end {
        instant_ok("end", end, now)?;
        if end <= r.start {
            return Err(IncidentError::Invalid("end must be after start".into()));
        }
    }
    let new = NewManualIncident {
        title: text("title", &r.title, true)?,
        description: text("description", &r.description, false)?,
        services: r.services.clone(),
        municipalities,
        start: r.start,
        end: r.end,
        cause: r.cause.clone(),
        by: by(&r.by)?,
    };
    let id = store.add(&new, now)?;
    store.get(id)?.ok_or(IncidentError::Unknown(id))
}

/// Applies `c` to incident `id`: adds the update, then closes it when an end is given.
pub fn change(
    store: &dyn IncidentStore,
    id: i64,
    c: &Change,
    now: DateTime<Utc>,
) -> Result<ManualIncident, IncidentError> {
    let current = store.get(id)?.ok_or(IncidentError::Unknown(id))?;
    if c.update.is_none() && c.end.is_none() {
        return Err(IncidentError::Invalid(
            "give an `update` text, an `end`, or both".into(),
        ));
    }
    let who = by(&c.by)?;
    if let Some(end) = c.end {
        instant_ok("end", end, now)?;
        if end <= current.start {
            return Err(IncidentError::Invalid("end must be after start".into()));
        }
        if let Some(at) = current.end {
            return Err(IncidentError::Conflict(format!(
                "incident {id} was already closed (at {at})"
            )));
        }
    }
    if let Some(u) = &c.update {
        let update = IncidentUpdate {
            at: now,
            by: who,
            text: text("update", u, true)?,
        };
        store.add_update(id, &update)?;
    }
    if let Some(end) = c.end {
        store.close(id, end)?;
    }
    store.get(id)?.ok_or(IncidentError::Unknown(id))
}
