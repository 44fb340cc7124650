//! Persistence across restarts and the operators' rules (activate only real secondary dates,
//! withdraw and cancel only before the start), with a fixed clock; each on SQLite and on a
//! throwaway PostgreSQL (the test kit's `pg`).

use driftvakt_collector_testkit::backends::PgLocation;
use driftvakt_collector_testkit::pg;

use chrono::{DateTime, NaiveDate, Utc};
use driftvakt_collector::calendar::{CalendarConfig, Subject, WindowKind, WindowScope};
use driftvakt_collector::clock::FixedClock;
use driftvakt_collector::store::{Database, Location, StoreError, WindowStore};
use driftvakt_collector::windows::{CalendarError, CalendarService};
use std::sync::Arc;

fn utc(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn date(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn service_at(path: &Location, now: &str) -> CalendarService<Arc<dyn WindowStore>> {
    CalendarService::new(
        CalendarConfig::default(),
        Database::open(path).unwrap().windows().unwrap(),
        Arc::new(FixedClock(utc(now))),
    )
}

#[test]
fn activation_and_cancellation_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    activation_and_cancellation_survive_reopening_on(dir.path().join("db").into());
}

#[test]
fn postgres_activation_and_cancellation_survive_reopening() {
    let db = pg::database();
    activation_and_cancellation_survive_reopening_on(db.location());
}

fn activation_and_cancellation_survive_reopening_on(path: Location) {
    let id = {
        let svc = service_at(&path, "2026-03-20T09:00:00Z");
        svc.activate_secondary(date("2026-03-24"), "anna").unwrap();
        let w = svc
            .add_window(
                utc("2026-04-02T16:00:00Z"),
                utc("2026-04-02T18:00:00Z"),
                WindowScope::Service("e-post".into()),
                "Uppgradering av e-postservern",
                "bo",
            )
            .unwrap();
        let other = svc
            .add_window(
                utc("2026-04-03T16:00:00Z"),
                utc("2026-04-03T18:00:00Z"),
                WindowScope::All,
                "Avbokas",
                "bo",
            )
            .unwrap();
        svc.cancel_window(other.id.unwrap(), "cecilia").unwrap();
        w.id.unwrap()
    };
    let store = Database::open(&path).unwrap().windows().unwrap();
    let activations = store.list_activations().unwrap();
    assert_eq!(activations.len(), 1);
    assert_eq!(activations[0].date, date("2026-03-24"));
    assert_eq!(activations[0].activated_by, "anna");
    assert_eq!(activations[0].activated_at, utc("2026-03-20T09:00:00Z"));
    let adhoc = store.list_adhoc().unwrap();
    assert_eq!(adhoc.len(), 2);
    assert_eq!(adhoc[1].cancelled_by.as_deref(), Some("cecilia"));
    assert_eq!(adhoc[1].cancelled_at, Some(utc("2026-03-20T09:00:00Z")));
    drop(store);

    let svc = service_at(&path, "2026-03-21T09:00:00Z");
    let cal = svc.calendar().unwrap();
    let ws = cal.windows(utc("2026-03-24T00:00:00Z"), utc("2026-04-05T00:00:00Z"));
    let kinds: Vec<(WindowKind, bool, Option<i64>)> =
        ws.iter().map(|w| (w.kind, w.active, w.id)).collect();
    assert_eq!(
        kinds,
        vec![
            (WindowKind::Secondary, true, None),
            (WindowKind::Adhoc, true, Some(id))
        ]
    );
    let mail = Subject {
        service: Some("e-post"),
        ..Subject::default()
    };
    assert_eq!(
        cal.active_windows_for(
            &mail,
            utc("2026-04-01T00:00:00Z"),
            utc("2026-04-05T00:00:00Z")
        ),
        vec![(utc("2026-04-02T16:00:00Z"), utc("2026-04-02T18:00:00Z"))]
    );
}

#[test]
fn withdrawal_is_refused_once_the_window_has_started() {
    let dir = tempfile::tempdir().unwrap();
    withdrawal_is_refused_once_the_window_has_started_on(dir.path().join("db").into());
}

#[test]
fn postgres_withdrawal_is_refused_once_the_window_has_started() {
    let db = pg::database();
    withdrawal_is_refused_once_the_window_has_started_on(db.location());
}

fn withdrawal_is_refused_once_the_window_has_started_on(path: Location) {
    service_at(&path, "2026-10-26T12:00:00Z")
        .activate_secondary(date("2026-10-27"), "anna")
        .unwrap();
    // 27 October 2026 18:00 is 17:00Z (after the change to winter time).
    let err = service_at(&path, "2026-10-27T17:00:00Z")
        .withdraw_secondary(date("2026-10-27"))
        .unwrap_err();
    assert!(
        matches!(err, CalendarError::SecondaryStarted { .. }),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("started at 2026-10-27T18:00:00+01:00"),
        "{err}"
    );
    let w = service_at(&path, "2026-10-27T16:59:59Z")
        .withdraw_secondary(date("2026-10-27"))
        .unwrap();
    assert!(!w.active);
    let err = service_at(&path, "2026-10-27T16:59:59Z")
        .withdraw_secondary(date("2026-10-27"))
        .unwrap_err();
    assert!(
        matches!(err, CalendarError::Store(StoreError::NotActivated(_))),
        "{err:?}"
    );
}

#[test]
fn activation_needs_a_secondary_date_before_it_starts() {
    let dir = tempfile::tempdir().unwrap();
    activation_needs_a_secondary_date_before_it_starts_on(dir.path().join("db").into());
}

#[test]
fn postgres_activation_needs_a_secondary_date_before_it_starts() {
    let db = pg::database();
    activation_needs_a_secondary_date_before_it_starts_on(db.location());
}

fn activation_needs_a_secondary_date_before_it_starts_on(path: Location) {
    let svc = service_at(&path, "2026-03-24T17:30:00Z");
    let err = svc
        .activate_secondary(date("2026-03-17"), "anna")
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "2026-03-17 has no secondary window; the rules place this month's on 2026-03-24"
    );
    let err = svc
        .activate_secondary(date("2026-03-24"), "anna")
        .unwrap_err();
    assert!(
        matches!(err, CalendarError::SecondaryStarted { .. }),
        "{err:?}"
    );
    let err = svc.activate_secondary(date("2026-04-28"), " ").unwrap_err();
    assert!(matches!(err, CalendarError::Missing(_)), "{err:?}");
    svc.activate_secondary(date("2026-04-28"), "anna").unwrap();
    let err = svc
        .activate_secondary(date("2026-04-28"), "bo")
        .unwrap_err();
    assert!(
        err.to_string().contains("already activated (by anna"),
        "{err}"
    );
}

#[test]
fn adhoc_windows_are_checked_and_cancelled_only_before_they_start() {
    let dir = tempfile::tempdir().unwrap();
    adhoc_windows_are_checked_and_cancelled_only_before_they_start_on(dir.path().join("db").into());
}

#[test]
fn postgres_adhoc_windows_are_checked_and_cancelled_only_before_they_start() {
    let db = pg::database();
    adhoc_windows_are_checked_and_cancelled_only_before_they_start_on(db.location());
}

fn adhoc_windows_are_checked_and_cancelled_only_before_they_start_on(path: Location) {
    let svc = service_at(&path, "2026-06-01T10:00:00Z");
    let (s, e) = (utc("2026-06-02T10:00:00Z"), utc("2026-06-02T12:00:00Z"));
    assert!(matches!(
        svc.add_window(e, s, WindowScope::All, "x", "anna"),
        Err(CalendarError::EmptyWindow { .. })
    ));
    assert!(matches!(
        svc.add_window(
            utc("2026-05-01T10:00:00Z"),
            utc("2026-05-01T11:00:00Z"),
            WindowScope::All,
            "x",
            "anna"
        ),
        Err(CalendarError::InThePast { .. })
    ));
    assert!(matches!(
        svc.add_window(s, e, WindowScope::All, "", "anna"),
        Err(CalendarError::Missing(_))
    ));
    let id = svc
        .add_window(s, e, WindowScope::All, "Elarbete", "anna")
        .unwrap()
        .id
        .unwrap();
    let err = service_at(&path, "2026-06-02T10:00:00Z")
        .cancel_window(id, "bo")
        .unwrap_err();
    assert!(matches!(err, CalendarError::AdhocStarted { .. }), "{err:?}");
    assert!(matches!(
        svc.cancel_window(id + 100, "bo"),
        Err(CalendarError::Store(StoreError::UnknownWindow(_)))
    ));
    svc.cancel_window(id, "bo").unwrap();
    assert!(matches!(
        svc.cancel_window(id, "bo"),
        Err(CalendarError::Store(StoreError::AlreadyCancelled { .. }))
    ));
    assert!(svc
        .calendar()
        .unwrap()
        .windows(s, e)
        .iter()
        .all(|w| w.kind != WindowKind::Adhoc));
}
