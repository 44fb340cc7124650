//! Unit tests of the calendar rules that need the whole [`Calendar`].

use super::*;

fn utc(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn default_calendar() -> Calendar {
    Calendar::from_config(CalendarConfig::default())
}

/// Why the rule is "ordinal weekday of the month" and not a cron string.
///
/// "Third Tuesday" is the Tuesday on the 15th–21st. The tempting cron line `0 18 15-21 * 2` is
/// wrong in two different ways: classic (Vixie) cron ORs the day-of-month and day-of-week fields
/// when both are restricted, so it fires on the 15th–21st *and* on every Tuesday; and the `cron`
/// crate, which ANDs the two fields, counts numeric weekdays from Sunday = 1, so its `2` is
/// Monday and the line means "a Monday on the 15th–21st". Our rule has neither trap: this test
/// asserts exactly one primary window per month, always a Tuesday on the 15th–21st, 2026–2035.
#[test]
fn third_tuesday_rule_gives_one_primary_window_per_month_on_the_15th_to_21st() {
    let cal = default_calendar();
    let windows = cal.windows(utc("2026-01-01T00:00:00Z"), utc("2036-01-01T00:00:00Z"));
    let primaries: Vec<_> = windows
        .iter()
        .filter(|w| w.kind == WindowKind::Primary)
        .collect();
    assert_eq!(primaries.len(), 120);
    let mut months = std::collections::BTreeSet::new();
    for w in primaries {
        let local = cal.local(w.start);
        assert_eq!(local.weekday(), chrono::Weekday::Tue, "{local}");
        assert!((15..=21).contains(&local.day()), "{local}");
        assert_eq!(local.format("%H:%M").to_string(), "18:00");
        assert_eq!(w.end - w.start, chrono::Duration::hours(4));
        assert!(
            months.insert((local.year(), local.month())),
            "two in one month: {local}"
        );
    }
    let secondaries = windows.iter().filter(|w| w.kind == WindowKind::Secondary);
    for w in secondaries {
        let local = cal.local(w.start);
        assert_eq!(local.weekday(), chrono::Weekday::Tue);
        assert!((22..=28).contains(&local.day()), "{local}");
        assert!(!w.active);
    }
}

#[test]
fn merge_joins_overlapping_and_touching_intervals() {
    let i = |a: &str, b: &str| (utc(a), utc(b));
    let merged = merge_intervals(vec![
        i("2026-01-01T03:00:00Z", "2026-01-01T04:00:00Z"),
        i("2026-01-01T01:00:00Z", "2026-01-01T02:00:00Z"),
        i("2026-01-01T02:00:00Z", "2026-01-01T02:30:00Z"),
        i("2026-01-01T03:30:00Z", "2026-01-01T03:45:00Z"),
    ]);
    assert_eq!(
        merged,
        vec![
            i("2026-01-01T01:00:00Z", "2026-01-01T02:30:00Z"),
            i("2026-01-01T03:00:00Z", "2026-01-01T04:00:00Z"),
        ]
    );
}

#[test]
fn secondary_on_a_date_only_where_the_rules_put_one() {
    let cal = default_calendar();
    let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day).unwrap();
    assert!(cal.secondary_window_on(d(2026, 3, 24)).is_some());
    assert!(cal.secondary_window_on(d(2026, 3, 17)).is_none());
    assert!(cal.secondary_window_on(d(2026, 3, 31)).is_none());
    // December 2029: primary on the 18th, secondary on Juldagen.
    let w = cal.secondary_window_on(d(2029, 12, 25)).unwrap();
    assert_eq!(w.holiday.as_deref(), Some("Juldagen"));
}

#[test]
fn scopes_parse_print_and_match() {
    for s in [
        "all",
        "municipality:Tranemo",
        "site:Kommunhuset",
        "device:sw-1",
        "service:mail",
    ] {
        assert_eq!(s.parse::<WindowScope>().unwrap().to_string(), s);
    }
    for bad in ["", "site:", "room:1", "All"] {
        assert!(bad.parse::<WindowScope>().is_err(), "{bad:?}");
    }
    let subject = Subject {
        device: Some("sw-1"),
        municipality: Some("Tranemo"),
        ..Subject::default()
    };
    assert!(WindowScope::All.applies_to(&subject));
    assert!(WindowScope::Device("sw-1".into()).applies_to(&subject));
    assert!(WindowScope::Municipality("Tranemo".into()).applies_to(&subject));
    assert!(!WindowScope::Municipality("Ulricehamn".into()).applies_to(&subject));
    assert!(!WindowScope::Site("Kommunhuset".into()).applies_to(&subject));
}
