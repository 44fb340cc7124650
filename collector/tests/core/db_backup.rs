//! `db backup` and `db restore` with the real binaries: 20 posters write batches through a
//! running collector on SQLite while `db backup` copies the file. The backup is a consistent
//! snapshot (for every poster a whole prefix of its batches, nothing torn); `db restore`
//! refuses while the collector runs and, once it was killed (SIGKILL: the database's `-wal`
//! holds what came after the backup), puts the backup over the database.
//! The year report of the restored database equals the source's at the backup's instant.
//!
//! "The backup's instant" as a report sees it: each poster writes its device's results in time
//! order, so the backup holds every result up to each device's last one in it. `T` is the
//! earliest of those last results, less a margin longer than the state machine looks ahead
//! (three failures to confirm an outage, three intervals to call a device stale): every
//! outage, flap and unknown span before `T` follows from results both databases hold. Both
//! reports are run with `--period YEAR --now T` (the year clipped at `T`), the source's after
//! every poster finished, so it holds far more than the backup.
//!
//! The restored database is then run again, every poster replays all of its batches (those in
//! the backup are recognised as duplicates, the rest stored), and each result is stored once.

use super::db_copy::binary;
use chrono::{DateTime, Datelike, Duration as Span, DurationRound, Utc};
use driftvakt_collector_testkit::inventory::Inventory;
use driftvakt_collector_testkit::ports::free_port;
use driftvakt_collector_testkit::process::{read_log, start_collector, Proc};
use driftvakt_collector_testkit::results_db;
use driftvakt_common::wire::{Batch, ProbeResult};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const POSTERS: usize = 20;
const BATCHES: usize = 40;
/// Results per batch, one a second of result time.
const PER_BATCH: usize = 10;
const TOKEN: &str = "backup-poster-token-0123456789";
/// Longer than the state machine's look-ahead (3 × 1 s to confirm, 3 × 1 s stale).
const MARGIN_S: i64 = 60;

/// 20 devices `d0`…`d19`, one a poster, every second an icmp result.
fn inventory(dir: &Path, db: &Path) -> std::path::PathBuf {
    let mut inv =
        Inventory::new()
            .collector("database", db.display())
            .site("hus", "Stadshuset", "Tranemo");
    for i in 0..POSTERS {
        inv = inv.device(&format!(
            "{{ id: d{i}, class: access_point, site: hus, address: 127.0.0.{}, interval: 1s, \
             checks: [icmp] }}",
            i + 1
        ));
    }
    inv.agent(dir, "a1", TOKEN, "sites: [hus]").write(dir)
}

/// Poster `p`'s batch `k`: results `k*10 … k*10+9` seconds after `base`; down 30 s of every
/// 120 s, shifted per device, so there are outages to report.
fn batch(p: usize, k: usize, base: DateTime<Utc>) -> String {
    let results: Vec<ProbeResult> = (0..PER_BATCH)
        .map(|j| {
            let s = (k * PER_BATCH + j) as i64;
            let ok = ((s + 7 * p as i64) / 30) % 4 != 0;
            ProbeResult {
                target: format!("d{p}"),
                check: "icmp".into(),
                time: base + Span::seconds(s),
                ok,
                duration_ms: 1.0,
                error: (!ok).then(|| "timeout".to_string()),
                detail: None,
                findings: Vec::new(),
                values: Default::default(),
            }
        })
        .collect();
    serde_json::to_string(&Batch {
        agent: "a1".into(),
        batch_id: format!("p{p}-{k}"),
        results,
    })
    .unwrap()
}

/// Posts until the collector confirms (a 503 or no answer is retried with the same id);
/// whether it was a duplicate.
fn post_confirmed(port: u16, json: &str) -> bool {
    let start = Instant::now();
    loop {
        match driftvakt_collector_testkit::http::post_json(port, "/api/v1/results", TOKEN, json) {
            Some((200, _, body)) => {
                let r: serde_json::Value = serde_json::from_str(&body).unwrap();
                assert_eq!(r["rejected"], serde_json::json!([]), "{r}");
                return r["duplicate"] == true;
            }
            Some((503, _, _)) | None => std::thread::sleep(Duration::from_millis(50)),
            Some((status, _, body)) => panic!("push answered {status}: {body}"),
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "a batch was not confirmed within 60 s"
        );
    }
}

/// 20 threads, each posting its batches in order; `done[p]` counts the confirmed ones.
fn start_posters(
    port: u16,
    base: DateTime<Utc>,
    done: &Arc<Vec<AtomicUsize>>,
) -> Vec<std::thread::JoinHandle<usize>> {
    (0..POSTERS)
        .map(|p| {
            let done = done.clone();
            std::thread::spawn(move || {
                let mut duplicates = 0;
                for k in 0..BATCHES {
                    duplicates += usize::from(post_confirmed(port, &batch(p, k, base)));
                    done[p].store(k + 1, Ordering::SeqCst);
                }
                duplicates
            })
        })
        .collect()
}

/// Result times (ms) per device stored in `db`.
fn stored_times(db: &Path) -> BTreeMap<String, Vec<i64>> {
    let mut out: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for (target, _, t) in results_db::stored_keys(db, "a1") {
        out.entry(target).or_default().push(t);
    }
    out
}

fn report(cfg: &Path, db: &Path, now: DateTime<Utc>) -> serde_json::Value {
    let (cfg, db) = (cfg.to_string_lossy(), db.to_string_lossy());
    let year = now.year().to_string();
    let now = now.to_rfc3339();
    let args = [
        "report",
        "--config",
        &cfg,
        "--database",
        &db,
        "--period",
        &year,
        "--format",
        "json",
        "--now",
        &now,
    ];
    let out = binary(&args).unwrap_or_else(|e| panic!("report on {db}: {e}"));
    serde_json::from_str(&out).unwrap()
}

fn rows(copied: &str) -> BTreeMap<String, u64> {
    let v: serde_json::Value = serde_json::from_str(copied).unwrap();
    v["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["table"].as_str().unwrap().into(),
                t["rows"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn backup_while_20_posters_write_restores_the_report_at_its_instant() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db/collector.db");
    let cfg = inventory(dir.path(), &db);
    let (cfg_s, db_s) = (cfg.to_string_lossy(), db.to_string_lossy());
    let base = (Utc::now() - Span::hours(6))
        .duration_trunc(Span::hours(1))
        .unwrap();
    let port = free_port();
    let mut collector = start_collector(&cfg, port, &db, &dir.path().join("c1.log")).await;

    let done: Arc<Vec<AtomicUsize>> = Arc::new((0..POSTERS).map(|_| AtomicUsize::new(0)).collect());
    let posters = start_posters(port, base, &done);
    let confirmed = || -> Vec<usize> { done.iter().map(|d| d.load(Ordering::SeqCst)).collect() };
    let start = Instant::now();
    while confirmed().into_iter().min().unwrap() < 15 {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "posters stalled: {:?}",
            confirmed()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let backup = dir.path().join("backups/b1.db");
    std::fs::create_dir_all(backup.parent().unwrap()).unwrap();
    let before = confirmed();
    let b = backup.to_string_lossy();
    let took = Instant::now();
    let out = binary(&[
        "db", "backup", "--config", &cfg_s, "--to", &b, "--format", "json",
    ])
    .unwrap_or_else(|e| panic!("db backup: {e}"));
    let took = took.elapsed();
    let after = confirmed();
    let backup_rows = rows(&out);
    // A second backup to the same name is refused: a backup never overwrites.
    let again = binary(&["db", "backup", "--config", &cfg_s, "--to", &b]).unwrap_err();
    assert!(again.contains("never overwrites"), "{again}");
    // Restore refuses while the collector runs on the database.
    let refused = binary(&["db", "restore", "--config", &cfg_s, "--from", &b]).unwrap_err();
    assert!(
        refused.contains("a collector is running on") && refused.contains("stop it first"),
        "{refused}"
    );

    for p in posters {
        assert_eq!(
            p.join().unwrap(),
            0,
            "no batch was a duplicate the first time"
        );
    }
    assert!(
        !read_log(&collector.log).contains("ERROR"),
        "{}",
        collector.describe()
    );
    // SIGKILL: the database keeps a `-wal` with what came after the backup. The source as it
    // stands (file and log) is kept aside for its report; the restore goes over the original.
    collector.kill();
    let wal = dir.path().join("db/collector.db-wal");
    assert!(
        wal.metadata().is_ok_and(|m| m.len() > 0),
        "the source has a -wal"
    );
    let source = dir.path().join("source/collector.db");
    std::fs::create_dir_all(source.parent().unwrap()).unwrap();
    std::fs::copy(&db, &source).unwrap();
    std::fs::copy(&wal, dir.path().join("source/collector.db-wal")).unwrap();

    // A consistent snapshot: per device a whole prefix of its batches, each batch whole, at
    // least what was confirmed before the backup began and at most what was sent when it
    // ended.
    let in_backup = stored_times(&backup);
    assert_eq!(in_backup.len(), POSTERS, "every device is in the backup");
    let mut last_in_backup = Vec::new();
    let mut batches_in_backup = 0;
    for (p, (lo, hi)) in before.iter().zip(&after).enumerate() {
        let times = &in_backup[&format!("d{p}")];
        assert_eq!(times.len() % PER_BATCH, 0, "d{p}: whole batches only");
        let n = times.len() / PER_BATCH;
        // At most one batch per poster is in flight: committed, its answer not yet read.
        assert!(
            (*lo..=*hi + 1).contains(&n),
            "d{p}: {n} batches, confirmed {lo}..{hi}"
        );
        let expected: Vec<i64> = (0..n * PER_BATCH)
            .map(|s| (base + Span::seconds(s as i64)).timestamp_millis())
            .collect();
        assert_eq!(
            times, &expected,
            "d{p}: the first {n} batches, nothing torn"
        );
        last_in_backup.push(*expected.last().unwrap());
        batches_in_backup += n;
    }
    assert_eq!(backup_rows["dv_batches"], batches_in_backup as u64);
    let total = POSTERS * BATCHES;
    assert!(batches_in_backup < total, "the backup was taken mid-write");
    assert_eq!(
        results_db::stored_count(&source, "a1"),
        (total * PER_BATCH) as i64
    );

    // The year report at the backup's instant (module doc), source against backup.
    let at = DateTime::from_timestamp_millis(*last_in_backup.iter().min().unwrap()).unwrap()
        - Span::seconds(MARGIN_S);
    let source_report = report(&cfg, &source, at);
    // Restore over the stopped database (its -wal must not be replayed over the backup).
    let restored = binary(&[
        "db", "restore", "--config", &cfg_s, "--from", &b, "--format", "json",
    ])
    .unwrap_or_else(|e| panic!("db restore: {e}"));
    assert_eq!(
        rows(&restored),
        backup_rows,
        "the restored rows are the backup's"
    );
    assert_eq!(stored_times(&db), in_backup);
    let restored_report = report(&cfg, &db, at);
    assert_eq!(restored_report, source_report, "the year report at {at}");
    assert!(
        restored_report["devices"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["outages"].as_u64() > Some(0)),
        "the report has outages: {restored_report}"
    );

    // The restored database runs again; the posters replay everything: what the backup held
    // is recognised, the rest stored, each result once.
    let port = free_port();
    let mut collector: Proc = start_collector(&cfg, port, &db, &dir.path().join("c2.log")).await;
    let done: Arc<Vec<AtomicUsize>> = Arc::new((0..POSTERS).map(|_| AtomicUsize::new(0)).collect());
    let duplicates: usize = start_posters(port, base, &done)
        .into_iter()
        .map(|p| p.join().unwrap())
        .sum();
    collector.terminate(Duration::from_secs(20));
    assert_eq!(
        duplicates, batches_in_backup,
        "the backup's batches are known"
    );
    assert_eq!(
        results_db::stored_count(&db, "a1"),
        (total * PER_BATCH) as i64
    );
    assert_eq!(results_db::stored_duplicates(&db, "a1"), 0);
    eprintln!(
        "db backup of {} batches took {took:?} while 20 posters wrote; {db_s}",
        batches_in_backup
    );
}
