//! On-call cases registered by hand: a call the on-call technician took that no alarm raised,
//! with the municipality and the department (verksamheten) it is billed to. What an operator
//! gives is checked here, once for `POST /api/v1/oncall` and `driftvakt-collector oncall add`,
//! then kept by [`OncallCaseStore`]; the report bills them like the cases alerting started
//! (`report::oncall`).

use super::{by, instant_ok, text, IncidentError};
use crate::inventory::Inventory;
use crate::store::{ManualOncallCase, NewManualOncallCase, OncallCaseStore};
use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;

/// The longest case, from its start to its end.
pub const MAX_LENGTH_DAYS: i64 = 7;

/// A case as given (the JSON body of `POST /api/v1/oncall`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OncallRegistration {
    pub municipality: String,
    /// The department (verksamheten) billed.
    pub department: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub title: String,
    #[serde(default)]
    pub description: String,
    /// Who registers it (default `operator`).
    #[serde(default)]
    pub by: Option<String>,
}

/// Checks `r` against the inventory and registers it.
pub fn register(
    inv: &Inventory,
    store: &dyn OncallCaseStore,
    r: &OncallRegistration,
    now: DateTime<Utc>,
) -> Result<ManualOncallCase, IncidentError> {
    let known = inv.municipalities();
    if !known.contains(&r.municipality) {
        return Err(IncidentError::Invalid(format!(
            "unknown municipality `{}` (the inventory has {})",
            r.municipality,
            known.join(", ")
        )));
    }
    let department = r.department.trim();
    if department.is_empty() || department.chars().count() > 100 {
        return Err(IncidentError::Invalid(
            "`department` must have 1–100 characters".into(),
        ));
    }
    instant_ok("start", r.start, now)?;
    instant_ok("end", r.end, now)?;
    if r.end <= r.start {
        return Err(IncidentError::Invalid("end must be after start".into()));
    }
    if r.end - r.start > Duration::days(MAX_LENGTH_DAYS) {
        return Err(IncidentError::Invalid(format!(
            "a case lasts at most {MAX_LENGTH_DAYS} days"
        )));
    }
    let new = NewManualOncallCase {
        municipality: r.municipality.clone(),
        department: department.to_string(),
        start: r.start,
        end: r.end,
        title: text("title", &r.title, true)?,
        description: text("description", &r.description, false)?,
        by: by(&r.by)?,
    };
    let id = store.add(&new, now)?;
    store.get(id)?.ok_or(IncidentError::Unknown(id))
}
