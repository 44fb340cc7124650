//! Recurring windows against hand-derived tables: third Tuesdays per month, DST edges to the
//! minute in UTC, holidays on windows, scope matching and interval arithmetic.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use driftvakt_collector::calendar::config::{ClockTime, Ordinal, WeekdayName};
use driftvakt_collector::calendar::{
    Activation, AdhocWindow, Calendar, CalendarConfig, Moment, Subject, Window, WindowKind,
    WindowScope,
};

fn utc(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn calendar() -> Calendar {
    Calendar::from_config(CalendarConfig::default())
}

fn of_kind(windows: &[Window], kind: WindowKind) -> Vec<Window> {
    windows.iter().filter(|w| w.kind == kind).cloned().collect()
}

fn year(cal: &Calendar, y: i32) -> Vec<Window> {
    let from = utc(&format!("{y}-01-01T00:00:00+01:00"));
    let to = utc(&format!("{}-01-01T00:00:00+01:00", y + 1));
    cal.windows(from, to)
}

/// Third Tuesdays, read off a printed calendar.
const THIRD_TUESDAYS: &[(i32, [u32; 12])] = &[
    (2026, [20, 17, 17, 21, 19, 16, 21, 18, 15, 20, 17, 15]),
    (2027, [19, 16, 16, 20, 18, 15, 20, 17, 21, 19, 16, 21]),
    (2028, [18, 15, 21, 18, 16, 20, 18, 15, 19, 17, 21, 19]),
    (2029, [16, 20, 20, 17, 15, 19, 17, 21, 18, 16, 20, 18]),
    (2035, [16, 20, 20, 17, 15, 19, 17, 21, 18, 16, 20, 18]),
];

#[test]
fn primary_windows_fall_on_the_hand_derived_third_tuesdays() {
    let cal = calendar();
    for (y, days) in THIRD_TUESDAYS {
        let primaries = of_kind(&year(&cal, *y), WindowKind::Primary);
        let got: Vec<(u32, u32)> = primaries
            .iter()
            .map(|w| {
                let l = cal.local(w.start);
                (l.month(), l.day())
            })
            .collect();
        let want: Vec<(u32, u32)> = (1..=12).zip(days.iter().copied()).collect();
        assert_eq!(got, want, "{y}");
        assert!(primaries
            .iter()
            .all(|w| w.active && w.scope == WindowScope::All));
    }
}

#[test]
fn secondary_windows_follow_one_week_later_and_are_inactive() {
    let cal = calendar();
    for (y, days) in THIRD_TUESDAYS {
        let secondaries = of_kind(&year(&cal, *y), WindowKind::Secondary);
        assert_eq!(secondaries.len(), 12, "{y}");
        for (w, (month, day)) in secondaries.iter().zip((1..=12).zip(days.iter())) {
            let l = cal.local(w.start);
            assert_eq!((l.month(), l.day()), (month, day + 7), "{y}");
            assert!(!w.active);
        }
    }
}

/// (primary start, primary end, secondary start, secondary end) in UTC. EU summer time:
/// 2026 29 Mar–25 Oct, 2028 26 Mar–29 Oct, 2029 25 Mar–28 Oct.
const DST_EDGES: &[(&str, &str, &str, &str)] = &[
    // March 2026: both before the change (+01:00).
    (
        "2026-03-17T17:00:00Z",
        "2026-03-17T21:00:00Z",
        "2026-03-24T17:00:00Z",
        "2026-03-24T20:00:00Z",
    ),
    // April 2026: summer time (+02:00).
    (
        "2026-04-21T16:00:00Z",
        "2026-04-21T20:00:00Z",
        "2026-04-28T16:00:00Z",
        "2026-04-28T19:00:00Z",
    ),
    // October 2026: primary in summer time, secondary after the 25 October change.
    (
        "2026-10-20T16:00:00Z",
        "2026-10-20T20:00:00Z",
        "2026-10-27T17:00:00Z",
        "2026-10-27T20:00:00Z",
    ),
    // March 2028: primary before the 26 March change, secondary after it.
    (
        "2028-03-21T17:00:00Z",
        "2028-03-21T21:00:00Z",
        "2028-03-28T16:00:00Z",
        "2028-03-28T19:00:00Z",
    ),
    // October 2028: both before the 29 October change.
    (
        "2028-10-17T16:00:00Z",
        "2028-10-17T20:00:00Z",
        "2028-10-24T16:00:00Z",
        "2028-10-24T19:00:00Z",
    ),
    // March 2029: primary 20 March before the 25 March change, secondary 27 March after it.
    (
        "2029-03-20T17:00:00Z",
        "2029-03-20T21:00:00Z",
        "2029-03-27T16:00:00Z",
        "2029-03-27T19:00:00Z",
    ),
    // October 2029: both before the 28 October change.
    (
        "2029-10-16T16:00:00Z",
        "2029-10-16T20:00:00Z",
        "2029-10-23T16:00:00Z",
        "2029-10-23T19:00:00Z",
    ),
];

#[test]
fn windows_keep_wall_time_across_dst_changes() {
    let cal = calendar();
    for &(ps, pe, ss, se) in DST_EDGES {
        let p = utc(ps);
        let ws = cal.windows(p, p + chrono::Duration::days(8));
        let primary = &of_kind(&ws, WindowKind::Primary)[0];
        let secondary = &of_kind(&ws, WindowKind::Secondary)[0];
        assert_eq!((primary.start, primary.end), (utc(ps), utc(pe)), "{ps}");
        assert_eq!((secondary.start, secondary.end), (utc(ss), utc(se)), "{ss}");
        for w in [primary, secondary] {
            assert_eq!(cal.local(w.start).format("%H:%M").to_string(), "18:00");
        }
    }
}

#[test]
fn windows_on_holidays_carry_the_swedish_name() {
    let cal = calendar();
    let named: Vec<(String, Option<String>)> = [2029, 2030, 2035]
        .iter()
        .flat_map(|&y| of_kind(&year(&cal, y), WindowKind::Secondary))
        .filter(|w| w.holiday.is_some())
        .map(|w| (cal.local(w.start).date_naive().to_string(), w.holiday))
        .collect();
    assert_eq!(
        named,
        vec![
            ("2029-12-25".to_string(), Some("Juldagen".to_string())),
            ("2030-12-24".to_string(), Some("Julafton".to_string())),
            ("2035-12-25".to_string(), Some("Juldagen".to_string())),
        ]
    );
}

fn adhoc(id: i64, start: &str, end: &str, scope: WindowScope) -> AdhocWindow {
    AdhocWindow {
        id,
        start: utc(start),
        end: utc(end),
        scope,
        reason: "Byte av kärnswitch".into(),
        created_by: "anna".into(),
        created_at: utc("2026-01-01T08:00:00Z"),
        cancelled_by: None,
        cancelled_at: None,
    }
}

fn activation(y: i32, m: u32, d: u32) -> Activation {
    Activation {
        date: date(y, m, d),
        activated_by: "anna".into(),
        activated_at: utc("2026-01-01T08:00:00Z"),
    }
}

#[test]
fn active_intervals_are_merged_clipped_and_scoped() {
    let cal = Calendar::new(
        CalendarConfig::default(),
        vec![activation(2026, 3, 24)],
        vec![
            // Overlaps the primary window of 17 March and extends it by an hour.
            adhoc(
                1,
                "2026-03-17T20:00:00Z",
                "2026-03-17T22:00:00Z",
                WindowScope::Device("sw-1".into()),
            ),
            adhoc(
                2,
                "2026-03-05T08:00:00Z",
                "2026-03-05T09:00:00Z",
                WindowScope::Site("Kommunhuset".into()),
            ),
        ],
    );
    let from = utc("2026-03-01T00:00:00Z");
    let to = utc("2026-03-24T18:00:00Z"); // clips the activated secondary window
    let sw1 = Subject {
        device: Some("sw-1"),
        site: Some("Stadshuset"),
        ..Subject::default()
    };
    assert_eq!(
        cal.active_windows_for(&sw1, from, to),
        vec![
            (utc("2026-03-17T17:00:00Z"), utc("2026-03-17T22:00:00Z")),
            (utc("2026-03-24T17:00:00Z"), utc("2026-03-24T18:00:00Z")),
        ]
    );
    let other = Subject {
        device: Some("sw-2"),
        site: Some("Kommunhuset"),
        ..Subject::default()
    };
    assert_eq!(
        cal.active_windows_for(&other, from, to),
        vec![
            (utc("2026-03-05T08:00:00Z"), utc("2026-03-05T09:00:00Z")),
            (utc("2026-03-17T17:00:00Z"), utc("2026-03-17T21:00:00Z")),
            (utc("2026-03-24T17:00:00Z"), utc("2026-03-24T18:00:00Z")),
        ]
    );
}

#[test]
fn a_year_of_default_windows_is_twelve_primary_intervals() {
    let cal = calendar();
    let from = utc("2026-01-01T00:00:00+01:00");
    let to = utc("2027-01-01T00:00:00+01:00");
    let spans = cal.active_windows_for(&Subject::ANY, from, to);
    assert_eq!(spans.len(), 12);
    let total: i64 = spans.iter().map(|(s, e)| (*e - *s).num_minutes()).sum();
    assert_eq!(total, 12 * 4 * 60);
}

#[test]
fn at_prefers_windows_then_office_hours_then_on_call() {
    let cal = Calendar::new(
        CalendarConfig::default(),
        vec![activation(2030, 12, 24)],
        vec![],
    );
    let any = Subject::ANY;
    match cal.at(utc("2026-03-17T19:00:00+01:00"), &any) {
        Moment::InWindow(w) => assert_eq!(w.kind, WindowKind::Primary),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        cal.at(utc("2026-03-17T22:00:00+01:00"), &any),
        Moment::OnCall { holiday: None }
    );
    assert_eq!(
        cal.at(utc("2026-03-17T10:00:00+01:00"), &any),
        Moment::OfficeHours
    );
    assert_eq!(
        cal.at(utc("2026-12-24T10:00:00+01:00"), &any),
        Moment::OnCall {
            holiday: Some("Julafton".into())
        }
    );
    match cal.at(utc("2030-12-24T18:30:00+01:00"), &any) {
        Moment::InWindow(w) => {
            assert_eq!(w.kind, WindowKind::Secondary);
            assert_eq!(w.holiday.as_deref(), Some("Julafton"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn next_window_start_skips_inactive_and_out_of_scope_windows() {
    let cal = Calendar::new(
        CalendarConfig::default(),
        vec![],
        vec![adhoc(
            7,
            "2026-03-19T07:00:00Z",
            "2026-03-19T08:00:00Z",
            WindowScope::Municipality("Tranemo".into()),
        )],
    );
    let after_primary = utc("2026-03-17T21:00:00Z");
    let next = cal.next_window_start(after_primary, &Subject::ANY).unwrap();
    assert_eq!(
        (next.kind, next.start),
        (WindowKind::Primary, utc("2026-04-21T16:00:00Z"))
    );
    let tranemo = Subject {
        municipality: Some("Tranemo"),
        ..Subject::default()
    };
    let next = cal.next_window_start(after_primary, &tranemo).unwrap();
    assert_eq!((next.kind, next.id), (WindowKind::Adhoc, Some(7)));
    // Strictly after: at the start of a window, the next one is a month later.
    let next = cal
        .next_window_start(utc("2026-04-21T16:00:00Z"), &Subject::ANY)
        .unwrap();
    assert_eq!(next.start, utc("2026-05-19T16:00:00Z"));
}

#[test]
fn other_rules_last_weekday_and_own_secondary_ordinal() {
    let mut config = CalendarConfig::default();
    config.primary.ordinal = Ordinal::Last;
    config.primary.weekday = WeekdayName(chrono::Weekday::Thu);
    config.primary.start = ClockTime::hm(19, 0);
    config.secondary = serde_json::from_value(serde_json::json!({
        "ordinal": 1, "weekday": "monday", "start": "17:00", "length": "2h"
    }))
    .unwrap();
    let cal = Calendar::from_config(config);
    let ws = cal.windows(utc("2026-12-01T00:00:00Z"), utc("2027-01-01T00:00:00Z"));
    let starts: Vec<String> = ws.iter().map(|w| cal.local(w.start).to_rfc3339()).collect();
    assert_eq!(
        starts,
        vec!["2026-12-07T17:00:00+01:00", "2026-12-31T19:00:00+01:00"]
    );
    assert_eq!(ws[1].holiday.as_deref(), Some("Nyårsafton"));
}

#[test]
fn a_start_in_the_spring_gap_moves_to_the_change() {
    let mut config = CalendarConfig::default();
    config.primary.ordinal = Ordinal::Last;
    config.primary.weekday = WeekdayName(chrono::Weekday::Sun);
    config.primary.start = ClockTime::hm(2, 30);
    let cal = Calendar::from_config(config.clone());
    let march = cal.primary_window(2026, 3);
    assert_eq!(march.start, utc("2026-03-29T01:00:00Z")); // 03:00+02:00
    assert_eq!(march.end, utc("2026-03-29T04:30:00Z")); // 06:30+02:00
    let october = cal.primary_window(2026, 10);
    assert_eq!(october.start, utc("2026-10-25T00:30:00Z")); // the first 02:30
    assert_eq!(october.end, utc("2026-10-25T05:30:00Z")); // 06:30+01:00: five real hours
}
