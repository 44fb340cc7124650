//! Swedish holidays for ten years against a published calendar, and a full year listed.

use chrono::NaiveDate;
use driftvakt_collector::calendar::{easter_sunday, swedish_holidays};

fn date(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

/// (year, Påskdagen, Midsommardagen, Alla helgons dag), written by hand from a printed calendar.
const TABLE: &[(i32, &str, &str, &str)] = &[
    (2026, "2026-04-05", "2026-06-20", "2026-10-31"),
    (2027, "2027-03-28", "2027-06-26", "2027-11-06"),
    (2028, "2028-04-16", "2028-06-24", "2028-11-04"),
    (2029, "2029-04-01", "2029-06-23", "2029-11-03"),
    (2030, "2030-04-21", "2030-06-22", "2030-11-02"),
    (2031, "2031-04-13", "2031-06-21", "2031-11-01"),
    (2032, "2032-03-28", "2032-06-26", "2032-11-06"),
    (2033, "2033-04-17", "2033-06-25", "2033-11-05"),
    (2034, "2034-04-09", "2034-06-24", "2034-11-04"),
    (2035, "2035-03-25", "2035-06-23", "2035-11-03"),
];

#[test]
fn easter_midsummer_and_all_saints_for_ten_years() {
    for &(year, easter, midsummer, all_saints) in TABLE {
        assert_eq!(easter_sunday(year), date(easter), "{year}");
        let h = swedish_holidays(year);
        assert_eq!(h[&date(easter)], "Påskdagen", "{year}");
        assert_eq!(h[&date(midsummer)], "Midsommardagen", "{year}");
        assert_eq!(h[&date(all_saints)], "Alla helgons dag", "{year}");
        let e = date(easter);
        let offset = |days: i64| e + chrono::Duration::days(days);
        assert_eq!(h[&offset(-2)], "Långfredagen", "{year}");
        assert_eq!(h[&offset(1)], "Annandag påsk", "{year}");
        assert_eq!(h[&offset(39)], "Kristi himmelsfärdsdag", "{year}");
        assert_eq!(h[&offset(49)], "Pingstdagen", "{year}");
        assert_eq!(
            h[&(date(midsummer) - chrono::Duration::days(1))],
            "Midsommarafton"
        );
        assert_eq!(h.len(), 16, "{year}");
    }
}

#[test]
fn all_of_2027() {
    let got: Vec<(String, &str)> = swedish_holidays(2027)
        .into_iter()
        .map(|(d, n)| (d.to_string(), n))
        .collect();
    let want = [
        ("2027-01-01", "Nyårsdagen"),
        ("2027-01-06", "Trettondedag jul"),
        ("2027-03-26", "Långfredagen"),
        ("2027-03-28", "Påskdagen"),
        ("2027-03-29", "Annandag påsk"),
        ("2027-05-01", "Första maj"),
        ("2027-05-06", "Kristi himmelsfärdsdag"),
        ("2027-05-16", "Pingstdagen"),
        ("2027-06-06", "Nationaldagen"),
        ("2027-06-25", "Midsommarafton"),
        ("2027-06-26", "Midsommardagen"),
        ("2027-11-06", "Alla helgons dag"),
        ("2027-12-24", "Julafton"),
        ("2027-12-25", "Juldagen"),
        ("2027-12-26", "Annandag jul"),
        ("2027-12-31", "Nyårsafton"),
    ];
    let want: Vec<(String, &str)> = want.iter().map(|(d, n)| (d.to_string(), *n)).collect();
    assert_eq!(got, want);
}
