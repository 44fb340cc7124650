//! `driftvakt-bench pages`: what a reader of the pages waits for at region scale. One generated
//! inventory (`devices` devices in five municipalities, [`crate::collector_gen`]) with a year
//! of history, then for each collector binary named (the current build and, side by side, an
//! earlier one) on that same database:
//!
//! - `/driftinfo/m0`: the first request after start, the median of three more one at a time,
//!   then `readers` concurrent readers for `seconds` seconds (each request's latency; p50,
//!   p99, max; requests that took longer than [`TIMEOUT`] are counted as timeouts);
//! - the team page `/`, whole and for one municipality (`?kommun=m0`, where the build has it):
//!   the median of three, its size;
//! - the collector's RSS after start and at the end, and its CPU during the readers' window.
//!
//! The readers run in this process on a multi-thread runtime (keep-alive connections), so on
//! a 2-core machine they share the cores with the collector, as a real reverse proxy would.

use crate::collector_bench::{blocking_client, CollectorProc, Http};
use crate::collector_gen;
use crate::sys;
use anyhow::{anyhow, bail, Result};
use chrono::Utc;
use driftvakt_collector::inventory::Inventory;
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A request that takes longer than this counts as a timeout.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// What to measure.
#[derive(Debug, Clone)]
pub struct PagesSpec {
    pub devices: usize,
    pub outages: usize,
    pub readers: usize,
    pub seconds: u64,
    /// `(label, collector binary)`, measured one after the other on the same database.
    pub builds: Vec<(String, PathBuf)>,
}

/// Latencies of GETs of one path.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Latency {
    pub path: String,
    pub requests: usize,
    pub timeouts: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub bytes: usize,
}

/// One build's figures.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PagesRow {
    pub label: String,
    pub devices: usize,
    pub rss_started_kib: u64,
    pub rss_end_kib: u64,
    pub driftinfo_first_ms: f64,
    /// Three requests one after the other.
    pub driftinfo_single: Latency,
    /// `readers` concurrent readers (absent when one request alone takes over 2 s: 100
    /// readers would then queue for minutes on two cores).
    pub driftinfo_concurrent: Option<Latency>,
    pub readers_collector_cpu_s: f64,
    pub team_all: Latency,
    pub team_municipality: Option<Latency>,
    pub load: f64,
}

/// Generates the inventory and history once, then measures each build on it.
pub fn pages(spec: &PagesSpec) -> Result<Vec<PagesRow>> {
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("c.db");
    let config = collector_gen::write_inventory(dir.path(), spec.devices, 20, &db)?;
    let inv = Inventory::load(&config).map_err(|e| anyhow!("inventory: {e}"))?;
    let t0 = Instant::now();
    collector_gen::write_history(&inv, spec.outages, Utc::now())?;
    eprintln!(
        "pages: {} devices, history written in {:.1} s",
        spec.devices,
        t0.elapsed().as_secs_f64()
    );
    spec.builds
        .iter()
        .map(|(label, bin)| measure(spec, label, bin, &config, dir.path()))
        .collect()
}

fn measure(
    spec: &PagesSpec,
    label: &str,
    bin: &Path,
    config: &Path,
    dir: &Path,
) -> Result<PagesRow> {
    let client = blocking_client()?;
    let log = dir.join(format!("collector-{label}.log"));
    let mut proc = CollectorProc::start_binary(Some(bin), config, &log)?;
    proc.wait_ok(&client, "/healthz")?;
    let mut row = PagesRow {
        label: label.to_string(),
        devices: spec.devices,
        rss_started_kib: proc.kib("VmRSS")?,
        load: sys::load1(),
        ..PagesRow::default()
    };
    let path = "/driftinfo/m0";
    let t0 = Instant::now();
    expect_ok(&client, &proc, path)?;
    row.driftinfo_first_ms = t0.elapsed().as_secs_f64() * 1000.0;
    row.driftinfo_single = one_by_one(&client, &proc, path)?;
    if row.driftinfo_single.p50_ms < 2000.0 {
        let cpu0 = proc.cpu_s()?;
        row.driftinfo_concurrent = Some(concurrent(&proc, path, spec)?);
        row.readers_collector_cpu_s = proc.cpu_s()? - cpu0;
    }
    row.team_all = one_by_one(&client, &proc, "/?uppdatera=nej")?;
    let filtered = "/?kommun=m0&uppdatera=nej";
    if matches!(client.get(&proc.url(filtered)), Ok((200, _))) {
        row.team_municipality = Some(one_by_one(&client, &proc, filtered)?);
    }
    row.rss_end_kib = proc.kib("VmRSS")?;
    eprintln!("pages: {label}: {}", serde_json::to_string(&row)?);
    Ok(row)
}

fn expect_ok(client: &Http, proc: &CollectorProc, path: &str) -> Result<usize> {
    match client.get(&proc.url(path))? {
        (200, body) => Ok(body.len()),
        (status, body) => bail!(
            "GET {path}: {status}: {}",
            String::from_utf8_lossy(&body[..body.len().min(300)])
        ),
    }
}

/// Three GETs one after the other.
fn one_by_one(client: &Http, proc: &CollectorProc, path: &str) -> Result<Latency> {
    let mut ms = Vec::new();
    let mut bytes = 0;
    for _ in 0..3 {
        let t0 = Instant::now();
        bytes = expect_ok(client, proc, path)?;
        ms.push(t0.elapsed().as_secs_f64() * 1000.0);
    }
    Ok(latency(path, ms, 0, bytes))
}

/// `spec.readers` tasks GET `path` over and over for `spec.seconds` seconds.
fn concurrent(proc: &CollectorProc, path: &str, spec: &PagesSpec) -> Result<Latency> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let url = proc.url(path);
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(TIMEOUT)
        .pool_max_idle_per_host(spec.readers)
        .build()?;
    let until = Instant::now() + Duration::from_secs(spec.seconds);
    let per_reader = rt.block_on(async {
        let tasks: Vec<_> = (0..spec.readers)
            .map(|_| tokio::spawn(reader(client.clone(), url.clone(), until)))
            .collect();
        let mut all = Vec::new();
        for t in tasks {
            all.push(t.await?);
        }
        Ok::<_, anyhow::Error>(all)
    })?;
    let (mut ms, mut timeouts, mut bytes) = (Vec::new(), 0, 0);
    for (m, t, b) in per_reader {
        ms.extend(m);
        timeouts += t;
        bytes = bytes.max(b);
    }
    Ok(latency(path, ms, timeouts, bytes))
}

/// One reader: latencies of its successful GETs, its timeouts, the last body's size.
async fn reader(client: reqwest::Client, url: String, until: Instant) -> (Vec<f64>, usize, usize) {
    let (mut ms, mut timeouts, mut bytes) = (Vec::new(), 0, 0);
    while Instant::now() < until {
        let t0 = Instant::now();
        let got = async {
            let r = client.get(&url).send().await?.error_for_status()?;
            r.bytes().await
        }
        .await;
        match got {
            Ok(body) => {
                ms.push(t0.elapsed().as_secs_f64() * 1000.0);
                bytes = body.len();
            }
            Err(e) if e.is_timeout() => timeouts += 1,
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    (ms, timeouts, bytes)
}

fn latency(path: &str, mut ms: Vec<f64>, timeouts: usize, bytes: usize) -> Latency {
    ms.sort_by(f64::total_cmp);
    let at = |q: f64| {
        ms.get(((ms.len() as f64 * q).ceil() as usize).saturating_sub(1))
            .copied()
            .unwrap_or(f64::NAN)
    };
    Latency {
        path: path.to_string(),
        requests: ms.len(),
        timeouts,
        p50_ms: at(0.5),
        p99_ms: at(0.99),
        max_ms: ms.last().copied().unwrap_or(f64::NAN),
        bytes,
    }
}

/// The Markdown table of `rows`, the first row the current build.
pub fn table(rows: &[PagesRow], spec: &PagesSpec) -> String {
    let mut out = format!(
        "| {} devices | {} |\n|---|{}\n",
        spec.devices,
        rows.iter()
            .map(|r| r.label.as_str())
            .collect::<Vec<_>>()
            .join(" | "),
        "---:|".repeat(rows.len())
    );
    let line = |out: &mut String, name: &str, f: &dyn Fn(&PagesRow) -> String| {
        let cells: Vec<String> = rows.iter().map(f).collect();
        let _ = writeln!(out, "| {name} | {} |", cells.join(" | "));
    };
    line(&mut out, "`/driftinfo/m0`, first request", &|r| {
        format!("{:.0} ms", r.driftinfo_first_ms)
    });
    line(&mut out, "`/driftinfo/m0`, one at a time (p50)", &|r| {
        format!("{:.1} ms", r.driftinfo_single.p50_ms)
    });
    line(
        &mut out,
        &format!(
            "`/driftinfo/m0`, {} readers for {} s: p50 / p99 / max",
            spec.readers, spec.seconds
        ),
        &|r| match &r.driftinfo_concurrent {
            Some(l) => format!(
                "{:.1} / {:.1} / {:.0} ms ({} requests, {} timeouts)",
                l.p50_ms, l.p99_ms, l.max_ms, l.requests, l.timeouts
            ),
            None => "not run (one request alone takes over 2 s)".to_string(),
        },
    );
    line(&mut out, "collector CPU during the readers' window", &|r| {
        format!("{:.1} s", r.readers_collector_cpu_s)
    });
    line(&mut out, "team page `/` (p50, size)", &|r| {
        format!(
            "{:.0} ms, {} KiB",
            r.team_all.p50_ms,
            r.team_all.bytes / 1024
        )
    });
    line(
        &mut out,
        "team page `/?kommun=m0` (p50, size)",
        &|r| match &r.team_municipality {
            Some(l) => format!("{:.0} ms, {} KiB", l.p50_ms, l.bytes / 1024),
            None => "no such filter".to_string(),
        },
    );
    line(&mut out, "collector RSS after start / at the end", &|r| {
        format!(
            "{} / {} MiB",
            r.rss_started_kib / 1024,
            r.rss_end_kib / 1024
        )
    });
    line(&mut out, "load (1 min) at start", &|r| {
        format!("{:.1}", r.load)
    });
    out
}
