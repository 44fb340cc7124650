//! Group commit through the collector's core (`App::ingest_blocking`, the call behind
//! `POST /api/v1/results`), on both backends: batches that wait for the writers' lock together
//! are stored in one transaction and each is answered; one bad batch in a group fails alone
//! (its group-mates are stored again one by one); and the outages derived from grouped
//! batches with the in-memory tails are the ones a store-only collector derives batch by batch.

use driftvakt_collector::app::App;
use driftvakt_collector::ingest::{IngestError, IngestResponse};
use driftvakt_collector::store::EntityKind;
use driftvakt_collector_testkit::backends::{Backend, TestDb};
use driftvakt_collector_testkit::both_backends;
use driftvakt_collector_testkit::fixtures::{history, open_app_at};
use driftvakt_common::wire::{Batch, ProbeResult};
use std::time::Duration;

fn batch(agent: &str, id: &str, results: Vec<ProbeResult>) -> (String, Batch) {
    (
        agent.to_string(),
        Batch {
            agent: agent.to_string(),
            batch_id: id.to_string(),
            results,
        },
    )
}

/// Posts `list` from one thread each while the writers' lock is held, then lets go: every
/// batch waits for the lock at once, so the first to lead takes them all into one group.
fn in_one_group(app: &App, list: &[(String, Batch)]) -> Vec<Result<IngestResponse, IngestError>> {
    let held = app.write_lock();
    let threads: Vec<_> = list
        .iter()
        .cloned()
        .map(|(agent, b)| {
            let app = app.clone();
            std::thread::spawn(move || app.ingest_blocking(&agent, &b))
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    drop(held);
    threads.into_iter().map(|t| t.join().unwrap()).collect()
}

/// Four batches, two agents; the switch down for five minutes (its access points unreachable
/// behind it), the printer failing once.
fn four_batches(round: i64) -> Vec<(String, Batch)> {
    let (from, to) = (round * 10, round * 10 + 10);
    vec![
        batch(
            "a1",
            &format!("sw-{round}"),
            history("sw", from, to, |m| (3..8).contains(&m)),
        ),
        batch(
            "a1",
            &format!("ap1-{round}"),
            history("ap1", from, to, |m| (4..7).contains(&m)),
        ),
        batch(
            "a1",
            &format!("ap2-{round}"),
            history("ap2", from, to, |_| false),
        ),
        batch(
            "a2",
            &format!("prn-{round}"),
            history("prn", from, to, |m| m == 15),
        ),
    ]
}

fn everything(app: &App) -> impl PartialEq + std::fmt::Debug {
    let all = |kind| {
        app.store
            .outages(kind, None, i64::MIN / 2, i64::MAX / 2)
            .unwrap()
    };
    (
        all(EntityKind::Device),
        all(EntityKind::Service),
        app.store.flaps(None, i64::MIN / 2, i64::MAX / 2).unwrap(),
    )
}

fn app(backend: Backend, dir: &std::path::Path, name: &str) -> (App, TestDb) {
    let db = backend.fresh(dir, name);
    (open_app_at(dir, &db.location), db)
}

fn batches_waiting_together_are_stored_in_one_transaction(backend: Backend) {
    let (fast_dir, slow_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (fast, _fast_db) = app(backend, fast_dir.path(), "fast");
    let (mut slow, _slow_db) = app(backend, slow_dir.path(), "slow");
    slow.tails = None;
    for round in 0..3 {
        let list = four_batches(round);
        let before = fast.metrics.commits();
        let answers = in_one_group(&fast, &list);
        for (answer, (_, b)) in answers.iter().zip(&list) {
            let answer = answer.as_ref().unwrap();
            assert_eq!(answer.accepted, 10, "{}: {answer:?}", b.batch_id);
            assert!(answer.rejected.is_empty() && !answer.duplicate);
        }
        let after = fast.metrics.commits();
        assert_eq!(
            (after.0 - before.0, after.1 - before.1),
            (1, 4),
            "round {round}: four batches in one commit"
        );
        for (agent, b) in &list {
            slow.ingest_blocking(agent, b).unwrap();
        }
        assert_eq!(everything(&fast), everything(&slow), "round {round}");
    }
    for device in ["sw", "ap1", "ap2", "prn"] {
        assert_eq!(
            fast.store.results(device, i64::MIN).unwrap().len(),
            30,
            "{device}"
        );
    }
    let down = fast
        .store
        .outages(EntityKind::Device, Some("sw"), i64::MIN / 2, i64::MAX / 2)
        .unwrap();
    assert!(!down.is_empty(), "the switch's outage is stored");
    // A batch sent again in a later group is a duplicate, answered as such.
    let again = in_one_group(&fast, &four_batches(0)[..2]);
    assert!(again.iter().all(|a| a.as_ref().unwrap().duplicate));
}

/// SQL that makes storing the batch id `poison` fail, per backend.
fn poison(db: &TestDb) {
    match &db.pg {
        None => {
            let driftvakt_collector::store::Location::Sqlite(path) = &db.location else {
                panic!("not a SQLite location")
            };
            rusqlite::Connection::open(path)
                .unwrap()
                .execute_batch(
                    "CREATE TRIGGER poison BEFORE INSERT ON dv_batches
                     WHEN NEW.batch_id = 'poison'
                     BEGIN SELECT RAISE(ABORT, 'poisoned batch'); END;",
                )
                .unwrap();
        }
        Some(pg) => {
            pg.cluster.psql(
                &pg.name,
                "CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS $$
                 BEGIN IF NEW.batch_id = 'poison' THEN RAISE EXCEPTION 'poisoned batch';
                 END IF; RETURN NEW; END $$;
                 CREATE TRIGGER poison BEFORE INSERT ON dv_batches
                 FOR EACH ROW EXECUTE FUNCTION poison();",
            );
        }
    }
}

fn one_bad_batch_fails_alone_in_its_group(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (app, db) = app(backend, dir.path(), "poisoned");
    poison(&db);
    let list = vec![
        batch("a1", "good-1", history("sw", 0, 10, |m| m == 4)),
        batch("a1", "poison", history("ap1", 0, 10, |_| false)),
        batch("a2", "good-2", history("prn", 0, 10, |_| false)),
    ];
    let before = app.metrics.commits();
    let answers = in_one_group(&app, &list);
    assert_eq!(answers[0].as_ref().unwrap().accepted, 10);
    // PostgreSQL's error shows its server message in the debug form only.
    let err = format!("{:?}", answers[1].as_ref().unwrap_err());
    assert!(err.contains("poisoned batch"), "{err}");
    assert_eq!(answers[2].as_ref().unwrap().accepted, 10);
    let after = app.metrics.commits();
    assert_eq!(
        (after.0 - before.0, after.1 - before.1),
        (2, 2),
        "the failed group was stored again one batch per transaction"
    );
    assert_eq!(app.store.results("sw", i64::MIN).unwrap().len(), 10);
    assert_eq!(app.store.results("prn", i64::MIN).unwrap().len(), 10);
    assert!(app.store.results("ap1", i64::MIN).unwrap().is_empty());
    // The tails forgot what the failed group handed them: the next batches derive as usual.
    let next = vec![
        batch("a1", "good-3", history("sw", 10, 20, |_| false)),
        batch("a1", "good-4", history("ap1", 10, 20, |_| false)),
    ];
    for answer in in_one_group(&app, &next) {
        assert_eq!(answer.unwrap().accepted, 10);
    }
    assert_eq!(app.store.results("sw", i64::MIN).unwrap().len(), 20);
    assert!(app.store.pending().unwrap().is_empty());
}

both_backends!(
    batches_waiting_together_are_stored_in_one_transaction,
    one_bad_batch_fails_alone_in_its_group
);
