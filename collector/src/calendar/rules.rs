//! Recurring service windows as rules ("the third Tuesday of the month"), not cron strings, and
//! the conversion of wall time on a date to UTC instants through the tz database.
//!
//! Wall time is what the rules speak: a window is `length` of wall time from `start` on its date,
//! so its UTC instants differ across a DST change. A start inside the spring-forward gap moves to
//! the first valid instant (the moment of the change); an ambiguous time (autumn, the repeated
//! hour) takes the earlier of the two instants.

use super::config::{ClockTime, Ordinal, SecondaryPlacement, WindowLength};
use chrono::offset::LocalResult;
use chrono::{
    DateTime, Datelike, Days, FixedOffset, NaiveDate, NaiveDateTime, Offset, TimeZone, Utc, Weekday,
};
use chrono_tz::Tz;

/// The `ordinal` `weekday` of the month `year`-`month`.
pub fn nth_weekday_of_month(
    year: i32,
    month: u32,
    ordinal: Ordinal,
    weekday: Weekday,
) -> NaiveDate {
    match ordinal.number() {
        Some(n) => NaiveDate::from_weekday_of_month_opt(year, month, weekday, n)
            .expect("occurrences 1-4 of a weekday exist in every month"),
        None => last_weekday_of_month(year, month, weekday),
    }
}

fn last_weekday_of_month(year: i32, month: u32, weekday: Weekday) -> NaiveDate {
    let first_of_next = if month == 12 {
        NaiveDate::from_ymd_opt(year + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(year, month + 1, 1)
    }
    .expect("valid date");
    let last = first_of_next.pred_opt().expect("valid date");
    let back = (7 + last.weekday().num_days_from_monday() - weekday.num_days_from_monday()) % 7;
    last.checked_sub_days(Days::new(u64::from(back)))
        .expect("valid date")
}

/// The date of the secondary window belonging to the primary window on `primary`.
pub fn secondary_date(primary: NaiveDate, placement: SecondaryPlacement) -> NaiveDate {
    match placement {
        SecondaryPlacement::DaysAfterPrimary(days) => primary
            .checked_add_days(Days::new(u64::from(days)))
            .expect("valid date"),
        SecondaryPlacement::OrdinalWeekday { ordinal, weekday } => {
            nth_weekday_of_month(primary.year(), primary.month(), ordinal, weekday)
        }
    }
}

/// The UTC span of a window of `length` wall time from `start` on `date` in `tz`.
pub fn wall_span(
    tz: Tz,
    date: NaiveDate,
    start: ClockTime,
    length: WindowLength,
) -> (DateTime<Utc>, DateTime<Utc>) {
    let local_start = date.and_time(start.0);
    let local_end = local_start + chrono::Duration::minutes(length.minutes());
    (resolve_local(tz, local_start), resolve_local(tz, local_end))
}

/// The instant a wall time in `tz` denotes: the earlier one when ambiguous, the first valid
/// instant after the gap when it does not exist.
pub fn resolve_local(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) => t.with_timezone(&Utc),
        LocalResult::Ambiguous(a, b) => a.min(b).with_timezone(&Utc),
        LocalResult::None => end_of_gap(tz, local),
    }
}

/// The instant the clocks jump over `local` (which lies in a gap): found by bisection between
/// `local` read with the offset after the gap (before the jump) and with the offset before it
/// (after the jump).
fn end_of_gap(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    let offset_at =
        |t: DateTime<Utc>| -> FixedOffset { tz.offset_from_utc_datetime(&t.naive_utc()).fix() };
    let as_utc = local.and_utc();
    let before = offset_at(as_utc - chrono::Duration::days(2));
    let after = offset_at(as_utc + chrono::Duration::days(2));
    let mut lo = as_utc - chrono::Duration::seconds(i64::from(after.local_minus_utc()));
    let mut hi = as_utc - chrono::Duration::seconds(i64::from(before.local_minus_utc()));
    if lo >= hi {
        return hi;
    }
    while hi - lo > chrono::Duration::seconds(1) {
        let mid = lo + (hi - lo) / 2;
        if offset_at(mid) == before {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    hi
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveTime;

    fn local(y: i32, m: u32, d: u32, h: u32, min: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(y, m, d)
            .unwrap()
            .and_time(NaiveTime::from_hms_opt(h, min, 0).unwrap())
    }

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn gap_moves_to_the_change_and_ambiguity_takes_the_earlier() {
        let tz = chrono_tz::Europe::Stockholm;
        // 29 March 2026: 02:00 jumps to 03:00 (01:00Z).
        assert_eq!(
            resolve_local(tz, local(2026, 3, 29, 2, 30)),
            utc("2026-03-29T01:00:00Z")
        );
        assert_eq!(
            resolve_local(tz, local(2026, 3, 29, 2, 0)),
            utc("2026-03-29T01:00:00Z")
        );
        assert_eq!(
            resolve_local(tz, local(2026, 3, 29, 3, 0)),
            utc("2026-03-29T01:00:00Z")
        );
        // 25 October 2026: 02:30 happens twice, first at 00:30Z.
        assert_eq!(
            resolve_local(tz, local(2026, 10, 25, 2, 30)),
            utc("2026-10-25T00:30:00Z")
        );
    }

    #[test]
    fn a_window_across_the_spring_change_keeps_its_wall_times() {
        let tz = chrono_tz::Europe::Stockholm;
        let date = NaiveDate::from_ymd_opt(2026, 3, 29).unwrap();
        let (s, e) = wall_span(tz, date, ClockTime::hm(1, 0), WindowLength::hours(3));
        assert_eq!(s, utc("2026-03-29T00:00:00Z")); // 01:00+01:00
        assert_eq!(e, utc("2026-03-29T02:00:00Z")); // 04:00+02:00: two real hours
    }

    #[test]
    fn last_and_numbered_ordinals() {
        let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day).unwrap();
        assert_eq!(
            nth_weekday_of_month(2026, 3, Ordinal::Last, Weekday::Sun),
            d(2026, 3, 29)
        );
        assert_eq!(
            nth_weekday_of_month(2026, 10, Ordinal::Last, Weekday::Sun),
            d(2026, 10, 25)
        );
        assert_eq!(
            nth_weekday_of_month(2026, 12, Ordinal::Last, Weekday::Thu),
            d(2026, 12, 31)
        );
        assert_eq!(
            nth_weekday_of_month(2026, 12, Ordinal::First, Weekday::Tue),
            d(2026, 12, 1)
        );
        assert_eq!(
            nth_weekday_of_month(2026, 12, Ordinal::Fourth, Weekday::Tue),
            d(2026, 12, 22)
        );
    }
}
