//! The billing basis of a tertial ("fakturaunderlag per tertial, ner på enhetsnivå"): per
//! municipality and owner, the units that were active in the period with their days active
//! (Europe/Stockholm dates, both ends of a day counted once), and what changed since the
//! previous tertial (added, removed, moved to another owner or municipality, other status
//! changes), so that an invoice can be checked line by line. Units not heard from for
//! `quiet_after` are flagged for removal ("avförs utan dröjsmål").
//!
//! It reads only the recorded history ([`super::history`]): a device counts from the day its
//! state was recorded; a change recorded on a day holds from that day on.

use super::history::{timelines, State, Timeline};
use crate::store::RegisterChange;
use chrono::{Datelike, NaiveDate};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// A tertial: Jan–Apr (T1), May–Aug (T2), Sep–Dec (T3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Tertial {
    pub year: i32,
    /// 1, 2 or 3.
    pub number: u32,
}

impl Tertial {
    /// Parses `2026-T3`.
    pub fn parse(s: &str) -> Result<Tertial, String> {
        let bad = || format!("period `{s}`: expected a tertial such as 2026-T3");
        let (year, t) = s.split_once("-T").ok_or_else(bad)?;
        let year: i32 = year.parse().map_err(|_| bad())?;
        let number: u32 = t.parse().map_err(|_| bad())?;
        if !(1..=3).contains(&number) || !(2000..=2200).contains(&year) {
            return Err(bad());
        }
        Ok(Tertial { year, number })
    }

    /// Its first day.
    pub fn start(self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.year, 4 * (self.number - 1) + 1, 1).expect("valid month")
    }

    /// The day after its last.
    pub fn end(self) -> NaiveDate {
        self.next().start()
    }

    pub fn next(self) -> Tertial {
        match self.number {
            3 => Tertial {
                year: self.year + 1,
                number: 1,
            },
            n => Tertial {
                year: self.year,
                number: n + 1,
            },
        }
    }

    pub fn previous(self) -> Tertial {
        match self.number {
            1 => Tertial {
                year: self.year - 1,
                number: 3,
            },
            n => Tertial {
                year: self.year,
                number: n - 1,
            },
        }
    }

    /// The tertial `day` is in.
    pub fn of(day: NaiveDate) -> Tertial {
        Tertial {
            year: day.year(),
            number: (day.month() - 1) / 4 + 1,
        }
    }
}

impl std::fmt::Display for Tertial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-T{}", self.year, self.number)
    }
}

/// One billed unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Line {
    pub municipality: String,
    pub owner: String,
    pub device: String,
    /// Days the unit was active with this owner in the period (up to `until`).
    pub days: i64,
    /// Not heard from for `quiet_after`: to be removed from the register.
    pub quiet: bool,
}

/// What kind of change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// Became active (new, or from planned or in stock).
    Added,
    /// Stopped being active (decommissioned, back in stock, or left the inventory).
    Removed,
    /// Active, and moved to another owner or municipality.
    Moved,
    /// Any other change of status (between statuses that are not billed).
    Status,
}

/// One change in the period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub day: NaiveDate,
    pub device: String,
    pub kind: ChangeKind,
    /// Municipality, owner and status before (empty for a device first recorded).
    pub from_municipality: String,
    pub from_owner: String,
    pub from_status: String,
    pub to_municipality: String,
    pub to_owner: String,
    pub to_status: String,
}

/// Units and unit-days of one municipality and owner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Total {
    pub municipality: String,
    pub owner: String,
    pub units: usize,
    pub days: i64,
}

/// The billing basis of one tertial.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Billing {
    pub period: String,
    pub from: NaiveDate,
    /// The day after the last day counted (the period's end, or tomorrow while it runs).
    pub until: NaiveDate,
    pub previous: String,
    pub totals: Vec<Total>,
    pub lines: Vec<Line>,
    pub changes: Vec<Change>,
}

/// The billing basis of `period` from the recorded `history`, counting days up to `today`
/// (inclusive) while the period runs. `quiet` names the units to flag for removal.
pub fn billing(
    history: &[RegisterChange],
    period: Tertial,
    today: NaiveDate,
    quiet: &BTreeSet<String>,
) -> Billing {
    let from = period.start();
    let until = period
        .end()
        .min(today.succ_opt().unwrap_or(today))
        .max(from);
    let mut lines = Vec::new();
    let mut changes = Vec::new();
    for (device, t) in timelines(history) {
        lines.extend(device_lines(&device, &t, from, until, quiet));
        changes.extend(device_changes(&device, &t, from, until));
    }
    lines.sort_by(|a, b| {
        (&a.municipality, &a.owner, &a.device).cmp(&(&b.municipality, &b.owner, &b.device))
    });
    changes.sort_by(|a, b| (a.day, &a.device, a.kind).cmp(&(b.day, &b.device, b.kind)));
    Billing {
        period: period.to_string(),
        from,
        until,
        previous: period.previous().to_string(),
        totals: totals(&lines),
        lines,
        changes,
    }
}

/// The device's active days in `[from, until)`, one line per municipality and owner.
fn device_lines(
    device: &str,
    t: &Timeline,
    from: NaiveDate,
    until: NaiveDate,
    quiet: &BTreeSet<String>,
) -> Vec<Line> {
    let mut days: BTreeMap<(String, String), i64> = BTreeMap::new();
    let starts: Vec<(&NaiveDate, &State)> = t.iter().collect();
    for (i, (start, state)) in starts.iter().enumerate() {
        if !state.is_active() {
            continue;
        }
        let end = starts
            .get(i + 1)
            .map(|(d, _)| **d)
            .unwrap_or(NaiveDate::MAX);
        let (a, b) = ((**start).max(from), end.min(until));
        if a < b {
            *days
                .entry((state.municipality.clone(), state.owner.clone()))
                .or_default() += (b - a).num_days();
        }
    }
    days.into_iter()
        .map(|((municipality, owner), days)| Line {
            municipality,
            owner,
            device: device.to_string(),
            days,
            quiet: quiet.contains(device),
        })
        .collect()
}

/// The device's changes on days in `[from, until)`.
fn device_changes(device: &str, t: &Timeline, from: NaiveDate, until: NaiveDate) -> Vec<Change> {
    let none = State {
        municipality: String::new(),
        owner: String::new(),
        status: String::new(),
    };
    let mut before = &none;
    let mut out = Vec::new();
    for (day, state) in t {
        if (from..until).contains(day) {
            if let Some(kind) = kind(before, state) {
                out.push(Change {
                    day: *day,
                    device: device.to_string(),
                    kind,
                    from_municipality: before.municipality.clone(),
                    from_owner: before.owner.clone(),
                    from_status: before.status.clone(),
                    to_municipality: state.municipality.clone(),
                    to_owner: state.owner.clone(),
                    to_status: state.status.clone(),
                });
            }
        }
        before = state;
    }
    out
}

/// What a change from `a` to `b` is for the bill (`None`: nothing it shows).
fn kind(a: &State, b: &State) -> Option<ChangeKind> {
    match (a.is_active(), b.is_active()) {
        (false, true) => Some(ChangeKind::Added),
        (true, false) => Some(ChangeKind::Removed),
        (true, true) if a.owner != b.owner || a.municipality != b.municipality => {
            Some(ChangeKind::Moved)
        }
        (false, false) if a.status != b.status => Some(ChangeKind::Status),
        _ => None,
    }
}

fn totals(lines: &[Line]) -> Vec<Total> {
    let mut by: BTreeMap<(&str, &str), (usize, i64)> = BTreeMap::new();
    for l in lines {
        let e = by.entry((&l.municipality, &l.owner)).or_default();
        e.0 += 1;
        e.1 += l.days;
    }
    by.into_iter()
        .map(|((m, o), (units, days))| Total {
            municipality: m.to_string(),
            owner: o.to_string(),
            units,
            days,
        })
        .collect()
}

/// The basis as CSV: one row per unit (`line`), then one per change (`change`).
pub fn to_csv(b: &Billing) -> String {
    let mut out = super::csv::row(&[
        "record",
        "period",
        "municipality",
        "owner",
        "device",
        "days",
        "quiet",
        "day",
        "change",
        "from_municipality",
        "from_owner",
        "from_status",
        "to_status",
    ]);
    for l in &b.lines {
        out += &super::csv::row(&[
            "line",
            &b.period,
            &l.municipality,
            &l.owner,
            &l.device,
            &l.days.to_string(),
            if l.quiet { "yes" } else { "" },
            "",
            "",
            "",
            "",
            "",
            "",
        ]);
    }
    for c in &b.changes {
        let kind = serde_json::to_value(c.kind).expect("an enum");
        out += &super::csv::row(&[
            "change",
            &b.period,
            &c.to_municipality,
            &c.to_owner,
            &c.device,
            "",
            "",
            &c.day.to_string(),
            kind.as_str().unwrap_or_default(),
            &c.from_municipality,
            &c.from_owner,
            &c.from_status,
            &c.to_status,
        ]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tertials_are_four_months() {
        let t3 = Tertial::parse("2026-T3").unwrap();
        assert_eq!(t3.start(), NaiveDate::from_ymd_opt(2026, 9, 1).unwrap());
        assert_eq!(t3.end(), NaiveDate::from_ymd_opt(2027, 1, 1).unwrap());
        assert_eq!(t3.previous().to_string(), "2026-T2");
        assert_eq!(
            Tertial::parse("2026-T1").unwrap().previous().to_string(),
            "2025-T3"
        );
        assert_eq!(
            Tertial::of(NaiveDate::from_ymd_opt(2026, 8, 31).unwrap()).to_string(),
            "2026-T2"
        );
        assert!(Tertial::parse("2026-T4").is_err());
        assert!(Tertial::parse("2026-03").is_err());
    }
}
