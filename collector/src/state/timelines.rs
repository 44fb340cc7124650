//! The read model's core: effective device timelines (each device's stored outages with its
//! parents applied, see [`super::machine::effective`]) and the service timelines derived from
//! them. Status, the report, alerting and metrics all read state through these two functions.

use super::lineage::ancestors;
use super::machine::{effective, service_timeline, Segment, Timeline};
use crate::availability::FOREVER;
use crate::inventory::{Device, Inventory};
use crate::store::{EntityKind, Outage, Store, StoreError};
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
    let few = only.filter(|ids| ids.len() <= FEW);
    let outages = match few {
        Some(ids) => {
            let mut all = Vec::new();
            for id in ids {
                all.extend(store.outages(EntityKind::Device, Some(id), from, to)?);
            }
            all
        }
        None => store.outages(EntityKind::Device, None, from, to)?,
    };
    // A few devices: each one's first result by its key, in parents-first order of their own
    // (not a scan of every device's first result and of the whole inventory per call).
    if let Some(ids) = few {
        let mut first_seen = BTreeMap::new();
        for id in ids {
            if let Some(at) = store.first_seen(id)? {
                first_seen.insert(id.to_string(), at);
            }
        }
        return Ok(timelines_of(inv, ids, outages, &first_seen));
    }
    let segments = segments_by_device(outages);
    let first_seen: BTreeMap<String, i64> = store
        .seen()?
        .into_iter()
        .map(|(id, s)| (id, s.first))
        .collect();
    let order = inv
        .devices_parents_first()
        .into_iter()
        .filter(|d| only.is_none_or(|ids| ids.contains(d.id.as_str())));
    Ok(effective_timelines(inv, order, &segments, &first_seen))
}

/// Effective timelines of the devices in `ids` (which must hold each one's ancestors) from
/// their stored `outages` and first results, with no store: the caller read them.
pub fn timelines_of(
    inv: &Inventory,
    ids: &BTreeSet<&str>,
    outages: Vec<Outage>,
    first_seen: &BTreeMap<String, i64>,
) -> BTreeMap<String, Timeline> {
    let mut order: Vec<&Device> = ids.iter().filter_map(|id| inv.device(id)).collect();
    order.sort_by_key(|d| ancestors(inv, &d.id).count());
    effective_timelines(inv, order, &segments_by_device(outages), first_seen)
}

fn segments_by_device(outages: Vec<Outage>) -> BTreeMap<String, Vec<Segment>> {
    let mut segments: BTreeMap<String, Vec<Segment>> = BTreeMap::new();
    for o in outages {
        segments.entry(o.id).or_default().push(Segment {
            start: o.start,
            end: o.end.unwrap_or(FOREVER),
            state: o.kind,
            cause: o.cause,
        });
    }
    segments
}

/// Each device's own timeline with its parent's applied, parents first.
fn effective_timelines<'a>(
    inv: &Inventory,
    order: impl IntoIterator<Item = &'a Device>,
    segments: &BTreeMap<String, Vec<Segment>>,
    first_seen: &BTreeMap<String, i64>,
) -> BTreeMap<String, Timeline> {
    let mut out: BTreeMap<String, Timeline> = BTreeMap::new();
    for d in order {
        let own = Timeline::from_segments(
            segments.get(&d.id).map(Vec::as_slice).unwrap_or(&[]),
            first_seen.get(&d.id).copied(),
        );
        let parent = inv.parent_of(d).and_then(|p| out.get(&p));
        let eff = effective(&own, parent, d.rules.interval_ms);
        out.insert(d.id.clone(), eff);
    }
    out
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
