//! The oracle: what the collector should conclude from the world, computed apart from the
//! collector's code (it imports nothing of the collector; only the schedule). Its own small model
//! of the README's rules:
//!
//! - a device's probe fails while it or a parent is dark; three failures in a row
//!   (`confirm_failures`) make an outage from the first failure to the first success; fewer are
//!   a flap; a silence of more than three intervals (`stale_intervals`) neither ends nor breaks
//!   a run: failures on both sides of it count together, and a run confirmed on either side is
//!   down from its first failure through the silence to the first success after it (an
//!   unconfirmed run's silence is unknown until then);
//! - a device without a result for three intervals is unknown from the last result plus three
//!   intervals to its next result (or for good at the end: the outage of a device still down
//!   at the end ends three intervals after its last result, and unknown follows);
//! - a device behind a dark parent fails too and is counted unavailable (unreachable), so a
//!   service sees it unavailable either way; a service is down while fewer of its members than
//!   it needs are available even counting unknown members as available.

use crate::schedule::{Ms, Need, Span, World, CONFIRM, STALE_INTERVALS};
use std::collections::BTreeSet;

/// A time that never comes: an open outage's end.
pub const OPEN: Ms = Ms::MAX;

/// One outage as the oracle and the store both can say it: entity id, kind, start, end
/// (`None` while open).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct Expected {
    pub id: String,
    pub kind: &'static str,
    pub start: Ms,
    pub end: Option<Ms>,
}

/// A device's own timeline: where it is down and where unknown (sorted, disjoint).
#[derive(Debug, Clone, Default)]
pub struct Own {
    pub first: Option<Ms>,
    pub down: Vec<Span>,
    pub unknown: Vec<Span>,
    pub flaps: usize,
}

/// The results of one device's primary check as the agent makes them: time and success.
pub fn results(world: &World, device: usize) -> Vec<(Ms, bool)> {
    world
        .probe_times(device)
        .into_iter()
        .map(|t| (t, world.answers(device, t)))
        .collect()
}

/// A device's own timeline from its results (sorted by time).
pub fn own_timeline(interval: Ms, results: &[(Ms, bool)]) -> Own {
    let stale = interval * STALE_INTERVALS;
    let mut own = Own {
        first: results.first().map(|r| r.0),
        ..Own::default()
    };
    // The failures in a row so far: (first failure, count).
    let mut run: Option<(Ms, u32)> = None;
    // Silences inside an unconfirmed run: unknown, unless the run is confirmed later.
    let mut silences: Vec<Span> = Vec::new();
    let mut prev: Option<Ms> = None;
    for &(t, ok) in results {
        if let Some(p) = prev {
            if t - p > stale {
                let silence = Span {
                    start: p + stale,
                    end: t,
                };
                match run {
                    Some((_, n)) if n >= CONFIRM => {}
                    Some(_) => silences.push(silence),
                    None => own.unknown.push(silence),
                }
            }
        }
        if ok {
            match run.take() {
                Some((start, n)) if n >= CONFIRM => own.down.push(Span { start, end: t }),
                Some(_) => own.flaps += 1,
                None => {}
            }
            own.unknown.append(&mut silences);
        } else {
            let (start, n) = run.unwrap_or((t, 0));
            run = Some((start, n + 1));
            if n + 1 >= CONFIRM {
                silences.clear();
            }
        }
        prev = Some(t);
    }
    if let Some(p) = prev {
        if let Some((start, n)) = run {
            if n >= CONFIRM {
                own.down.push(Span {
                    start,
                    end: p + stale,
                });
            }
        }
        own.unknown.append(&mut silences);
        own.unknown.push(Span {
            start: p + stale,
            end: OPEN,
        });
    }
    own
}

/// What the oracle expects of the whole run.
#[derive(Debug, Clone, Default)]
pub struct Oracle {
    pub own: Vec<Own>,
    /// Device outages (down and unknown) and service outages (down).
    pub outages: BTreeSet<Expected>,
    /// Results made (by agents, not counting replays).
    pub results: usize,
}

impl Oracle {
    pub fn compute(world: &World) -> Oracle {
        let mut o = Oracle::default();
        for (i, d) in world.devices.iter().enumerate() {
            let r = results(world, i);
            o.results += r.len();
            let own = own_timeline(d.interval_ms, &r);
            for (spans, kind) in [(&own.down, "down"), (&own.unknown, "unknown")] {
                for s in spans {
                    o.outages.insert(Expected {
                        id: d.id.clone(),
                        kind,
                        start: s.start,
                        end: (s.end != OPEN).then_some(s.end),
                    });
                }
            }
            o.own.push(own);
        }
        for s in &world.services {
            for span in service_down(&o.own, &s.members, s.need) {
                o.outages.insert(Expected {
                    id: s.id.clone(),
                    kind: "down",
                    start: span.start,
                    end: (span.end != OPEN).then_some(span.end),
                });
            }
        }
        o
    }
}

/// Member states the service rule reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Member {
    Available,
    Unavailable,
    Unknown,
}

fn member_at(own: &Own, t: Ms) -> Member {
    let within = |spans: &[Span]| spans.iter().any(|s| s.contains(t));
    match own.first {
        None => Member::Unknown,
        Some(f) if t < f => Member::Unknown,
        _ if within(&own.unknown) => Member::Unknown,
        _ if within(&own.down) => Member::Unavailable,
        _ => Member::Available,
    }
}

/// Where a service is down: fewer members available than it needs, even counting the unknown
/// ones as available.
pub fn service_down(own: &[Own], members: &[usize], need: Need) -> Vec<Span> {
    let k = need.count(members.len());
    let mut cuts: Vec<Ms> = Vec::new();
    for m in members {
        let o = &own[*m];
        cuts.extend(o.first);
        for s in o.down.iter().chain(&o.unknown) {
            cuts.push(s.start);
            cuts.push(s.end);
        }
    }
    cuts.retain(|t| *t != OPEN);
    cuts.sort_unstable();
    cuts.dedup();
    let mut out: Vec<Span> = Vec::new();
    for (i, &t) in cuts.iter().enumerate() {
        let next = cuts.get(i + 1).copied().unwrap_or(OPEN);
        let (mut available, mut unknown) = (0, 0);
        for m in members {
            match member_at(&own[*m], t) {
                Member::Available => available += 1,
                Member::Unknown => unknown += 1,
                Member::Unavailable => {}
            }
        }
        if available + unknown < k {
            match out.last_mut() {
                Some(last) if last.end == t => last.end = next,
                _ => out.push(Span {
                    start: t,
                    end: next,
                }),
            }
        }
    }
    out
}

/// A service's figures over one month (Europe/Stockholm), in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct MonthFigures {
    pub downtime_s: f64,
    pub planned_s: f64,
    pub unplanned_s: f64,
}

/// The months (`YYYY-MM`, local) the run touches, each with its bounds in Unix ms.
pub fn months(world: &World) -> Vec<(String, Span)> {
    use chrono::{Datelike, NaiveDate, TimeZone};
    let local = |ms: Ms| {
        chrono::DateTime::from_timestamp_millis(ms)
            .expect("time")
            .with_timezone(&chrono_tz::Europe::Stockholm)
            .date_naive()
    };
    let midnight = |d: NaiveDate| {
        chrono_tz::Europe::Stockholm
            .from_local_datetime(&d.and_hms_opt(0, 0, 0).expect("midnight"))
            .earliest()
            .expect("midnight exists")
            .timestamp_millis()
    };
    let mut out = Vec::new();
    let (first, last) = (local(world.start), local(world.end - 1));
    let (mut y, mut m) = (first.year(), first.month());
    while (y, m) <= (last.year(), last.month()) {
        let from = midnight(NaiveDate::from_ymd_opt(y, m, 1).expect("date"));
        (y, m) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
        let to = midnight(NaiveDate::from_ymd_opt(y, m, 1).expect("date"));
        let label = chrono::DateTime::from_timestamp_millis(from)
            .expect("time")
            .with_timezone(&chrono_tz::Europe::Stockholm)
            .format("%Y-%m")
            .to_string();
        out.push((
            label,
            Span {
                start: from,
                end: to,
            },
        ));
    }
    out
}

fn overlap(a: Span, b: Span) -> Ms {
    (a.end.min(b.end) - a.start.max(b.start)).max(0)
}

/// A service's downtime in `[period.start, min(period.end, now))`, split into planned (inside
/// the ordinary service windows) and unplanned.
pub fn month_figures(down: &[Span], period: Span, now: Ms) -> MonthFigures {
    let clip = Span {
        start: period.start,
        end: period.end.min(now),
    };
    let windows = crate::schedule::service_windows(clip.start, clip.end);
    let (mut total, mut planned) = (0, 0);
    for d in down {
        let d = Span {
            start: d.start.max(clip.start),
            end: d.end.min(clip.end),
        };
        if d.end <= d.start {
            continue;
        }
        total += d.end - d.start;
        planned += windows.iter().map(|w| overlap(d, *w)).sum::<Ms>();
    }
    MonthFigures {
        downtime_s: total as f64 / 1000.0,
        planned_s: planned as f64 / 1000.0,
        unplanned_s: (total - planned) as f64 / 1000.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const M: Ms = 60_000;

    fn r(spec: &[(i64, bool)]) -> Vec<(Ms, bool)> {
        spec.iter().map(|(m, ok)| (m * M, *ok)).collect()
    }

    #[test]
    fn the_oracle_and_the_schedule_import_nothing_of_the_collector() {
        let collector = concat!("driftvakt", "_collector");
        for src in [
            include_str!("oracle.rs"),
            include_str!("schedule.rs"),
            include_str!("plan.rs"),
            include_str!("mails.rs"),
        ] {
            assert!(!src.contains(collector));
        }
    }

    #[test]
    fn three_failures_make_an_outage_and_silence_does_not_end_it() {
        let res = r(&[
            (0, true),
            (1, false),
            (2, false),
            (3, false),
            // silent from 3 to 20: bridged
            (20, false),
            (21, true),
            (22, false),
            (23, true),
        ]);
        let own = own_timeline(M, &res);
        assert_eq!(
            own.down,
            vec![Span {
                start: M,
                end: 21 * M
            }]
        );
        assert_eq!(own.flaps, 1);
        assert_eq!(
            own.unknown,
            vec![Span {
                start: 26 * M,
                end: OPEN
            }]
        );
    }

    #[test]
    fn failures_on_both_sides_of_a_silence_confirm_one_outage() {
        let res = r(&[(0, true), (1, false), (10, false), (11, false), (12, true)]);
        let own = own_timeline(M, &res);
        assert_eq!(
            own.down,
            vec![Span {
                start: M,
                end: 12 * M
            }],
            "{own:?}"
        );
        assert_eq!(own.unknown.len(), 1, "only the end: {own:?}");
    }

    #[test]
    fn an_unconfirmed_run_across_a_silence_is_a_flap_and_the_silence_unknown() {
        let res = r(&[(0, true), (1, false), (10, false), (11, true)]);
        let own = own_timeline(M, &res);
        assert!(own.down.is_empty(), "{own:?}");
        assert_eq!(own.flaps, 1);
        assert_eq!(
            own.unknown[0],
            Span {
                start: 4 * M,
                end: 10 * M
            }
        );
    }
}
