//! Re-derivation: from stored results to stored outages. Ingest stores results and marks the
//! devices they touch as pending (in the same transaction); [`recompute`] then re-derives each
//! pending device from its earliest changed time with the pure machine ([`super::machine`]),
//! re-derives the services whose members (or their ancestors) changed, and replaces both in the
//! store. A crash in between leaves the pending marks, and the next start finishes the work.
//!
//! With live tails ([`super::tails`]) the device's covering outages, last success and recent
//! results come from memory when the tails can answer (in-order batches), and the services are
//! re-derived only for devices whose outages changed; the outages written are the same.
//!
//! An in-order batch's devices do not wait for a pending mark: ingest re-derives them from
//! the tails inside the batch's own transaction ([`settle`]), so their outages are committed
//! with their results (one commit, no mark written and cleared, nothing to finish after a
//! crash). Only the devices the tails cannot answer for (late or out-of-order results, a first
//! batch after a start, a device with a mark of its own) are marked and go through
//! [`recompute`].

use super::lineage::ancestors;
use super::machine::{derive, service_timeline, Health, Observation, Timeline};
use super::tails::Tails;
use super::timelines::{load_timelines_of, timelines_of};
use crate::availability::FOREVER;
use crate::inventory::Inventory;
use crate::store::{
    EntityKind, Flap, Outage, Replacement, Settled, Store, StoreError, StoredResult,
};
use driftvakt_common::wire::ErrorKind;
use std::collections::{BTreeMap, BTreeSet};

/// Devices re-derived (and written, in one transaction) per hold of the writers' lock when each
/// has only recent results to re-derive.
const CHEAP_PER_STEP: usize = 64;
/// A device whose earliest changed time is at most this many of its intervals before the
/// newest changed time of the call is cheap (a few results per check to re-read).
const CHEAP_INTERVALS: i64 = 10;

/// What changed in the state, for what reacts to it (alerting subscribes through
/// `App::subscribe`): each device whose stored outages a [`recompute`] changed, or whose new
/// results failed or carry findings ([`Changes::noted`]: what is told about a device also reads
/// its latest results: findings, agent faults, a parent's failing probe), and each service
/// re-derived, each with the earliest time concerned. Empty when nothing did: a batch of
/// successful results that leaves every stored outage as it was.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    pub devices: BTreeMap<String, i64>,
    pub services: BTreeMap<String, i64>,
}

impl Changes {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.devices.is_empty() && self.services.is_empty()
    }

    /// The devices of `results` that failed or carry findings, from their earliest such result.
    pub fn noted(results: &[StoredResult]) -> Changes {
        let mut out = Changes::default();
        for r in results.iter().filter(|r| !r.ok || r.degraded) {
            out.note_device(&r.target, r.time);
        }
        out
    }

    /// Adds what `other` changed.
    pub fn merge(&mut self, other: Changes) {
        for (id, from) in other.devices {
            self.note_device(&id, from);
        }
        for (id, from) in other.services {
            let at = self.services.entry(id).or_insert(from);
            *at = (*at).min(from);
        }
    }

    fn note_device(&mut self, id: &str, from: i64) {
        let at = self.devices.entry(id.to_string()).or_insert(from);
        *at = (*at).min(from);
    }
}

/// Re-derives the given devices (id and earliest changed time), then the services they affect;
/// returns what changed ([`Changes`]).
///
/// Devices with only recent changes (the common case of in-order batches) are re-derived up to
/// [`CHEAP_PER_STEP`] per hold of the writers' lock (`lock`) and written in one transaction
/// (one fsync for all of them, not one each); a device whose results came hours late is a step
/// of its own, so it costs its own re-derivation and the other agents' batches are stored and
/// derived between the steps instead of waiting for all of it. The services are one more step.
/// Inside a step the store's pending mark decides: a device another writer re-derived since is
/// skipped, and one with results stored since from an earlier time starts there.
///
/// `settled` are the devices whose stored outages a batch's own transaction already changed
/// ([`settle`], each with its replacement's start): they are not re-derived again, but the
/// services they affect are.
pub fn recompute<G>(
    inv: &Inventory,
    store: &dyn Store,
    tails: Option<&Tails>,
    pending: &BTreeMap<String, i64>,
    settled: &BTreeMap<String, i64>,
    lock: impl Fn() -> G,
) -> Result<Changes, StoreError> {
    let newest = pending.values().max().copied().unwrap_or(0);
    let cheap = |device: &str, from: i64| {
        let interval = inv.device(device).map_or(0, |d| d.rules.interval_ms);
        from >= newest.saturating_sub(interval.saturating_mul(CHEAP_INTERVALS))
    };
    let (few, costly): (Vec<_>, Vec<_>) = pending.iter().partition(|(d, f)| cheap(d, **f));
    let steps = few
        .chunks(CHEAP_PER_STEP)
        .chain(costly.chunks(1))
        .collect::<Vec<_>>();
    let source = Source {
        store: Some(store),
        tails,
    };
    let mut changed = settled.clone();
    let mut told = Changes::default();
    for (id, from) in settled {
        told.note_device(id, *from);
    }
    for step in steps {
        let _step = lock();
        let mut replacements = Vec::with_capacity(step.len());
        for (device, from) in step {
            let Some(mark) = source.pending_of(device)? else {
                continue;
            };
            replacements.push(source.rederive_device(inv, device, mark.min(**from))?);
        }
        let w = writes(tails, &replacements);
        store.replace_outages(&w)?;
        for r in replacements {
            if tails.is_none_or(|t| t.replaced(&r)) {
                told.note_device(&r.id, r.from);
                changed.insert(r.id, r.from);
            }
        }
    }
    if changed.is_empty() {
        return Ok(told);
    }
    let _step = lock();
    let services = rederive_services(inv, &source, &changed)?;
    if services.is_empty() {
        return Ok(told);
    }
    store.replace_outages(&services)?;
    for r in &services {
        if let Some(t) = tails {
            t.service_replaced(r);
        }
        told.services.insert(r.id.clone(), r.from);
    }
    Ok(told)
}

/// What to write for `replacements`: each as it is, but one that the tails show would leave
/// the store as it is becomes a bare clearing of its pending mark (nothing deleted or inserted:
/// the common case of an in-order batch of a healthy device).
fn writes(tails: Option<&Tails>, replacements: &[Replacement]) -> Vec<Replacement> {
    replacements
        .iter()
        .map(|r| match tails {
            Some(t) if t.unchanged(r) => keep(r.entity, &r.id),
            _ => r.clone(),
        })
        .collect()
}

/// Re-derives in memory, inside a batch's own transaction (the writers' lock held), the devices
/// of `pending` (those the batch stored results of, each with its earliest) that the tails can
/// answer for without the store: in-order results of a device with no pending mark of its own,
/// no earlier than [`CHEAP_INTERVALS`] of its intervals before the batch's newest. Returns
/// what the store writes with the results ([`Settled`]: the replacements that change the
/// stored outages or flaps; the others are only settled) and every replacement derived, which
/// the caller hands to [`Tails::replaced`] once the transaction committed. A device not
/// settled here is marked pending and goes through [`recompute`].
pub fn settle(
    inv: &Inventory,
    tails: &Tails,
    pending: &BTreeMap<String, i64>,
) -> (Settled, Vec<Replacement>) {
    let newest = pending.values().max().copied().unwrap_or(0);
    let source = Source {
        store: None,
        tails: Some(tails),
    };
    let mut settled = Settled::default();
    let mut derived = Vec::new();
    for (device, from) in pending {
        let interval = inv.device(device).map_or(0, |d| d.rules.interval_ms);
        let cheap = *from >= newest.saturating_sub(interval.saturating_mul(CHEAP_INTERVALS));
        if !cheap || tails.pending_of(device).is_some() {
            continue;
        }
        let Ok(r) = source.rederive_device(inv, device, *from) else {
            continue;
        };
        if !tails.unchanged(&r) {
            settled.write.push(r.clone());
        }
        settled.devices.insert(r.id.clone());
        derived.push(r);
    }
    (settled, derived)
}

/// A replacement that keeps every stored outage and flap and clears the pending mark.
fn keep(entity: EntityKind, id: &str) -> Replacement {
    Replacement {
        entity,
        id: id.to_string(),
        from: FOREVER,
        outages: Vec::new(),
        flaps: Vec::new(),
    }
}

/// Re-derives the stored outages of services whose members (or their ancestors) changed,
/// from the earliest changed time on. These are a record for alerting and history; the
/// report and status compute services from device outages themselves.
fn rederive_services(
    inv: &Inventory,
    source: &Source,
    changed: &BTreeMap<String, i64>,
) -> Result<Vec<Replacement>, Miss> {
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
        // Back over any outage covering `from`, then over a down outage that ends where
        // `from` is (the silence after it may be bridged now; see `Source::rederive_device`):
        // one read of the outages around `from` a step.
        loop {
            let near = source.service_near(&s.id, from)?;
            let covering = near
                .iter()
                .filter(|o| o.start < from && o.end.is_none_or(|e| e > from))
                .map(|o| o.start)
                .min();
            match covering.or_else(|| down_ending_at(&near, from)) {
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
    let devices = source.timelines(inv, &needed, load_from)?;
    let mut out = Vec::new();
    for (s, from) in starts {
        let members: Vec<&Timeline> = s.members.iter().filter_map(|m| devices.get(m)).collect();
        let tl = service_timeline(s.rule.need(), &members, from, FOREVER);
        let mut outages = Vec::new();
        for (set, kind) in [
            (&tl.down, Health::Down),
            (&tl.unknown, Health::Unknown),
            (&tl.degraded, Health::Degraded),
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

/// The start of a down outage among `outages` that ends at `at`.
fn down_ending_at(outages: &[Outage], at: i64) -> Option<i64> {
    outages
        .iter()
        .find(|o| o.kind == Health::Down && o.end == Some(at))
        .map(|o| o.start)
}

/// Whether `device` or one of its ancestors is in `changed`.
fn lineage_changed(inv: &Inventory, device: &str, changed: &BTreeMap<String, i64>) -> bool {
    changed.contains_key(device) || ancestors(inv, device).any(|a| changed.contains_key(&a.id))
}

/// Re-derives a device's outages and flaps from `earliest` on, reading the store.
pub fn rederive_device(
    inv: &Inventory,
    store: &dyn Store,
    device: &str,
    earliest: i64,
) -> Result<Replacement, StoreError> {
    let source = Source {
        store: Some(store),
        tails: None,
    };
    Ok(source.rederive_device(inv, device, earliest)?)
}

/// Where re-derivation reads: the live tails where they can answer, else the store (and what
/// the store returned seeds the tails). Without a store (inside a batch's transaction, see
/// [`settle`]) a question the tails cannot answer is a [`Miss::Memory`].
struct Source<'a> {
    store: Option<&'a dyn Store>,
    tails: Option<&'a Tails>,
}

/// Why a read of re-derivation was not answered.
#[derive(Debug)]
enum Miss {
    /// The store failed.
    Store(StoreError),
    /// Memory only, and the tails do not know.
    Memory,
}

impl From<StoreError> for Miss {
    fn from(e: StoreError) -> Miss {
        Miss::Store(e)
    }
}

impl From<Miss> for StoreError {
    /// Only a [`Source`] with a store reads through these; it never misses memory.
    fn from(m: Miss) -> StoreError {
        match m {
            Miss::Store(e) => e,
            Miss::Memory => StoreError::Corrupt("re-derivation without a store".into()),
        }
    }
}

impl Source<'_> {
    /// The store, if this source may read it.
    fn store(&self) -> Result<&dyn Store, Miss> {
        self.store.ok_or(Miss::Memory)
    }

    /// The stored outages of service `id` overlapping `[at - 1, at + 1)`.
    fn service_near(&self, id: &str, at: i64) -> Result<Vec<Outage>, Miss> {
        let known = self.tails.and_then(|t| {
            let mut near = t.service_covering(id, at - 1)?;
            for o in t.service_covering(id, at)? {
                if !near.contains(&o) {
                    near.push(o);
                }
            }
            Some(near)
        });
        match known {
            Some(near) => Ok(near),
            None => Ok(self
                .store()?
                .outages(EntityKind::Service, Some(id), at - 1, at + 1)?),
        }
    }

    /// Effective timelines over `[from, ∞)` of the devices in `ids` (which holds each one's
    /// ancestors): from the tails when they know every one's outages there, else the store.
    fn timelines(
        &self,
        inv: &Inventory,
        ids: &BTreeSet<&str>,
        from: i64,
    ) -> Result<BTreeMap<String, Timeline>, Miss> {
        let from_store = || -> Result<BTreeMap<String, Timeline>, Miss> {
            Ok(load_timelines_of(
                inv,
                self.store()?,
                Some(ids),
                from,
                FOREVER,
            )?)
        };
        let Some(tails) = self.tails else {
            return from_store();
        };
        let mut outages = Vec::new();
        let mut first_seen = BTreeMap::new();
        for id in ids {
            let Some(known) = tails.outages_since(id, from) else {
                return from_store();
            };
            outages.extend(known);
            let first = match tails.first_seen(id) {
                Some(first) => Some(first),
                None => self.store()?.first_seen(id)?,
            };
            if let Some(first) = first {
                tails.set_first_seen(id, first);
                first_seen.insert(id.to_string(), first);
            }
        }
        Ok(timelines_of(inv, ids, outages, &first_seen))
    }

    fn pending_of(&self, device: &str) -> Result<Option<i64>, Miss> {
        match self.tails {
            Some(t) => Ok(t.pending_of(device)),
            None => Ok(self.store()?.pending_of(device)?),
        }
    }

    fn covering(&self, device: &str, at: i64) -> Result<Vec<Outage>, Miss> {
        match self.tails.and_then(|t| t.covering(device, at)) {
            Some(found) => Ok(found),
            None => Ok(self
                .store()?
                .outages(EntityKind::Device, Some(device), at, at + 1)?),
        }
    }

    fn last_ok_before(&self, device: &str, check: &str, before: i64) -> Result<Option<i64>, Miss> {
        match self
            .tails
            .and_then(|t| t.last_ok_before(device, check, before))
        {
            Some(found) => Ok(found),
            None => Ok(self.store()?.last_ok_before(device, check, before)?),
        }
    }

    fn results(&self, device: &str, from: i64, gap: i64) -> Result<Vec<Observation>, Miss> {
        if let Some(found) = self.tails.and_then(|t| t.results(device, from)) {
            return Ok(found);
        }
        let read: Vec<Observation> = self
            .store()?
            .results(device, from)?
            .iter()
            .map(observation)
            .collect();
        if let Some(t) = self.tails {
            t.seed(device, from, &read, gap);
        }
        Ok(read)
    }

    /// Re-derives a device's outages and flaps from `earliest` on.
    ///
    /// The re-derivation starts at an *anchor* no later than `earliest` minus the stale time,
    /// moved back to the start of any stored outage that covers it, and then over a down
    /// outage that ends exactly there (an outage followed by silence goes on when the silence
    /// is bridged, and must be replaced whole, not split at the anchor), so the state just
    /// before the anchor is plain up. Only a down outage is stepped over: walking back over
    /// every adjacent outage would re-read a flapping device's whole history on every batch.
    /// Results are loaded from each agent's last success before the anchor (so runs of failures
    /// in progress are seen whole); a run confirmed across a silence moves the anchor back to
    /// its first failure ([`Self::back_to_run_start`]); outages from the anchor on are replaced.
    fn rederive_device(
        &self,
        inv: &Inventory,
        device: &str,
        earliest: i64,
    ) -> Result<Replacement, Miss> {
        let Some(d) = inv.device(device) else {
            // No longer in the inventory: keep what is stored, clear the pending mark.
            return Ok(keep(EntityKind::Device, device));
        };
        let rules = &d.rules;
        let stale = rules.stale_ms().max(rules.slowest_interval_ms * 3);
        let mut anchor = earliest.saturating_sub(stale);
        loop {
            let covering = self.covering(device, anchor)?;
            match covering.iter().map(|o| o.start).min() {
                Some(start) if start < anchor => anchor = start,
                _ => break,
            }
        }
        if let Some(start) = down_ending_at(&self.covering(device, anchor - 1)?, anchor) {
            anchor = start;
        }
        let load_from = self
            .last_ok_before(device, &rules.primary_check, anchor)?
            .unwrap_or(i64::MIN)
            .min(anchor.saturating_sub(stale));
        let observations = self.results(device, load_from, rules.stale_ms())?;
        if let Some(t) = self.tails {
            t.trim(device, load_from);
        }
        let derived = derive(rules, &observations);
        let anchor = self.back_to_run_start(device, anchor, load_from, &derived)?;
        Ok(replacement(device, anchor, derived))
    }

    /// The anchor moved back to the start of a derived down segment that crosses it: a run of
    /// failures from before a silence, confirmed by failures after it, starts more than the
    /// stale time before the new results, and must be written from its first failure, not cut
    /// at the anchor. Kept where the results read do not reach that far, or a stored outage
    /// covers that start (the state just before the anchor must stay plain up).
    fn back_to_run_start(
        &self,
        device: &str,
        anchor: i64,
        load_from: i64,
        derived: &super::machine::Derived,
    ) -> Result<i64, Miss> {
        let crossing = derived
            .segments
            .iter()
            .filter(|s| s.state == Health::Down && s.start < anchor && s.end > anchor)
            .map(|s| s.start)
            .min();
        let Some(start) = crossing.filter(|s| *s > load_from) else {
            return Ok(anchor);
        };
        let covered = self
            .covering(device, start)?
            .iter()
            .any(|o| o.start < start);
        Ok(if covered { anchor } else { start })
    }
}

/// A device's derived timeline from `anchor` on, as the outages and flaps to store.
fn replacement(device: &str, anchor: i64, derived: super::machine::Derived) -> Replacement {
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
    Replacement {
        entity: EntityKind::Device,
        id: device.to_string(),
        from: anchor,
        outages,
        flaps,
    }
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

/// A stored result as the state machine reads it.
pub fn observation(r: &StoredResult) -> Observation {
    Observation {
        agent_fault: agent_fault(r),
        agent: r.agent.clone(),
        check: r.check.clone(),
        time: r.time,
        until: r.until,
        count: r.count,
        ok: r.ok,
        degraded: r.degraded,
        cause: r.cause.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(target: &str, time: i64, ok: bool, degraded: bool) -> StoredResult {
        StoredResult::single(
            "a1",
            target,
            "icmp",
            time,
            ok,
            degraded,
            None,
            String::new(),
        )
    }

    #[test]
    fn failed_and_degraded_results_are_noted_from_their_earliest() {
        let results = [
            stored("ok", 1, true, false),
            stored("down", 5, false, false),
            stored("down", 3, false, false),
            stored("ups", 7, true, true),
        ];
        let noted = Changes::noted(&results);
        assert_eq!(
            noted.devices,
            BTreeMap::from([("down".to_string(), 3), ("ups".to_string(), 7)])
        );
        let mut all = Changes::default();
        all.services.insert("wifi".into(), 9);
        all.merge(noted);
        all.merge(Changes {
            devices: BTreeMap::from([("ups".to_string(), 2)]),
            services: BTreeMap::from([("wifi".to_string(), 4)]),
        });
        assert_eq!(all.devices["ups"], 2);
        assert_eq!(all.services["wifi"], 4);
        assert!(!all.is_empty() && Changes::default().is_empty());
    }
}
