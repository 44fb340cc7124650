//! Working time: the office hours of a municipality as intervals, for handling times ("handled
//! within one working day") and for the lunch break that does not page on-call.
//!
//! A day's working intervals are its office-hour ranges in wall time, none on a holiday or a
//! closed day. A gap between two ranges of the same day (the 2014 document's lunch 12:00–12:45)
//! is a *break*: not working time, and not on-call time either.

use super::Calendar;
use chrono::{DateTime, Datelike, Days, NaiveDate, NaiveTime, TimeZone, Utc};

/// The longest stretch [`Calendar::working_ms`] walks day by day (longer spans are cut here).
const MAX_DAYS: u64 = 3 * 366;

impl Calendar {
    /// The working intervals of the local date `date` for `municipality`, in UTC, sorted; empty
    /// on holidays, closed days and days without office hours.
    pub fn working_intervals(
        &self,
        date: NaiveDate,
        municipality: Option<&str>,
    ) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
        if self.holiday(date, municipality).is_some() {
            return Vec::new();
        }
        let tz = self.time_zone();
        let wall = |minutes: u16| {
            let m = u32::from(minutes);
            let time = if m >= 24 * 60 {
                date.succ_opt()?.and_time(NaiveTime::MIN)
            } else {
                date.and_time(NaiveTime::from_hms_opt(m / 60, m % 60, 0)?)
            };
            tz.from_local_datetime(&time)
                .earliest()
                .map(|t| t.with_timezone(&Utc))
        };
        let mut out: Vec<_> = self
            .config()
            .office_hours
            .day(municipality, date.weekday())
            .iter()
            .filter_map(|r| Some((wall(r.start)?, wall(r.end)?)))
            .filter(|(a, b)| a < b)
            .collect();
        out.sort();
        super::merge_intervals(out)
    }

    /// Milliseconds of working time for `municipality` within `[from, to)`.
    pub fn working_ms(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        municipality: Option<&str>,
    ) -> i64 {
        if to <= from {
            return 0;
        }
        let mut total = 0;
        let first = self.local(from).date_naive();
        let last = self.local(to).date_naive();
        for offset in 0..=MAX_DAYS {
            let Some(date) = first.checked_add_days(Days::new(offset)) else {
                break;
            };
            if date > last {
                break;
            }
            for (a, b) in self.working_intervals(date, municipality) {
                let (a, b) = (a.max(from), b.min(to));
                if a < b {
                    total += (b - a).num_milliseconds();
                }
            }
        }
        total
    }

    /// The length of one working day for a fault that began at `t`: the office hours of that
    /// local date; when that date has none (a weekend, a holiday), those of the next date that
    /// has (looking up to 30 days ahead). 0 when none is found.
    pub fn working_day_ms(&self, t: DateTime<Utc>, municipality: Option<&str>) -> i64 {
        let first = self.local(t).date_naive();
        (0..30u64)
            .filter_map(|o| first.checked_add_days(Days::new(o)))
            .map(|d| {
                self.working_intervals(d, municipality)
                    .iter()
                    .map(|(a, b)| (*b - *a).num_milliseconds())
                    .sum::<i64>()
            })
            .find(|&ms| ms > 0)
            .unwrap_or(0)
    }

    /// Whether `t` lies in a break of a working day: after the day's first office-hour range
    /// began and before its last ended, but in none of them (lunch).
    pub fn in_break(&self, t: DateTime<Utc>, municipality: Option<&str>) -> bool {
        let date = self.local(t).date_naive();
        let spans = self.working_intervals(date, municipality);
        match (spans.first(), spans.last()) {
            (Some(first), Some(last)) => {
                first.0 <= t && t < last.1 && !spans.iter().any(|(a, b)| *a <= t && t < *b)
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::calendar::{Calendar, CalendarConfig};
    use chrono::{DateTime, Utc};

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn friday_afternoon_to_monday_morning_is_two_and_a_half_working_hours() {
        let cal = Calendar::from_config(CalendarConfig::default());
        // Friday 13 March 2026 15:00 to Monday 16 March 09:00, Stockholm (UTC+1).
        let from = t("2026-03-13T14:00:00Z");
        let to = t("2026-03-16T08:00:00Z");
        assert_eq!(cal.working_ms(from, to, Some("Tranemo")), 9_000_000);
        // Friday's office hours: 07:30–16:00.
        assert_eq!(cal.working_day_ms(from, Some("Tranemo")), 30_600_000);
        // Saturday: the next working day, Monday 07:30–16:30.
        assert_eq!(
            cal.working_day_ms(t("2026-03-14T10:00:00Z"), None),
            32_400_000
        );
    }

    #[test]
    fn lunch_is_a_break_not_working_time() {
        let yaml = "calendar:\n  office_hours:\n    default:\n      monday: [\"07:45-12:00\", \"12:45-16:30\"]\n";
        let file =
            crate::calendar::CalendarFile::parse(yaml, std::path::Path::new("c.yaml")).unwrap();
        let cal = Calendar::from_config(file.calendar);
        // Monday 16 March 2026, 12:10 local.
        assert!(cal.in_break(t("2026-03-16T11:10:00Z"), None));
        assert!(!cal.in_break(t("2026-03-16T10:10:00Z"), None));
        assert!(!cal.in_break(t("2026-03-16T18:10:00Z"), None));
        // 11:00–13:00 local holds one working hour and a quarter.
        let ms = cal.working_ms(t("2026-03-16T10:00:00Z"), t("2026-03-16T12:00:00Z"), None);
        assert_eq!(ms, 75 * 60_000);
    }
}
