//! Live tails: each device's recent results and outages in memory, so that re-deriving a
//! device after an in-order batch reads nothing from the store.
//!
//! Re-derivation ([`super::rederive`]) asks the store three things per device: the stored
//! outages covering its anchor, the last success of the primary check before the anchor, and
//! every result from there on. A [`Tails`] answers the same three questions from memory when
//! it can prove its answer is the store's, and says "don't know" (`None`) otherwise; the caller
//! then asks the store and hands what it read back ([`Tails::seed`]), so the next batch of the
//! device is answered from memory again.
//!
//! # What a tail holds, and why that is exact
//! - `runs`: every stored result of the device whose run ends at or after `complete_from`, per
//!   series (agent and check), merged into runs of equal outcome at most the device's stale
//!   time apart: the store's own compaction rule, which the state machine reads exactly as the
//!   single results (see its module doc, "Runs", and `cause_at` there). A healthy device costs
//!   one run per check however long it stays healthy, and a device down for weeks one more.
//! - `outages`: the device's stored outages that start at or after `outages_from`: the anchor
//!   of its first re-derivation in this process, moved up to six hours before the latest
//!   anchor as re-derivations go on ([`OUTAGES_KEPT_MS`]). Every stored outage that starts
//!   before `outages_from` ends at or before it (an anchor is moved back over covering
//!   outages, and `outages_from` is moved up only past outages that end before it), so for any
//!   later instant the covering outages are among these, and so are all that overlap a span
//!   starting at or after it (what a service re-derivation reads).
//! - `flaps`: the flaps the last re-derivation wrote (ending at or after its anchor), so that
//!   a re-derivation that would write the same outages and flaps writes nothing
//!   ([`Tails::unchanged`]).
//! - Services: each service's stored outages, kept the same way, for the outages around a
//!   service's re-derivation start.
//!
//! Results are appended as ingest stores them ([`Tails::append`]), under the writers' lock,
//! inside the batch's transaction once the store inserted them (so that [`super::settle`] can
//! re-derive the batch's devices before the commit); if the transaction does not commit, ingest
//! forgets those devices ([`Tails::forget`]) and the store answers for them again. The stored
//! outages and flaps a tail holds change only after the commit ([`Tails::replaced`]). A
//! result older than its series' newest run (an agent
//! replaying its spool, a late batch) drops the device's tail: the next re-derivation reads
//! the store and seeds it again. After each re-derivation the runs that ended before the
//! result window it used are dropped ([`Tails::trim`]), so memory stays a few runs per check.
//!
//! The tails assume this process is the only writer of the store. A collector that sees another
//! node's heartbeat in the store turns them off for good ([`Tails::share`]) and re-reads the
//! store for every device from then on. (Outages it derived in the seconds before it saw the
//! other node may miss that node's results; the next re-derivation of the device, by either
//! node, reads the store and corrects them from its anchor on.)

use super::machine::Observation;
use crate::store::{Flap, Outage, Replacement};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

/// One series: (agent, check).
type SeriesKey = (String, String);

/// One device's tail (see the module doc).
#[derive(Debug, Default)]
struct Tail {
    /// Every run ending at or after this instant is in `runs` (`None`: no results known).
    complete_from: Option<i64>,
    runs: BTreeMap<SeriesKey, Vec<Observation>>,
    /// The anchor of the last re-derivation; `outages` are the stored outages from it on.
    outages_from: Option<i64>,
    outages: Vec<Outage>,
    /// The flaps last written for the device: those ending at or after `flaps_from`, the
    /// anchor of its last re-derivation.
    flaps_from: Option<i64>,
    flaps: Vec<Flap>,
}

/// Every device's tail, and the in-memory twins of two small store facts ingest reads for
/// each batch: each device's pending re-derivation mark and its first result.
#[derive(Debug, Default)]
pub struct Tails {
    inner: Mutex<Inner>,
    /// Result windows answered from memory, and read from the store instead.
    hits: AtomicU64,
    misses: AtomicU64,
    /// Set once another collector node writes the same store: the tails are off for good.
    shared: AtomicBool,
}

#[derive(Debug, Default)]
struct Inner {
    devices: HashMap<String, Tail>,
    /// Services' stored outages (only `outages_from` and `outages` are used).
    services: HashMap<String, Tail>,
    /// Pending marks written by this process and not yet cleared (the store's `pending`).
    pending: HashMap<String, i64>,
    /// First result of each device, as far as known (the store's `first_seen`).
    first_seen: HashMap<String, i64>,
}

impl Tails {
    pub fn new() -> Tails {
        Tails::default()
    }

    /// Whether the tails are in use (no other node shares the store).
    pub fn active(&self) -> bool {
        !self.shared.load(Ordering::Relaxed)
    }

    /// Turns the tails off for good and forgets what they held: another collector node writes
    /// the same store, so memory no longer sees every result. Returns whether they were on.
    pub fn share(&self) -> bool {
        let was_on = !self.shared.swap(true, Ordering::Relaxed);
        *self.lock() = Inner::default();
        was_on
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The stored outages of `device` that overlap `[at, at + 1)`, if known.
    pub fn covering(&self, device: &str, at: i64) -> Option<Vec<Outage>> {
        self.lock().devices.get(device)?.covering(at)
    }

    /// The store's `last_ok_before(device, check, before)`, if the tail can answer it (the
    /// outer `Option`): per series of `check` that has results before `before`, the last
    /// success before it (inside a run, at most `before - 1`); the earliest of them, `before`
    /// when no series reported, and `None` when a series never succeeded. A series whose
    /// results before `before` in the tail are all failures may have its last success before
    /// the tail: unknown, unless the tail holds the device's whole history. A series without
    /// results before `before` in the tail ended before `complete_from`, which the caller's
    /// window starts after, so it cannot change the derivation there and is passed over.
    pub fn last_ok_before(&self, device: &str, check: &str, before: i64) -> Option<Option<i64>> {
        let inner = self.lock();
        let tail = inner.devices.get(device)?;
        let whole = tail.complete_from? == i64::MIN;
        let mut earliest = Some(before);
        for ((_, c), runs) in &tail.runs {
            if c != check {
                continue;
            }
            let mut any = false;
            let mut last_ok = None;
            for r in runs.iter().take_while(|r| r.time < before) {
                any = true;
                if r.ok {
                    last_ok = Some(r.until.min(before - 1));
                }
            }
            earliest = match (any, last_ok) {
                (false, _) => earliest,
                (true, Some(t)) => earliest.map(|e| e.min(t)),
                (true, None) if whole => None,
                (true, None) => return None,
            };
        }
        Some(earliest)
    }

    /// Every run of `device` that ends at or after `from` (the store's `results(device,
    /// from)`), if the tail holds all of them.
    pub fn results(&self, device: &str, from: i64) -> Option<Vec<Observation>> {
        let found = self.window(device, from);
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// How many result windows were answered from memory, and how many read from the store.
    pub fn hits_and_misses(&self) -> (u64, u64) {
        (
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
        )
    }

    fn window(&self, device: &str, from: i64) -> Option<Vec<Observation>> {
        let inner = self.lock();
        let tail = inner.devices.get(device)?;
        if tail.complete_from? > from {
            return None;
        }
        let mut out: Vec<Observation> = tail
            .runs
            .values()
            .flatten()
            .filter(|r| r.until >= from)
            .cloned()
            .collect();
        out.sort_by_key(|r| r.time);
        Some(out)
    }

    /// Starts `device`'s tail from what the store returned for `results(device, from)`.
    pub fn seed(&self, device: &str, from: i64, results: &[Observation], gap: i64) {
        let mut inner = self.lock();
        let tail = inner.devices.entry(device.to_string()).or_default();
        tail.runs.clear();
        let mut sorted: Vec<&Observation> = results.iter().collect();
        sorted.sort_by_key(|r| r.time);
        for r in sorted {
            push_run(
                tail.runs
                    .entry((r.agent.clone(), r.check.clone()))
                    .or_default(),
                r.clone(),
                gap,
            );
        }
        tail.complete_from = Some(from);
    }

    /// Appends results the store has just committed (any order). A result at or before its
    /// series' newest run drops the device's runs (see the module doc).
    pub fn append(&self, device: &str, results: Vec<Observation>, gap: i64) {
        let mut inner = self.lock();
        if let Some(first) = results.iter().map(|r| r.time).min() {
            let e = inner.first_seen.entry(device.to_string()).or_insert(first);
            *e = (*e).min(first);
        }
        let Some(tail) = inner.devices.get_mut(device) else {
            return;
        };
        let Some(complete_from) = tail.complete_from else {
            return;
        };
        let mut results = results;
        results.sort_by_key(|r| r.time);
        for r in results {
            let runs = tail
                .runs
                .entry((r.agent.clone(), r.check.clone()))
                .or_default();
            let in_order = runs.last().is_none_or(|last| r.time > last.until);
            if !in_order || r.time < complete_from {
                // The runs no longer hold every result: read the store next time. The
                // outages are still the stored ones.
                tail.runs.clear();
                tail.complete_from = None;
                return;
            }
            push_run(runs, r, gap);
        }
    }

    /// Drops the runs of `device` that ended before `from` (the start of the result window
    /// its last re-derivation used): no later re-derivation of in-order results reads them.
    pub fn trim(&self, device: &str, from: i64) {
        let mut inner = self.lock();
        let Some(tail) = inner.devices.get_mut(device) else {
            return;
        };
        if tail.complete_from.is_none_or(|c| c >= from) {
            return;
        }
        for runs in tail.runs.values_mut() {
            runs.retain(|r| r.until >= from);
        }
        tail.runs.retain(|_, runs| !runs.is_empty());
        tail.complete_from = Some(from);
    }

    /// Whether writing `r` would leave the store as it is: the tail knows the device's stored
    /// outages and flaps from an anchor at or before `r.from`, and `r` holds exactly those from
    /// `r.from` on. (Every stored outage starting at or after the tail's anchor, and every flap
    /// ending there, was written by the last replacement, which the tail holds.)
    pub fn unchanged(&self, r: &Replacement) -> bool {
        let inner = self.lock();
        let Some(tail) = inner.devices.get(&r.id) else {
            return false;
        };
        let outages_known = tail.outages_from.is_some_and(|known| known <= r.from);
        let flaps_known = tail.flaps_from.is_some_and(|known| known <= r.from);
        outages_known
            && flaps_known
            && tail
                .outages
                .iter()
                .filter(|o| o.start >= r.from)
                .eq(r.outages.iter())
            && tail
                .flaps
                .iter()
                .filter(|f| f.end >= r.from)
                .eq(r.flaps.iter())
    }

    /// Records that the device's stored outages and flaps from `r.from` on were replaced by
    /// `r`'s (and its pending mark cleared). Returns whether the outages differ from those the
    /// tail knew there (`true` when it did not know them).
    pub fn replaced(&self, r: &Replacement) -> bool {
        let mut inner = self.lock();
        inner.pending.remove(&r.id);
        let tail = inner.devices.entry(r.id.clone()).or_default();
        let changed = tail.replace_outages(r.from, &r.outages);
        tail.flaps_from = Some(r.from);
        tail.flaps.clone_from(&r.flaps);
        changed
    }

    /// [`Tails::replaced`] for a service's stored outages.
    pub fn service_replaced(&self, r: &Replacement) {
        let mut inner = self.lock();
        let tail = inner.services.entry(r.id.clone()).or_default();
        tail.replace_outages(r.from, &r.outages);
    }

    /// The stored outages of service `id` that overlap `[at, at + 1)`, if known.
    pub fn service_covering(&self, id: &str, at: i64) -> Option<Vec<Outage>> {
        self.lock().services.get(id)?.covering(at)
    }

    /// The stored outages of `device` that overlap `[from, ∞)`, if the tail holds all of them.
    pub fn outages_since(&self, device: &str, from: i64) -> Option<Vec<Outage>> {
        let inner = self.lock();
        let tail = inner.devices.get(device)?;
        if tail.outages_from? > from {
            return None;
        }
        Some(
            tail.outages
                .iter()
                .filter(|o| o.end.is_none_or(|e| e > from))
                .cloned()
                .collect(),
        )
    }

    /// Forgets everything known of `device` (its stored history changed behind the tail, or
    /// results handed to it were not stored after all): its tail and its first result.
    pub fn forget(&self, device: &str) {
        let mut inner = self.lock();
        inner.devices.remove(device);
        inner.first_seen.remove(device);
    }

    /// Merges pending marks just written to the store (each device's earliest changed time).
    pub fn mark_pending(&self, marks: &BTreeMap<String, i64>) {
        let mut inner = self.lock();
        for (device, from) in marks {
            let e = inner.pending.entry(device.clone()).or_insert(*from);
            *e = (*e).min(*from);
        }
    }

    /// The pending mark of `device` (the store's `pending_of`, for marks this process wrote).
    pub fn pending_of(&self, device: &str) -> Option<i64> {
        self.lock().pending.get(device).copied()
    }

    /// The first result of `device`, if known.
    pub fn first_seen(&self, device: &str) -> Option<i64> {
        self.lock().first_seen.get(device).copied()
    }

    /// Records the store's first result of `device` (read once).
    pub fn set_first_seen(&self, device: &str, first: i64) {
        let mut inner = self.lock();
        let e = inner.first_seen.entry(device.to_string()).or_insert(first);
        *e = (*e).min(first);
    }
}

impl Tail {
    /// The known stored outages overlapping `[at, at + 1)`, if every such outage is known.
    fn covering(&self, at: i64) -> Option<Vec<Outage>> {
        if self.outages_from? > at {
            return None;
        }
        Some(
            self.outages
                .iter()
                .filter(|o| o.start <= at && o.end.is_none_or(|e| e > at))
                .cloned()
                .collect(),
        )
    }

    /// Follows a replacement of the stored outages from `from` on (those starting there or
    /// later deleted, `outages` inserted); returns whether they differ from what was known.
    /// The outages before `from` stay known when they were, back to [`OUTAGES_KEPT_MS`] before
    /// it, so a service re-derived from a little before its members' anchors reads memory.
    fn replace_outages(&mut self, from: i64, outages: &[Outage]) -> bool {
        match self.outages_from {
            Some(known) if known <= from => {
                let changed = !self
                    .outages
                    .iter()
                    .filter(|o| o.start >= from)
                    .eq(outages.iter());
                self.outages.retain(|o| o.start < from);
                self.outages.extend(outages.iter().cloned());
                self.forget_outages_before(from.saturating_sub(OUTAGES_KEPT_MS));
                changed
            }
            _ => {
                self.outages_from = Some(from);
                self.outages = outages.to_vec();
                true
            }
        }
    }

    /// Moves `outages_from` up to `horizon` where that keeps its promise (every stored outage
    /// starting before it ends at or before it), dropping the outages before it.
    fn forget_outages_before(&mut self, horizon: i64) {
        let Some(known) = self.outages_from else {
            return;
        };
        let mut to = horizon;
        while let Some(start) = self
            .outages
            .iter()
            .filter(|o| o.start < to && o.end.is_none_or(|e| e > to))
            .map(|o| o.start)
            .min()
        {
            to = start;
        }
        if to > known {
            self.outages.retain(|o| o.start >= to);
            self.outages_from = Some(to);
        }
    }
}

/// How far before its last anchor a tail keeps knowing a device's stored outages.
const OUTAGES_KEPT_MS: i64 = 6 * 3_600_000;

/// Appends `r` to a series' runs, extending the last run when it has the same outcome and is
/// at most `gap` before `r` (the store's compaction rule).
fn push_run(runs: &mut Vec<Observation>, r: Observation, gap: i64) {
    if let Some(last) = runs.last_mut() {
        let same = last.ok == r.ok
            && last.degraded == r.degraded
            && last.cause == r.cause
            && last.agent_fault == r.agent_fault;
        if same && r.time > last.until && r.time - last.until <= gap {
            last.until = r.until.max(r.time);
            last.count = last.count.saturating_add(r.count.max(1));
            return;
        }
    }
    runs.push(r);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::availability::Health;
    use crate::store::EntityKind;

    fn obs(agent: &str, time: i64, ok: bool) -> Observation {
        Observation {
            agent: agent.into(),
            check: "icmp".into(),
            time,
            until: time,
            count: 1,
            ok,
            degraded: false,
            cause: (!ok).then(|| "timeout".to_string()),
            agent_fault: false,
        }
    }

    fn down(start: i64, end: Option<i64>) -> Outage {
        Outage {
            entity: EntityKind::Device,
            id: "sw".into(),
            start,
            end,
            kind: Health::Down,
            cause: None,
        }
    }

    fn flap(start: i64, end: i64) -> Flap {
        Flap {
            device: "sw".into(),
            agent: "a".into(),
            start,
            end,
            failures: 1,
        }
    }

    fn repl(from: i64, outages: &[Outage], flaps: &[Flap]) -> Replacement {
        Replacement {
            entity: EntityKind::Device,
            id: "sw".into(),
            from,
            outages: outages.to_vec(),
            flaps: flaps.to_vec(),
        }
    }

    #[test]
    fn equal_results_close_together_become_one_run() {
        let t = Tails::new();
        t.seed("sw", 0, &[obs("a", 0, true)], 180);
        t.append("sw", vec![obs("a", 60, true), obs("a", 120, true)], 180);
        t.append("sw", vec![obs("a", 180, false)], 180);
        let runs = t.results("sw", 0).unwrap();
        assert_eq!(runs.len(), 2);
        assert_eq!((runs[0].time, runs[0].until, runs[0].count), (0, 120, 3));
        assert_eq!((runs[1].time, runs[1].ok), (180, false));
        // Equal failures merge too; a gap longer than the stale time breaks a run.
        t.append("sw", vec![obs("a", 240, false), obs("a", 300, true)], 180);
        t.append("sw", vec![obs("a", 1000, true)], 180);
        let runs = t.results("sw", 0).unwrap();
        assert_eq!(runs.len(), 4);
        assert_eq!((runs[1].time, runs[1].until, runs[1].count), (180, 240, 2));
    }

    #[test]
    fn a_result_out_of_order_drops_the_tail() {
        let t = Tails::new();
        t.seed("sw", 0, &[obs("a", 0, true), obs("a", 60, true)], 180);
        t.append("sw", vec![obs("a", 30, false)], 180);
        assert_eq!(t.results("sw", 0), None);
        // Another agent's first result is in order.
        t.seed("sw", 0, &[obs("a", 0, true)], 180);
        t.append("sw", vec![obs("b", 10, true)], 180);
        assert_eq!(t.results("sw", 0).unwrap().len(), 2);
    }

    #[test]
    fn windows_before_the_tail_are_not_answered() {
        let t = Tails::new();
        assert_eq!(t.results("sw", 0), None);
        t.seed("sw", 100, &[obs("a", 100, true)], 180);
        assert_eq!(t.results("sw", 99), None);
        assert_eq!(t.results("sw", 100).unwrap().len(), 1);
        t.trim("sw", 500);
        assert_eq!(t.results("sw", 400), None);
    }

    #[test]
    fn last_success_is_answered_only_when_inside_the_tail() {
        let t = Tails::new();
        t.seed(
            "sw",
            0,
            &[obs("a", 0, true), obs("a", 100, false), obs("b", 50, true)],
            30,
        );
        assert_eq!(t.last_ok_before("sw", "icmp", 200), Some(Some(0)));
        assert_eq!(t.last_ok_before("sw", "icmp", 10), Some(Some(0)));
        // Only failures of `a` before 200 in the tail: its last success may be older.
        t.seed("sw", 100, &[obs("a", 100, false), obs("b", 150, true)], 30);
        assert_eq!(t.last_ok_before("sw", "icmp", 200), None);
        // No series reported before 100: the answer is the instant itself.
        assert_eq!(t.last_ok_before("sw", "icmp", 100), Some(Some(100)));
        // The whole history in the tail: a series that never succeeded is known.
        t.seed("sw", i64::MIN, &[obs("a", 100, false)], 30);
        assert_eq!(t.last_ok_before("sw", "icmp", 200), Some(None));
    }

    #[test]
    fn covering_outages_and_changes_are_tracked() {
        let t = Tails::new();
        assert_eq!(t.covering("sw", 10), None);
        assert!(!t.unchanged(&repl(0, &[down(5, Some(50))], &[])));
        assert!(t.replaced(&repl(0, &[down(5, Some(50))], &[])));
        assert_eq!(t.covering("sw", 10).unwrap(), vec![down(5, Some(50))]);
        assert!(t.covering("sw", 60).unwrap().is_empty());
        assert!(t.unchanged(&repl(5, &[down(5, Some(50))], &[])));
        // The same outages with a flap the store does not have: a write is due.
        assert!(!t.unchanged(&repl(5, &[down(5, Some(50))], &[flap(60, 70)])));
        assert!(!t.replaced(&repl(5, &[down(5, Some(50))], &[flap(60, 70)])));
        assert!(t.unchanged(&repl(5, &[down(5, Some(50))], &[flap(60, 70)])));
        // A later anchor sees only the flaps ending after it.
        assert!(t.unchanged(&repl(71, &[], &[])));
        // An earlier anchor than the last one: flaps ending before it are not known.
        assert!(!t.unchanged(&repl(4, &[down(5, Some(50))], &[flap(60, 70)])));
        // The outages before an anchor stay known (the earlier replacement wrote them).
        assert_eq!(t.covering("sw", 10).unwrap(), vec![down(5, Some(50))]);
        assert!(t.replaced(&repl(5, &[down(5, None)], &[])));
        assert_eq!(t.covering("sw", 1000).unwrap(), vec![down(5, None)]);
        assert_eq!(t.covering("sw", 1), Some(Vec::new()));
        assert_eq!(t.covering("sw", -1), None);
    }

    #[test]
    fn outages_are_kept_a_while_and_a_long_one_holds_the_horizon() {
        let t = Tails::new();
        let h = 3_600_000;
        t.replaced(&repl(0, &[down(5, Some(50)), down(100, None)], &[]));
        // Ten hours on: the closed outage is forgotten, the open one (and all after its
        // start) stays known.
        let open = down(100, None);
        t.replaced(&repl(10 * h, &[], &[]));
        assert_eq!(t.covering("sw", 99), None);
        assert_eq!(t.outages_since("sw", 100).unwrap(), vec![open.clone()]);
        // It ends: from then on six hours before the anchor are kept.
        t.replaced(&repl(100, &[down(100, Some(11 * h))], &[]));
        t.replaced(&repl(20 * h, &[], &[]));
        assert_eq!(t.outages_since("sw", 14 * h).unwrap(), Vec::new());
        assert_eq!(t.outages_since("sw", 13 * h), None);
    }

    #[test]
    fn pending_marks_keep_the_earliest_and_clear_on_replacement() {
        let t = Tails::new();
        t.mark_pending(&BTreeMap::from([("sw".to_string(), 50)]));
        t.mark_pending(&BTreeMap::from([("sw".to_string(), 20)]));
        assert_eq!(t.pending_of("sw"), Some(20));
        t.replaced(&repl(0, &[], &[]));
        assert_eq!(t.pending_of("sw"), None);
    }
}
