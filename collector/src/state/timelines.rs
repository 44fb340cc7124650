//! The read model's core: effective device timelines (each device's stored outages with its
//! parents applied, see [`super::machine::effective`]) and the service timelines derived from
//! them. Status, the report, alerting and metrics all read state through these two functions.

use super::machine::{effective, service_timeline, Segment, Timeline};
use crate::availability::FOREVER;
use crate::inventory::Inventory;
use crate::store::{EntityKind, Store, StoreError};
use std::collections::{BTreeMap, BTreeSet};

/// Up to this many devices, [`load_timelines_of`] reads each device's outages by its key.
const FEW: usize = 64;

/// Effective device timelines (parents applied) from stored outages overlapping `[from, to)`.
pub fn load_timelines(
    inv: &Inventory,
    store: &dyn Store,
    from: i64,
    to: i64,
) -> Result<BTreeMap<String, Timeline>, StoreError> {
    load_timelines_of(inv, store, None, from, to)
}

/// [`load_timelines`] of the devices in `only` (all with `None`); `only` must hold each listed
/// device's ancestors too. A few devices are read one by one, many in one query.
pub fn load_timelines_of(
    inv: &Inventory,
    store: &dyn Store,
    only: Option<&BTreeSet<&str>>,
    from: i64,
    to: i64,
) -> Result<BTreeMap<String, Timeline>, StoreError> {
    let seen = store.seen()?;
    let outages = match only {
        Some(ids) if ids.len() <= FEW => {
            let mut all = Vec::new();
            for id in ids {
                all.extend(store.outages(EntityKind::Device, Some(id), from, to)?);
            }
            all
        }
        _ => store.outages(EntityKind::Device, None, from, to)?,
    };
    let mut segments: BTreeMap<String, Vec<Segment>> = BTreeMap::new();
    for o in outages {
        segments.entry(o.id).or_default().push(Segment {
            start: o.start,
            end: o.end.unwrap_or(FOREVER),
            state: o.kind,
            cause: o.cause,
        });
    }
    let mut out: BTreeMap<String, Timeline> = BTreeMap::new();
    for d in inv.devices_parents_first() {
        if only.is_some_and(|ids| !ids.contains(d.id.as_str())) {
            continue;
        }
        let own = Timeline::from_segments(
            segments.get(&d.id).map(Vec::as_slice).unwrap_or(&[]),
            seen.get(&d.id).map(|s| s.first),
        );
        let parent = d.parent.as_ref().and_then(|p| out.get(p));
        let eff = effective(&own, parent, d.rules.interval_ms);
        out.insert(d.id.clone(), eff);
    }
    Ok(out)
}

/// Service timelines over `[from, to)` from device timelines.
pub fn service_timelines(
    inv: &Inventory,
    devices: &BTreeMap<String, Timeline>,
    from: i64,
    to: i64,
) -> BTreeMap<String, Timeline> {
    let empty = Timeline::default();
    inv.services
        .iter()
        .map(|s| {
            let members: Vec<&Timeline> = s
                .members
                .iter()
                .map(|m| devices.get(m).unwrap_or(&empty))
                .collect();
            (
                s.id.clone(),
                service_timeline(s.rule.need(), &members, from, to),
            )
        })
        .collect()
}
