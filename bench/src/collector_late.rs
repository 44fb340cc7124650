//! One late agent among punctual ones: does a batch hours late slow the others down?
//!
//! The real collector (a child process, over HTTP) gets an inventory of `devices` devices and
//! `agents` agents and ten hours of in-order history. Then the punctual agents post one round of
//! their devices at a time, as fast as they are answered, for `seconds` seconds: first alone
//! (the baseline), then while agent 0 keeps posting batches of 20 results dated 9.9 hours back,
//! between the stored ones, so each one re-derives its devices from ten hours ago. The figures:
//! the punctual batches' p50 and p99 in both phases (their ratio is the slowdown one late agent
//! causes) and the late batches' own p50. `DRIFTVAKT_BENCH_COLLECTOR` runs another build of
//! the collector (an earlier release) for a side-by-side comparison.

use crate::collector_bench::{blocking_client, post_one, quantile, CollectorProc};
use crate::collector_gen::{self, agent, token, INTERVAL_S};
use anyhow::{ensure, Result};
use chrono::{DateTime, Utc};
use driftvakt_common::wire::Batch;
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

/// Hours of history before the measurement.
const HISTORY_HOURS: i64 = 10;
/// How far back the late agent's results are dated.
const LATE_BY_MINUTES: i64 = 594; // 9.9 h
/// Results per late batch.
const LATE_BATCH: usize = 20;

/// The figures of one run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LateRow {
    pub collector: String,
    pub devices: usize,
    pub agents: usize,
    pub baseline_batches: usize,
    pub baseline_p50_ms: f64,
    pub baseline_p99_ms: f64,
    pub with_late_batches: usize,
    pub with_late_p50_ms: f64,
    pub with_late_p99_ms: f64,
    pub late_batches: usize,
    pub late_p50_ms: f64,
    /// with_late_p50 / baseline_p50.
    pub slowdown_p50: f64,
    pub failed: usize,
}

pub fn run(devices: usize, agents: usize, seconds: u64) -> Result<LateRow> {
    ensure!(agents >= 2, "one late agent and at least one punctual one");
    let dir = tempfile::tempdir()?;
    let config =
        collector_gen::write_inventory(dir.path(), devices, agents, &dir.path().join("c.db"))?;
    let mut proc = CollectorProc::start(&config, &dir.path().join("collector.log"))?;
    proc.wait_ok(&blocking_client()?, "/healthz")?;
    let url = proc.url("/api/v1/results");
    let now = Utc::now();
    let base = now - chrono::Duration::hours(HISTORY_HOURS);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async {
        let client = reqwest::Client::builder().no_proxy().build()?;
        history(&client, &url, devices, agents, base).await?;
        let punctual: Vec<usize> = (1..agents).collect();
        let window = Duration::from_secs(seconds);
        let baseline = steady(&client, &url, devices, agents, &punctual, now, window, 0).await;
        let late_task = tokio::spawn(late(
            client.clone(),
            url.clone(),
            devices,
            agents,
            now,
            window,
        ));
        let loaded = steady(&client, &url, devices, agents, &punctual, now, window, 1).await;
        let late = late_task.await?;
        let p = |v: &[f64], q| quantile(v, q);
        Ok(LateRow {
            collector: std::env::var("DRIFTVAKT_BENCH_COLLECTOR").unwrap_or("this build".into()),
            devices,
            agents,
            baseline_batches: baseline.0.len(),
            baseline_p50_ms: p(&baseline.0, 0.5),
            baseline_p99_ms: p(&baseline.0, 0.99),
            with_late_batches: loaded.0.len(),
            with_late_p50_ms: p(&loaded.0, 0.5),
            with_late_p99_ms: p(&loaded.0, 0.99),
            late_batches: late.0.len(),
            late_p50_ms: p(&late.0, 0.5),
            slowdown_p50: p(&loaded.0, 0.5) / p(&baseline.0, 0.5).max(1e-9),
            failed: baseline.1 + loaded.1 + late.1,
        })
    })
}

/// The devices of agent `k`.
fn devices_of(k: usize, devices: usize, agents: usize) -> Vec<usize> {
    (k..devices).step_by(agents).collect()
}

/// Ten hours of one-a-minute results for every device, posted in order, 500 a batch.
async fn history(
    client: &reqwest::Client,
    url: &str,
    devices: usize,
    agents: usize,
    base: DateTime<Utc>,
) -> Result<()> {
    let rounds = HISTORY_HOURS * 3600 / INTERVAL_S;
    for k in 0..agents {
        let mine = devices_of(k, devices, agents);
        let all: Vec<_> = (0..rounds)
            .flat_map(|r| {
                let time = base + chrono::Duration::seconds(r * INTERVAL_S);
                mine.iter()
                    .map(move |&i| collector_gen::result(i, r, time))
                    .collect::<Vec<_>>()
            })
            .collect();
        for (n, chunk) in all.chunks(500).enumerate() {
            let body = serde_json::to_vec(&Batch {
                agent: agent(k),
                batch_id: format!("{}-history-{n}", agent(k)),
                results: chunk.to_vec(),
            })?;
            let posted = post_one(client, url, &token(k), body).await;
            ensure!(posted.ok, "history batch {n} of agent {k} failed");
        }
    }
    Ok(())
}

/// The punctual agents post one round each, one after another, until `window` has passed.
/// Result times are `now` plus a second per round (a phase's own range), so they are new.
#[allow(clippy::too_many_arguments)]
async fn steady(
    client: &reqwest::Client,
    url: &str,
    devices: usize,
    agents: usize,
    punctual: &[usize],
    now: DateTime<Utc>,
    window: Duration,
    phase: i64,
) -> (Vec<f64>, usize) {
    let tasks = punctual.iter().map(|&k| {
        let (client, url) = (client.clone(), url.to_string());
        let mine = devices_of(k, devices, agents);
        async move {
            let (mut ms, mut failed) = (Vec::new(), 0);
            let start = Instant::now();
            let mut round = 0i64;
            while start.elapsed() < window {
                let time = now + chrono::Duration::milliseconds(phase * 150_000 + round * 500);
                let results = mine
                    .iter()
                    .map(|&i| collector_gen::result(i, round, time))
                    .collect();
                let body = serde_json::to_vec(&Batch {
                    agent: agent(k),
                    batch_id: format!("{}-steady-{phase}-{round}", agent(k)),
                    results,
                })
                .expect("a batch serializes");
                let posted = post_one(&client, &url, &token(k), body).await;
                if posted.ok && posted.rejected == 0 {
                    ms.push(posted.ms);
                } else {
                    failed += 1;
                }
                round += 1;
            }
            (ms, failed)
        }
    });
    let all = futures::future::join_all(tasks).await;
    let mut ms: Vec<f64> = all.iter().flat_map(|(m, _)| m.clone()).collect();
    ms.sort_by(f64::total_cmp);
    (ms, all.iter().map(|(_, f)| f).sum())
}

/// Agent 0 posts batches of results dated 9.9 hours back, each between stored results of its
/// devices (30 s after a stored minute), until `window` has passed.
async fn late(
    client: reqwest::Client,
    url: String,
    devices: usize,
    agents: usize,
    now: DateTime<Utc>,
    window: Duration,
) -> (Vec<f64>, usize) {
    let mine = devices_of(0, devices, agents);
    let (mut ms, mut failed) = (Vec::new(), 0);
    let start = Instant::now();
    let mut n = 0usize;
    while start.elapsed() < window {
        let results = (0..LATE_BATCH)
            .map(|j| {
                let seq = n * LATE_BATCH + j;
                let minute = (seq / mine.len()) as i64;
                let time = now - chrono::Duration::minutes(LATE_BY_MINUTES)
                    + chrono::Duration::seconds(30 + minute * 60);
                collector_gen::result(mine[seq % mine.len()], minute, time)
            })
            .collect();
        let body = serde_json::to_vec(&Batch {
            agent: agent(0),
            batch_id: format!("{}-late-{n}", agent(0)),
            results,
        })
        .expect("a batch serializes");
        let posted = post_one(&client, &url, &token(0), body).await;
        if posted.ok {
            ms.push(posted.ms);
        } else {
            failed += 1;
        }
        n += 1;
    }
    ms.sort_by(f64::total_cmp);
    (ms, failed)
}
