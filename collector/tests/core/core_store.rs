//! The storage suite every backend must pass, run against SQLite in a temp dir and against a
//! throwaway PostgreSQL 15 (the test kit's `pg`): the same assertions on both, plus what only a server
//! can show (a restart in the middle, two collectors storing one batch at once), and a rough
//! ingest rate of each (printed; `--nocapture` shows it).

use driftvakt_collector_testkit::backends::PgLocation;
use driftvakt_collector_testkit::pg;

use driftvakt_collector::state::Health;
use driftvakt_collector::store::pg::{PgStore, Pool};
use driftvakt_collector::store::{
    Applied, Database, EntityKind, Flap, Location, NewBatch, Outage, Replacement, Seen, Settled,
    Skipped, SqliteStore, Store, StoredResult,
};
use std::collections::BTreeMap;
use std::sync::Arc;

fn res(agent: &str, target: &str, check: &str, time: i64, ok: bool) -> StoredResult {
    StoredResult::single(
        agent,
        target,
        check,
        time,
        ok,
        false,
        (!ok).then(|| "timeout".into()),
        format!("{{\"t\":{time}}}"),
    )
}

fn outage(id: &str, start: i64, end: Option<i64>, kind: Health) -> Outage {
    Outage {
        entity: EntityKind::Device,
        id: id.into(),
        start,
        end,
        kind,
        cause: None,
    }
}

/// Every backend must pass this.
pub fn store_suite(s: &dyn Store) {
    batches_are_idempotent(s);
    a_batch_id_with_other_content_is_a_conflict(s);
    a_different_result_at_a_stored_time_is_reported(s);
    results_and_last_success(s);
    outages_replace_and_overlap(s);
    a_settled_device_is_written_with_its_batch_and_not_marked(s);
    a_group_of_batches_is_stored_in_order_in_one_go(s);
}

/// Group commit: several batches in one transaction, each applied as alone and in order (a
/// repeated id in the group is a duplicate of the first), `settle` called per new batch.
fn a_group_of_batches_is_stored_in_order_in_one_go(s: &dyn Store) {
    let one = [res("g1", "gd1", "icmp", 100, true)];
    let two = [
        res("g2", "gd2", "icmp", 100, false),
        res("g2", "gd3", "icmp", 100, true),
    ];
    let batch = |agent, batch_id, results| NewBatch {
        agent,
        batch_id,
        results,
        received: 1000,
    };
    let group = [
        batch("g1", "gb1", &one[..]),
        batch("g1", "gb1", &one[..]),
        batch("g2", "gb2", &two[..]),
    ];
    let mut called = Vec::new();
    let applied = s
        .apply_batches_settling(&group, &mut |i, applied| {
            called.push(i);
            assert!(matches!(applied, Applied::New { .. }), "{applied:?}");
            // The second new batch settles gd3 with the results.
            let mut settled = Settled::default();
            if i == 2 {
                settled.devices.insert("gd3".to_string());
            }
            settled
        })
        .unwrap();
    assert_eq!(called, [0, 2]);
    assert_eq!(
        applied,
        [
            Applied::New {
                inserted: 1,
                pending: BTreeMap::from([("gd1".to_string(), 100)]),
                skipped: vec![],
            },
            Applied::Duplicate,
            Applied::New {
                inserted: 2,
                pending: BTreeMap::from([("gd2".to_string(), 100)]),
                skipped: vec![],
            },
        ]
    );
    for device in ["gd1", "gd2", "gd3"] {
        assert_eq!(s.results(device, 0).unwrap().len(), 1, "{device}");
    }
    assert_eq!(s.pending_of("gd3").unwrap(), None);
    assert_eq!(
        s.apply_batch("g2", "gb2", &two, 2000).unwrap(),
        Applied::Duplicate
    );
}

/// A group whose one batch fails stores nothing of the group (all or nothing); its batches
/// stored again without the bad one are new. `poison` makes the batch id `poison` fail.
fn a_failing_group_stores_nothing(s: &dyn Store, poison: impl FnOnce()) {
    poison();
    let good = [res("p1", "pd1", "icmp", 100, true)];
    let bad = [res("p2", "pd2", "icmp", 100, true)];
    let group = [
        NewBatch {
            agent: "p1",
            batch_id: "pb1",
            results: &good,
            received: 1000,
        },
        NewBatch {
            agent: "p2",
            batch_id: "poison",
            results: &bad,
            received: 1000,
        },
    ];
    let err = s
        .apply_batches_settling(&group, &mut |_, _| Settled::default())
        .unwrap_err();
    // PostgreSQL's error shows its server message in the debug form only.
    assert!(format!("{err:?}").contains("poisoned batch"), "{err:?}");
    assert!(s.results("pd1", 0).unwrap().is_empty());
    assert_eq!(s.pending_of("pd1").unwrap(), None);
    assert!(matches!(
        s.apply_batch("p1", "pb1", &good, 1000).unwrap(),
        Applied::New { inserted: 1, .. }
    ));
}

/// SQL that makes storing the batch id `poison` fail, on SQLite.
const SQLITE_POISON: &str = "CREATE TRIGGER poison BEFORE INSERT ON dv_batches
     WHEN NEW.batch_id = 'poison' BEGIN SELECT RAISE(ABORT, 'poisoned batch'); END;";

/// The same on PostgreSQL.
const PG_POISON: &str = "CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS $$
     BEGIN IF NEW.batch_id = 'poison' THEN RAISE EXCEPTION 'poisoned batch'; END IF;
     RETURN NEW; END $$;
     CREATE TRIGGER poison BEFORE INSERT ON dv_batches FOR EACH ROW EXECUTE FUNCTION poison();";

#[test]
fn sqlite_a_failing_group_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dv.db");
    let store = SqliteStore::open(&path).unwrap();
    a_failing_group_stores_nothing(&store, || {
        rusqlite::Connection::open(&path)
            .unwrap()
            .execute_batch(SQLITE_POISON)
            .unwrap()
    });
}

#[test]
fn postgres_a_failing_group_stores_nothing() {
    let db = pg::database();
    let store = Database::open(&db.location()).unwrap().store().unwrap();
    a_failing_group_stores_nothing(&*store, || {
        db.cluster.psql(&db.name, PG_POISON);
    });
}

fn batches_are_idempotent(s: &dyn Store) {
    let rs = vec![
        res("a", "d1", "icmp", 300, true),
        res("a", "d1", "icmp", 100, false),
    ];
    let applied = s.apply_batch("a", "b1", &rs, 1000).unwrap();
    assert_eq!(
        applied,
        Applied::New {
            inserted: 2,
            pending: BTreeMap::from([("d1".to_string(), 100)]),
            skipped: vec![],
        }
    );
    assert_eq!(
        s.apply_batch("a", "b1", &rs, 2000).unwrap(),
        Applied::Duplicate
    );
    // The same batch id from another agent is another batch; identical results are skipped.
    let from_b: Vec<StoredResult> = rs
        .iter()
        .map(|r| StoredResult {
            agent: "b".into(),
            ..r.clone()
        })
        .collect();
    match s.apply_batch("b", "b1", &from_b, 1500).unwrap() {
        Applied::New { inserted, .. } => assert_eq!(inserted, 2),
        other => panic!("{other:?}"),
    }
    match s.apply_batch("a", "b2", &rs, 1500).unwrap() {
        Applied::New {
            inserted,
            pending,
            skipped,
        } => {
            assert_eq!(inserted, 0);
            assert!(pending.is_empty());
            let same = |index| Skipped {
                index,
                conflict: None,
            };
            assert_eq!(skipped, vec![same(0), same(1)]);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(s.results("d1", 0).unwrap().len(), 4);
    assert_eq!(
        s.seen().unwrap()["d1"],
        Seen {
            first: 100,
            last: 300
        }
    );
    let agents = s.agents_seen().unwrap();
    assert_eq!((agents["a"], agents["b"]), (2000, 1500));
    assert_eq!(s.pending().unwrap()["d1"], 100);
}

fn a_batch_id_with_other_content_is_a_conflict(s: &dyn Store) {
    let first = vec![res("a", "d3", "icmp", 1_000, true)];
    assert!(matches!(
        s.apply_batch("a", "c1", &first, 1_100).unwrap(),
        Applied::New { inserted: 1, .. }
    ));
    // A spool reset starts the agent's sequence again: same id, new results.
    let reset = vec![res("a", "d3", "icmp", 9_000, false)];
    assert_eq!(
        s.apply_batch("a", "c1", &reset, 9_100).unwrap(),
        Applied::Conflict
    );
    assert_eq!(s.results("d3", 0).unwrap().len(), 1, "nothing applied");
    assert_eq!(
        s.apply_batch("a", "c1", &first, 9_200).unwrap(),
        Applied::Duplicate,
        "the same content again is still a duplicate"
    );
}

fn a_different_result_at_a_stored_time_is_reported(s: &dyn Store) {
    s.apply_batch("a", "x1", &[res("a", "d4", "icmp", 500, true)], 600)
        .unwrap();
    let mut other = res("a", "d4", "icmp", 500, false);
    other.raw = "{\"t\":500,\"ok\":false}".into();
    match s.apply_batch("a", "x2", &[other], 700).unwrap() {
        Applied::New {
            inserted, skipped, ..
        } => {
            assert_eq!(inserted, 0);
            assert_eq!(skipped.len(), 1);
            let why = skipped[0].conflict.as_deref().expect("a conflict");
            assert!(
                why.contains("stored: ok, this one: failed (timeout)"),
                "{why}"
            );
        }
        other => panic!("{other:?}"),
    }
    let kept = s.results("d4", 0).unwrap();
    assert_eq!(
        (kept.len(), kept[0].ok),
        (1, true),
        "the stored one is kept"
    );
}

fn results_and_last_success(s: &dyn Store) {
    let rs = vec![
        res("a", "d2", "icmp", 10, true),
        res("a", "d2", "icmp", 20, false),
        res("a", "d2", "snmp", 25, true),
        res("b", "d2", "icmp", 15, true),
        res("b", "d2", "icmp", 30, true),
        res("a", "d2", "icmp", 40, true),
    ];
    s.apply_batch("a", "r1", &rs, 50).unwrap();
    let times: Vec<i64> = s
        .results("d2", 15)
        .unwrap()
        .iter()
        .map(|r| r.time)
        .collect();
    assert_eq!(times, vec![15, 20, 25, 30, 40]);
    assert_eq!(
        s.results("d2", 15).unwrap()[1].cause.as_deref(),
        Some("timeout")
    );
    // Before 35: a's last success is 10, b's is 30: the earliest is 10.
    assert_eq!(s.last_ok_before("d2", "icmp", 35).unwrap(), Some(10));
    assert_eq!(s.last_ok_before("d2", "icmp", 12).unwrap(), Some(10));
    // Nobody reported before 5.
    assert_eq!(s.last_ok_before("d2", "icmp", 5).unwrap(), Some(5));
    let only_fail = vec![res("a", "d3", "icmp", 10, false)];
    s.apply_batch("a", "r2", &only_fail, 50).unwrap();
    assert_eq!(s.last_ok_before("d3", "icmp", 20).unwrap(), None);
}

fn outages_replace_and_overlap(s: &dyn Store) {
    let first = Replacement {
        entity: EntityKind::Device,
        id: "d1".into(),
        from: 0,
        outages: vec![
            outage("d1", 100, Some(200), Health::Down),
            outage("d1", 300, Some(400), Health::Degraded),
            outage("d1", 500, None, Health::Unknown),
        ],
        flaps: vec![Flap {
            device: "d1".into(),
            agent: "a".into(),
            start: 250,
            end: 260,
            failures: 2,
        }],
    };
    let service = Replacement {
        entity: EntityKind::Service,
        id: "d1".into(),
        from: 0,
        outages: vec![Outage {
            entity: EntityKind::Service,
            ..outage("d1", 100, Some(200), Health::Down)
        }],
        flaps: vec![],
    };
    s.replace_outages(&[first, service]).unwrap();
    assert!(!s.pending().unwrap().contains_key("d1"));
    let all = s
        .outages(EntityKind::Device, Some("d1"), 0, i64::MAX)
        .unwrap();
    assert_eq!(all.len(), 3);
    // Overlap: [150, 320) touches the first two; an open outage overlaps everything after it.
    let some = s.outages(EntityKind::Device, Some("d1"), 150, 320).unwrap();
    assert_eq!(
        some.iter().map(|o| o.start).collect::<Vec<_>>(),
        vec![100, 300]
    );
    assert_eq!(
        s.outages(EntityKind::Device, None, 10_000, 10_001)
            .unwrap()
            .len(),
        1
    );
    assert!(s
        .outages(EntityKind::Device, Some("d1"), 200, 300)
        .unwrap()
        .is_empty());
    assert_eq!(
        s.outages(EntityKind::Service, None, 0, 1000).unwrap().len(),
        1
    );
    // Replacing from 300 keeps the earlier outage and the earlier flap.
    let again = Replacement {
        entity: EntityKind::Device,
        id: "d1".into(),
        from: 300,
        outages: vec![outage("d1", 600, Some(700), Health::Down)],
        flaps: vec![],
    };
    s.replace_outages(&[again]).unwrap();
    let all = s
        .outages(EntityKind::Device, Some("d1"), 0, i64::MAX)
        .unwrap();
    assert_eq!(
        all,
        vec![
            outage("d1", 100, Some(200), Health::Down),
            outage("d1", 600, Some(700), Health::Down)
        ]
    );
    assert_eq!(s.flaps(Some("d1"), 0, 1000).unwrap().len(), 1);
    assert!(s.flaps(None, 251, 1000).unwrap().is_empty());
    assert_eq!(
        s.outages(EntityKind::Service, None, 0, 1000).unwrap().len(),
        1
    );
}

/// `apply_batch_settling`: the devices the caller settles get their outages with the results
/// and no pending mark; the others are marked; a mark written before stays; a duplicate batch
/// settles nothing.
fn a_settled_device_is_written_with_its_batch_and_not_marked(s: &dyn Store) {
    // s1 has a mark of its own from an earlier batch, left for re-derivation.
    s.apply_batch("a", "settle-0", &[res("a", "s1", "icmp", 5_000, true)], 9)
        .unwrap();
    let rs = vec![
        res("a", "s1", "icmp", 5_100, false),
        res("a", "s2", "icmp", 5_200, false),
        res("a", "s2", "icmp", 5_100, true),
        res("a", "s3", "icmp", 5_300, true),
    ];
    let down = |id: &str| Replacement {
        entity: EntityKind::Device,
        id: id.into(),
        from: 5_000,
        outages: vec![outage(id, 5_200, None, Health::Down)],
        flaps: Vec::new(),
    };
    let mut seen = None;
    let applied = s
        .apply_batch_settling("a", "settle-1", &rs, 10, &mut |applied| {
            seen = Some(applied.clone());
            Settled {
                write: vec![down("s1"), down("s2")],
                devices: ["s1", "s2"].map(String::from).into(),
            }
        })
        .unwrap();
    let all = BTreeMap::from([
        ("s1".to_string(), 5_100),
        ("s2".to_string(), 5_100),
        ("s3".to_string(), 5_300),
    ]);
    assert_eq!(
        seen,
        Some(Applied::New {
            inserted: 4,
            pending: all,
            skipped: Vec::new()
        }),
        "the caller settles after every result is inserted"
    );
    assert_eq!(
        applied,
        Applied::New {
            inserted: 4,
            pending: BTreeMap::from([("s3".to_string(), 5_300)]),
            skipped: Vec::new()
        }
    );
    for id in ["s1", "s2"] {
        assert_eq!(
            s.outages(EntityKind::Device, Some(id), 0, i64::MAX / 2)
                .unwrap(),
            vec![outage(id, 5_200, None, Health::Down)]
        );
    }
    assert_eq!(s.results("s2", 0).unwrap().len(), 2);
    assert_eq!(
        s.pending_of("s1").unwrap(),
        Some(5_000),
        "the older mark stays"
    );
    assert_eq!(s.pending_of("s2").unwrap(), None);
    assert_eq!(s.pending_of("s3").unwrap(), Some(5_300));
    let again = s
        .apply_batch_settling("a", "settle-1", &rs, 11, &mut |_| {
            panic!("a duplicate batch settles nothing")
        })
        .unwrap();
    assert_eq!(again, Applied::Duplicate);
    for id in ["s1", "s3"] {
        s.replace_outages(&[Replacement {
            entity: EntityKind::Device,
            id: id.into(),
            from: i64::MAX / 2,
            outages: Vec::new(),
            flaps: Vec::new(),
        }])
        .unwrap();
    }
}

#[test]
fn sqlite_passes_the_store_suite() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("sub").join("dv.db")).unwrap();
    store_suite(&store);
}

#[test]
fn sqlite_keeps_everything_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dv.db");
    {
        let s = SqliteStore::open(&path).unwrap();
        s.apply_batch("a", "b1", &[res("a", "d1", "icmp", 1, true)], 5)
            .unwrap();
    }
    let s = SqliteStore::open(&path).unwrap();
    assert_eq!(
        s.apply_batch("a", "b1", &[res("a", "d1", "icmp", 1, true)], 6)
            .unwrap(),
        Applied::Duplicate
    );
    assert_eq!(s.results("d1", 0).unwrap().len(), 1);
    assert_eq!(s.pending().unwrap()["d1"], 1);
}

/// A store on its own new pool (not the process's shared one), as a second process would have.
fn pg_store(location: &Location) -> PgStore {
    let Location::Postgres(config) = location else {
        panic!("not a PostgreSQL location")
    };
    PgStore::new(Arc::new(Pool::open(config).unwrap()))
}

#[test]
fn postgres_passes_the_store_suite() {
    let db = pg::database();
    let store = Database::open(&db.location()).unwrap().store().unwrap();
    store_suite(&*store);
}

#[test]
fn postgres_keeps_everything_across_reopen() {
    let db = pg::database();
    {
        let s = pg_store(&db.location());
        s.apply_batch("a", "b1", &[res("a", "d1", "icmp", 1, true)], 5)
            .unwrap();
    }
    let s = pg_store(&db.location());
    assert_eq!(
        s.apply_batch("a", "b1", &[res("a", "d1", "icmp", 1, true)], 6)
            .unwrap(),
        Applied::Duplicate
    );
    assert_eq!(s.results("d1", 0).unwrap().len(), 1);
    assert_eq!(s.pending().unwrap()["d1"], 1);
    let version = db.cluster.psql(&db.name, "SELECT version FROM dv_schema");
    assert_eq!(
        version,
        driftvakt_collector::store::sqlite::migrations::SCHEMA_VERSION.to_string()
    );
}

#[test]
fn postgres_comes_back_after_a_restart_on_the_next_call() {
    let cluster = pg::PgCluster::start();
    let name = cluster.create_database();
    let location: Location = cluster.url(&name).parse().unwrap();
    let s = pg_store(&location);
    s.apply_batch("a", "b1", &[res("a", "d1", "icmp", 1, true)], 5)
        .unwrap();
    cluster.pg_ctl_stop();
    assert!(s.seen().is_err(), "no server, no answer");
    cluster.pg_ctl_start();
    assert_eq!(s.results("d1", 0).unwrap().len(), 1);
    s.apply_batch("a", "b2", &[res("a", "d1", "icmp", 2, true)], 6)
        .unwrap();
    assert_eq!(s.results("d1", 0).unwrap().len(), 2);
}

#[test]
fn two_collectors_storing_one_batch_at_once_store_it_once() {
    let db = pg::database();
    let location = db.location();
    let batch: Vec<StoredResult> = (0..200)
        .map(|i| res("a", &format!("d{}", i % 7), "icmp", i * 1000, i % 5 != 0))
        .collect();
    for round in 0..5 {
        let id = format!("b{round}");
        let outcomes: Vec<Applied> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..2)
                .map(|_| {
                    let (batch, id, location) = (&batch, &id, &location);
                    scope.spawn(move || {
                        let s = pg_store(location);
                        s.apply_batch("a", id, batch, 10).unwrap()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let new = outcomes
            .iter()
            .filter(|a| matches!(a, Applied::New { .. }))
            .count();
        assert_eq!(new, 1, "round {round}: {outcomes:?}");
        assert!(outcomes.contains(&Applied::Duplicate), "{outcomes:?}");
    }
    let s = pg_store(&location);
    let stored: usize = (0..7)
        .map(|d| s.results(&format!("d{d}"), 0).unwrap().len())
        .sum();
    assert_eq!(stored, 200);
}

/// Stores `batches` batches of 100 results; returns results per second.
fn ingest_rate(s: &dyn Store, batches: i64) -> f64 {
    let started = std::time::Instant::now();
    for b in 0..batches {
        let rs: Vec<StoredResult> = (0..100)
            .map(|i| {
                res(
                    "a",
                    &format!("d{}", i % 20),
                    "icmp",
                    b * 1000 + i,
                    i % 9 != 0,
                )
            })
            .collect();
        s.apply_batch("a", &format!("b{b}"), &rs, b).unwrap();
    }
    (batches * 100) as f64 / started.elapsed().as_secs_f64()
}

#[test]
fn ingest_rate_on_both_backends() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = SqliteStore::open(&dir.path().join("dv.db")).unwrap();
    let db = pg::database();
    let pg = Database::open(&db.location()).unwrap().store().unwrap();
    let (a, b) = (ingest_rate(&sqlite, 30), ingest_rate(&*pg, 30));
    println!("ingest, results per second: SQLite {a:.0}, PostgreSQL {b:.0}");
    assert!(a > 0.0 && b > 0.0);
}

/// Intefunktion cases registered by hand: every backend must keep, close and find them alike.
fn intefunktion_suite(s: &dyn driftvakt_collector::store::IntefunktionStore) {
    use chrono::{DateTime, Duration, Utc};
    use driftvakt_collector::store::{NewIntefunktionCase, StoreError};
    let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
    let start = t("2026-03-13T14:00:00Z");
    let new = NewIntefunktionCase {
        function: "utskrift-tranemo".into(),
        municipality: "Tranemo".into(),
        start,
        end: None,
        title: "Ingen kan skriva ut i Kommunhuset".into(),
        description: "Anmält av växeln.".into(),
        by: "anna".into(),
        incident: None,
    };
    let open = s.add(&new, start + Duration::minutes(5)).unwrap();
    let closed = s
        .add(
            &NewIntefunktionCase {
                function: "epost-tranemo".into(),
                start: start + Duration::hours(1),
                end: Some(start + Duration::hours(2)),
                ..new.clone()
            },
            start,
        )
        .unwrap();
    let got = s.get(open).unwrap().unwrap();
    assert_eq!(
        (
            got.function.as_str(),
            got.municipality.as_str(),
            got.start,
            got.end
        ),
        ("utskrift-tranemo", "Tranemo", start, None)
    );
    assert_eq!(got.created_by, "anna");
    assert_eq!(got.created_at, start + Duration::minutes(5));
    // Open ones overlap everything after their start; closed ones only their own span.
    let ids = |from: DateTime<Utc>, to: DateTime<Utc>| -> Vec<i64> {
        s.between(from, to).unwrap().iter().map(|c| c.id).collect()
    };
    assert_eq!(ids(start, start + Duration::days(1)), [open, closed]);
    assert_eq!(
        ids(start + Duration::hours(3), start + Duration::days(1)),
        [open]
    );
    assert_eq!(ids(start - Duration::days(1), start), Vec::<i64>::new());
    s.close(open, start + Duration::hours(66)).unwrap();
    assert_eq!(
        s.get(open).unwrap().unwrap().end,
        Some(start + Duration::hours(66))
    );
    assert!(matches!(
        s.close(open, start + Duration::hours(67)),
        Err(StoreError::IncidentClosed { .. })
    ));
    assert!(matches!(
        s.close(9_999, start),
        Err(StoreError::UnknownIncident(9_999))
    ));
    assert!(s.get(9_999).unwrap().is_none());
    // Linked to an incident registered by hand (and again, to another).
    assert_eq!(s.get(closed).unwrap().unwrap().incident, None);
    s.link(closed, 3).unwrap();
    s.link(closed, 4).unwrap();
    assert_eq!(s.get(closed).unwrap().unwrap().incident, Some(4));
    assert!(matches!(
        s.link(9_999, 3),
        Err(StoreError::UnknownIncident(9_999))
    ));
}

#[test]
fn sqlite_passes_the_intefunktion_suite() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(&Location::Sqlite(dir.path().join("dv.db"))).unwrap();
    intefunktion_suite(&*db.intefunktion().unwrap());
}

#[test]
fn postgres_passes_the_intefunktion_suite() {
    let db = pg::database();
    let store = Database::open(&db.location())
        .unwrap()
        .intefunktion()
        .unwrap();
    intefunktion_suite(&*store);
}

/// The audit log: appended lines read back newest first, within the limit, as written.
fn audit_suite(s: &dyn driftvakt_collector::store::AuditStore) {
    use chrono::{Duration, TimeZone, Utc};
    use driftvakt_collector::store::AuditEntry;
    let at = Utc.with_ymd_and_hms(2026, 3, 2, 8, 15, 0).unwrap();
    let line = |n: i64, outcome: &str| AuditEntry {
        id: 0,
        at: at + Duration::minutes(n),
        who: "anna".into(),
        action: "incident.register".into(),
        detail: format!("Telefoni nere {n} – åäö"),
        peer: "127.0.0.1".into(),
        outcome: outcome.into(),
    };
    assert!(s.recent(10).unwrap().is_empty());
    let first = s.insert(&line(0, "ok")).unwrap();
    let second = s.insert(&line(1, "refused: no session")).unwrap();
    assert!(second > first);
    let read = s.recent(10).unwrap();
    assert_eq!(read.len(), 2);
    assert_eq!(
        read[0],
        AuditEntry {
            id: second,
            ..line(1, "refused: no session")
        }
    );
    assert_eq!(
        read[1],
        AuditEntry {
            id: first,
            ..line(0, "ok")
        }
    );
    assert_eq!(s.recent(1).unwrap().len(), 1);
}

#[test]
fn sqlite_passes_the_audit_suite() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(&Location::Sqlite(dir.path().join("dv.db"))).unwrap();
    audit_suite(&*db.audit().unwrap());
}

#[test]
fn postgres_passes_the_audit_suite() {
    let db = pg::database();
    let store = Database::open(&db.location()).unwrap().audit().unwrap();
    audit_suite(&*store);
}

/// Accepted topology proposals: every backend keeps one parent per device, the latest wins.
fn topology_suite(s: &dyn driftvakt_collector::store::TopologyStore) {
    use chrono::{DateTime, Utc};
    use driftvakt_collector::store::AcceptedParent;
    let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
    assert!(s.accepted().unwrap().is_empty());
    let a = |device: &str, parent: &str, at: &str| AcceptedParent {
        device: device.into(),
        parent: parent.into(),
        accepted_at: t(at),
    };
    s.accept(&a("access-1", "dist-1", "2026-03-13T14:00:00Z"))
        .unwrap();
    s.accept(&a("ap-1", "access-1", "2026-03-13T14:00:00Z"))
        .unwrap();
    s.accept(&a("access-1", "dist-2", "2026-03-14T08:30:00Z"))
        .unwrap();
    assert_eq!(
        s.accepted().unwrap(),
        [
            a("access-1", "dist-2", "2026-03-14T08:30:00Z"),
            a("ap-1", "access-1", "2026-03-13T14:00:00Z"),
        ]
    );
}

#[test]
fn sqlite_passes_the_topology_suite() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(&Location::Sqlite(dir.path().join("dv.db"))).unwrap();
    topology_suite(&*db.topology().unwrap());
}

#[test]
fn postgres_passes_the_topology_suite() {
    let db = pg::database();
    let store = Database::open(&db.location()).unwrap().topology().unwrap();
    topology_suite(&*store);
}
