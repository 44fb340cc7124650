//! The current state of every device and service (`GET /api/v1/status`), with how long it has
//! lasted and, for an unreachable device, the root cause: the nearest ancestor that is down.

use super::lineage::ancestors;
use super::machine::{Health, Timeline};
use super::timelines::{load_timelines, service_timelines};
use crate::availability::{at, ms, Spans};
use crate::inventory::Inventory;
use crate::store::{Store, StoreError};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Current state of one device or service.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EntityStatus {
    pub id: String,
    pub state: Health,
    /// When the current non-up state began (within the last 31 days).
    pub since: Option<DateTime<Utc>>,
    /// For an unreachable device: the ancestor that is down (the root cause).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_cause: Option<String>,
    /// A device's parent: its `parent:` line, or the one found over LLDP/CDP with
    /// `topology.parents: auto`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// Where `parent` comes from: `inventory`, `lldp` or `cdp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_source: Option<String>,
}

/// `GET /api/v1/status`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Status {
    pub now: DateTime<Utc>,
    pub devices: Vec<EntityStatus>,
    pub services: Vec<EntityStatus>,
    pub agents_last_seen: std::collections::BTreeMap<String, DateTime<Utc>>,
}

fn since(t: &Timeline, state: Health, now: i64) -> Option<DateTime<Utc>> {
    let set: &Spans = match state {
        Health::Up => return None,
        Health::Down => &t.down,
        Health::Unreachable => &t.unreachable,
        Health::Unknown => &t.unknown,
        Health::Degraded => &t.degraded,
    };
    set.as_slice()
        .iter()
        .find(|s| s.start <= now && now < s.end)
        .filter(|s| s.start > 0) // never seen: no start to give
        .map(|s| at(s.start))
}

/// The current state of everything, computed from the store.
pub fn status(
    inv: &Inventory,
    store: &dyn Store,
    now: DateTime<Utc>,
) -> Result<Status, StoreError> {
    let now = ms(now);
    let from = now - 31 * 86_400_000;
    let devices = load_timelines(inv, store, from, now + 1)?;
    let services = service_timelines(inv, &devices, from, now + 1);
    let device_rows = inv
        .devices
        .iter()
        .map(|d| {
            let t = &devices[&d.id];
            let state = t.state_at(now);
            let root_cause = (state == Health::Unreachable)
                .then(|| root_cause(inv, &devices, &d.id, now))
                .flatten();
            EntityStatus {
                id: d.id.clone(),
                state,
                since: since(t, state, now),
                root_cause,
                parent: inv.parent_of(d),
                parent_source: inv.parent_source(d),
            }
        })
        .collect();
    let service_rows = inv
        .services
        .iter()
        .map(|s| {
            let t = &services[&s.id];
            let state = t.state_at(now);
            EntityStatus {
                id: s.id.clone(),
                state,
                since: since(t, state, now),
                root_cause: None,
                parent: None,
                parent_source: None,
            }
        })
        .collect();
    let agents_last_seen = store
        .agents_seen()?
        .into_iter()
        .map(|(a, t)| (a, at(t)))
        .collect();
    Ok(Status {
        now: at(now),
        devices: device_rows,
        services: service_rows,
        agents_last_seen,
    })
}

/// The nearest ancestor that is down (not itself unreachable); the farthest one when none is.
fn root_cause(
    inv: &Inventory,
    timelines: &BTreeMap<String, Timeline>,
    id: &str,
    now: i64,
) -> Option<String> {
    let mut last = None;
    for a in ancestors(inv, id) {
        if timelines.get(&a.id).is_some_and(|t| t.down.contains(now)) {
            return Some(a.id.clone());
        }
        last = Some(a.id.clone());
    }
    last
}
