//! Availability as interval arithmetic: no sampling, only sets of half-open time intervals that
//! are merged, intersected and subtracted.
//!
//! - [`Spans`]: a sorted set of disjoint half-open intervals `[start, end)` in Unix milliseconds.
//! - [`Period`]: a reporting period (month `2026-03`, tertial `2026-T1`, year `2026`, or explicit
//!   instants), with boundaries at local midnight in Europe/Stockholm, computed in UTC.
//! - [`PlannedWindows`] and [`Subject`]: where the service windows come from (the calendar module
//!   implements the trait; tests use a fixed list).
//! - [`Figures`]: the numbers of one entity over one period, computed by [`figures`].
//!
//! Definitions used throughout:
//! - *observed time* = period length minus unknown time (no data for three intervals);
//! - *availability* = 1 − downtime / observed time (`None` when nothing was observed);
//! - *downtime* counts planned downtime (inside service windows) too: the 99.1 % target leaves
//!   room for the windows, so `planned_downtime_s` is reported but not forgiven;
//! - the error budget is `(1 − target) ×` the length of the calendar year; *used* is the downtime
//!   from the start of that year to the end of the period (or now, if earlier).

mod health;
mod rules;

pub use health::Health;
pub use rules::{DeviceRules, Need};

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use chrono_tz::Europe::Stockholm;
use serde::Serialize;
use std::fmt;

/// The far future, used as the end of intervals that are still open.
pub const FOREVER: i64 = i64::MAX / 4;

/// Milliseconds since the Unix epoch of `t`.
pub fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// The instant `ms` milliseconds after the Unix epoch (clamped to a representable time).
pub fn at(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms.min(253_402_300_799_000)).unwrap_or(DateTime::UNIX_EPOCH)
}

/// One half-open interval `[start, end)` in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Span {
    pub start: i64,
    pub end: i64,
}

impl Span {
    pub fn new(start: i64, end: i64) -> Self {
        Span { start, end }
    }
    pub fn len(&self) -> i64 {
        (self.end - self.start).max(0)
    }
    pub fn is_empty(&self) -> bool {
        self.end <= self.start
    }
}

/// A sorted set of disjoint, non-adjacent, non-empty intervals.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Spans(Vec<Span>);

impl Spans {
    pub fn empty() -> Self {
        Spans(Vec::new())
    }

    /// One interval (empty set when `end <= start`).
    pub fn one(start: i64, end: i64) -> Self {
        Spans::from_iter([Span::new(start, end)])
    }

    pub fn as_slice(&self) -> &[Span] {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Total length in milliseconds.
    pub fn total(&self) -> i64 {
        self.0.iter().map(Span::len).sum()
    }

    /// Whether `t` lies in the set.
    pub fn contains(&self, t: i64) -> bool {
        let i = self.0.partition_point(|s| s.end <= t);
        self.0.get(i).is_some_and(|s| s.start <= t)
    }

    pub fn union(&self, other: &Spans) -> Spans {
        Spans::from_iter(self.0.iter().chain(other.0.iter()).copied())
    }

    pub fn intersect(&self, other: &Spans) -> Spans {
        let (mut i, mut j, mut out) = (0, 0, Vec::new());
        while i < self.0.len() && j < other.0.len() {
            let (a, b) = (self.0[i], other.0[j]);
            let s = Span::new(a.start.max(b.start), a.end.min(b.end));
            if !s.is_empty() {
                out.push(s);
            }
            if a.end < b.end {
                i += 1;
            } else {
                j += 1;
            }
        }
        Spans(out)
    }

    pub fn subtract(&self, other: &Spans) -> Spans {
        let mut out = Vec::new();
        let mut j = 0;
        for a in &self.0 {
            let mut start = a.start;
            while j < other.0.len() && other.0[j].end <= start {
                j += 1;
            }
            let mut k = j;
            while k < other.0.len() && other.0[k].start < a.end {
                let b = other.0[k];
                if b.start > start {
                    out.push(Span::new(start, b.start));
                }
                start = start.max(b.end);
                k += 1;
            }
            if start < a.end {
                out.push(Span::new(start, a.end));
            }
        }
        Spans(out)
    }

    /// The part inside `[from, to)`.
    pub fn clip(&self, from: i64, to: i64) -> Spans {
        self.intersect(&Spans::one(from, to))
    }

    /// Every interval widened by `before` at its start and `after` at its end.
    pub fn widen(&self, before: i64, after: i64) -> Spans {
        Spans::from_iter(
            self.0
                .iter()
                .map(|s| Span::new(s.start.saturating_sub(before), s.end.saturating_add(after))),
        )
    }
}

impl FromIterator<Span> for Spans {
    /// Sorts, drops empty intervals and merges overlapping or touching ones.
    fn from_iter<I: IntoIterator<Item = Span>>(iter: I) -> Self {
        let mut v: Vec<Span> = iter.into_iter().filter(|s| !s.is_empty()).collect();
        v.sort();
        let mut out: Vec<Span> = Vec::with_capacity(v.len());
        for s in v {
            match out.last_mut() {
                Some(last) if s.start <= last.end => last.end = last.end.max(s.end),
                _ => out.push(s),
            }
        }
        Spans(out)
    }
}

/// Errors in a period given on the command line or in a query.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeriodError {
    #[error(
        "invalid period `{0}`: write a month (2026-03), a tertial (2026-T1), or a year (2026)"
    )]
    Syntax(String),
    #[error("period ends before it starts")]
    Empty,
    #[error("year {0} is out of range: periods lie in the years {min}–{max}", min = YEARS.start(), max = YEARS.end())]
    OutOfRange(i32),
}

/// The years the collector computes calendars and periods for. Every instant that comes in from
/// outside (a query, a command line, an operator's window) is checked against them at the edge,
/// so the calendar arithmetic inside never meets year 1 or year −1.
pub const YEARS: std::ops::RangeInclusive<i32> = 1970..=9999;

/// `Ok` when `t` lies in [`YEARS`].
pub fn check_year(t: DateTime<Utc>) -> Result<(), PeriodError> {
    let year = t.year();
    if YEARS.contains(&year) {
        Ok(())
    } else {
        Err(PeriodError::OutOfRange(year))
    }
}

/// A reporting period `[from, to)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Period {
    /// How it was written (`2026-T1`) or `from..to` for explicit instants.
    pub label: String,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label)
    }
}

/// Local midnight in Stockholm at the start of the given day, in UTC.
pub fn local_midnight(date: NaiveDate) -> DateTime<Utc> {
    let naive = date.and_hms_opt(0, 0, 0).expect("midnight exists");
    Stockholm
        .from_local_datetime(&naive)
        .earliest()
        .expect("Stockholm has no DST change at midnight")
        .with_timezone(&Utc)
}

fn month_start(year: i32, month: u32) -> Option<DateTime<Utc>> {
    let (y, m) = if month > 12 {
        (year + 1, month - 12)
    } else {
        (year, month)
    };
    NaiveDate::from_ymd_opt(y, m, 1).map(local_midnight)
}

impl Period {
    /// Parses `2026-03`, `2026-T1` (Jan–Apr), `2026-T2` (May–Aug), `2026-T3` (Sep–Dec) or `2026`.
    pub fn parse(s: &str) -> Result<Period, PeriodError> {
        let bad = || PeriodError::Syntax(s.to_string());
        let (year_s, rest) = s.split_once('-').unwrap_or((s, ""));
        if year_s.len() != 4 {
            return Err(bad());
        }
        let year: i32 = year_s.parse().map_err(|_| bad())?;
        if !YEARS.contains(&year) {
            return Err(PeriodError::OutOfRange(year));
        }
        let (first, months) = match rest {
            "" => (1, 12),
            t if t.starts_with('T') => match &t[1..] {
                "1" => (1, 4),
                "2" => (5, 4),
                "3" => (9, 4),
                _ => return Err(bad()),
            },
            m if m.len() == 2 => {
                let month: u32 = m.parse().map_err(|_| bad())?;
                if !(1..=12).contains(&month) {
                    return Err(bad());
                }
                (month, 1)
            }
            _ => return Err(bad()),
        };
        let from = month_start(year, first).ok_or_else(bad)?;
        let to = month_start(year, first + months).ok_or_else(bad)?;
        Ok(Period {
            label: s.to_string(),
            from,
            to,
        })
    }

    /// An explicit period between two instants.
    pub fn between(from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Period, PeriodError> {
        check_year(from)?;
        check_year(to)?;
        if to <= from {
            return Err(PeriodError::Empty);
        }
        Ok(Period {
            label: format!("{}..{}", from.to_rfc3339(), to.to_rfc3339()),
            from,
            to,
        })
    }

    /// The period, cut at `now` when it is still running.
    pub fn until(&self, now: DateTime<Utc>) -> Period {
        Period {
            label: self.label.clone(),
            from: self.from,
            to: self.to.min(now).max(self.from),
        }
    }

    /// Start of the Stockholm calendar year the period starts in.
    pub fn year_start(&self) -> DateTime<Utc> {
        let local = self.from.with_timezone(&Stockholm);
        month_start(local.year(), 1).expect("valid year")
    }

    /// Length of the Stockholm calendar year the period starts in, in milliseconds.
    pub fn year_len_ms(&self) -> i64 {
        let start = self.year_start();
        let year = start.with_timezone(&Stockholm).year();
        let end = month_start(year + 1, 1).expect("valid year");
        ms(end) - ms(start)
    }
}

/// What an entity is, for scope matching: every field that is known.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Subject<'a> {
    pub device: Option<&'a str>,
    pub service: Option<&'a str>,
    pub site: Option<&'a str>,
    pub municipality: Option<&'a str>,
}

impl Subject<'static> {
    /// A subject nothing is known about: only `all` windows apply.
    pub const ANY: Subject<'static> = Subject {
        device: None,
        service: None,
        site: None,
        municipality: None,
    };
}

/// Where planned downtime comes from: the service windows that apply to a subject.
pub trait PlannedWindows {
    /// The windows applying to `subject` that overlap `[from, to)`.
    fn planned(
        &self,
        subject: &Subject,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Vec<(DateTime<Utc>, DateTime<Utc>)>;
}

/// No service windows at all.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoWindows;

impl PlannedWindows for NoWindows {
    fn planned(
        &self,
        _: &Subject,
        _: DateTime<Utc>,
        _: DateTime<Utc>,
    ) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
        Vec::new()
    }
}

/// The planned windows of `subject` in `[from, to)` as a set.
pub fn planned_spans(windows: &dyn PlannedWindows, subject: &Subject, from: i64, to: i64) -> Spans {
    windows
        .planned(subject, at(from), at(to))
        .into_iter()
        .map(|(a, b)| Span::new(ms(a), ms(b)))
        .collect::<Spans>()
        .clip(from, to)
}

/// The numbers of one entity over one period.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Figures {
    /// 1 − downtime / observed time; `None` when nothing was observed.
    pub availability: Option<f64>,
    pub observed_s: f64,
    pub downtime_s: f64,
    pub planned_downtime_s: f64,
    pub unplanned_downtime_s: f64,
    pub unknown_s: f64,
    pub degraded_s: f64,
    /// Whether availability reaches the target; `None` when nothing was observed.
    pub meets_target: Option<bool>,
    pub error_budget_s: f64,
    pub error_budget_used_s: f64,
    pub error_budget_left_s: f64,
}

/// The state sets of one entity that availability is computed from.
#[derive(Debug, Clone, Default)]
pub struct Exposure {
    /// Unavailable (down or unreachable).
    pub down: Spans,
    pub unknown: Spans,
    pub degraded: Spans,
}

/// Seconds in `ms` milliseconds.
pub fn secs(ms: i64) -> f64 {
    ms as f64 / 1000.0
}

/// Figures of one entity in `period` (already cut at now); `year` holds its sets from the start
/// of the year to the end of the period, for the error budget.
pub fn figures(
    period: &Period,
    target: f64,
    exposure: &Exposure,
    planned: &Spans,
    year_downtime_ms: i64,
) -> Figures {
    let (from, to) = (ms(period.from), ms(period.to));
    let down = exposure.down.clip(from, to);
    let unknown = exposure.unknown.clip(from, to);
    let degraded = exposure.degraded.clip(from, to);
    let observed = (to - from) - unknown.total();
    let planned_down = down.intersect(planned).total();
    let availability = (observed > 0).then(|| 1.0 - down.total() as f64 / observed as f64);
    let budget = ((1.0 - target) * secs(period.year_len_ms())).round();
    Figures {
        availability,
        observed_s: secs(observed),
        downtime_s: secs(down.total()),
        planned_downtime_s: secs(planned_down),
        unplanned_downtime_s: secs(down.total() - planned_down),
        unknown_s: secs(unknown.total()),
        degraded_s: secs(degraded.total()),
        meets_target: availability.map(|a| a >= target),
        error_budget_s: budget,
        error_budget_used_s: secs(year_downtime_ms),
        error_budget_left_s: budget - secs(year_downtime_ms),
    }
}

/// Figures of a group (site, municipality): device-time availability, `1 − Σ downtime / Σ
/// observed` over its members; the seconds are sums over the members (device-seconds).
pub fn aggregate(target: f64, members: &[&Figures]) -> Figures {
    let sum = |f: fn(&Figures) -> f64| members.iter().map(|m| f(m)).sum::<f64>();
    let observed = sum(|f| f.observed_s);
    let down = sum(|f| f.downtime_s);
    let availability = (observed > 0.0).then(|| 1.0 - down / observed);
    let budget = sum(|f| f.error_budget_s);
    let used = sum(|f| f.error_budget_used_s);
    Figures {
        availability,
        observed_s: observed,
        downtime_s: down,
        planned_downtime_s: sum(|f| f.planned_downtime_s),
        unplanned_downtime_s: sum(|f| f.unplanned_downtime_s),
        unknown_s: sum(|f| f.unknown_s),
        degraded_s: sum(|f| f.degraded_s),
        meets_target: availability.map(|a| a >= target),
        error_budget_s: budget,
        error_budget_used_s: used,
        error_budget_left_s: budget - used,
    }
}

/// The period a query or command line asks for.
pub fn period_of(
    period: Option<&str>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<Period, String> {
    match (period, from) {
        (Some(p), None) if to.is_none() => Period::parse(p).map_err(|e| e.to_string()),
        (None, Some(f)) => Period::between(f, to.unwrap_or(now)).map_err(|e| e.to_string()),
        _ => Err("give either `period` (2026-T1, 2026-03, 2026) or `from` (and `to`)".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[(i64, i64)]) -> Spans {
        v.iter().map(|&(a, b)| Span::new(a, b)).collect()
    }

    #[test]
    fn set_operations() {
        let a = s(&[(0, 10), (20, 30)]);
        let b = s(&[(5, 25)]);
        assert_eq!(a.union(&b), s(&[(0, 30)]));
        assert_eq!(a.intersect(&b), s(&[(5, 10), (20, 25)]));
        assert_eq!(a.subtract(&b), s(&[(0, 5), (25, 30)]));
        assert_eq!(b.subtract(&a), s(&[(10, 20)]));
        assert_eq!(s(&[(0, 5), (5, 7)]), s(&[(0, 7)]));
        assert!(a.contains(0) && !a.contains(10) && a.contains(29));
        assert_eq!(a.widen(1, 2), s(&[(-1, 12), (19, 32)]));
    }

    #[test]
    fn periods_are_local_midnight() {
        let p = Period::parse("2026-T1").unwrap();
        assert_eq!(p.from.to_rfc3339(), "2025-12-31T23:00:00+00:00");
        assert_eq!(p.to.to_rfc3339(), "2026-04-30T22:00:00+00:00");
        let m = Period::parse("2026-03").unwrap();
        assert_eq!(m.to.to_rfc3339(), "2026-03-31T22:00:00+00:00");
        let y = Period::parse("2026").unwrap();
        assert_eq!(y.year_len_ms(), 365 * 86_400_000);
        assert_eq!(
            Period::parse("2026-T3").unwrap().to.to_rfc3339(),
            "2026-12-31T23:00:00+00:00"
        );
        for bad in ["26", "2026-13", "2026-T4", "2026-3", "x"] {
            assert!(Period::parse(bad).is_err(), "{bad}");
        }
    }
}
