//! The recorded states of each device (rows of `register_changes`, grouped by device), and the
//! changes that bring the record up to the inventory as it is.

use crate::inventory::Inventory;
use crate::store::register::REMOVED;
use crate::store::RegisterChange;
use chrono::NaiveDate;
use std::collections::{BTreeMap, HashSet};

/// What a device's register said from a day on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    pub municipality: String,
    pub owner: String,
    /// A schema status name, or `removed` (left the inventory).
    pub status: String,
}

impl State {
    pub fn is_active(&self) -> bool {
        self.status == "active"
    }
}

/// One device's states by the day each began (several changes on one day: the last counts).
pub type Timeline = BTreeMap<NaiveDate, State>;

/// The history grouped by device (rows in recorded order).
pub fn timelines(rows: &[RegisterChange]) -> BTreeMap<String, Timeline> {
    let mut out: BTreeMap<String, Timeline> = BTreeMap::new();
    for r in rows {
        out.entry(r.device.clone()).or_default().insert(
            r.day,
            State {
                municipality: r.municipality.clone(),
                owner: r.owner.clone(),
                status: r.status.clone(),
            },
        );
    }
    out
}

/// A device's state in `inv` as it is.
pub fn present(inv: &Inventory) -> BTreeMap<String, State> {
    inv.devices
        .iter()
        .map(|d| {
            let owner = d
                .config
                .register
                .as_ref()
                .and_then(|r| r.owner())
                .unwrap_or_default();
            let state = State {
                municipality: d.municipality.clone(),
                owner: owner.to_string(),
                status: d.config.status().as_str().to_string(),
            };
            (d.id.clone(), state)
        })
        .collect()
}

/// The rows that bring the recorded history `past` up to `inv`, dated `today`.
pub fn changes(past: &[RegisterChange], inv: &Inventory, today: NaiveDate) -> Vec<RegisterChange> {
    let recorded = timelines(past);
    let now = present(inv);
    let row = |device: &str, s: &State| RegisterChange {
        device: device.to_string(),
        day: today,
        municipality: s.municipality.clone(),
        owner: s.owner.clone(),
        status: s.status.clone(),
    };
    let mut out = Vec::new();
    for d in &inv.devices {
        let state = &now[&d.id];
        let last = recorded.get(&d.id).and_then(|t| t.values().next_back());
        if last != Some(state) {
            out.push(row(&d.id, state));
        }
    }
    let present: HashSet<&str> = inv.devices.iter().map(|d| d.id.as_str()).collect();
    for (device, t) in &recorded {
        let Some(last) = t.values().next_back() else {
            continue;
        };
        if !present.contains(device.as_str()) && last.status != REMOVED {
            let gone = State {
                status: REMOVED.to_string(),
                ..last.clone()
            };
            out.push(row(device, &gone));
        }
    }
    out
}
