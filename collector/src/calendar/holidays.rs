//! Swedish public holidays ("allmänna helgdagar") and the three eves that municipal IT treats as
//! holidays (Midsommarafton, Julafton, Nyårsafton), computed for any year. Easter is computed with
//! the anonymous Gregorian algorithm; every movable holiday follows from it or from a weekday
//! rule (Midsommardagen: the Saturday 20–26 June; Alla helgons dag: the Saturday 31 Oct–6 Nov).

use chrono::{Datelike, Days, NaiveDate, Weekday};
use std::collections::BTreeMap;

/// Easter Sunday of `year` (Gregorian calendar), by the anonymous Gregorian algorithm
/// (Meeus/Jones/Butcher).
pub fn easter_sunday(year: i32) -> NaiveDate {
    let a = year % 19;
    let b = year / 100;
    let c = year % 100;
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    NaiveDate::from_ymd_opt(year, month as u32, day as u32).expect("Easter is a valid date")
}

/// Swedish public holidays of `year` plus Midsommarafton, Julafton and Nyårsafton, by date, with
/// their Swedish names. Where two fall on the same date both names are given.
pub fn swedish_holidays(year: i32) -> BTreeMap<NaiveDate, &'static str> {
    let easter = easter_sunday(year);
    let fixed = |month, day| NaiveDate::from_ymd_opt(year, month, day).expect("valid date");
    let after_easter = |days: i64| {
        easter
            .checked_add_signed(chrono::Duration::days(days))
            .expect("valid date")
    };
    let midsummer_day = first_weekday_from(fixed(6, 20), Weekday::Sat);
    let entries = [
        (fixed(1, 1), "Nyårsdagen"),
        (fixed(1, 6), "Trettondedag jul"),
        (after_easter(-2), "Långfredagen"),
        (easter, "Påskdagen"),
        (after_easter(1), "Annandag påsk"),
        (fixed(5, 1), "Första maj"),
        (after_easter(39), "Kristi himmelsfärdsdag"),
        (fixed(6, 6), "Nationaldagen"),
        (after_easter(49), "Pingstdagen"),
        (
            midsummer_day.pred_opt().expect("valid date"),
            "Midsommarafton",
        ),
        (midsummer_day, "Midsommardagen"),
        (
            first_weekday_from(fixed(10, 31), Weekday::Sat),
            "Alla helgons dag",
        ),
        (fixed(12, 24), "Julafton"),
        (fixed(12, 25), "Juldagen"),
        (fixed(12, 26), "Annandag jul"),
        (fixed(12, 31), "Nyårsafton"),
    ];
    let mut map: BTreeMap<NaiveDate, &'static str> = BTreeMap::new();
    for (date, name) in entries {
        let merged = map
            .get(&date)
            .map_or(name, |&existing| combined(existing, name));
        map.insert(date, merged);
    }
    map
}

/// The Swedish name of the holiday on `date`, if it is one. Each thread keeps the last year it
/// asked about: the availability figures ask about every day of a period, for every device.
pub fn swedish_holiday(date: NaiveDate) -> Option<&'static str> {
    thread_local! {
        static YEAR: std::cell::RefCell<Option<(i32, BTreeMap<NaiveDate, &'static str>)>> =
            const { std::cell::RefCell::new(None) };
    }
    YEAR.with_borrow_mut(|cached| match cached {
        Some((year, days)) if *year == date.year() => days.get(&date).copied(),
        _ => {
            let days = swedish_holidays(date.year());
            let found = days.get(&date).copied();
            *cached = Some((date.year(), days));
            found
        }
    })
}

/// The first `weekday` on or after `date`.
pub(crate) fn first_weekday_from(date: NaiveDate, weekday: Weekday) -> NaiveDate {
    let ahead = (7 + weekday.num_days_from_monday() - date.weekday().num_days_from_monday()) % 7;
    date.checked_add_days(Days::new(u64::from(ahead)))
        .expect("valid date")
}

/// Names for the only two coincidences the rules allow: Ascension Day on 1 May (Easter on
/// 23 March) and Whitsunday on 6 June (Easter on 18 April).
fn combined(first: &'static str, second: &'static str) -> &'static str {
    match (first, second) {
        ("Första maj", "Kristi himmelsfärdsdag") => "Första maj och Kristi himmelsfärdsdag",
        ("Nationaldagen", "Pingstdagen") => "Nationaldagen och Pingstdagen",
        _ => first,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn easter_matches_known_dates_across_centuries() {
        assert_eq!(easter_sunday(1818), date(1818, 3, 22)); // earliest possible
        assert_eq!(easter_sunday(1943), date(1943, 4, 25)); // latest possible
        assert_eq!(easter_sunday(2000), date(2000, 4, 23));
        assert_eq!(easter_sunday(2008), date(2008, 3, 23));
        assert_eq!(easter_sunday(2100), date(2100, 3, 28));
    }

    #[test]
    fn coinciding_holidays_keep_both_names() {
        // Easter 2008 was 23 March, so Ascension Day fell on 1 May.
        assert_eq!(
            swedish_holidays(2008)[&date(2008, 5, 1)],
            "Första maj och Kristi himmelsfärdsdag"
        );
        // Easter 2049 is 18 April, so Whitsunday falls on 6 June.
        assert_eq!(easter_sunday(2049), date(2049, 4, 18));
        assert_eq!(
            swedish_holidays(2049)[&date(2049, 6, 6)],
            "Nationaldagen och Pingstdagen"
        );
    }

    #[test]
    fn sixteen_days_in_an_ordinary_year() {
        let h = swedish_holidays(2026);
        assert_eq!(h.len(), 16);
        assert_eq!(h[&date(2026, 6, 19)], "Midsommarafton");
        assert_eq!(h[&date(2026, 5, 14)], "Kristi himmelsfärdsdag");
    }

    #[test]
    fn one_day_at_a_time_across_years_agrees_with_the_year() {
        // The per-thread cache of one year must follow the asked date's year.
        for d in [
            date(2026, 12, 24),
            date(2027, 12, 24),
            date(2008, 5, 1),
            date(2026, 5, 14),
            date(2027, 5, 14),
            date(2026, 12, 23),
        ] {
            let want = swedish_holidays(d.year()).get(&d).copied();
            assert_eq!(swedish_holiday(d), want, "{d}");
        }
        assert_eq!(
            swedish_holiday(date(2027, 5, 6)),
            Some("Kristi himmelsfärdsdag")
        );
        assert_eq!(swedish_holiday(date(2026, 5, 6)), None);
    }
}
