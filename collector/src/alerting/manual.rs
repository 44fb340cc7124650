//! Incidents registered by hand, as alerting conditions: an open incident is a service down in
//! each municipality it hits (key `incident:ID:MUNICIPALITY`), so the editors get the same
//! störning and åtgärdat notices as for a probed service, once each.

use super::condition::{Condition, Course};
use crate::events::Event;
use crate::store::ManualIncident;
use chrono::{DateTime, Utc};

/// The key prefix of these conditions.
pub const PREFIX: &str = "incident:";

/// The conditions of the incidents open at `now`.
pub fn conditions(incidents: &[ManualIncident], now: DateTime<Utc>) -> Vec<Condition> {
    let mut out = Vec::new();
    for i in incidents
        .iter()
        .filter(|i| i.start <= now && i.end.is_none_or(|e| e > now))
    {
        for m in &i.municipalities {
            out.push(Condition {
                key: format!("{PREFIX}{}:{m}", i.id),
                since: i.start,
                event: Event::ServiceDown {
                    service_id: format!("incident-{}-{m}", i.id),
                    service_name: i.title.clone(),
                    municipality: m.clone(),
                    site_ids: Vec::new(),
                    site_names: Vec::new(),
                    since: i.start,
                    cause_device: None,
                    function: None,
                    case_title: None,
                },
            });
        }
    }
    out
}

/// Whether the incident of `key` is still open at `now`.
pub fn course(incidents: &[ManualIncident], key: &str, now: DateTime<Utc>) -> Course {
    let id = key
        .strip_prefix(PREFIX)
        .and_then(|r| r.split(':').next())
        .and_then(|id| id.parse::<i64>().ok());
    match incidents.iter().find(|i| Some(i.id) == id) {
        Some(i) => match i.end {
            Some(e) if e <= now => Course::Ended(e),
            _ => Course::Ongoing,
        },
        None => Course::Unknown,
    }
}
