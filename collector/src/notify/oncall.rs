//! On-call ("it-beredskap"): when the next office hours start (alerts that do not page wait
//! for it), and the on-call cases, recorded when a page is sent outside office hours, because
//! they are billed and followed up per tertial (Jan–Apr, May–Aug, Sep–Dec).

pub use crate::store::OncallCase;

use crate::calendar::Calendar;
use chrono::{DateTime, Datelike, Days, NaiveTime, TimeZone, Utc};
use serde::Serialize;

/// On-call cases in one tertial.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TertialCount {
    pub year: i32,
    /// 1 (Jan–Apr), 2 (May–Aug) or 3 (Sep–Dec).
    pub tertial: u8,
    pub count: u64,
}

/// The current tertial (Europe/Stockholm) as a period (the on-call gauge's period).
pub fn current_tertial(now: DateTime<Utc>) -> crate::availability::Period {
    let local = now.with_timezone(&chrono_tz::Europe::Stockholm);
    let t = tertial_of_month(local.month());
    crate::availability::Period::parse(&format!("{}-T{t}", local.year())).expect("a valid tertial")
}

/// The tertial (1–3) of a month (1–12).
pub fn tertial_of_month(month: u32) -> u8 {
    ((month - 1) / 4 + 1) as u8
}

/// Counts `cases` per tertial of their local (calendar time zone) date, in order.
pub fn count_per_tertial(cases: &[OncallCase], calendar: &Calendar) -> Vec<TertialCount> {
    let mut out: Vec<TertialCount> = Vec::new();
    let mut keys: Vec<(i32, u8)> = cases
        .iter()
        .map(|c| {
            let l = calendar.local(c.at);
            (l.year(), tertial_of_month(l.month()))
        })
        .collect();
    keys.sort();
    for (year, tertial) in keys {
        match out.last_mut() {
            Some(t) if t.year == year && t.tertial == tertial => t.count += 1,
            _ => out.push(TertialCount {
                year,
                tertial,
                count: 1,
            }),
        }
    }
    out
}

/// The first instant at or after `t` that is within office hours for `municipality`, looking
/// up to 30 days ahead (holidays and closed days included).
pub fn next_office_start(
    calendar: &Calendar,
    t: DateTime<Utc>,
    municipality: Option<&str>,
) -> Option<DateTime<Utc>> {
    if calendar.is_office_hours(t, municipality) {
        return Some(t);
    }
    let tz = calendar.time_zone();
    let first = calendar.local(t).date_naive();
    for offset in 0..30u64 {
        let date = first.checked_add_days(Days::new(offset))?;
        if calendar.holiday(date, municipality).is_some() {
            continue;
        }
        let mut ranges = calendar
            .config()
            .office_hours
            .day(municipality, date.weekday())
            .to_vec();
        ranges.sort();
        for r in ranges {
            let time =
                NaiveTime::from_hms_opt(u32::from(r.start) / 60, u32::from(r.start) % 60, 0)?;
            let Some(start) = tz.from_local_datetime(&date.and_time(time)).earliest() else {
                continue;
            };
            let start = start.with_timezone(&Utc);
            if start > t {
                return Some(start);
            }
        }
    }
    None
}
