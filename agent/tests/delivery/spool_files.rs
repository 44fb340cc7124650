//! The spool on real files: append, reopen and replay in order; torn tails cut off without losing
//! earlier records; a full spool drops its oldest results and counts them; the cursor deletes
//! confirmed segments; batch ids stay the same across reopening; a folder removed under a running
//! spool is made again with everything unconfirmed in it.

use chrono::{DateTime, Duration, Utc};
use driftvakt_agent::metrics::SpoolMetrics;
use driftvakt_agent::spool::{Spool, SpoolBatch, SpoolOptions};
use driftvakt_common::wire::ProbeResult;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

fn result(i: u64, time: DateTime<Utc>) -> ProbeResult {
    ProbeResult {
        target: format!("dev-{}", i % 7),
        check: "icmp".into(),
        time,
        ok: !i.is_multiple_of(3),
        duration_ms: i as f64,
        error: i.is_multiple_of(3).then(|| "timeout".to_string()),
        detail: None,
        findings: vec![],
        values: [(
            "n".to_string(),
            driftvakt_common::wire::Value::Number(i as f64),
        )]
        .into(),
    }
}

fn results(range: std::ops::Range<u64>) -> Vec<ProbeResult> {
    let t0: DateTime<Utc> = "2026-03-17T08:00:00Z".parse().unwrap();
    range
        .map(|i| result(i, t0 + Duration::seconds(i as i64)))
        .collect()
}

fn opts(batch: usize) -> SpoolOptions {
    SpoolOptions::new(64 << 20, batch)
}

fn open(dir: &Path, o: SpoolOptions) -> Spool {
    Spool::open(dir, o, SpoolMetrics::default()).unwrap()
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    v.sort();
    v
}

/// Reads and confirms every batch (partial ones too); returns them.
fn drain(spool: &Spool) -> Vec<SpoolBatch> {
    let mut out = Vec::new();
    while let Some(b) = spool.read_batch(true).unwrap() {
        spool.ack(&b).unwrap();
        let partial = b.partial;
        out.push(b);
        if partial {
            break;
        }
    }
    out
}

#[test]
fn append_reopen_and_replay_in_order_by_fixed_windows() {
    let dir = tempfile::tempdir().unwrap();
    let input = results(0..25);
    {
        let spool = open(dir.path(), opts(10));
        assert_eq!(spool.append(&input).unwrap(), Some(25));
        assert_eq!(spool.depth(), 25);
    }
    let spool = open(dir.path(), opts(10));
    assert_eq!(spool.depth(), 25);
    let b1 = spool.read_batch(false).unwrap().unwrap();
    assert_eq!((b1.first_seq, b1.last_seq, b1.partial), (1, 9, false));
    assert_eq!(b1.id("ag"), format!("ag-{}-1-9", spool.incarnation()));
    spool.ack(&b1).unwrap();
    let b2 = spool.read_batch(false).unwrap().unwrap();
    assert_eq!((b2.first_seq, b2.last_seq), (10, 19));
    spool.ack(&b2).unwrap();
    let b3 = spool.read_batch(false).unwrap().unwrap();
    assert_eq!((b3.first_seq, b3.last_seq), (20, 25));
    assert!(!b3.partial, "reopening sealed the window");
    spool.ack(&b3).unwrap();
    let all: Vec<_> = [b1, b2, b3].into_iter().flat_map(|b| b.results).collect();
    assert_eq!(all, input, "every result, in order, unchanged");
    assert_eq!(spool.depth(), 0);
    assert!(spool.read_batch(true).unwrap().is_none());
    // New results after the seal start at the next window.
    assert_eq!(spool.append(&results(25..26)).unwrap(), Some(30));
}

#[test]
fn the_open_window_is_sent_only_when_allowed_and_then_sealed() {
    let dir = tempfile::tempdir().unwrap();
    let spool = open(dir.path(), opts(10));
    spool.append(&results(0..4)).unwrap();
    assert!(spool.read_batch(false).unwrap().is_none());
    let b = spool.read_batch(true).unwrap().unwrap();
    assert_eq!((b.first_seq, b.last_seq, b.partial), (1, 4, true));
    // Sealed: more results do not change the batch handed out.
    assert_eq!(spool.append(&results(4..5)).unwrap(), Some(10));
    let again = spool.read_batch(false).unwrap().unwrap();
    assert_eq!(again.id("a"), b.id("a"));
    assert_eq!(again.results, b.results);
}

#[test]
fn batch_ids_are_stable_across_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let first_ids: Vec<String> = {
        let spool = open(dir.path(), opts(10));
        spool.append(&results(0..23)).unwrap();
        let b = spool.read_batch(false).unwrap().unwrap();
        spool.ack(&b).unwrap();
        let sent = spool.read_batch(true).unwrap().unwrap();
        spool.ack(&sent).unwrap();
        // Sent but not confirmed before the "crash": the partial window 20..23.
        let unconfirmed = spool.read_batch(true).unwrap().unwrap();
        assert!(unconfirmed.partial);
        vec![unconfirmed.id("a")]
    };
    let spool = open(dir.path(), opts(10));
    spool.append(&results(23..40)).unwrap();
    let replay = spool.read_batch(false).unwrap().unwrap();
    assert_eq!(vec![replay.id("a")], first_ids);
    assert_eq!(replay.id("a"), format!("a-{}-20-23", spool.incarnation()));
}

#[test]
fn a_torn_tail_is_cut_off_and_earlier_records_survive() {
    let dir = tempfile::tempdir().unwrap();
    open(dir.path(), opts(10)).append(&results(0..20)).unwrap();
    let seg = segments(dir.path()).pop().unwrap();
    let len = fs::metadata(&seg).unwrap().len();
    OpenOptions::new()
        .write(true)
        .open(&seg)
        .unwrap()
        .set_len(len - 5)
        .unwrap();
    let spool = open(dir.path(), opts(10));
    assert_eq!(spool.repairs().len(), 1, "{:?}", spool.repairs());
    assert_eq!(spool.repairs()[0].reason, "short record");
    let recs = spool.records().unwrap();
    assert_eq!(recs.len(), 19);
    assert_eq!(
        recs.iter().map(|r| r.seq).collect::<Vec<_>>(),
        (1..20).collect::<Vec<_>>()
    );
    assert_eq!(
        recs.into_iter().map(|r| r.result).collect::<Vec<_>>(),
        results(0..19)
    );
    assert!(spool.append(&results(20..21)).unwrap().unwrap() > 19);
}

#[test]
fn garbage_after_the_last_record_is_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    open(dir.path(), opts(10)).append(&results(0..20)).unwrap();
    let seg = segments(dir.path()).pop().unwrap();
    let mut f = OpenOptions::new().append(true).open(&seg).unwrap();
    // A plausible length and checksum, then a payload that does not match it.
    f.write_all(&40u32.to_le_bytes()).unwrap();
    f.write_all(&[0xAB; 44]).unwrap();
    drop(f);
    let spool = open(dir.path(), opts(10));
    assert_eq!(spool.repairs().len(), 1);
    assert_eq!(spool.repairs()[0].reason, "checksum mismatch");
    assert_eq!(spool.repairs()[0].cut, 48);
    assert_eq!(spool.records().unwrap().len(), 20);
    assert_eq!(spool.depth(), 20);
    // Reopening again finds nothing more to repair.
    drop(spool);
    assert!(open(dir.path(), opts(10)).repairs().is_empty());
}

#[test]
fn a_full_spool_drops_the_oldest_results_and_counts_them() {
    let dir = tempfile::tempdir().unwrap();
    let metrics = SpoolMetrics::default();
    let o = SpoolOptions {
        max_bytes: 64 << 10,
        batch_size: 10,
        segment_bytes: 4 << 10,
        sync_interval: std::time::Duration::ZERO,
    };
    let spool = Spool::open(dir.path(), o, metrics.clone()).unwrap();
    let total = 3000;
    for chunk in (0..total).collect::<Vec<u64>>().chunks(50) {
        spool
            .append(&results(chunk[0]..chunk[0] + chunk.len() as u64))
            .unwrap();
    }
    assert!(spool.bytes() <= o.max_bytes, "{} bytes", spool.bytes());
    let dropped = metrics.dropped_results.get();
    assert!(dropped > 0);
    assert_eq!(
        dropped + spool.depth(),
        total,
        "every result kept or counted"
    );
    assert_eq!(metrics.results.get() as u64, spool.depth());
    // What is left is the newest results, contiguous and in order.
    let recs = spool.records().unwrap();
    assert_eq!(recs.len() as u64, spool.depth());
    assert_eq!(recs.last().unwrap().seq, total);
    assert!(recs.windows(2).all(|w| w[1].seq == w[0].seq + 1));
    assert_eq!(
        recs.into_iter().map(|r| r.result).collect::<Vec<_>>(),
        results(total - spool.depth()..total)
    );
    // Replay starts at the oldest kept result.
    let b = spool.read_batch(false).unwrap().unwrap();
    assert_eq!(b.first_seq, total - spool.depth() + 1);
}

#[test]
fn confirming_deletes_segments_below_the_cursor_and_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let o = SpoolOptions {
        max_bytes: 64 << 20,
        batch_size: 10,
        segment_bytes: 4 << 10,
        sync_interval: std::time::Duration::ZERO,
    };
    let spool = open(dir.path(), o);
    spool.append(&results(0..300)).unwrap();
    let before = segments(dir.path()).len();
    assert!(before > 5, "{before} segments");
    for _ in 0..20 {
        let b = spool.read_batch(false).unwrap().unwrap();
        spool.ack(&b).unwrap();
    }
    assert_eq!(spool.acked_through(), 199);
    assert_eq!(spool.depth(), 101);
    let after = segments(dir.path()).len();
    assert!(after < before, "{before} -> {after}");
    drop(spool);
    let spool = open(dir.path(), o);
    assert_eq!(spool.acked_through(), 199);
    assert_eq!(spool.depth(), 101);
    let rest: Vec<_> = drain(&spool).into_iter().flat_map(|b| b.results).collect();
    assert_eq!(rest, results(199..300));
    assert_eq!(segments(dir.path()).len(), 0, "everything confirmed");
}

#[test]
fn the_incarnation_is_written_once_and_kept_across_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let first = open(dir.path(), opts(10)).incarnation();
    assert_eq!(first.len(), 16, "{first}");
    assert!(first.bytes().all(|b| b.is_ascii_hexdigit()), "{first}");
    let file = dir.path().join(driftvakt_agent::spool::INCARNATION_FILE);
    assert_eq!(fs::read_to_string(&file).unwrap(), format!("{first}\n"));
    for _ in 0..3 {
        assert_eq!(open(dir.path(), opts(10)).incarnation(), first);
    }
    assert!(
        !dir.path().join(".incarnation.tmp").exists(),
        "no temporary file left behind"
    );
}

#[test]
fn a_lost_spool_folder_gets_a_new_incarnation_and_new_batch_ids() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("spool");
    let (old_inc, old_id) = {
        let spool = open(&dir, opts(10));
        spool.append(&results(0..5)).unwrap();
        let b = spool.read_batch(true).unwrap().unwrap();
        spool.ack(&b).unwrap();
        (spool.incarnation(), b.id("ag"))
    };
    fs::remove_dir_all(&dir).unwrap();
    let spool = open(&dir, opts(10));
    spool.append(&results(100..105)).unwrap();
    let b = spool.read_batch(true).unwrap().unwrap();
    assert_eq!(
        (b.first_seq, b.last_seq),
        (1, 5),
        "sequence numbers start over"
    );
    assert_ne!(spool.incarnation(), old_inc);
    assert_ne!(
        b.id("ag"),
        old_id,
        "the new spool's first batch is not the old one's"
    );
    assert_eq!(b.id("ag"), format!("ag-{}-1-5", spool.incarnation()));
}

#[test]
fn a_spool_from_before_incarnations_gets_one_and_keeps_its_records() {
    let dir = tempfile::tempdir().unwrap();
    open(dir.path(), opts(10)).append(&results(0..7)).unwrap();
    let file = dir.path().join(driftvakt_agent::spool::INCARNATION_FILE);
    fs::remove_file(&file).unwrap();
    let spool = open(dir.path(), opts(10));
    let inc = spool.incarnation();
    assert_eq!(fs::read_to_string(&file).unwrap().trim(), inc);
    let b = spool.read_batch(true).unwrap().unwrap();
    assert_eq!(b.results, results(0..7));
    assert_eq!(b.id("ag"), format!("ag-{inc}-1-7"));
    drop(spool);
    assert_eq!(open(dir.path(), opts(10)).incarnation(), inc);
}

/// Every result in `spool`'s files, read by a fresh open (what a restarted agent finds).
fn reopened_results(dir: &Path) -> Vec<ProbeResult> {
    open(dir, opts(10))
        .records()
        .unwrap()
        .into_iter()
        .map(|r| r.result)
        .collect()
}

#[test]
fn a_folder_removed_under_a_running_spool_is_made_again_with_the_unconfirmed_results() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("spool");
    let metrics = SpoolMetrics::default();
    // Small segments, so the unconfirmed results span several files (only the last one open
    // for appending).
    let o = SpoolOptions {
        max_bytes: 64 << 20,
        batch_size: 10,
        segment_bytes: 4 << 10,
        sync_interval: std::time::Duration::ZERO,
    };
    let spool = Spool::open(&dir, o, metrics.clone()).unwrap();
    spool.append(&results(0..9)).unwrap();
    let confirmed = spool.read_batch(true).unwrap().unwrap();
    spool.ack(&confirmed).unwrap();
    spool.append(&results(9..80)).unwrap();
    assert!(segments(&dir).len() > 2, "{:?}", segments(&dir));
    let in_flight = spool.read_batch(true).unwrap().unwrap();
    let old = spool.incarnation();

    fs::remove_dir_all(&dir).unwrap();
    spool.append(&results(80..85)).unwrap();

    assert!(dir.is_dir(), "the folder is made again");
    assert_ne!(spool.incarnation(), old, "a new incarnation");
    assert_eq!(metrics.resets.get(), 1);
    assert_eq!(spool.depth(), 76, "every unconfirmed result kept");
    // Confirming a batch read before the reset confirms nothing of the new spool.
    spool.ack(&in_flight).unwrap();
    assert_eq!(spool.depth(), 76);
    assert_eq!(reopened_results(&dir), results(9..85), "on disk, in order");
    let first = spool.read_batch(true).unwrap().unwrap();
    assert_eq!(first.id("ag"), format!("ag-{}-1-9", spool.incarnation()));
    assert_eq!(first.results, results(9..18));
}

#[test]
fn a_folder_removed_before_a_read_is_noticed_by_the_read() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("spool");
    let spool = open(&dir, opts(10));
    spool.append(&results(0..25)).unwrap();
    fs::remove_dir_all(&dir).unwrap();
    let mut sent = Vec::new();
    while let Some(b) = spool.read_batch(true).unwrap() {
        sent.extend(b.results.clone());
        spool.ack(&b).unwrap();
    }
    assert_eq!(
        sent,
        results(0..25),
        "every result read once, from the new spool"
    );
    assert_eq!(spool.depth(), 0);
    assert!(dir.join(driftvakt_agent::spool::INCARNATION_FILE).is_file());
    // Another folder put in its place is not the spool's either.
    spool.append(&results(25..30)).unwrap();
    fs::remove_dir_all(&dir).unwrap();
    fs::create_dir(&dir).unwrap();
    spool.append(&results(30..32)).unwrap();
    assert_eq!(reopened_results(&dir), results(25..32));
}
