//! Calendar configuration errors name the file, line and key; valid files parse to the rules.

use driftvakt_collector::calendar::config::{Ordinal, SecondaryPlacement};
use driftvakt_collector::calendar::CalendarFile;
use std::path::Path;

/// (YAML, expected "file:line:col: key" prefix, expected words in the message).
const BAD: &[(&str, &str, &str)] = &[
    (
        "calendar:\n  primary:\n    start: \"25:00\"\n",
        "cal.yaml:3:12: calendar.primary.start: ",
        "invalid time \"25:00\"",
    ),
    (
        "calendar:\n  primary:\n    ordinal: 5\n",
        "cal.yaml:3:14: calendar.primary.ordinal: ",
        "invalid ordinal 5",
    ),
    (
        "calendar:\n  primary:\n    ordinal: third\n",
        "cal.yaml:3:14: calendar.primary.ordinal: ",
        "invalid ordinal \"third\"",
    ),
    (
        "calendar:\n  primary:\n    ordinl: 3\n",
        "cal.yaml:3:5: calendar.primary.ordinl: ",
        "unknown field `ordinl`",
    ),
    (
        "calendar:\n  time_zone: Europe/Stockholmm\n",
        "cal.yaml:2:14: calendar.time_zone: ",
        "unknown time zone",
    ),
    (
        "calendar:\n  primary:\n    weekday: tisdag\n",
        "cal.yaml:3:14: calendar.primary.weekday: ",
        "invalid weekday",
    ),
    (
        "calendar:\n  primary:\n    length: 4\n",
        "cal.yaml:3:13: calendar.primary.length: ",
        "write a number with a unit",
    ),
    (
        "calendar:\n  office_hours:\n    default:\n      friday: [\"16:00-07:30\"]\n",
        "cal.yaml:4:16: calendar.office_hours.default.friday: ",
        "the end must be after the start",
    ),
    (
        "calendar:\n  office_hours:\n    default:\n      fredag: []\n",
        "cal.yaml:4:7: calendar.office_hours.default.fredag: ",
        "unknown field `fredag`",
    ),
    (
        "calendar:\n  secondary:\n    weeks_after_primary: 1\n    ordinal: last\n",
        "cal.yaml:3:5: calendar.secondary.weeks_after_primary: ",
        "give only one of",
    ),
    (
        "calendar: {}\nlogging: debug\n",
        "cal.yaml:2:1: logging: ",
        "unknown field `logging`",
    ),
];

#[test]
fn errors_name_line_and_key() {
    for (yaml, place, words) in BAD {
        let err = CalendarFile::parse(yaml, Path::new("cal.yaml")).unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with(place),
            "{yaml:?}\n got: {text}\nwant: {place}"
        );
        assert!(
            text.contains(words),
            "{yaml:?}\n got: {text}\nwant: {words}"
        );
    }
}

#[test]
fn a_full_file_parses_to_its_rules() {
    let yaml = r#"
calendar:
  time_zone: Europe/Helsinki
  primary: { ordinal: last, weekday: wednesday, start: "19:30", length: 2h30m }
  secondary: { days_after_primary: 1, start: "07:00", length: 1h }
  office_hours:
    default:
      friday: ["08:00-15:00"]
  extra_closed_days: [{ date: 2026-12-28, name: "Klämdag" }]
database: /var/lib/driftvakt/driftvakt.db
"#;
    let file = CalendarFile::parse(yaml, Path::new("cal.yaml")).unwrap();
    let cal = file.calendar;
    assert_eq!(cal.time_zone.to_string(), "Europe/Helsinki");
    assert_eq!(cal.primary.ordinal, Ordinal::Last);
    assert_eq!(cal.primary.length.minutes(), 150);
    assert_eq!(
        cal.secondary.placement,
        SecondaryPlacement::DaysAfterPrimary(1)
    );
    assert_eq!(cal.extra_closed_days[0].name, "Klämdag");
    assert_eq!(
        file.database.as_deref(),
        Some(Path::new("/var/lib/driftvakt/driftvakt.db"))
    );
}

#[test]
fn the_example_file_is_valid() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/calendar.example.yaml");
    let file = CalendarFile::load(&path).unwrap();
    assert!(file
        .calendar
        .office_hours
        .municipalities
        .contains_key("Staffanstorp"));
}
