//! A long simulated run of the collector's storage: `devices` devices, two checks a minute each
//! (ICMP and TCP), a few outages a day, for `days` simulated days with
//! `collector.retention.results` at `retention_days`, through the collector library in this
//! process (the real SQLite store, `synchronous=FULL`, the real ingest and re-derivation, and
//! a pruning pass every simulated hour, as `run` does every minute). The clock is simulated;
//! every duration below is wall time.
//!
//! Figures: the database's bytes on disk at the end of days 1, 14, 30 and `days`; the ingest
//! rate (pruning passes included) and the year-report time on day 1 and on the last day; bytes
//! per raw result; the growth per device-day once the horizon is reached; and whether the
//! report of January, built once at the end of January (its last 14 days still raw) and once
//! at the end (all of it compacted into runs), is byte for byte the same.

use anyhow::{ensure, Result};
use chrono::{DateTime, Duration, Utc};
use driftvakt_collector::app::App;
use driftvakt_collector::availability::{period_of, NoWindows};
use driftvakt_collector::clock::Clock;
use driftvakt_collector::inventory::Inventory;
use driftvakt_collector::report::{build, render, Format};
use driftvakt_collector::store::{SqliteStore, StoreError};
use driftvakt_common::wire::{Batch, ProbeResult};
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex};
use std::time::Instant;

const DAY_MIN: i64 = 1440;
/// Minutes per batch (each device's results of five minutes).
const BATCH_MIN: i64 = 5;
/// Outages a day, 20 minutes each, on devices that change from day to day.
const OUTAGES_PER_DAY: i64 = 3;

/// The figures of one long run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LongRun {
    pub devices: usize,
    pub days: i64,
    pub retention_days: i64,
    pub results: u64,
    /// (day, bytes on disk, raw result rows, runs) at the end of that day.
    pub size_at: Vec<(i64, u64, u64, u64)>,
    pub ingest_day1_results_per_s: f64,
    pub ingest_last_day_results_per_s: f64,
    pub year_report_day1_ms: f64,
    pub year_report_last_day_ms: f64,
    /// Bytes on disk per raw result at the horizon (day `retention_days`, nothing compacted yet).
    pub bytes_per_raw_result: f64,
    /// Growth of the file from day 30 to the last day, per device and day (after the horizon).
    pub growth_per_device_day: f64,
    pub outages_stored: usize,
    pub january_report_bytes: usize,
    pub january_report_identical: bool,
    /// Batch latency beside the hourly pruning passes of the steady state against without one
    /// (see [`steady_pruning_latency`]).
    pub pruning_steady: PruningLatency,
    /// The same beside one pass catching up [`BACKLOG_MIN`] minutes (see [`pruning_latency`]).
    pub pruning: PruningLatency,
}

/// Each batch's ingest latency (ms) with no pruning running, and while a pruning pass runs in
/// another thread.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PruningLatency {
    pub batches_without: usize,
    pub p50_ms_without: f64,
    pub p99_ms_without: f64,
    pub batches_during: usize,
    pub p50_ms_during: f64,
    pub p99_ms_during: f64,
    /// The (longest) pruning pass's wall time and the raw rows merged away.
    pub pass_ms: f64,
    pub rows_removed: usize,
}

/// Minutes of results left uncompacted before the measured pruning pass (two days: a pass long
/// enough for a few dozen batches beside it).
const BACKLOG_MIN: i64 = 2 * 1440;

fn start() -> DateTime<Utc> {
    "2026-01-01T00:00:00Z".parse().expect("a valid instant")
}

fn inventory(dir: &std::path::Path, devices: usize, retention_days: i64) -> Result<Inventory> {
    let db = dir.join("long.db");
    let path = crate::collector_gen::write_inventory(dir, devices, 1, &db)?;
    let text = std::fs::read_to_string(&path)?
        .replace(
            "  target: 0.991\n",
            &format!("  target: 0.991\n  max_past: 3650d\n  retention:\n    results: {retention_days}d\n"),
        )
        .replace("checks: [icmp]", "checks: [icmp, { kind: tcp, port: 22 }]");
    std::fs::write(&path, text)?;
    Ok(Inventory::load(&path)?)
}

fn down(i: usize, m: i64, devices: usize) -> bool {
    let day = m / DAY_MIN;
    (0..OUTAGES_PER_DAY).any(|k| {
        let who = ((day * 7 + k * 31) as usize) % devices;
        let at = 300 + k * 400;
        who == i && (at..at + 20).contains(&(m % DAY_MIN))
    })
}

fn batch(devices: usize, from_min: i64, n: u64) -> Batch {
    let mut results = Vec::with_capacity(devices * 2 * BATCH_MIN as usize);
    for m in from_min..from_min + BATCH_MIN {
        let t = start() + Duration::minutes(m);
        for i in 0..devices {
            let ok = !down(i, m, devices);
            for check in ["icmp", "tcp"] {
                results.push(ProbeResult {
                    target: crate::collector_gen::device(i),
                    check: check.into(),
                    time: t + Duration::seconds((i % 50) as i64),
                    ok,
                    duration_ms: 0.4,
                    error: (!ok).then(|| "timeout".to_string()),
                    detail: None,
                    findings: Vec::new(),
                    values: Default::default(),
                });
            }
        }
    }
    Batch {
        agent: crate::collector_gen::agent(0),
        batch_id: format!("{}-1-{n}", crate::collector_gen::agent(0)),
        results,
    }
}

fn year_report_ms(app: &App) -> Result<f64> {
    let now = app.now();
    let t = Instant::now();
    let period = period_of(Some("2026"), None, None, now).map_err(anyhow::Error::msg)?;
    let r = build(&app.inventory, &*app.store, &NoWindows, &period, now)?;
    let json = render(&r, Format::Json);
    ensure!(!json.is_empty());
    Ok(t.elapsed().as_secs_f64() * 1000.0)
}

fn january(app: &App) -> Result<String> {
    let now: DateTime<Utc> = "2026-02-01T00:00:00Z".parse()?;
    let period = period_of(Some("2026-01"), None, None, now).map_err(anyhow::Error::msg)?;
    let r = build(&app.inventory, &*app.store, &NoWindows, &period, now)?;
    Ok(render(&r, Format::Json))
}

/// Ingests one simulated batch at `from` minutes (the clock set just after it); its latency.
fn timed_batch(
    app: &App,
    now: &Mutex<DateTime<Utc>>,
    devices: usize,
    from: i64,
    n: &mut u64,
) -> Result<f64> {
    *now.lock().unwrap() = start() + Duration::minutes(from + BATCH_MIN) + Duration::seconds(55);
    let b = batch(devices, from, *n);
    *n += 1;
    let t = Instant::now();
    let r = app.ingest_blocking(&b.agent, &b)?;
    ensure!(r.rejected.is_empty(), "rejected: {:?}", r.rejected.first());
    Ok(t.elapsed().as_secs_f64() * 1000.0)
}

/// Simulated hours of the steady-state latency phase.
const STEADY_HOURS: i64 = 48;

/// Batch latency in the steady state `run` has: a pruning pass at the start of every simulated
/// hour, in another thread (each series' results an hour past the horizon), while the hour's
/// batches go on; a batch that starts while the pass runs counts as "during".
fn steady_pruning_latency(
    app: &App,
    now: &Mutex<DateTime<Utc>>,
    devices: usize,
    mut from: i64,
    n: &mut u64,
) -> Result<PruningLatency> {
    let (mut without, mut during) = (Vec::new(), Vec::new());
    let (mut pass_ms, mut removed) = (0.0f64, 0);
    for _ in 0..STEADY_HOURS {
        let pass = spawn_pass(app);
        for _ in 0..60 / BATCH_MIN {
            let running = !pass.is_finished();
            let ms = timed_batch(app, now, devices, from, n)?;
            from += BATCH_MIN;
            if running {
                during.push(ms);
            } else {
                without.push(ms);
            }
        }
        let (ms, pruned) = join_pass(pass)?;
        pass_ms = pass_ms.max(ms);
        removed += pruned.removed;
    }
    Ok(latency(&mut without, &mut during, pass_ms, removed))
}

type Pass = std::thread::JoinHandle<Result<(f64, driftvakt_collector::app::Pruned), StoreError>>;

/// One pruning pass in another thread, timed.
fn spawn_pass(app: &App) -> Pass {
    let pruner = app.clone();
    std::thread::spawn(move || {
        let t = Instant::now();
        pruner
            .prune()
            .map(|p| (t.elapsed().as_secs_f64() * 1000.0, p))
    })
}

fn join_pass(pass: Pass) -> Result<(f64, driftvakt_collector::app::Pruned)> {
    Ok(pass
        .join()
        .map_err(|_| anyhow::anyhow!("the pruning thread panicked"))??)
}

fn latency(
    without: &mut [f64],
    during: &mut [f64],
    pass_ms: f64,
    rows_removed: usize,
) -> PruningLatency {
    let (p50_without, p99_without) = p50_p99(without);
    let (p50_during, p99_during) = p50_p99(during);
    PruningLatency {
        batches_without: without.len(),
        p50_ms_without: p50_without,
        p99_ms_without: p99_without,
        batches_during: during.len(),
        p50_ms_during: p50_during,
        p99_ms_during: p99_during,
        pass_ms,
        rows_removed,
    }
}

/// Batch latency beside a pruning pass: [`BACKLOG_MIN`] minutes of batches with no pruning
/// (the "without" figures), then one pruning pass in another thread, compacting that backlog
/// of every series, while batches go on (the "during" figures, until the pass ends).
fn pruning_latency(
    app: &App,
    now: &Mutex<DateTime<Utc>>,
    devices: usize,
    mut from: i64,
    n: &mut u64,
) -> Result<PruningLatency> {
    let mut without = Vec::new();
    for _ in 0..BACKLOG_MIN / BATCH_MIN {
        without.push(timed_batch(app, now, devices, from, n)?);
        from += BATCH_MIN;
    }
    let pass = spawn_pass(app);
    let mut during = Vec::new();
    while !pass.is_finished() {
        during.push(timed_batch(app, now, devices, from, n)?);
        from += BATCH_MIN;
    }
    let (pass_ms, pruned) = join_pass(pass)?;
    Ok(latency(&mut without, &mut during, pass_ms, pruned.removed))
}

/// The median and 99th percentile of `v` (sorted here); zeros when empty.
fn p50_p99(v: &mut [f64]) -> (f64, f64) {
    v.sort_by(f64::total_cmp);
    let q = |q: f64| {
        v.get(((v.len() as f64 - 1.0) * q).round() as usize)
            .copied()
            .unwrap_or(0.0)
    };
    (q(0.5), q(0.99))
}

pub fn run(devices: usize, days: i64, retention_days: i64) -> Result<LongRun> {
    ensure!(
        days >= 32,
        "the run must pass the end of January (32 days or more)"
    );
    let dir = tempfile::tempdir()?;
    let inv = inventory(dir.path(), devices, retention_days)?;
    let store = SqliteStore::open(&dir.path().join("long.db"))?;
    let now = Arc::new(Mutex::new(start()));
    let clock_cell = now.clone();
    let clock: Arc<dyn Clock> = Arc::new(move || *clock_cell.lock().unwrap());
    let app = App::new(inv, Arc::new(store), clock)?;
    let mut out = LongRun {
        devices,
        days,
        retention_days,
        results: 0,
        size_at: Vec::new(),
        ingest_day1_results_per_s: 0.0,
        ingest_last_day_results_per_s: 0.0,
        year_report_day1_ms: 0.0,
        year_report_last_day_ms: 0.0,
        bytes_per_raw_result: 0.0,
        growth_per_device_day: 0.0,
        outages_stored: 0,
        january_report_bytes: 0,
        january_report_identical: false,
        pruning_steady: PruningLatency::default(),
        pruning: PruningLatency::default(),
    };
    let mut january_before = String::new();
    let mut bytes_day30 = 0u64;
    let mut n = 0u64;
    for day in 0..days {
        let t = Instant::now();
        let mut today = 0u64;
        for step in 0..DAY_MIN / BATCH_MIN {
            let from = day * DAY_MIN + step * BATCH_MIN;
            *now.lock().unwrap() =
                start() + Duration::minutes(from + BATCH_MIN) + Duration::seconds(55);
            let b = batch(devices, from, n);
            n += 1;
            let r = app.ingest_blocking(&b.agent, &b)?;
            ensure!(r.rejected.is_empty(), "rejected: {:?}", r.rejected.first());
            today += r.accepted as u64;
            if (from + BATCH_MIN) % 60 == 0 {
                app.prune()?;
            }
        }
        let rate = today as f64 / t.elapsed().as_secs_f64();
        out.results += today;
        let d = day + 1;
        if d == 1 {
            out.ingest_day1_results_per_s = rate;
            out.year_report_day1_ms = year_report_ms(&app)?;
        }
        if d == days {
            out.ingest_last_day_results_per_s = rate;
            out.year_report_last_day_ms = year_report_ms(&app)?;
        }
        if d == 31 {
            january_before = january(&app)?;
        }
        if [1, 7, retention_days, 30, 45, days].contains(&d) {
            let s = app.store.stats(true)?;
            out.size_at.push((d, s.bytes, s.raw_results, s.runs));
            if d == retention_days {
                out.bytes_per_raw_result = s.bytes as f64 / s.raw_results.max(1) as f64;
            }
            if d == 30 {
                bytes_day30 = s.bytes;
            }
            if d == days {
                out.growth_per_device_day =
                    (s.bytes as f64 - bytes_day30 as f64) / (devices as f64 * (days - 30) as f64);
            }
            eprintln!("day {d}: {s:?}, {rate:.0} results/s");
        }
    }
    out.pruning_steady = steady_pruning_latency(&app, &now, devices, days * DAY_MIN, &mut n)?;
    let from = days * DAY_MIN + STEADY_HOURS * 60;
    out.pruning = pruning_latency(&app, &now, devices, from, &mut n)?;
    let after = january(&app)?;
    out.january_report_bytes = after.len();
    out.january_report_identical = after == january_before;
    out.outages_stored = app
        .store
        .outages(
            driftvakt_collector::store::EntityKind::Device,
            None,
            i64::MIN / 2,
            i64::MAX / 2,
        )?
        .len();
    Ok(out)
}
