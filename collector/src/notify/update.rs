//! The "uppdatering" notice: an operator's update of an ongoing disturbance (an incident
//! registered by hand, or a service the probes found down) told to the editors of the
//! municipality, once per update and recipient (the outbox key names the update), at once
//! (an update is written deliberately: no hold-down).

use super::config::Role;
use super::policy::{instant_key, Notice};
use super::render::date_time_sv;
use super::{Notifier, NotifyError, NotifyStore};
use crate::store::OutboxId;
use chrono::{DateTime, Utc};

/// An update to tell the editors of `municipality` about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateNotice {
    /// Names the update (`service-update:ID`, `incident-update:ID:MS`).
    pub key: String,
    pub municipality: String,
    /// What does not work.
    pub title: String,
    /// Where (site names), or the municipality.
    pub places: String,
    pub since: DateTime<Utc>,
    pub at: DateTime<Utc>,
    pub text: String,
}

impl<S: NotifyStore> Notifier<S> {
    /// Enqueues the "uppdatering" to each editor of the update's municipality; an update
    /// already enqueued for a recipient is not enqueued again.
    pub fn announce_update(&self, u: &UpdateNotice) -> Result<Vec<OutboxId>, NotifyError> {
        let tz = self.calendar()?.time_zone();
        let now = self.clock.now();
        let place = if u.places.is_empty() {
            u.municipality.clone()
        } else {
            u.places.clone()
        };
        let vars = vec![
            ("service", u.title.clone()),
            ("where", place),
            ("municipality", u.municipality.clone()),
            ("since", date_time_sv(u.since, tz)),
            ("at", date_time_sv(u.at, tz)),
            ("text", u.text.clone()),
        ];
        let mut ids = Vec::new();
        for r in self.config.recipients(&u.municipality, Role::Editors) {
            let notice = Notice {
                key: format!("update:{}:{}:{r}", u.key, instant_key(u.at)),
                kind: "update",
                recipient: &r,
                municipality: Some(&u.municipality),
                vars: vars.clone(),
                due_at: now,
                limited: true,
                source: None,
                oncall_case: None,
                csv: Vec::new(),
            };
            ids.extend(self.enqueue(notice)?);
        }
        Ok(ids)
    }
}
