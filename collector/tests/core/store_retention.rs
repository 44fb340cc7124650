//! Retention: raw results older than `collector.retention.results` are compacted into runs,
//! and what people read stays exact: a month's report is the same before and after, re-deriving
//! from the runs gives the stored outages again, a late batch from beyond the horizon still
//! changes the outages as it should, a replayed batch is applied once across pruning, and a
//! collector killed while pruning reopens intact. Each on SQLite (`sqlite::…`) and on a
//! throwaway PostgreSQL (`postgres::…`, the test kit's `pg`).

use chrono::{DateTime, Duration, Utc};
use driftvakt_collector::app::App;
use driftvakt_collector::availability::{period_of, NoWindows};
use driftvakt_collector::inventory::Inventory;
use driftvakt_collector::report::{build, render, Format};
use driftvakt_collector::state::rederive_device;
use driftvakt_collector::store::{Database, EntityKind, Location, Outage, Store, StoredResult};
use driftvakt_collector_testkit::backends::{Backend, TestDb};
use driftvakt_collector_testkit::both_backends;
use driftvakt_collector_testkit::fixtures::*;
use driftvakt_common::wire::{Batch, ProbeResult};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

const DAY: i64 = 1440;

/// An app over `db` (the inventory in `dir`) with a clock the test moves.
fn app_at(dir: &Path, db: &TestDb, m: i64) -> (App, Arc<Mutex<DateTime<Utc>>>) {
    let cfg = write_inventory(dir, None);
    let inv = Inventory::load(&cfg).unwrap();
    let (now, cell) = clock(minute(m));
    (App::new(inv, store_of(db), now).unwrap(), cell)
}

fn store_of(db: &TestDb) -> Arc<dyn Store> {
    Database::open(&db.location).unwrap().store().unwrap()
}

fn ingest(app: &App, agent: &str, prefix: &str, results: Vec<ProbeResult>) {
    for (i, c) in results.chunks(500).enumerate() {
        let b = Batch {
            agent: agent.into(),
            batch_id: format!("{prefix}-{i}"),
            results: c.to_vec(),
        };
        let r = app.ingest_blocking(agent, &b).unwrap();
        assert!(r.rejected.is_empty(), "{:?}", r.rejected.first());
        assert_eq!(r.accepted, c.len());
    }
}

fn outages(store: &dyn Store, id: &str) -> Vec<Outage> {
    store
        .outages(EntityKind::Device, Some(id), i64::MIN / 2, i64::MAX / 2)
        .unwrap()
}

fn month_report(app: &App, month: &str) -> String {
    let now = app.now();
    let period = period_of(Some(month), None, None, now).unwrap();
    let r = build(&app.inventory, &*app.store, &NoWindows, &period, now).unwrap();
    render(&r, Format::Json)
}

/// Every stored result, runs counted by what they hold.
fn held(store: &dyn Store, device: &str) -> u64 {
    store
        .results(device, i64::MIN / 2)
        .unwrap()
        .iter()
        .map(|r| u64::from(r.count))
        .sum()
}

/// The switch and one access point behind it, minute by minute over `days` from t0, with
/// outages, flaps and a silent hour.
fn site_history(days: i64) -> Vec<ProbeResult> {
    let sw = |m: i64| m % DAY >= 600 && m % DAY < 630 && (m / DAY) % 3 == 0;
    let ap = |m: i64| (m % DAY >= 900 && m % DAY < 902) || (m % DAY >= 1000 && m % DAY < 1045);
    let mut all = Vec::new();
    for m in 0..days * DAY {
        if m % DAY >= 1200 && m % DAY < 1260 && (m / DAY) % 5 == 2 {
            continue; // the agent is silent: unknown
        }
        all.push(result("sw", "icmp", m, !sw(m)));
        all.push(result("ap1", "icmp", m, !(ap(m) || sw(m))));
    }
    all
}

fn pruning_keeps_reports_and_re_derivation_exact(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let db = backend.fresh(dir.path(), "dv");
    // 2026-03-10 + 36 days = 2026-04-15; the horizon (14 days) is 2026-04-01: all of March is
    // compacted.
    let (app, clock) = app_at(dir.path(), &db, 0);
    // Day by day, as the agent sends them.
    let all = site_history(36);
    for day in 0..36 {
        *clock.lock().unwrap() = minute((day + 1) * DAY);
        let today: Vec<ProbeResult> = all
            .iter()
            .filter(|r| r.time >= minute(day * DAY) && r.time < minute((day + 1) * DAY))
            .cloned()
            .collect();
        ingest(&app, "a1", &format!("h{day}"), today);
    }
    let before = month_report(&app, "2026-03");
    let outages_before = (outages(&*app.store, "sw"), outages(&*app.store, "ap1"));
    assert!(outages_before.0.len() > 5 && outages_before.1.len() > 20);
    let held_before = (held(&*app.store, "sw"), held(&*app.store, "ap1"));
    let rows_before = app.store.stats(true).unwrap().rows["dv_obs"];

    let pruned = app.prune().unwrap();
    assert!(pruned.removed > 0, "{pruned:?}");
    let stats = app.store.stats(true).unwrap();
    // 22 of 36 days compacted: what is left is the last 14 days raw (plus up to an hour) and
    // a few runs per day for what happened.
    assert!(
        stats.raw_results <= 2 * (14 * DAY + 60) as u64,
        "{} raw rows of {rows_before}",
        stats.raw_results
    );
    assert!(
        stats.runs > 0 && stats.runs < 22 * 20,
        "{} runs",
        stats.runs
    );
    let oldest = stats
        .oldest_result
        .expect("raw results within the retention");
    assert!(
        oldest >= pruned.horizon - 3_600_000,
        "{oldest} vs {}",
        pruned.horizon
    );
    assert_eq!(
        (held(&*app.store, "sw"), held(&*app.store, "ap1")),
        held_before,
        "every result is still counted in a run"
    );

    // The report of the pruned month is the same, byte for byte.
    assert_eq!(month_report(&app, "2026-03"), before);
    // Re-deriving each device from the start of history, from the runs, gives the stored
    // outages again; applying it changes nothing in the report.
    for id in ["sw", "ap1"] {
        let again = rederive_device(&app.inventory, &*app.store, id, ms(minute(0))).unwrap();
        let stored: Vec<Outage> = outages(&*app.store, id)
            .into_iter()
            .filter(|o| o.start >= again.from)
            .collect();
        assert_eq!(again.outages, stored, "{id}");
        app.store.replace_outages(&[again]).unwrap();
    }
    assert_eq!(
        (outages(&*app.store, "sw"), outages(&*app.store, "ap1")),
        outages_before
    );
    assert_eq!(month_report(&app, "2026-03"), before);
    // A second pass finds nothing more to do.
    assert_eq!(app.prune().unwrap().removed, 0);
}

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn a_late_batch_from_beyond_the_horizon_changes_the_outages(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let db = backend.fresh(dir.path(), "dv");
    let (app, clock) = app_at(dir.path(), &db, 2 * DAY);
    // a2 probes sw-t for two days, then goes quiet.
    ingest(&app, "a2", "early", history("sw-t", 0, 2 * DAY, |_| false));
    *clock.lock().unwrap() = minute(35 * DAY);
    app.prune().unwrap();
    let quiet = outages(&*app.store, "sw-t");
    assert_eq!(quiet.len(), 1, "{quiet:?}");
    assert_eq!(quiet[0].kind.as_str(), "unknown");
    assert_eq!(quiet[0].start, ms(minute(2 * DAY - 1 + 3)));

    // Back after weeks with its spool: days 15 to 35 (the horizon is day 21), down on day 16
    // from 10:00 to 11:00.
    let down = |m: i64| (16 * DAY + 600..16 * DAY + 660).contains(&m);
    ingest(
        &app,
        "a2",
        "spool",
        history("sw-t", 15 * DAY, 35 * DAY, down),
    );
    let got: Vec<(String, i64, Option<i64>)> = outages(&*app.store, "sw-t")
        .iter()
        .map(|o| (o.kind.as_str().to_string(), o.start, o.end))
        .collect();
    let at = |m: i64| ms(minute(m));
    assert_eq!(
        got,
        vec![
            ("unknown".into(), at(2 * DAY + 2), Some(at(15 * DAY))),
            ("down".into(), at(16 * DAY + 600), Some(at(16 * DAY + 660))),
            ("unknown".into(), at(35 * DAY - 1 + 3), None),
        ]
    );
    // Counted, and not kept raw past the next pass: the results before the horizon are runs.
    let pruned = app.prune().unwrap();
    assert!(pruned.removed > 0);
    let raw_before_horizon = app
        .store
        .results("sw-t", i64::MIN / 2)
        .unwrap()
        .iter()
        .filter(|r| r.time < pruned.horizon && r.count == 1 && r.until == r.time)
        .count();
    assert!(
        raw_before_horizon <= 2,
        "{raw_before_horizon} single results kept"
    );
    assert_eq!(held(&*app.store, "sw-t"), (2 + 20) * DAY as u64);
    // Derivation from the runs agrees with what was derived from the raw results.
    let again = rederive_device(&app.inventory, &*app.store, "sw-t", at(0)).unwrap();
    let stored: Vec<Outage> = outages(&*app.store, "sw-t")
        .into_iter()
        .filter(|o| o.start >= again.from)
        .collect();
    assert_eq!(again.outages, stored);
}

fn a_replayed_batch_is_applied_once_across_pruning(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let db = backend.fresh(dir.path(), "dv");
    let (app, clock) = app_at(dir.path(), &db, DAY);
    let old: Vec<ProbeResult> = history("sw", 0, DAY, |m| (100..110).contains(&m));
    let old_batch = Batch {
        agent: "a1".into(),
        batch_id: "a1-1-0-1439".into(),
        results: old.clone(),
    };
    assert_eq!(
        app.ingest_blocking("a1", &old_batch).unwrap().accepted,
        DAY as usize
    );
    *clock.lock().unwrap() = minute(30 * DAY);
    let recent = Batch {
        agent: "a1".into(),
        batch_id: "a1-1-1440-2879".into(),
        results: history("sw", 29 * DAY, 30 * DAY, |_| false),
    };
    app.ingest_blocking("a1", &recent).unwrap();
    let before = outages(&*app.store, "sw");
    let batches_before = app.store.stats(true).unwrap().rows["dv_batches"];
    let pruned = app.prune().unwrap();
    assert_eq!(pruned.batches, 1, "the old batch id is forgotten");
    assert_eq!(
        app.store.stats(true).unwrap().rows["dv_batches"],
        batches_before - 1
    );

    // The agent replays the old batch: its id is forgotten, but every result is inside the
    // runs and is skipped as a duplicate.
    let r = app.ingest_blocking("a1", &old_batch).unwrap();
    assert_eq!(
        (r.accepted, r.duplicate_results),
        (0, DAY as usize),
        "{r:?}"
    );
    assert!(r.rejected.is_empty());
    // A recent batch is still known by its id.
    assert!(app.ingest_blocking("a1", &recent).unwrap().duplicate);
    assert_eq!(outages(&*app.store, "sw"), before);
    assert_eq!(held(&*app.store, "sw"), 2 * DAY as u64);
    // A result of the same time with another outcome inside a run is refused, not applied.
    let mut other = old[50].clone();
    other.ok = false;
    other.error = Some("timeout".into());
    let b = Batch {
        agent: "a1".into(),
        batch_id: "a1-2-0-0".into(),
        results: vec![other],
    };
    let r = app.ingest_blocking("a1", &b).unwrap();
    assert_eq!(r.accepted, 0);
    assert_eq!(r.rejected.len(), 1);
    assert!(
        r.rejected[0].reason.contains("summary"),
        "{}",
        r.rejected[0].reason
    );
    assert_eq!(outages(&*app.store, "sw"), before);
}

/// Results held (runs counted by what they hold), and the database's own integrity check
/// (SQLite's `integrity_check`; PostgreSQL: every observation's series exists).
fn held_and_integrity(db: &TestDb) -> (u64, String) {
    const HELD: &str = "SELECT sum(coalesce(count, 1)) FROM dv_obs";
    const ORPHANS: &str = "SELECT count(*) FROM dv_obs o WHERE NOT EXISTS \
                           (SELECT 1 FROM dv_series s WHERE s.id = o.series)";
    match (&db.location, &db.pg) {
        (Location::Sqlite(path), _) => {
            let conn = rusqlite::Connection::open(path).unwrap();
            let check: String = conn
                .query_row("PRAGMA integrity_check", [], |r| r.get(0))
                .unwrap();
            let n: i64 = conn.query_row(HELD, [], |r| r.get(0)).unwrap();
            (n as u64, check)
        }
        (Location::Postgres(_), Some(pg)) => {
            let n: u64 = pg.cluster.psql(&pg.name, HELD).parse().unwrap();
            let orphans = pg.cluster.psql(&pg.name, ORPHANS);
            (n, if orphans == "0" { "ok".into() } else { orphans })
        }
        (Location::Postgres(_), None) => unreachable!("a PostgreSQL test database"),
    }
}

fn a_collector_killed_while_pruning_reopens_intact(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let db = backend.fresh(dir.path(), "dv");
    let cfg = write_inventory(dir.path(), Some(Path::new(&db.text())));
    // Thirty to fifteen days ago (the binary runs on the wall clock): everything is due for
    // compaction at start.
    let now = Utc::now();
    let start = now - Duration::days(30);
    let devices = ["sw", "ap1", "ap2", "ap3", "prn"];
    let mut total = 0u64;
    {
        let store = store_of(&db);
        for day in 0..15 {
            let mut rs = Vec::new();
            for m in day * DAY..(day + 1) * DAY {
                let t = ms(start + Duration::minutes(m));
                for d in devices {
                    let ok = m % 97 > 3;
                    let cause = (!ok).then(|| "timeout".to_string());
                    rs.push(StoredResult::single(
                        "a1",
                        d,
                        "icmp",
                        t,
                        ok,
                        false,
                        cause,
                        "{}".into(),
                    ));
                }
            }
            total += rs.len() as u64;
            store
                .apply_batch("a1", &format!("d{day}"), &rs, ms(now))
                .unwrap();
        }
    }
    let count = || held_and_integrity(&db);
    for delay_ms in [0u64, 20, 60, 150] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_driftvakt-collector"))
            .args(["run", "--config"])
            .arg(&cfg)
            .args(["--listen", "127.0.0.1:0"])
            .env("RUST_LOG", "info")
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        loop {
            let line = lines
                .next()
                .expect("collector exited before listening")
                .unwrap();
            if line.contains("listening on") {
                break;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        assert_eq!(
            count(),
            (total, "ok".to_string()),
            "after a kill at {delay_ms} ms"
        );
    }
    // Reopened, a full pass finishes the work with nothing lost.
    let inv = Inventory::load(&cfg).unwrap();
    let (clock, _) = clock(now);
    let app = App::new(inv, store_of(&db), clock).unwrap();
    app.prune().unwrap();
    assert_eq!(count(), (total, "ok".to_string()));
    let stats = app.store.stats(true).unwrap();
    assert_eq!(
        stats.oldest_result, None,
        "no raw result is older than 14 days"
    );
    assert!(stats.runs > 0 && stats.runs < total / 10, "{stats:?}");
}

fn db_stats_shows_rows_bytes_oldest_result_and_horizon(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let db = backend.fresh(dir.path(), "dv");
    let cfg = write_inventory(dir.path(), Some(Path::new(&db.text())));
    let stats = |now: &str| -> serde_json::Value {
        let out = Command::new(env!("CARGO_BIN_EXE_driftvakt-collector"))
            .args(["db", "stats", "--config"])
            .arg(&cfg)
            .args(["--format", "json", "--now", now])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };
    drop(store_of(&db));
    let empty = stats("2026-03-20T00:00:00Z");
    assert!(empty["bytes"].as_u64().unwrap() > 0);
    assert!(empty["oldest_result"].is_null());
    assert_eq!(empty["retention_horizon"], "2026-03-06T00:00:00Z");
    {
        let store = store_of(&db);
        let rs: Vec<StoredResult> = (0..3)
            .map(|m| {
                let t = ms(minute(m));
                StoredResult::single("a1", "sw", "icmp", t, true, false, None, "{}".into())
            })
            .collect();
        store.apply_batch("a1", "b", &rs, ms(minute(3))).unwrap();
    }
    let some = stats("2026-03-20T00:00:00Z");
    assert_eq!(some["oldest_result"], "2026-03-10T00:00:00Z");
    assert_eq!(some["rows"]["dv_obs"], 3);
    assert_eq!(some["raw_results"], 3);
}

both_backends!(
    pruning_keeps_reports_and_re_derivation_exact,
    a_late_batch_from_beyond_the_horizon_changes_the_outages,
    a_replayed_batch_is_applied_once_across_pruning,
    a_collector_killed_while_pruning_reopens_intact,
    db_stats_shows_rows_bytes_oldest_result_and_horizon,
);
