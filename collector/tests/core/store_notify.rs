//! The notifier's tables (outbox, policy state) and what alerting announced, the same
//! assertions on SQLite and on a throwaway PostgreSQL (the test kit's `pg`): idempotent enqueue,
//! claiming with a lease, sent rows recording their on-call case once, cancelling only pending
//! rows, digests, schedule marks; the protocols written once for both backends (acknowledging
//! an on-call page with its case, taking the leader lease and resetting the outbox).

use driftvakt_collector_testkit::backends::PgLocation;
use driftvakt_collector_testkit::pg;

use chrono::{DateTime, Duration, Utc};
use driftvakt_collector::notify::{AlertKind, Event};
use driftvakt_collector::store::{
    AckError, ClusterStore, Database, Location, NewNotice, NotifyStore, OncallCase, Status,
};

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

fn device_alert(device: &str, since: DateTime<Utc>) -> Event {
    Event::DeviceAlert {
        device_id: device.into(),
        device_name: format!("UPS {device}"),
        class: "ups".into(),
        site_id: "stadshuset".into(),
        site_name: "Stadshuset".into(),
        municipality: "Tranemo".into(),
        kind: AlertKind::Down,
        since,
        detail: "Svarar inte på ping".into(),
    }
}

/// An on-call page is acknowledged once, with its case, and never once it is over.
fn acknowledge_suite(s: &dyn NotifyStore) {
    let now = utc("2026-03-11T10:00:00Z");
    let since = now - Duration::minutes(5);
    let case = OncallCase {
        at: now,
        device_id: "ups2".into(),
        device_name: "UPS ups2".into(),
        kind: "down".into(),
        municipality: "Tranemo".into(),
        since,
        acknowledged_at: None,
        resolved_at: None,
    };
    let id = s
        .enqueue(&notice("page-ups2", now, Some(case)), now)
        .unwrap()
        .unwrap();
    s.claim_due(now, now + Duration::minutes(2), 10).unwrap();
    s.mark_sent(id, now).unwrap();
    let key = "device:ups2:down";
    let page = s
        .open_page(key, since, &device_alert("ups2", since), Some(now))
        .unwrap();
    let at = now + Duration::minutes(3);
    let taken = s.acknowledge(page.id, at, "anna").unwrap();
    assert_eq!(
        (
            taken.acknowledged_at,
            taken.acknowledged_by.as_deref(),
            taken.next_at
        ),
        (Some(at), Some("anna"), None)
    );
    assert_eq!(s.page(page.id).unwrap().unwrap(), taken);
    let cases = s
        .oncall_cases(now - Duration::days(1), now + Duration::days(1))
        .unwrap();
    let acked = cases.iter().find(|c| c.device_id == "ups2").unwrap();
    assert_eq!(acked.acknowledged_at, Some(at));
    match s.acknowledge(page.id, at + Duration::minutes(1), "bo") {
        Err(AckError::AlreadyAcknowledged { by, at: when, .. }) => {
            assert_eq!((by.as_str(), when), ("anna", at))
        }
        other => panic!("acknowledged twice: {other:?}"),
    }
    let other = s
        .open_page(
            "device:ups3:down",
            since,
            &device_alert("ups3", since),
            None,
        )
        .unwrap();
    s.close_page("device:ups3:down", now).unwrap().unwrap();
    assert!(matches!(
        s.acknowledge(other.id, at, "anna"),
        Err(AckError::Over { .. })
    ));
    assert!(matches!(
        s.acknowledge(other.id + 100, at, "anna"),
        Err(AckError::Unknown(_))
    ));
}

/// Taking the lease raises its epoch and puts the rows claimed but never begun back to pending.
fn lease_suite(cluster: &dyn ClusterStore, outbox: &dyn NotifyStore) {
    let now = utc("2026-03-12T10:00:00Z");
    let id = outbox
        .enqueue(&notice("lease", now, None), now)
        .unwrap()
        .unwrap();
    let claimed: Vec<_> = outbox
        .claim_due(now, now + Duration::minutes(5), 10)
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert!(claimed.contains(&id), "{claimed:?}");
    let until = now + Duration::seconds(30);
    let first = cluster
        .acquire("a", now, until)
        .unwrap()
        .expect("a free lease");
    for id in claimed {
        assert_eq!(outbox.get(id).unwrap().unwrap().status, Status::Pending);
    }
    assert!(cluster
        .acquire("b", now + Duration::seconds(1), until)
        .unwrap()
        .is_none());
    let later = until + Duration::seconds(1);
    let second = cluster
        .acquire("b", later, later + Duration::seconds(30))
        .unwrap()
        .expect("an expired lease");
    assert_eq!(
        (second.holder.as_str(), second.epoch),
        ("b", first.epoch + 1)
    );
    assert_eq!(cluster.lease().unwrap(), second);
}

fn run_on(location: Location) {
    let db = Database::open(&location).unwrap();
    outbox_suite(&*db.notify().unwrap());
    acknowledge_suite(&*db.notify().unwrap());
    lease_suite(&*db.cluster().unwrap(), &*db.notify().unwrap());
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
