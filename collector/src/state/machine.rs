//! Device and service state, derived from probe results by pure functions.
//!
//! # Device rules
//! - Each device has a *primary* check: `icmp` if it has one, else its first configured check.
//!   Only the primary check decides up or down. A failing non-primary check, or any result that
//!   answers with findings (UPS runtime under its minimum, low supply), makes the device
//!   *degraded*: available for availability, but visible.
//! - Per agent, a device is down after `confirm_failures` consecutive failed primary results; the
//!   outage starts at the FIRST failed result of that run and ends at the first successful one.
//!   A shorter run that ends in a success is a *flap* (counted, not an outage).
//! - Silence neither ends nor breaks a run of failures: only a success ends it. A run goes on
//!   across a gap of any length (an agent upgrade, a restart, a lost uplink to the collector),
//!   and the failures on both sides count towards its confirmation. Once it is confirmed, the
//!   device is down through every gap inside it, from the run's first failure (also when that
//!   failure came before the gap and the confirming ones after it: a device that went dark as
//!   its agent restarted was down from the first failure) to the first successful result, as
//!   always. While a gap is still open (no result since), the device is down for
//!   `stale_intervals` intervals after its last result if the run is confirmed, up for them if
//!   not, and unknown from there; the results after the gap decide.
//! - An agent *reports recently* for `stale_intervals` (3) primary intervals after each result.
//!   With several agents, a device is down only while every agent that reports recently sees it
//!   down. When no agent reports recently, the device is *unknown* (never silently up).
//! - Before its first result a device is unknown too.
//! - A failed result whose error is the agent's own fault (`permission_denied`,
//!   `agent_resources`, `agent_error`, `config_error`; see `driftvakt_common::wire`) says nothing
//!   about the device: it neither fails nor keeps up the device, and the agent does not count
//!   as reporting, so a device that only a broken agent probes is unknown, never down.
//! - A device that is down while its parent is unavailable (down or itself unreachable) is
//!   *unreachable*: unavailable, but the parent is the root cause. The parent's unavailable time
//!   is widened by one of the child's intervals on both sides, since the child notices the same
//!   event up to one probe later. This is applied when reading (see [`effective`]), so results
//!   for parent and child may arrive in any order.
//!
//! # Service rules
//! A service needs `k` available members (`all`: every member, `any`: one, `at_least: N`: N).
//! It is down when even counting the unknown members as available it would not have `k`, unknown
//! when it has `k` only by counting unknown members, degraded when it has `k` but some member is
//! degraded or unavailable, and up otherwise.
//!
//! Everything is derived from stored results, so late and reordered results give the same
//! outages as results that arrived on time.
//!
//! # Runs
//! An observation may stand for a *run* of equal results of one agent and check (`time` the
//! first, `until` the last, `count` how many), as the store keeps results older than its
//! retention. The store only merges results at most the stale time apart, so a run gives the
//! same reporting time, failure count, degraded time and segments as its single results: the
//! rules above read it as its results one by one. A segment's cause is the one in effect at its
//! start (per series, its last result at or before it), else the first after it, so it too is
//! the same for a run as for its results.

pub use crate::availability::{DeviceRules, Health, Need};
use crate::availability::{Span, Spans, FOREVER};
use std::collections::BTreeMap;

/// One stored probe result, as far as state derivation needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    pub agent: String,
    pub check: String,
    /// Unix milliseconds.
    pub time: i64,
    /// The last result's time of a run (`time` for a single result).
    pub until: i64,
    /// Results in the run (1 for a single result).
    pub count: u32,
    pub ok: bool,
    /// Answered, but with findings.
    pub degraded: bool,
    /// The error (failed) or finding codes (degraded), for the outage's cause.
    pub cause: Option<String>,
    /// Failed through the agent's own fault: it marks the device as seen (unknown from here,
    /// not "never seen"), and says nothing else about it.
    pub agent_fault: bool,
}

/// A derived interval of a non-up state, with its cause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub start: i64,
    /// [`FOREVER`] while open.
    pub end: i64,
    pub state: Health,
    pub cause: Option<String>,
}

/// A run of failures shorter than the confirmation threshold, ended by a success.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlapEvent {
    pub agent: String,
    pub start: i64,
    pub end: i64,
    pub failures: u32,
}

/// A device's own timeline (before parents are taken into account) and its flaps.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Derived {
    /// Down, unknown and degraded segments from the first observation on, sorted.
    pub segments: Vec<Segment>,
    pub flaps: Vec<FlapEvent>,
}

/// Derives a device's own timeline from its observations (any order; sorted here).
pub fn derive(rules: &DeviceRules, observations: &[Observation]) -> Derived {
    let mut obs: Vec<&Observation> = observations.iter().collect();
    obs.sort_by_key(|o| o.time);
    let Some(first) = obs.first().map(|o| o.time) else {
        return Derived::default();
    };
    let mut by_agent: BTreeMap<&str, Vec<&Observation>> = BTreeMap::new();
    for o in obs.iter().filter(|o| !o.agent_fault) {
        by_agent.entry(o.agent.as_str()).or_default().push(o);
    }
    let (mut reporting, mut not_down, mut bad) = (Spans::empty(), Spans::empty(), Spans::empty());
    let mut flaps = Vec::new();
    for (agent, list) in &by_agent {
        let primary: Vec<&Observation> = list
            .iter()
            .copied()
            .filter(|o| o.check == rules.primary_check)
            .collect();
        let (down, bridged, agent_flaps) = failure_runs(rules, agent, &primary);
        let active = active_spans(rules, &primary).union(&bridged);
        flaps.extend(agent_flaps);
        not_down = not_down.union(&active.subtract(&down));
        reporting = reporting.union(&active);
        bad = bad.union(&bad_spans(rules, list));
    }
    let down = reporting.subtract(&not_down);
    let unknown = Spans::one(first, FOREVER).subtract(&reporting);
    let degraded = bad.intersect(&reporting).subtract(&down);
    let mut segments = Vec::new();
    let (stale, slow) = (rules.stale_ms(), rules.slow_stale_ms());
    push_segments(&mut segments, &down, Health::Down, &obs, stale, |o| {
        !o.ok && o.check == rules.primary_check
    });
    push_segments(
        &mut segments,
        &unknown,
        Health::Unknown,
        &obs,
        stale,
        |_| false,
    );
    push_segments(
        &mut segments,
        &degraded,
        Health::Degraded,
        &obs,
        slow,
        |o| o.degraded || (!o.ok && o.check != rules.primary_check),
    );
    segments.sort_by_key(|s| s.start);
    flaps.sort_by_key(|f| f.start);
    Derived { segments, flaps }
}

/// Adds a segment per span, each with its cause (see [`cause_at`]).
fn push_segments(
    out: &mut Vec<Segment>,
    spans: &Spans,
    state: Health,
    obs: &[&Observation],
    reach: i64,
    is_cause: impl Fn(&Observation) -> bool,
) {
    for s in spans.as_slice() {
        out.push(Segment {
            start: s.start,
            end: s.end,
            state,
            cause: cause_at(obs, s.start, s.end, reach, &is_cause),
        });
    }
}

/// A segment's cause: the cause in effect at its start, else the first one after it.
///
/// "In effect" is per series (agent and check): its last observation at or before `start`,
/// when that is a cause and ends at most `reach` (the stale time) before `start`; among several
/// series, the first by agent and check. Else the first cause observation inside the segment.
/// Both steps give the same answer whether equal results are single or merged into runs (a
/// run's cause is each of its results' cause, and it starts where its first result does), so
/// compaction and the in-memory tails never change a cause.
fn cause_at(
    obs: &[&Observation],
    start: i64,
    end: i64,
    reach: i64,
    is_cause: &impl Fn(&Observation) -> bool,
) -> Option<String> {
    let longest = obs.iter().map(|o| o.until - o.time).max().unwrap_or(0);
    let lo = obs.partition_point(|o| o.time < start.saturating_sub(longest.saturating_add(reach)));
    let hi = obs.partition_point(|o| o.time <= start);
    let mut last: BTreeMap<(&str, &str), &Observation> = BTreeMap::new();
    for o in &obs[lo..hi] {
        last.insert((o.agent.as_str(), o.check.as_str()), o);
    }
    let in_effect = last
        .values()
        .find(|o| is_cause(o) && o.until.max(o.time).saturating_add(reach) >= start);
    in_effect
        .copied()
        .or_else(|| {
            obs[hi..]
                .iter()
                .copied()
                .take_while(|o| o.time < end)
                .find(|o| is_cause(o))
        })
        .and_then(|o| o.cause.clone())
}

/// Where an agent reports recently: `stale_intervals` intervals after each primary result.
fn active_spans(rules: &DeviceRules, primary: &[&Observation]) -> Spans {
    let stale = rules.stale_ms();
    primary
        .iter()
        .map(|o| Span::new(o.time, o.until.saturating_add(stale)))
        .collect()
}

/// Confirmed down intervals, the silences they bridged (where the agent counts as reporting
/// down), and flaps of one agent's primary results (sorted by time).
fn failure_runs(
    rules: &DeviceRules,
    agent: &str,
    primary: &[&Observation],
) -> (Spans, Spans, Vec<FlapEvent>) {
    let stale = rules.stale_ms();
    let confirm = rules.confirm_failures.max(1);
    let mut down = Vec::new();
    let mut bridged = Vec::new();
    let mut flaps = Vec::new();
    // (first failure time, failures so far)
    let mut run: Option<(i64, u32)> = None;
    // Silences inside the run in progress: bridged if the run is (or becomes) confirmed.
    let mut gaps: Vec<Span> = Vec::new();
    let mut prev: Option<i64> = None;
    for o in primary {
        if let (Some(p), Some(_)) = (prev, run) {
            if o.time - p > stale {
                gaps.push(Span::new(p, o.time));
            }
        }
        let until = o.until.max(o.time);
        let count = o.count.max(1);
        if o.ok {
            match run.take() {
                Some((start, n)) if n >= confirm => {
                    down.push(Span::new(start, o.time));
                    bridged.append(&mut gaps);
                }
                Some((start, n)) => flaps.push(FlapEvent {
                    agent: agent.to_string(),
                    start,
                    end: o.time,
                    failures: n,
                }),
                None => {}
            }
            gaps.clear();
        } else {
            let (start, n) = run.unwrap_or((o.time, 0));
            run = Some((start, n.saturating_add(count)));
        }
        prev = Some(until);
    }
    if let (Some(p), Some((start, n))) = (prev, run) {
        if n >= confirm {
            down.push(Span::new(start, p + stale));
            bridged.append(&mut gaps);
        }
    }
    (
        down.into_iter().collect(),
        bridged.into_iter().collect(),
        flaps,
    )
}

/// Where one agent's results say degraded: from a failing non-primary result or a result with
/// findings until the next result of the same check (at most the stale time).
fn bad_spans(rules: &DeviceRules, list: &[&Observation]) -> Spans {
    let stale = rules.slow_stale_ms();
    let mut by_check: BTreeMap<&str, Vec<&Observation>> = BTreeMap::new();
    for o in list {
        by_check.entry(o.check.as_str()).or_default().push(o);
    }
    let mut out = Vec::new();
    for (check, results) in by_check {
        let primary = check == rules.primary_check;
        for (i, o) in results.iter().enumerate() {
            let is_bad = o.degraded || (!o.ok && !primary);
            if !is_bad {
                continue;
            }
            let limit = o.until.max(o.time).saturating_add(stale);
            let end = results.get(i + 1).map_or(limit, |n| n.time.min(limit));
            out.push(Span::new(o.time, end));
        }
    }
    out.into_iter().collect()
}

/// A timeline as sets: every instant not in any set is up.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Timeline {
    pub down: Spans,
    pub unreachable: Spans,
    pub unknown: Spans,
    pub degraded: Spans,
}

impl Timeline {
    /// Down or unreachable.
    pub fn unavailable(&self) -> Spans {
        self.down.union(&self.unreachable)
    }

    /// The state at instant `t`.
    pub fn state_at(&self, t: i64) -> Health {
        if self.unknown.contains(t) {
            Health::Unknown
        } else if self.unreachable.contains(t) {
            Health::Unreachable
        } else if self.down.contains(t) {
            Health::Down
        } else if self.degraded.contains(t) {
            Health::Degraded
        } else {
            Health::Up
        }
    }

    /// A device's own timeline from its stored segments; `first_seen` is its first result (none:
    /// never seen, unknown throughout). Unknown before the first result.
    pub fn from_segments(segments: &[Segment], first_seen: Option<i64>) -> Timeline {
        let pick = |st: Health| -> Spans {
            segments
                .iter()
                .filter(|s| s.state == st)
                .map(|s| Span::new(s.start, s.end))
                .collect()
        };
        let leading = Spans::one(i64::MIN / 4, first_seen.unwrap_or(FOREVER));
        Timeline {
            down: pick(Health::Down),
            unreachable: pick(Health::Unreachable),
            unknown: pick(Health::Unknown).union(&leading),
            degraded: pick(Health::Degraded),
        }
    }
}

/// The effective timeline of a child given its parent's effective timeline: own down time while
/// the parent is unavailable (widened by the child's interval) becomes unreachable.
pub fn effective(own: &Timeline, parent: Option<&Timeline>, child_interval_ms: i64) -> Timeline {
    let Some(parent) = parent else {
        return own.clone();
    };
    let parent_out = parent
        .unavailable()
        .widen(child_interval_ms, child_interval_ms);
    let unreachable = own.down.intersect(&parent_out).union(&own.unreachable);
    Timeline {
        down: own.down.subtract(&unreachable),
        unreachable,
        unknown: own.unknown.clone(),
        degraded: own.degraded.clone(),
    }
}

/// A service's state from its members' states (see the module doc).
pub fn service_state(need: Need, members: &[Health]) -> Health {
    let k = need.count(members.len());
    let available = members.iter().filter(|s| s.available()).count();
    let unknown = members.iter().filter(|s| **s == Health::Unknown).count();
    if available + unknown < k {
        Health::Down
    } else if available < k {
        Health::Unknown
    } else if members.iter().any(|s| *s != Health::Up) {
        Health::Degraded
    } else {
        Health::Up
    }
}

/// A service's timeline over `[from, to)` from its members' effective timelines.
pub fn service_timeline(need: Need, members: &[&Timeline], from: i64, to: i64) -> Timeline {
    let mut cuts = vec![from, to];
    for m in members {
        for set in [&m.down, &m.unreachable, &m.unknown, &m.degraded] {
            for s in set.as_slice() {
                cuts.extend(
                    [s.start, s.end]
                        .into_iter()
                        .filter(|t| *t > from && *t < to),
                );
            }
        }
    }
    cuts.sort_unstable();
    cuts.dedup();
    let mut out: BTreeMap<Health, Vec<Span>> = BTreeMap::new();
    let mut states = Vec::with_capacity(members.len());
    for w in cuts.windows(2) {
        states.clear();
        states.extend(members.iter().map(|m| m.state_at(w[0])));
        let st = service_state(need, &states);
        out.entry(st).or_default().push(Span::new(w[0], w[1]));
    }
    let mut take =
        |st: Health| -> Spans { out.remove(&st).unwrap_or_default().into_iter().collect() };
    Timeline {
        down: take(Health::Down),
        unreachable: Spans::empty(),
        unknown: take(Health::Unknown),
        degraded: take(Health::Degraded),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    fn rules() -> DeviceRules {
        DeviceRules {
            primary_check: "icmp".into(),
            interval_ms: MIN,
            slowest_interval_ms: MIN,
            confirm_failures: 3,
            stale_intervals: 3,
        }
    }

    fn ob(agent: &str, minute: i64, ok: bool) -> Observation {
        Observation {
            agent_fault: false,
            agent: agent.into(),
            check: "icmp".into(),
            time: minute * MIN,
            until: minute * MIN,
            count: 1,
            ok,
            degraded: false,
            cause: (!ok).then(|| "timeout".to_string()),
        }
    }

    /// A result the agent could not take (its own fault, e.g. no ICMP privilege).
    fn fault(agent: &str, minute: i64) -> Observation {
        Observation {
            agent_fault: true,
            cause: Some("permission_denied".into()),
            ..ob(agent, minute, false)
        }
    }

    /// A TCP result failing with `cause`.
    fn tcp(minute: i64, cause: &str) -> Observation {
        Observation {
            check: "tcp".into(),
            cause: Some(cause.into()),
            ..ob("a", minute, false)
        }
    }

    #[test]
    fn a_segment_names_the_cause_in_effect_at_its_start_single_or_merged() {
        // ICMP down from minute 10 to 14; TCP fails with "timeout" up to minute 15, then
        // "refused": the degraded segment that starts when ICMP recovers (minute 14) is
        // caused by the timeout still in effect then, not by the refusal after it.
        let mut single: Vec<Observation> = (0..25)
            .map(|m| ob("a", m, !(10..14).contains(&m)))
            .collect();
        single.extend((5..16).map(|m| tcp(m, "timeout")));
        single.extend((16..20).map(|m| tcp(m, "refused")));
        single.extend((20..25).map(|m| Observation {
            check: "tcp".into(),
            ..ob("a", m, true)
        }));
        let mut merged: Vec<Observation> = (0..25)
            .map(|m| ob("a", m, !(10..14).contains(&m)))
            .collect();
        merged.push(Observation {
            until: 15 * MIN,
            count: 11,
            ..tcp(5, "timeout")
        });
        merged.push(Observation {
            until: 19 * MIN,
            count: 4,
            ..tcp(16, "refused")
        });
        merged.push(Observation {
            check: "tcp".into(),
            until: 24 * MIN,
            count: 5,
            ..ob("a", 20, true)
        });
        let (a, b) = (derive(&rules(), &single), derive(&rules(), &merged));
        assert_eq!(a, b);
        let after_down = a
            .segments
            .iter()
            .find(|s| s.state == Health::Degraded && s.start == 14 * MIN)
            .expect("degraded from minute 14");
        assert_eq!(after_down.cause.as_deref(), Some("timeout"));
    }

    #[test]
    fn the_agents_own_faults_make_a_device_unknown_never_down() {
        let only_faults: Vec<_> = (0..10).map(|m| fault("a", m)).collect();
        let d = derive(&rules(), &only_faults);
        let states: Vec<_> = d
            .segments
            .iter()
            .map(|s| (s.state, s.start, s.end))
            .collect();
        assert_eq!(states, [(Health::Unknown, 0, FOREVER)]);
        assert!(d.flaps.is_empty());

        // Up for ten minutes, then the agent loses its privilege: unknown three intervals
        // after the last real answer, and never down.
        let mut mixed: Vec<_> = (0..10).map(|m| ob("a", m, true)).collect();
        mixed.extend((10..30).map(|m| fault("a", m)));
        let d = derive(&rules(), &mixed);
        let states: Vec<_> = d.segments.iter().map(|s| (s.state, s.start)).collect();
        assert_eq!(states, [(Health::Unknown, 12 * MIN)]);
    }

    #[test]
    fn confirmed_run_is_an_outage_from_first_failure() {
        let obs: Vec<_> = (0..10).map(|m| ob("a", m, !(3..7).contains(&m))).collect();
        let d = derive(&rules(), &obs);
        let down: Vec<_> = d
            .segments
            .iter()
            .filter(|s| s.state == Health::Down)
            .collect();
        assert_eq!(down.len(), 1);
        assert_eq!((down[0].start, down[0].end), (3 * MIN, 7 * MIN));
        assert_eq!(down[0].cause.as_deref(), Some("timeout"));
        let unknown: Vec<_> = d
            .segments
            .iter()
            .filter(|s| s.state == Health::Unknown)
            .collect();
        assert_eq!((unknown[0].start, unknown[0].end), (12 * MIN, FOREVER));
    }

    #[test]
    fn two_agents_must_both_see_down() {
        let mut obs: Vec<_> = (0..10).map(|m| ob("a", m, !(3..7).contains(&m))).collect();
        obs.extend((0..10).map(|m| ob("b", m, !(5..9).contains(&m))));
        let d = derive(&rules(), &obs);
        let down: Vec<_> = d
            .segments
            .iter()
            .filter(|s| s.state == Health::Down)
            .map(|s| (s.start / MIN, s.end / MIN))
            .collect();
        assert_eq!(down, vec![(5, 7)]);
    }

    #[test]
    fn a_run_derives_like_its_results() {
        // Up, a confirmed outage with a flap before it, then a gap: as single results and as
        // runs of equal results (what the store keeps before its horizon).
        let mut singles: Vec<_> = (0..10).map(|m| ob("a", m, true)).collect();
        singles.extend((10..12).map(|m| ob("a", m, false)));
        singles.extend((12..15).map(|m| ob("a", m, true)));
        singles.extend((15..25).map(|m| ob("a", m, false)));
        singles.extend((25..30).map(|m| ob("a", m, true)));
        singles.extend((40..45).map(|m| ob("a", m, true)));
        let mut runs: Vec<Observation> = Vec::new();
        for o in &singles {
            match runs.last_mut() {
                Some(r) if r.ok == o.ok && o.time - r.until <= rules().stale_ms() => {
                    r.until = o.time;
                    r.count += 1;
                }
                _ => runs.push(o.clone()),
            }
        }
        assert_eq!(runs.len(), 6, "{runs:?}");
        assert_eq!(derive(&rules(), &runs), derive(&rules(), &singles));
        let d = derive(&rules(), &runs);
        let down: Vec<_> = d
            .segments
            .iter()
            .map(|s| (s.state, s.start / MIN, s.end / MIN))
            .collect();
        assert_eq!(
            down,
            [
                (Health::Down, 15, 25),
                (Health::Unknown, 32, 40),
                (Health::Unknown, 47, FOREVER / MIN)
            ],
            "{d:?}"
        );
        assert_eq!(d.flaps.len(), 1);
    }

    #[test]
    fn service_rules() {
        use Health::*;
        assert_eq!(service_state(Need::All, &[Up, Down]), Down);
        assert_eq!(service_state(Need::Any, &[Up, Down]), Degraded);
        assert_eq!(service_state(Need::Any, &[Unknown, Down]), Unknown);
        assert_eq!(
            service_state(Need::AtLeast(2), &[Up, Degraded, Down]),
            Degraded
        );
        assert_eq!(service_state(Need::AtLeast(2), &[Up, Down, Down]), Down);
        assert_eq!(service_state(Need::All, &[Up, Up]), Up);
    }
}
