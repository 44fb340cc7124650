//! The notifier's tables (outbox, policy state) and what alerting announced, the same
//! assertions on SQLite and on a throwaway PostgreSQL (the test kit's `pg`): idempotent enqueue,
//! claiming with a lease, sent rows recording their on-call case once, cancelling only pending
//! rows, digests, schedule marks.

use driftvakt_collector_testkit::backends::PgLocation;
use driftvakt_collector_testkit::pg;

use chrono::{DateTime, Duration, Utc};
use driftvakt_collector::store::{Database, Location, NewNotice, NotifyStore, OncallCase, Status};

fn utc(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn notice(key: &str, due: DateTime<Utc>, case: Option<OncallCase>) -> NewNotice {
    NewNotice {
        key: key.into(),
        kind: "alert".into(),
        recipient: "jour@example.se".into(),
        sender: "driftvakt@example.se".into(),
        subject: format!("Larm {key}"),
        message_id: format!("<{key}@driftvakt>"),
        raw: b"Subject: x\r\n\r\nbody".to_vec(),
        due_at: due,
        oncall_case: case,
        channel: "mail".into(),
    }
}

fn outbox_suite(s: &dyn NotifyStore) {
    let now = utc("2026-03-10T10:00:00Z");
    let case = OncallCase {
        at: now,
        device_id: "ups1".into(),
        device_name: "UPS 1".into(),
        kind: "down".into(),
        municipality: "Tranemo".into(),
        since: now - Duration::minutes(5),
        acknowledged_at: None,
        resolved_at: None,
    };
    let a = s
        .enqueue(&notice("a", now, Some(case)), now)
        .unwrap()
        .unwrap();
    assert_eq!(s.enqueue(&notice("a", now, None), now).unwrap(), None);
    let b = s
        .enqueue(&notice("b", now + Duration::hours(1), None), now)
        .unwrap()
        .unwrap();
    assert!(s.exists("b").unwrap() && !s.exists("c").unwrap());
    let lease = now + Duration::minutes(2);
    let claimed = s.claim_due(now, lease, 10).unwrap();
    assert_eq!(claimed.iter().map(|r| r.id).collect::<Vec<_>>(), [a]);
    assert_eq!(
        (claimed[0].status, claimed[0].attempts),
        (Status::Sending, 1)
    );
    assert_eq!(claimed[0].raw, b"Subject: x\r\n\r\nbody");
    assert!(s.claim_due(now, lease, 10).unwrap().is_empty(), "leased");
    s.mark_sent(a, now + Duration::minutes(1)).unwrap();
    let cases = s
        .oncall_cases(now - Duration::days(1), now + Duration::days(1))
        .unwrap();
    assert_eq!(cases.len(), 1);
    assert_eq!(cases[0].device_id, "ups1");
    assert!(s.cancel(b).unwrap());
    assert!(!s.cancel(b).unwrap(), "only a pending row is cancelled");
    let stats = s.stats().unwrap();
    assert_eq!((stats.sent, stats.cancelled, stats.pending), (1, 1, 0));
    assert_eq!(s.list(Some(Status::Sent)).unwrap()[0].id, a);
    assert_eq!(s.count_since("jour@example.se", now).unwrap(), 1);
    let d = s
        .enqueue(&notice("digest", now, None), now)
        .unwrap()
        .unwrap();
    s.add_digest_item(d, "inc1", "rad 1").unwrap();
    s.add_digest_item(d, "inc2", "rad 2").unwrap();
    assert_eq!(s.digest_items(d).unwrap(), ["rad 1", "rad 2"]);
    assert_eq!(s.remove_digest_items("inc1").unwrap(), [d]);
    assert_eq!(s.digest_items(d).unwrap(), ["rad 2"]);
    assert_eq!(s.schedule_mark("monthly").unwrap(), None);
    s.set_schedule_mark("monthly", now).unwrap();
    s.set_schedule_mark("monthly", now + Duration::days(1))
        .unwrap();
    assert_eq!(
        s.schedule_mark("monthly").unwrap(),
        Some(now + Duration::days(1))
    );
}

fn run_on(location: Location) {
    let db = Database::open(&location).unwrap();
    outbox_suite(&*db.notify().unwrap());
    let updates = db.service_updates().unwrap();
    let since = utc("2026-03-10T09:00:00Z");
    let u = updates
        .add(
            "e-post",
            since,
            since + Duration::minutes(10),
            "anna",
            "Felsöker",
        )
        .unwrap();
    assert_eq!(updates.since(since).unwrap(), [u]);
    assert!(db.announced().unwrap().all().unwrap().is_empty());
}

#[test]
fn sqlite_notify_tables() {
    let dir = tempfile::tempdir().unwrap();
    run_on(dir.path().join("dv.db").into());
}

#[test]
fn postgres_notify_tables() {
    let db = pg::database();
    run_on(db.location());
}
