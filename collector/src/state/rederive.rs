//! Re-derivation: from stored results to stored outages. Ingest stores results and marks the
//! devices they touch as pending (in the same transaction); [`recompute`] then re-derives each
//! pending device from its earliest changed time with the pure machine ([`super::machine`]),
//! re-derives the services whose members (or their ancestors) changed, and replaces both in the
//! store. A crash in between leaves the pending marks, and the next start finishes the work.

use super::lineage::ancestors;
use super::machine::{derive, service_timeline, Observation, State, Timeline};
use super::timelines::load_timelines_of;
use crate::availability::FOREVER;
use crate::inventory::Inventory;
use crate::store::{EntityKind, Flap, Outage, Replacement, Store, StoreError, StoredResult};
use driftvakt_common::wire::ErrorKind;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// Re-derives the given devices (id and earliest changed time), then the services they affect.
///
/// The devices are re-derived in steps, each under its own hold of the writers' lock (`lock`)
/// and written in one transaction: a step takes devices until it has worked for
/// [`STEP_BUDGET`] (at least one device). A batch of in-order results costs a step or two; a
/// device whose results came hours late costs its own step, and the other agents' batches are
/// stored and derived between the steps instead of waiting for all of it. Inside a step the
/// store's pending mark decides: a device another writer re-derived since is skipped, and one
/// with results stored since from an earlier time starts there.
pub fn recompute<G>(
    inv: &Inventory,
    store: &dyn Store,
    pending: &BTreeMap<String, i64>,
    lock: impl Fn() -> G,
) -> Result<(), StoreError> {
    let mut changed = BTreeMap::new();
    let mut devices = pending.iter().peekable();
    while devices.peek().is_some() {
        let _step = lock();
        let started = Instant::now();
        let mut replacements = Vec::new();
        for (device, from) in devices.by_ref() {
            if let Some(mark) = store.pending_of(device)? {
                replacements.push(rederive_device(inv, store, device, mark.min(*from))?);
            }
            if started.elapsed() >= STEP_BUDGET {
                break;
            }
        }
        store.replace_outages(&replacements)?;
        changed.extend(replacements.into_iter().map(|r| (r.id, r.from)));
    }
    if changed.is_empty() {
        return Ok(());
    }
    let _step = lock();
    let services = rederive_services(inv, store, &changed)?;
    store.replace_outages(&services)
}

/// How long one step of [`recompute`] may hold the writers' lock before it writes what it has
/// and lets other writers in (a single device's re-derivation is never cut).
pub const STEP_BUDGET: Duration = Duration::from_millis(25);

/// Re-derives the stored outages of services whose members (or their ancestors) changed,
/// from the earliest changed time on. These are a record for alerting and history; the
/// report and status compute services from device outages themselves.
fn rederive_services(
    inv: &Inventory,
    store: &dyn Store,
    changed: &BTreeMap<String, i64>,
) -> Result<Vec<Replacement>, StoreError> {
    let affected: Vec<_> = inv
        .services
        .iter()
        .filter(|s| s.members.iter().any(|m| lineage_changed(inv, m, changed)))
        .collect();
    let Some(earliest) = changed.values().min().copied() else {
        return Ok(Vec::new());
    };
    let widest = inv
        .devices
        .iter()
        .map(|d| d.rules.interval_ms)
        .max()
        .unwrap_or(0);
    // Each service's start, moved back over any stored outage covering it; then every
    // device timeline is loaded once, from the earliest of them (not once per service).
    let mut starts = Vec::with_capacity(affected.len());
    for s in affected {
        let mut from = earliest.saturating_sub(widest);
        loop {
            let covering = store.outages(EntityKind::Service, Some(&s.id), from, from + 1)?;
            match covering.iter().map(|o| o.start).min() {
                Some(start) if start < from => from = start,
                _ => break,
            }
        }
        starts.push((s, from));
    }
    let Some(load_from) = starts.iter().map(|(_, from)| *from).min() else {
        return Ok(Vec::new());
    };
    // Only the members and their ancestors (parents decide "unreachable") are loaded.
    let mut needed = BTreeSet::new();
    for (s, _) in &starts {
        for m in &s.members {
            needed.insert(m.as_str());
            needed.extend(ancestors(inv, m).map(|a| a.id.as_str()));
        }
    }
    let devices = load_timelines_of(inv, store, Some(&needed), load_from, FOREVER)?;
    let mut out = Vec::new();
    for (s, from) in starts {
        let members: Vec<&Timeline> = s.members.iter().filter_map(|m| devices.get(m)).collect();
        let tl = service_timeline(s.rule.need(), &members, from, FOREVER);
        let mut outages = Vec::new();
        for (set, kind) in [
            (&tl.down, State::Down),
            (&tl.unknown, State::Unknown),
            (&tl.degraded, State::Degraded),
        ] {
            outages.extend(set.as_slice().iter().map(|span| Outage {
                entity: EntityKind::Service,
                id: s.id.clone(),
                start: span.start,
                end: (span.end < FOREVER).then_some(span.end),
                kind,
                cause: None,
            }));
        }
        out.push(Replacement {
            entity: EntityKind::Service,
            id: s.id.clone(),
            from,
            outages,
            flaps: Vec::new(),
        });
    }
    Ok(out)
}

/// Whether `device` or one of its ancestors is in `changed`.
fn lineage_changed(inv: &Inventory, device: &str, changed: &BTreeMap<String, i64>) -> bool {
    changed.contains_key(device) || ancestors(inv, device).any(|a| changed.contains_key(&a.id))
}

/// Re-derives a device's outages and flaps from `earliest` on.
///
/// The re-derivation starts at an *anchor* no later than `earliest` minus the stale time,
/// moved back to the start of any stored outage that covers it, so the state just before
/// the anchor is plain up. Results are loaded from each agent's last success before the
/// anchor (so runs of failures in progress are seen whole); outages from the anchor on
/// are replaced.
pub fn rederive_device(
    inv: &Inventory,
    store: &dyn Store,
    device: &str,
    earliest: i64,
) -> Result<Replacement, StoreError> {
    let Some(d) = inv.device(device) else {
        // No longer in the inventory: keep what is stored, clear the pending mark.
        return Ok(Replacement {
            entity: EntityKind::Device,
            id: device.to_string(),
            from: FOREVER,
            outages: Vec::new(),
            flaps: Vec::new(),
        });
    };
    let rules = &d.rules;
    let stale = rules.stale_ms().max(rules.slowest_interval_ms * 3);
    let mut anchor = earliest.saturating_sub(stale);
    loop {
        let covering = store.outages(EntityKind::Device, Some(device), anchor, anchor + 1)?;
        match covering.iter().map(|o| o.start).min() {
            Some(start) if start < anchor => anchor = start,
            _ => break,
        }
    }
    let load_from = store
        .last_ok_before(device, &rules.primary_check, anchor)?
        .unwrap_or(i64::MIN)
        .min(anchor.saturating_sub(stale));
    let observations: Vec<Observation> = store
        .results(device, load_from)?
        .into_iter()
        .map(observation)
        .collect();
    let derived = derive(rules, &observations);
    let outages: Vec<Outage> = derived
        .segments
        .into_iter()
        .filter(|s| s.end > anchor)
        .map(|s| Outage {
            entity: EntityKind::Device,
            id: device.to_string(),
            start: s.start.max(anchor),
            end: (s.end < FOREVER).then_some(s.end),
            kind: s.state,
            cause: s.cause,
        })
        .collect();
    let flaps: Vec<Flap> = derived
        .flaps
        .into_iter()
        .filter(|f| f.end >= anchor)
        .map(|f| Flap {
            device: device.to_string(),
            agent: f.agent,
            start: f.start,
            end: f.end,
            failures: f.failures,
        })
        .collect();
    Ok(Replacement {
        entity: EntityKind::Device,
        id: device.to_string(),
        from: anchor,
        outages,
        flaps,
    })
}

/// A failed result whose error is the agent's own (no privilege for ICMP, out of descriptors,
/// a probe that could not start): it says nothing about the device (see the machine's rules).
pub fn agent_fault(r: &StoredResult) -> bool {
    !r.ok
        && r.cause
            .as_deref()
            .and_then(ErrorKind::parse)
            .is_some_and(ErrorKind::is_agent_fault)
}

fn observation(r: StoredResult) -> Observation {
    Observation {
        agent_fault: agent_fault(&r),
        agent: r.agent,
        check: r.check,
        time: r.time,
        until: r.until,
        count: r.count,
        ok: r.ok,
        degraded: r.degraded,
        cause: r.cause,
    }
}
