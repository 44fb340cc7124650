//! Office hours at the minute edges, on holidays, closed days, weekends, DST changes, and per
//! municipality with split days.

use chrono::{DateTime, Utc};
use driftvakt_collector::calendar::{Calendar, CalendarFile};
use std::path::Path;

fn utc(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn calendar(yaml: &str) -> Calendar {
    let file = CalendarFile::parse(yaml, Path::new("test.yaml")).unwrap();
    Calendar::from_config(file.calendar)
}

/// (local instant, municipality, expected office hours).
fn check(cal: &Calendar, cases: &[(&str, Option<&str>, bool)]) {
    for &(t, m, want) in cases {
        assert_eq!(cal.is_office_hours(utc(t), m), want, "{t} {m:?}");
    }
}

#[test]
fn default_week_at_the_edges() {
    let cal = calendar("{}");
    check(
        &cal,
        &[
            // Tuesday 2026-03-17 (winter time)
            ("2026-03-17T07:29:59+01:00", None, false),
            ("2026-03-17T07:30:00+01:00", None, true),
            ("2026-03-17T16:29:59+01:00", None, true),
            ("2026-03-17T16:30:00+01:00", None, false),
            // Monday and Thursday
            ("2026-03-16T07:29:00+01:00", None, false),
            ("2026-03-16T07:30:00+01:00", None, true),
            ("2026-03-19T16:29:00+01:00", None, true),
            ("2026-03-19T16:30:00+01:00", None, false),
            // Friday 2026-03-20 closes at 16:00
            ("2026-03-20T07:30:00+01:00", None, true),
            ("2026-03-20T15:59:00+01:00", None, true),
            ("2026-03-20T16:00:00+01:00", None, false),
            // Weekend
            ("2026-03-21T10:00:00+01:00", None, false),
            ("2026-03-22T10:00:00+01:00", None, false),
        ],
    );
}

#[test]
fn holidays_and_the_days_around_them() {
    let cal = calendar("{}");
    check(
        &cal,
        &[
            // Kristi himmelsfärdsdag 2026 is Thursday 14 May: closed all day.
            ("2026-05-14T10:00:00+02:00", None, false),
            // The Friday after is an ordinary working day unless configured closed.
            ("2026-05-15T07:30:00+02:00", None, true),
            ("2026-05-15T15:59:00+02:00", None, true),
            ("2026-05-15T16:00:00+02:00", None, false),
            // Julafton 2026 is a Thursday; Midsommarafton 2026 a Friday.
            ("2026-12-24T10:00:00+01:00", None, false),
            ("2026-06-19T10:00:00+02:00", None, false),
            ("2026-12-23T10:00:00+01:00", None, true),
        ],
    );
}

#[test]
fn dst_change_weekend_uses_wall_time() {
    let cal = calendar("{}");
    check(
        &cal,
        &[
            // Sunday 29 March 2026, the spring change: no office hours.
            ("2026-03-29T10:00:00+02:00", None, false),
            // Monday 30 March: 07:30 is now +02:00 (05:30Z).
            ("2026-03-30T05:29:00Z", None, false),
            ("2026-03-30T05:30:00Z", None, true),
            ("2026-03-30T14:29:00Z", None, true),
            ("2026-03-30T14:30:00Z", None, false),
            // Sunday 25 October and Monday 26 October 2026 (back to +01:00, 07:30 = 06:30Z).
            ("2026-10-25T10:00:00+01:00", None, false),
            ("2026-10-26T06:29:00Z", None, false),
            ("2026-10-26T06:30:00Z", None, true),
        ],
    );
}

#[test]
fn municipalities_split_days_and_closed_days() {
    let cal = calendar(
        r#"
calendar:
  office_hours:
    municipalities:
      Staffanstorp:
        monday: ["07:45-12:00", "12:45-16:30"]
        friday: []
  extra_closed_days:
    - { date: 2026-05-15, name: "Klämdag" }
    - { date: 2026-03-16, name: "Personaldag", municipality: Staffanstorp }
"#,
    );
    let s = Some("Staffanstorp");
    check(
        &cal,
        &[
            ("2026-03-09T07:44:00+01:00", s, false),
            ("2026-03-09T07:45:00+01:00", s, true),
            ("2026-03-09T11:59:00+01:00", s, true),
            ("2026-03-09T12:00:00+01:00", s, false),
            ("2026-03-09T12:44:00+01:00", s, false),
            ("2026-03-09T12:45:00+01:00", s, true),
            ("2026-03-09T16:29:00+01:00", s, true),
            ("2026-03-09T16:30:00+01:00", s, false),
            // Tuesday inherits the default week.
            ("2026-03-10T07:30:00+01:00", s, true),
            // Friday closed for Staffanstorp, open by default.
            ("2026-03-13T10:00:00+01:00", s, false),
            ("2026-03-13T10:00:00+01:00", None, true),
            // The configured Klämdag closes everyone; the Personaldag only Staffanstorp.
            ("2026-05-15T10:00:00+02:00", None, false),
            ("2026-05-15T10:00:00+02:00", s, false),
            ("2026-03-16T10:00:00+01:00", s, false),
            ("2026-03-16T10:00:00+01:00", Some("Burlöv"), true),
        ],
    );
    assert_eq!(
        cal.holiday("2026-05-15".parse().unwrap(), None).as_deref(),
        Some("Klämdag")
    );
}
