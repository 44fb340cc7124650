//! Updates of a service disturbance the probes found: an operator writes what is known
//! ("Leverantören felsöker, beräknas klart 14.00") while the service is down, through
//! `POST /api/v1/services/{id}/updates` or `driftvakt-collector incident update --service ID`.
//! The same text rules as an incident's update; a service that is not down now is refused
//! (there is nothing to update). Kept in `store::service_updates`; the driftinfo pages show
//! them and alerting sends each once as an "uppdatering" to the editors.

use super::{by, text, IncidentError};
use crate::inventory::Inventory;
use crate::state::{status, Health};
use crate::store::{ServiceUpdate, ServiceUpdateStore, Store};
use chrono::{DateTime, Utc};
use serde::Deserialize;

/// An update as given (the JSON body of `POST /api/v1/services/{id}/updates`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceChange {
    pub text: String,
    #[serde(default)]
    pub by: Option<String>,
}

/// Adds `c` to the ongoing disturbance of service `service_id`.
pub fn update_service(
    inv: &Inventory,
    store: &dyn Store,
    updates: &dyn ServiceUpdateStore,
    service_id: &str,
    c: &ServiceChange,
    now: DateTime<Utc>,
) -> Result<ServiceUpdate, IncidentError> {
    if !inv.services.iter().any(|s| s.id == service_id) {
        return Err(IncidentError::Invalid(format!(
            "unknown service `{service_id}`"
        )));
    }
    let body = text("text", &c.text, true)?;
    let who = by(&c.by)?;
    let current = status(inv, store, now).map_err(IncidentError::Store)?;
    let s = current
        .services
        .iter()
        .find(|s| s.id == service_id)
        .ok_or_else(|| IncidentError::Invalid(format!("unknown service `{service_id}`")))?;
    let since = match (s.state, s.since) {
        (Health::Down, Some(since)) => since,
        (state, _) => {
            return Err(IncidentError::Conflict(format!(
                "service `{service_id}` is not disturbed now (state {state:?}); updates are \
                 for ongoing disturbances"
            )))
        }
    };
    Ok(updates.add(service_id, since, now, &who, &body)?)
}
