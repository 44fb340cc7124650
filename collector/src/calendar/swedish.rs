//! Swedish names of months and weekdays, and dates, times and durations as Swedish text, for
//! everything users read (notices, reports, the calendar CLI). One list, so every text spells
//! them alike.

use chrono::{DateTime, Datelike, Timelike, Utc, Weekday};
use chrono_tz::Tz;

/// Month names, January first.
pub const MONTHS: [&str; 12] = [
    "januari",
    "februari",
    "mars",
    "april",
    "maj",
    "juni",
    "juli",
    "augusti",
    "september",
    "oktober",
    "november",
    "december",
];

/// The Swedish name of month `month0` (0 = januari).
pub fn month(month0: u32) -> &'static str {
    MONTHS[month0 as usize % 12]
}

/// The Swedish name of a weekday, lower case: "tisdag".
pub fn weekday(w: Weekday) -> &'static str {
    match w {
        Weekday::Mon => "måndag",
        Weekday::Tue => "tisdag",
        Weekday::Wed => "onsdag",
        Weekday::Thu => "torsdag",
        Weekday::Fri => "fredag",
        Weekday::Sat => "lördag",
        Weekday::Sun => "söndag",
    }
}

/// `t` in `tz` as Swedish text: "tisdag 17 mars 2026 kl. 18.00".
pub fn date_time_sv(t: DateTime<Utc>, tz: Tz) -> String {
    let l = t.with_timezone(&tz);
    format!("{} kl. {:02}.{:02}", date_sv(t, tz), l.hour(), l.minute())
}

/// `t`'s date in `tz`: "tisdag 17 mars 2026".
pub fn date_sv(t: DateTime<Utc>, tz: Tz) -> String {
    let l = t.with_timezone(&tz);
    format!(
        "{} {} {} {}",
        weekday_sv(l.weekday()),
        l.day(),
        month(l.month0()),
        l.year()
    )
}

/// The time of day of `t` in `tz`: "18.00".
pub fn time_sv(t: DateTime<Utc>, tz: Tz) -> String {
    let l = t.with_timezone(&tz);
    format!("{:02}.{:02}", l.hour(), l.minute())
}

/// The Swedish name of a weekday (see [`weekday`]).
pub fn weekday_sv(w: Weekday) -> &'static str {
    weekday(w)
}

/// A span as Swedish text: "1 timme 23 minuter", "2 dagar 3 timmar", "mindre än en minut".
pub fn duration_sv(d: chrono::Duration) -> String {
    duration_minutes_sv(d.num_minutes())
}

/// `minutes` as Swedish text (see [`duration_sv`]).
pub fn duration_minutes_sv(minutes: i64) -> String {
    if minutes < 1 {
        return "mindre än en minut".to_string();
    }
    let (days, hours, mins) = (minutes / 1440, minutes / 60 % 24, minutes % 60);
    let mut parts = Vec::new();
    if days > 0 {
        parts.push(unit(days, "dag", "dagar"));
    }
    if hours > 0 {
        parts.push(unit(hours, "timme", "timmar"));
    }
    if mins > 0 && days == 0 {
        parts.push(unit(mins, "minut", "minuter"));
    }
    parts.join(" ")
}

fn unit(n: i64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}
