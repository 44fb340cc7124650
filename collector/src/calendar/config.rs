//! Calendar configuration: the rules for recurring service windows, office hours per
//! municipality, and extra closed days. Every field has a default (the 2023 framework
//! assignment: third Tuesday 18:00–22:00, secondary the Tuesday after 18:00–21:00, support
//! Mon–Thu 07:30–16:30 and Fri 07:30–16:00, Europe/Stockholm), so an empty `calendar:` section
//! is a working configuration. Parsing is strict (unknown keys are errors) and values are
//! validated while parsing, so errors carry the file, line and key.

use chrono::{NaiveDate, NaiveTime, Timelike, Weekday};
use chrono_tz::Tz;
use driftvakt_common::config::{load_yaml, parse_yaml, ConfigError, Duration};
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// The calendar section of a configuration (`calendar:` in the collector's config).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CalendarConfig {
    /// The zone whose wall time the rules are written in.
    pub time_zone: TimeZone,
    pub primary: PrimaryRule,
    pub secondary: SecondaryRule,
    pub office_hours: OfficeHoursConfig,
    /// Days without office hours beyond the public holidays (e.g. a "klämdag").
    pub extra_closed_days: Vec<ClosedDay>,
}

impl Default for CalendarConfig {
    fn default() -> Self {
        CalendarConfig {
            time_zone: TimeZone(chrono_tz::Europe::Stockholm),
            primary: PrimaryRule::default(),
            secondary: SecondaryRule::default(),
            office_hours: OfficeHoursConfig::default(),
            extra_closed_days: Vec::new(),
        }
    }
}

/// The primary window: the `ordinal` `weekday` of every month, from `start` for `length` of wall
/// time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PrimaryRule {
    pub ordinal: Ordinal,
    pub weekday: WeekdayName,
    pub start: ClockTime,
    pub length: WindowLength,
}

impl Default for PrimaryRule {
    fn default() -> Self {
        PrimaryRule {
            ordinal: Ordinal::Third,
            weekday: WeekdayName(Weekday::Tue),
            start: ClockTime::hm(18, 0),
            length: WindowLength::hours(4),
        }
    }
}

/// The secondary window: placed relative to the primary (`weeks_after_primary` or
/// `days_after_primary`) or by its own `ordinal` and `weekday`; inactive until an operator
/// activates it for a date.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawSecondaryRule", into = "RawSecondaryRule")]
pub struct SecondaryRule {
    pub placement: SecondaryPlacement,
    pub start: ClockTime,
    pub length: WindowLength,
}

/// Where the secondary window falls in a month.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecondaryPlacement {
    /// This many days after the primary window's date.
    DaysAfterPrimary(u32),
    /// The `ordinal` `weekday` of the primary window's month.
    OrdinalWeekday { ordinal: Ordinal, weekday: Weekday },
}

impl Default for SecondaryRule {
    fn default() -> Self {
        SecondaryRule {
            placement: SecondaryPlacement::DaysAfterPrimary(7),
            start: ClockTime::hm(18, 0),
            length: WindowLength::hours(3),
        }
    }
}

/// The secondary rule as written; exactly one placement may be given (none: one week after).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawSecondaryRule {
    #[serde(skip_serializing_if = "Option::is_none")]
    weeks_after_primary: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    days_after_primary: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ordinal: Option<Ordinal>,
    #[serde(skip_serializing_if = "Option::is_none")]
    weekday: Option<WeekdayName>,
    start: Option<ClockTime>,
    length: Option<WindowLength>,
}

impl TryFrom<RawSecondaryRule> for SecondaryRule {
    type Error = String;
    fn try_from(raw: RawSecondaryRule) -> Result<Self, String> {
        let defaults = SecondaryRule::default();
        let placement = match (
            raw.weeks_after_primary,
            raw.days_after_primary,
            raw.ordinal,
            raw.weekday,
        ) {
            (None, None, None, None) => defaults.placement,
            (Some(w), None, None, None) if (1..=3).contains(&w) => {
                SecondaryPlacement::DaysAfterPrimary(w * 7)
            }
            (None, Some(d), None, None) if (1..=27).contains(&d) => {
                SecondaryPlacement::DaysAfterPrimary(d)
            }
            (Some(w), None, None, None) => {
                return Err(format!(
                    "weeks_after_primary {w} out of range: write 1, 2 or 3"
                ))
            }
            (None, Some(d), None, None) => {
                return Err(format!(
                    "days_after_primary {d} out of range: write 1 to 27"
                ))
            }
            (None, None, Some(ordinal), Some(weekday)) => SecondaryPlacement::OrdinalWeekday {
                ordinal,
                weekday: weekday.0,
            },
            (None, None, Some(_), None) | (None, None, None, Some(_)) => {
                return Err("secondary window: ordinal and weekday must be given together".into())
            }
            _ => {
                return Err("secondary window: give only one of weeks_after_primary, \
                            days_after_primary, or ordinal with weekday"
                    .into())
            }
        };
        Ok(SecondaryRule {
            placement,
            start: raw.start.unwrap_or(defaults.start),
            length: raw.length.unwrap_or(defaults.length),
        })
    }
}

impl From<SecondaryRule> for RawSecondaryRule {
    fn from(rule: SecondaryRule) -> Self {
        let mut raw = RawSecondaryRule {
            start: Some(rule.start),
            length: Some(rule.length),
            ..RawSecondaryRule::default()
        };
        match rule.placement {
            SecondaryPlacement::DaysAfterPrimary(d) if d.is_multiple_of(7) => {
                raw.weeks_after_primary = Some(d / 7)
            }
            SecondaryPlacement::DaysAfterPrimary(d) => raw.days_after_primary = Some(d),
            SecondaryPlacement::OrdinalWeekday { ordinal, weekday } => {
                raw.ordinal = Some(ordinal);
                raw.weekday = Some(WeekdayName(weekday));
            }
        }
        raw
    }
}

/// Office hours: a default week and per-municipality weeks. A day a municipality leaves out is
/// taken from `default`; a day `default` leaves out is taken from the built-in week
/// (Mon–Thu 07:30–16:30, Fri 07:30–16:00). Write `[]` for a closed day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OfficeHoursConfig {
    pub default: WeekSchedule,
    pub municipalities: BTreeMap<String, WeekSchedule>,
}

impl Default for OfficeHoursConfig {
    fn default() -> Self {
        OfficeHoursConfig {
            default: WeekSchedule::standard(),
            municipalities: BTreeMap::new(),
        }
    }
}

impl OfficeHoursConfig {
    /// The intervals of office hours on `weekday` for `municipality` (or the default week).
    pub fn day(&self, municipality: Option<&str>, weekday: Weekday) -> &[TimeRange] {
        municipality
            .and_then(|m| self.municipalities.get(m))
            .and_then(|w| w.day(weekday))
            .or_else(|| self.default.day(weekday))
            .unwrap_or_else(|| standard_day(weekday))
    }
}

/// Office hours per weekday; `None` means "as the default week".
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WeekSchedule {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub monday: Option<Vec<TimeRange>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tuesday: Option<Vec<TimeRange>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wednesday: Option<Vec<TimeRange>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thursday: Option<Vec<TimeRange>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub friday: Option<Vec<TimeRange>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub saturday: Option<Vec<TimeRange>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sunday: Option<Vec<TimeRange>>,
}

impl WeekSchedule {
    /// The support hours of the 2023 framework assignment.
    pub fn standard() -> Self {
        let day = |w| Some(standard_day(w).to_vec());
        WeekSchedule {
            monday: day(Weekday::Mon),
            tuesday: day(Weekday::Tue),
            wednesday: day(Weekday::Wed),
            thursday: day(Weekday::Thu),
            friday: day(Weekday::Fri),
            saturday: day(Weekday::Sat),
            sunday: day(Weekday::Sun),
        }
    }

    pub fn day(&self, weekday: Weekday) -> Option<&[TimeRange]> {
        match weekday {
            Weekday::Mon => self.monday.as_deref(),
            Weekday::Tue => self.tuesday.as_deref(),
            Weekday::Wed => self.wednesday.as_deref(),
            Weekday::Thu => self.thursday.as_deref(),
            Weekday::Fri => self.friday.as_deref(),
            Weekday::Sat => self.saturday.as_deref(),
            Weekday::Sun => self.sunday.as_deref(),
        }
    }
}

const MON_THU: [TimeRange; 1] = [TimeRange {
    start: 7 * 60 + 30,
    end: 16 * 60 + 30,
}];
const FRIDAY: [TimeRange; 1] = [TimeRange {
    start: 7 * 60 + 30,
    end: 16 * 60,
}];

fn standard_day(weekday: Weekday) -> &'static [TimeRange] {
    match weekday {
        Weekday::Mon | Weekday::Tue | Weekday::Wed | Weekday::Thu => &MON_THU,
        Weekday::Fri => &FRIDAY,
        Weekday::Sat | Weekday::Sun => &[],
    }
}

/// A day without office hours, for everyone or for one municipality.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClosedDay {
    pub date: NaiveDate,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub municipality: Option<String>,
}

/// A configuration file holding just the calendar and the database path (what the CLI reads
/// until the collector's full configuration embeds [`CalendarConfig`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CalendarFile {
    pub calendar: CalendarConfig,
    pub database: Option<PathBuf>,
}

impl CalendarFile {
    /// Reads and validates `path`.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        load_yaml(path).map(|(file, _source)| file)
    }

    /// Parses YAML text; `path` only names the source in errors.
    pub fn parse(source: &str, path: &Path) -> Result<Self, ConfigError> {
        parse_yaml(source, path)
    }
}

/// Which occurrence of a weekday in a month: 1–4 or `last`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ordinal {
    First,
    Second,
    Third,
    Fourth,
    Last,
}

impl Ordinal {
    /// 1–4, or `None` for [`Ordinal::Last`].
    pub fn number(self) -> Option<u8> {
        match self {
            Ordinal::First => Some(1),
            Ordinal::Second => Some(2),
            Ordinal::Third => Some(3),
            Ordinal::Fourth => Some(4),
            Ordinal::Last => None,
        }
    }

    fn from_number(n: i64) -> Option<Self> {
        match n {
            1 => Some(Ordinal::First),
            2 => Some(Ordinal::Second),
            3 => Some(Ordinal::Third),
            4 => Some(Ordinal::Fourth),
            _ => None,
        }
    }
}

impl Serialize for Ordinal {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.number() {
            Some(n) => s.serialize_u8(n),
            None => s.serialize_str("last"),
        }
    }
}

impl<'de> Deserialize<'de> for Ordinal {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Ordinal;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an ordinal: 1, 2, 3, 4 or last")
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<Ordinal, E> {
                Ordinal::from_number(n).ok_or_else(|| {
                    E::custom(format!("invalid ordinal {n}: write 1, 2, 3, 4 or last"))
                })
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Ordinal, E> {
                self.visit_i64(i64::try_from(n).unwrap_or(i64::MAX))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Ordinal, E> {
                match s {
                    "last" => Ok(Ordinal::Last),
                    _ => Err(E::custom(format!(
                        "invalid ordinal {s:?}: write 1, 2, 3, 4 or last"
                    ))),
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// Implements string-based serde for a type with `FromStr<Err = String>` and `Display`.
macro_rules! serde_via_str {
    ($ty:ty) => {
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(de::Error::custom)
            }
        }
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
    };
}

/// An IANA time zone from the tz database, e.g. `Europe/Stockholm`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeZone(pub Tz);

impl FromStr for TimeZone {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        s.parse::<Tz>().map(TimeZone).map_err(|_| {
            format!("unknown time zone {s:?}: write an IANA name such as Europe/Stockholm")
        })
    }
}

impl fmt::Display for TimeZone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.name())
    }
}
serde_via_str!(TimeZone);

/// A weekday written in English, lower case: `tuesday`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WeekdayName(pub Weekday);

impl FromStr for WeekdayName {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let days = [
            ("monday", Weekday::Mon),
            ("tuesday", Weekday::Tue),
            ("wednesday", Weekday::Wed),
            ("thursday", Weekday::Thu),
            ("friday", Weekday::Fri),
            ("saturday", Weekday::Sat),
            ("sunday", Weekday::Sun),
        ];
        days.iter()
            .find(|(name, _)| *name == s)
            .map(|&(_, w)| WeekdayName(w))
            .ok_or_else(|| format!("invalid weekday {s:?}: write monday, tuesday, ... sunday"))
    }
}

impl fmt::Display for WeekdayName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self.0 {
            Weekday::Mon => "monday",
            Weekday::Tue => "tuesday",
            Weekday::Wed => "wednesday",
            Weekday::Thu => "thursday",
            Weekday::Fri => "friday",
            Weekday::Sat => "saturday",
            Weekday::Sun => "sunday",
        };
        f.write_str(name)
    }
}
serde_via_str!(WeekdayName);

/// A wall-clock time of day written `HH:MM` (00:00–23:59).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ClockTime(pub NaiveTime);

impl ClockTime {
    pub fn hm(hour: u32, minute: u32) -> Self {
        ClockTime(NaiveTime::from_hms_opt(hour, minute, 0).expect("valid time"))
    }
}

impl FromStr for ClockTime {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match parse_minutes(s) {
            Some(m) if m < 24 * 60 => Ok(ClockTime::hm(u32::from(m / 60), u32::from(m % 60))),
            _ => Err(format!(
                "invalid time {s:?}: write HH:MM between 00:00 and 23:59"
            )),
        }
    }
}

impl fmt::Display for ClockTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.0.hour(), self.0.minute())
    }
}
serde_via_str!(ClockTime);

/// Parses `HH:MM` (two-digit minutes, hour 0–24) into minutes after midnight.
fn parse_minutes(s: &str) -> Option<u16> {
    let (h, m) = s.trim().split_once(':')?;
    if h.is_empty() || h.len() > 2 || m.len() != 2 {
        return None;
    }
    let h: u16 = h.parse().ok()?;
    let m: u16 = m.parse().ok()?;
    (h <= 24 && m < 60 && h * 60 + m <= 24 * 60).then_some(h * 60 + m)
}

/// A span of wall time within a day, `HH:MM-HH:MM`, end exclusive (`24:00` allowed as end).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct TimeRange {
    /// Minutes after midnight.
    pub start: u16,
    /// Minutes after midnight, exclusive, greater than `start`.
    pub end: u16,
}

impl TimeRange {
    /// Whether `second_of_day` (seconds after midnight) lies in the range.
    pub fn contains_second(&self, second_of_day: u32) -> bool {
        let s = second_of_day / 60;
        u32::from(self.start) <= s && s < u32::from(self.end)
    }
}

impl FromStr for TimeRange {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("invalid time range {s:?}: write HH:MM-HH:MM, e.g. 07:30-16:30");
        let (a, b) = s.split_once('-').ok_or_else(bad)?;
        let start = parse_minutes(a).filter(|&m| m < 24 * 60).ok_or_else(bad)?;
        let end = parse_minutes(b).ok_or_else(bad)?;
        if end <= start {
            return Err(format!(
                "invalid time range {s:?}: the end must be after the start"
            ));
        }
        Ok(TimeRange { start, end })
    }
}

impl fmt::Display for TimeRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hm = |m: u16| format!("{:02}:{:02}", m / 60, m % 60);
        write!(f, "{}-{}", hm(self.start), hm(self.end))
    }
}
serde_via_str!(TimeRange);

/// The wall-time length of a window: whole minutes, more than zero, at most 24 hours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowLength(pub Duration);

impl WindowLength {
    pub fn hours(h: u64) -> Self {
        WindowLength(Duration::from_secs(h * 3600))
    }

    pub fn minutes(self) -> i64 {
        i64::try_from(self.0.std().as_secs() / 60).unwrap_or(i64::MAX)
    }
}

impl FromStr for WindowLength {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let d: Duration = s.parse()?;
        let secs = d.std().as_secs();
        if d.std().subsec_nanos() != 0 || !secs.is_multiple_of(60) || secs == 0 || secs > 86_400 {
            return Err(format!(
                "invalid window length {s:?}: whole minutes, more than 0 and at most 24h"
            ));
        }
        Ok(WindowLength(d))
    }
}

impl fmt::Display for WindowLength {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.minutes();
        match (m / 60, m % 60) {
            (h, 0) => write!(f, "{h}h"),
            (0, m) => write!(f, "{m}m"),
            (h, m) => write!(f, "{h}h{m}m"),
        }
    }
}
serde_via_str!(WindowLength);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_parse_and_print_back() {
        assert_eq!(
            "07:30-16:30".parse::<TimeRange>().unwrap().to_string(),
            "07:30-16:30"
        );
        assert_eq!("12:45-24:00".parse::<TimeRange>().unwrap().end, 1440);
        assert!("16:30-07:30".parse::<TimeRange>().is_err());
        assert!("25:00".parse::<ClockTime>().is_err());
        assert!("24:00".parse::<ClockTime>().is_err());
        assert!("7:5".parse::<ClockTime>().is_err());
        assert_eq!("7:05".parse::<ClockTime>().unwrap(), ClockTime::hm(7, 5));
        assert_eq!("1h30m".parse::<WindowLength>().unwrap().minutes(), 90);
        assert!("0s".parse::<WindowLength>().is_err());
        assert!("90s".parse::<WindowLength>().is_err());
        assert!("25h".parse::<WindowLength>().is_err());
    }

    #[test]
    fn empty_file_gives_the_defaults() {
        let file = CalendarFile::parse("{}\n", Path::new("c.yaml")).unwrap();
        assert_eq!(file.calendar, CalendarConfig::default());
        assert_eq!(file.database, None);
    }

    #[test]
    fn config_round_trips_through_yaml_shape() {
        let json = serde_json::to_value(CalendarConfig::default()).unwrap();
        assert_eq!(json["primary"]["ordinal"], 3);
        assert_eq!(json["secondary"]["weeks_after_primary"], 1);
        assert_eq!(json["office_hours"]["default"]["friday"][0], "07:30-16:00");
        let back: CalendarConfig = serde_json::from_value(json).unwrap();
        assert_eq!(back, CalendarConfig::default());
    }
}
