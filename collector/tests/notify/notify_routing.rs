//! Office hours versus on-call at the edges, pinned with `FixedClock` (never by sleeping):
//! Friday 15:59 / 16:00, Monday 07:29 / 07:30, Kristi himmelsfärdsdag, a Saturday; a kind that
//! does not page waits for the next office-hours start; pages become on-call cases when sent,
//! counted per tertial.

use driftvakt_collector::clock::FixedClock;
use driftvakt_collector::notify::{
    AlertKind, FileTransport, Notifier, OutboxStore, SqliteNotifyStore, Status,
};
use driftvakt_collector_testkit::notify::*;
use std::sync::Arc;

const DESK: &str = "servicedesk@kommun.example.se";
const ON_CALL: &str = "beredskap@kommun.example.se";

fn at(now: &str, dir: &std::path::Path) -> Notifier<SqliteNotifyStore> {
    Notifier::new(
        config(1),
        Arc::new(default_calendar()),
        Arc::new(FixedClock(utc(now))),
        SqliteNotifyStore::open_in_memory().unwrap(),
        Arc::new(FileTransport::new(dir).unwrap()),
    )
}

/// The recipient and due time of the one alert enqueued for `kind` at `now`.
fn route(now: &str, kind: AlertKind) -> (String, chrono::DateTime<chrono::Utc>) {
    let tmp = tempfile::tempdir().unwrap();
    let n = at(now, tmp.path());
    let ids = n.handle(device_alert("ap-1", kind, now)).unwrap();
    assert_eq!(ids.len(), 1, "{now}");
    let row = n.store().get(ids[0]).unwrap().unwrap();
    (row.recipient, row.due_at)
}

#[test]
fn office_hours_and_on_call_at_the_edges() {
    let cases = [
        // Friday closes at 16:00.
        ("2026-03-20T15:59:00+01:00", DESK),
        ("2026-03-20T16:00:00+01:00", ON_CALL),
        // Monday opens at 07:30.
        ("2026-03-23T07:29:00+01:00", ON_CALL),
        ("2026-03-23T07:30:00+01:00", DESK),
        // Kristi himmelsfärdsdag 2026 (Thursday 14 May), mid-morning.
        ("2026-05-14T10:00:00+02:00", ON_CALL),
        // A Saturday.
        ("2026-03-21T10:00:00+01:00", ON_CALL),
        // An ordinary Tuesday evening.
        ("2026-03-10T19:00:00+01:00", ON_CALL),
    ];
    for (now, want) in cases {
        let (to, due) = route(now, AlertKind::Down);
        assert_eq!(to, want, "{now}");
        assert_eq!(due, utc(now) + mins(10), "held for hold-down: {now}");
    }
}

#[test]
fn a_kind_that_does_not_page_waits_for_office_hours() {
    let supply = || AlertKind::SupplyLow {
        supply: "Svart toner".into(),
        ratio: 0.05,
    };
    // Saturday morning: waits until Monday 07:30 and goes to the service desk.
    let (to, due) = route("2026-03-21T10:00:00+01:00", supply());
    assert_eq!((to.as_str(), due), (DESK, utc("2026-03-23T07:30:00+01:00")));
    // Wednesday before Kristi himmelsfärdsdag, evening: waits until Friday 07:30.
    let (to, due) = route("2026-05-13T17:00:00+02:00", supply());
    assert_eq!((to.as_str(), due), (DESK, utc("2026-05-15T07:30:00+02:00")));
    // In office hours it goes at once (after hold-down).
    let (to, due) = route("2026-03-20T15:59:00+01:00", supply());
    assert_eq!((to.as_str(), due), (DESK, utc("2026-03-20T16:09:00+01:00")));
}

#[tokio::test]
async fn pages_are_on_call_cases_counted_per_tertial() {
    let tmp = tempfile::tempdir().unwrap();
    let clock = ManualClock::at("2026-04-30T22:00:00+02:00");
    let n = notifier(
        config(1),
        &tmp.path().join("c.db"),
        clock.clone(),
        FileTransport::new(&tmp.path().join("out")).unwrap(),
    );
    // Thursday 30 April evening (tertial 1), then Saturday 2 May (tertial 2), then an office-hours
    // alert that is no case.
    n.handle(device_alert(
        "ups-1",
        AlertKind::OnBattery,
        "2026-04-30T22:00:00+02:00",
    ))
    .unwrap();
    clock.advance(mins(15));
    n.deliver_due().await;
    clock.set("2026-05-02T03:00:00+02:00");
    n.handle(device_alert(
        "sw-1",
        AlertKind::Down,
        "2026-05-02T03:00:00+02:00",
    ))
    .unwrap();
    clock.advance(mins(15));
    n.deliver_due().await;
    clock.set("2026-05-04T09:00:00+02:00");
    n.handle(device_alert(
        "sw-2",
        AlertKind::Down,
        "2026-05-04T09:00:00+02:00",
    ))
    .unwrap();
    clock.advance(mins(15));
    n.deliver_due().await;

    let sent = n.store().list(Some(Status::Sent)).unwrap();
    let to: Vec<&str> = sent.iter().map(|r| r.recipient.as_str()).collect();
    assert_eq!(to, [ON_CALL, ON_CALL, DESK]);
    let from = utc("2026-01-01T00:00:00+01:00");
    let to = utc("2027-01-01T00:00:00+01:00");
    let cases = n.oncall_cases(from, to).unwrap();
    assert_eq!(cases.len(), 2);
    assert_eq!(
        (cases[0].device_id.as_str(), cases[0].kind.as_str()),
        ("ups-1", "on_battery")
    );
    assert_eq!(cases[1].municipality, "Tranemo");
    let per = n.oncall_cases_per_tertial(from, to).unwrap();
    let per: Vec<(i32, u8, u64)> = per.iter().map(|t| (t.year, t.tertial, t.count)).collect();
    assert_eq!(per, [(2026, 1, 1), (2026, 2, 1)]);
}

#[test]
fn an_alert_cleared_before_it_is_sent_is_no_case_and_no_mail() {
    let tmp = tempfile::tempdir().unwrap();
    let n = at("2026-03-21T10:00:00+01:00", tmp.path());
    n.handle(device_alert(
        "ap-1",
        AlertKind::Down,
        "2026-03-21T10:00:00+01:00",
    ))
    .unwrap();
    let ids = n
        .handle(driftvakt_collector::notify::Event::DeviceAlertCleared {
            device_id: "ap-1".into(),
            kind: AlertKind::Down,
            until: utc("2026-03-21T10:03:00+01:00"),
        })
        .unwrap();
    assert!(ids.is_empty());
    let stats = n.stats().unwrap();
    assert_eq!((stats.pending, stats.cancelled), (0, 1));
}
