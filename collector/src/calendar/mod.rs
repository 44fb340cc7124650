//! The calendar: when service windows are (primary, secondary, ad-hoc), when office hours are,
//! and which days are holidays. Everything that suppresses alarms or excuses downtime asks
//! [`Calendar`]: [`Calendar::at`] classifies an instant, [`Calendar::active_windows_for`] gives
//! the intervals to cut out of an availability period.
//!
//! Recurring windows are rules in wall time ([`rules`]), computed on the fly from
//! [`CalendarConfig`]; operators' decisions (secondary activations, ad-hoc windows, [`adhoc`])
//! are persisted by the store and applied by `windows::CalendarService`. This module is pure: no
//! I/O, and no function here reads the clock (instants are arguments). Swedish month and weekday
//! names are in [`swedish`].

pub mod adhoc;
pub mod config;
pub mod holidays;
pub mod rules;
pub mod swedish;
pub mod working;

pub use adhoc::{Activation, AdhocWindow, NewAdhocWindow};
pub use config::{CalendarConfig, CalendarFile};
pub use holidays::{easter_sunday, swedish_holiday, swedish_holidays};

use chrono::{DateTime, Datelike, Months, NaiveDate, Timelike, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// Where the current calendar (with operators' activations and ad-hoc windows) comes from:
/// a fixed [`Calendar`], or `windows::CalendarService`, which reads its store each time.
pub trait CalendarSource: Send + Sync {
    fn calendar(&self) -> Result<Calendar, String>;
}

impl CalendarSource for Calendar {
    fn calendar(&self) -> Result<Calendar, String> {
        Ok(self.clone())
    }
}

/// Planned downtime for availability: the active windows that apply to a subject.
impl crate::availability::PlannedWindows for Calendar {
    fn planned(
        &self,
        subject: &Subject,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
        self.active_windows_for(subject, from, to)
    }
}

/// Which kind of service window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WindowKind {
    Primary,
    Secondary,
    Adhoc,
}

impl WindowKind {
    pub fn as_str(self) -> &'static str {
        match self {
            WindowKind::Primary => "primary",
            WindowKind::Secondary => "secondary",
            WindowKind::Adhoc => "adhoc",
        }
    }
}

/// What a window applies to. Written `all`, `municipality:NAME`, `site:ID`, `device:ID`,
/// `service:ID` (also in JSON).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum WindowScope {
    All,
    Municipality(String),
    Site(String),
    Device(String),
    Service(String),
}

impl WindowScope {
    /// Whether a window with this scope covers `subject` (exact, case-sensitive names).
    pub fn applies_to(&self, subject: &Subject) -> bool {
        let is = |known: Option<&str>, wanted: &String| known == Some(wanted.as_str());
        match self {
            WindowScope::All => true,
            WindowScope::Municipality(m) => is(subject.municipality, m),
            WindowScope::Site(s) => is(subject.site, s),
            WindowScope::Device(d) => is(subject.device, d),
            WindowScope::Service(s) => is(subject.service, s),
        }
    }
}

impl fmt::Display for WindowScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WindowScope::All => f.write_str("all"),
            WindowScope::Municipality(x) => write!(f, "municipality:{x}"),
            WindowScope::Site(x) => write!(f, "site:{x}"),
            WindowScope::Device(x) => write!(f, "device:{x}"),
            WindowScope::Service(x) => write!(f, "service:{x}"),
        }
    }
}

impl FromStr for WindowScope {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "invalid scope {s:?}: write all, municipality:NAME, site:ID, device:ID or service:ID"
            )
        };
        if s == "all" {
            return Ok(WindowScope::All);
        }
        let (kind, name) = s.split_once(':').ok_or_else(bad)?;
        if name.trim().is_empty() {
            return Err(bad());
        }
        let name = name.to_string();
        match kind {
            "municipality" => Ok(WindowScope::Municipality(name)),
            "site" => Ok(WindowScope::Site(name)),
            "device" => Ok(WindowScope::Device(name)),
            "service" => Ok(WindowScope::Service(name)),
            _ => Err(bad()),
        }
    }
}

impl Serialize for WindowScope {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for WindowScope {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// One service window occurrence. Instants are UTC; `end` is exclusive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    pub kind: WindowKind,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// Primary and ad-hoc windows are active; a secondary one only when activated.
    pub active: bool,
    /// The Swedish name of the holiday (or configured closed day) the window starts on.
    pub holiday: Option<String>,
    pub scope: WindowScope,
    pub reason: Option<String>,
    /// The ad-hoc window's id in the store.
    pub id: Option<i64>,
}

impl Window {
    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        self.start <= t && t < self.end
    }
}

pub use crate::availability::Subject;

/// What an instant is for a subject.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Moment {
    /// Inside an active window that applies to the subject.
    InWindow(Window),
    /// Office hours (support is staffed).
    OfficeHours,
    /// Outside office hours: on-call ("it-beredskap"); `holiday` names the day if it is one.
    OnCall { holiday: Option<String> },
}

/// The calendar: configuration plus persisted activations and (non-cancelled) ad-hoc windows.
#[derive(Debug, Clone)]
pub struct Calendar {
    config: CalendarConfig,
    activations: BTreeMap<NaiveDate, Activation>,
    adhoc: Vec<AdhocWindow>,
}

/// How far ahead [`Calendar::next_window_start`] looks for recurring windows.
const LOOKAHEAD_DAYS: i64 = 400;

impl Calendar {
    /// A calendar from `config` and the operators' decisions (cancelled ad-hoc windows are
    /// dropped).
    pub fn new(
        config: CalendarConfig,
        activations: Vec<Activation>,
        adhoc: Vec<AdhocWindow>,
    ) -> Self {
        Calendar {
            config,
            activations: activations.into_iter().map(|a| (a.date, a)).collect(),
            adhoc: adhoc.into_iter().filter(|a| !a.is_cancelled()).collect(),
        }
    }

    /// A calendar with no activations and no ad-hoc windows.
    pub fn from_config(config: CalendarConfig) -> Self {
        Calendar::new(config, Vec::new(), Vec::new())
    }

    pub fn config(&self) -> &CalendarConfig {
        &self.config
    }

    pub fn time_zone(&self) -> Tz {
        self.config.time_zone.0
    }

    /// `t` in the calendar's time zone.
    pub fn local(&self, t: DateTime<Utc>) -> DateTime<Tz> {
        t.with_timezone(&self.time_zone())
    }

    /// The activation of the secondary window on `date`, if any.
    pub fn activation(&self, date: NaiveDate) -> Option<&Activation> {
        self.activations.get(&date)
    }

    /// The (non-cancelled) ad-hoc window `id`.
    pub fn adhoc(&self, id: i64) -> Option<&AdhocWindow> {
        self.adhoc.iter().find(|a| a.id == id)
    }

    /// All windows overlapping `[from, to)`, of every kind, active or not, ordered by start.
    pub fn windows(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<Window> {
        if to <= from {
            return Vec::new();
        }
        let overlaps = |w: &Window| w.start < to && w.end > from;
        let mut out: Vec<Window> = self
            .recurring(from, to)
            .into_iter()
            .filter(overlaps)
            .collect();
        out.extend(
            self.adhoc
                .iter()
                .map(|a| self.adhoc_window(a))
                .filter(overlaps),
        );
        out.sort_by_key(|w| (w.start, w.kind, w.id));
        out
    }

    /// Merged, sorted intervals within `[from, to)` covered by active windows that apply to
    /// `subject`.
    pub fn active_windows_for(
        &self,
        subject: &Subject,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
        let spans = self
            .windows(from, to)
            .into_iter()
            .filter(|w| w.active && w.scope.applies_to(subject))
            .map(|w| (w.start.max(from), w.end.min(to)))
            .filter(|(s, e)| s < e);
        merge_intervals(spans.collect())
    }

    /// What `t` is for `subject`: an active window first, then office hours, else on-call.
    pub fn at(&self, t: DateTime<Utc>, subject: &Subject) -> Moment {
        let window = self
            .windows(t, t + chrono::Duration::seconds(1))
            .into_iter()
            .find(|w| w.active && w.contains(t) && w.scope.applies_to(subject));
        if let Some(w) = window {
            return Moment::InWindow(w);
        }
        if self.is_office_hours(t, subject.municipality) {
            return Moment::OfficeHours;
        }
        let date = self.local(t).date_naive();
        Moment::OnCall {
            holiday: self.holiday(date, subject.municipality),
        }
    }

    /// Whether `t` is within office hours for `municipality` (or the default week): a listed
    /// interval on its weekday, on a day that is neither a holiday nor a closed day.
    pub fn is_office_hours(&self, t: DateTime<Utc>, municipality: Option<&str>) -> bool {
        let local = self.local(t);
        if self.holiday(local.date_naive(), municipality).is_some() {
            return false;
        }
        let second = local.time().num_seconds_from_midnight();
        self.config
            .office_hours
            .day(municipality, local.weekday())
            .iter()
            .any(|r| r.contains_second(second))
    }

    /// The next active window applying to `subject` that starts strictly after `t`.
    pub fn next_window_start(&self, t: DateTime<Utc>, subject: &Subject) -> Option<Window> {
        let horizon = t + chrono::Duration::days(LOOKAHEAD_DAYS);
        let later_adhoc = self
            .adhoc
            .iter()
            .filter(|a| a.start >= horizon)
            .map(|a| self.adhoc_window(a));
        self.windows(t, horizon)
            .into_iter()
            .chain(later_adhoc)
            .filter(|w| w.active && w.start > t && w.scope.applies_to(subject))
            .min_by_key(|w| (w.start, w.kind))
    }

    /// The Swedish name of the holiday on `date`, or of a configured closed day for everyone or
    /// for `municipality`.
    pub fn holiday(&self, date: NaiveDate, municipality: Option<&str>) -> Option<String> {
        if let Some(name) = swedish_holiday(date) {
            return Some(name.to_string());
        }
        self.config
            .extra_closed_days
            .iter()
            .find(|c| {
                c.date == date
                    && (c.municipality.is_none() || c.municipality.as_deref() == municipality)
            })
            .map(|c| c.name.clone())
    }

    /// The primary window of `year`-`month`.
    pub fn primary_window(&self, year: i32, month: u32) -> Window {
        let rule = &self.config.primary;
        let date = rules::nth_weekday_of_month(year, month, rule.ordinal, rule.weekday.0);
        self.recurring_window(WindowKind::Primary, date, rule.start, rule.length, true)
    }

    /// The secondary window belonging to the primary window of `year`-`month`.
    pub fn secondary_window(&self, year: i32, month: u32) -> Window {
        let p = &self.config.primary;
        let primary = rules::nth_weekday_of_month(year, month, p.ordinal, p.weekday.0);
        self.secondary_window_for(primary)
    }

    /// The secondary window on the local date `date`, if the rules put one there.
    pub fn secondary_window_on(&self, date: NaiveDate) -> Option<Window> {
        [date, date.checked_sub_months(Months::new(1))?]
            .into_iter()
            .map(|d| self.secondary_window(d.year(), d.month()))
            .find(|w| self.local(w.start).date_naive() == date)
    }

    fn secondary_window_for(&self, primary: NaiveDate) -> Window {
        let rule = &self.config.secondary;
        let date = rules::secondary_date(primary, rule.placement);
        let active = self.activations.contains_key(&date);
        self.recurring_window(WindowKind::Secondary, date, rule.start, rule.length, active)
    }

    fn recurring_window(
        &self,
        kind: WindowKind,
        date: NaiveDate,
        start: config::ClockTime,
        length: config::WindowLength,
        active: bool,
    ) -> Window {
        let (start, end) = rules::wall_span(self.time_zone(), date, start, length);
        Window {
            kind,
            start,
            end,
            active,
            holiday: self.holiday(date, None),
            scope: WindowScope::All,
            reason: None,
            id: None,
        }
    }

    /// Primary and secondary windows of the months that can overlap `[from, to)`.
    fn recurring(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<Window> {
        let first = self.local(from).date_naive();
        let last = self.local(to).date_naive();
        let mut month = first
            .checked_sub_months(Months::new(1))
            .unwrap_or(first)
            .with_day(1)
            .expect("day 1 exists");
        let mut out = Vec::new();
        while month <= last {
            out.push(self.primary_window(month.year(), month.month()));
            out.push(self.secondary_window(month.year(), month.month()));
            month = month + Months::new(1);
        }
        out
    }

    fn adhoc_window(&self, a: &AdhocWindow) -> Window {
        Window {
            kind: WindowKind::Adhoc,
            start: a.start,
            end: a.end,
            active: true,
            holiday: self.holiday(self.local(a.start).date_naive(), None),
            scope: a.scope.clone(),
            reason: Some(a.reason.clone()),
            id: Some(a.id),
        }
    }
}

/// Sorts and merges overlapping or touching intervals.
pub fn merge_intervals(
    mut spans: Vec<(DateTime<Utc>, DateTime<Utc>)>,
) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    spans.sort();
    let mut merged: Vec<(DateTime<Utc>, DateTime<Utc>)> = Vec::with_capacity(spans.len());
    for (s, e) in spans {
        match merged.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => merged.push((s, e)),
        }
    }
    merged
}

#[cfg(test)]
mod tests;
