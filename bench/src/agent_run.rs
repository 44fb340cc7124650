//! The agent side of the benchmark, run in a child process of its own so its CPU time and
//! memory are the prober's alone.
//!
//! - [`flat_out`]: every target once, as fast as the library goes (`scheduler::run_once`).
//! - [`steady`]: the library's periodic [`Scheduler`] for a while, measuring CPU share, RSS and
//!   scheduler lag.

use crate::lag::{agent_lag_histogram, LagHistogram};
use crate::sys;
use crate::targets::{
    agent_yaml, device_index, ConfigSpec, RADIUS_PASSWORD, RADIUS_PASSWORD_FILE, RADIUS_SECRET,
    RADIUS_SECRET_FILE, SNMP_COMMUNITY, SNMP_COMMUNITY_FILE,
};
use anyhow::{anyhow, Context, Result};
use chrono::{DateTime, Utc};
use driftvakt_agent::config::AgentConfig;
use driftvakt_agent::exposition::Exposition;
use driftvakt_agent::metrics::{render, AgentMetrics};
use driftvakt_agent::probe::Probers;
use driftvakt_agent::scheduler::{self, Scheduler};
use driftvakt_common::wire::ProbeResult;
use prometheus_client::registry::Registry;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// What a flat-out run measured, printed as one JSON line.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FlatOutReport {
    pub probes: u64,
    pub failures: u64,
    pub wall_s: f64,
    /// CPU seconds (user + system) of the probing itself, after the configuration is loaded.
    pub cpu_s: f64,
    /// CPU seconds of the whole process up to the end of probing, configuration included.
    pub cpu_total_s: f64,
    pub peak_rss_kib: u64,
    /// Failure reasons and how often each occurred.
    pub errors: BTreeMap<String, u64>,
}

/// Writes the generated configuration and loads it the way the agent does.
fn load_config(spec: &ConfigSpec) -> Result<(tempfile::TempDir, AgentConfig)> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("agent.yaml");
    std::fs::write(&path, agent_yaml(spec))?;
    for (name, value) in [
        (SNMP_COMMUNITY_FILE, SNMP_COMMUNITY),
        (RADIUS_SECRET_FILE, RADIUS_SECRET),
        (RADIUS_PASSWORD_FILE, RADIUS_PASSWORD),
    ] {
        let file = dir.path().join(name);
        std::fs::write(&file, value)?;
        // Secret files are refused unless only their owner can read them.
        let mode = <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o600);
        std::fs::set_permissions(&file, mode)?;
    }
    let config = AgentConfig::load(&path).map_err(|e| anyhow!("generated config: {e}"))?;
    Ok((dir, config))
}

/// The runtime the agent binary uses: multi-threaded, one worker per core unless `workers`
/// says otherwise (for experiments).
pub fn runtime(workers: Option<usize>) -> Result<tokio::runtime::Runtime> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = workers {
        builder.worker_threads(n);
    }
    builder
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// The library's probers for `config`, on the wall clock (the bench measures real time).
fn probers(config: &AgentConfig) -> Result<Arc<Probers>> {
    let clock = Arc::new(driftvakt_common::clock::SystemClock);
    Ok(Arc::new(Probers::new(&config.probe_settings(), clock)?))
}

/// Probes every target once with at most `spec.concurrency` in flight.
pub async fn flat_out(spec: &ConfigSpec) -> Result<FlatOutReport> {
    let (_dir, config) = load_config(spec)?;
    let probers = probers(&config)?;
    let metrics = AgentMetrics::register(&mut Registry::default());
    let jobs = scheduler::plan(&config);
    let cpu0 = sys::self_cpu_seconds();
    let t0 = Instant::now();
    let results = scheduler::run_once(probers, metrics, jobs, spec.concurrency).await;
    let wall_s = t0.elapsed().as_secs_f64();
    let cpu_end = sys::self_cpu_seconds();
    let mut errors = BTreeMap::new();
    for r in results.iter().filter(|r| !r.ok) {
        let reason = r.error.clone().unwrap_or_else(|| "unknown".into());
        *errors.entry(reason).or_insert(0) += 1;
    }
    Ok(FlatOutReport {
        probes: results.len() as u64,
        failures: errors.values().sum(),
        wall_s,
        cpu_s: cpu_end - cpu0,
        cpu_total_s: cpu_end,
        peak_rss_kib: sys::self_status_kib("VmHWM"),
        errors,
    })
}

/// What a steady-state run measured, printed as one JSON line.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SteadyReport {
    pub targets: usize,
    /// Echo requests per ICMP probe.
    pub icmp_count: u16,
    pub interval_s: f64,
    pub window_s: f64,
    pub probes: u64,
    pub failures: u64,
    pub overruns: u64,
    pub cpu_s: f64,
    /// CPU seconds per wall second over the window: 0.1 is 10 % of one core.
    pub cpu_share: f64,
    pub rss_kib: u64,
    /// Peak RSS up to the end of the window (no `/metrics` render before then).
    pub peak_rss_kib: u64,
    /// Peak RSS after one full `/metrics` render, as a Prometheus scrape causes.
    pub peak_rss_scraped_kib: u64,
    /// RSS after loading the configuration, and after building the probers and the plan.
    pub rss_config_kib: u64,
    pub rss_plan_kib: u64,
    /// Start lag from the results (0.1 ms resolution), milliseconds.
    pub lag_p50_ms: f64,
    pub lag_p99_ms: f64,
    pub lag_max_ms: f64,
    /// Results whose lag was measured.
    pub lag_samples: u64,
    /// The same quantiles from the agent's own lag histogram: the upper bound of the bucket.
    pub hist_lag_p50_le_ms: f64,
    pub hist_lag_p99_le_ms: f64,
    /// CPU milliseconds and bytes of rendering `/metrics` once at the end.
    pub metrics_render_cpu_ms: f64,
    pub metrics_render_bytes: usize,
}

/// The agent's echo requests per ICMP probe when a check sets no `count`.
pub const DEFAULT_ICMP_COUNT: u16 = 3;

/// Settings of a steady-state run.
#[derive(Debug, Clone)]
pub struct SteadySpec {
    pub config: ConfigSpec,
    pub warmup: Duration,
    pub window: Duration,
}

/// Runs the periodic scheduler over `spec.config` for warm-up plus window.
pub async fn steady(spec: &SteadySpec) -> Result<SteadyReport> {
    let (_dir, config) = load_config(&spec.config)?;
    let rss_config_kib = sys::self_status_kib("VmRSS");
    let probers = probers(&config)?;
    let mut registry = Registry::default();
    let metrics = AgentMetrics::register(&mut registry);
    let jobs = scheduler::plan(&config);
    let rss_plan_kib = sys::self_status_kib("VmRSS");
    let interval = Duration::from_millis(spec.config.interval_ms);
    let offsets = offsets_by_index(&jobs);
    let (sink, results) = mpsc::channel(1024);
    let base = Utc::now();
    let task = tokio::spawn(
        Scheduler {
            jobs,
            probers,
            metrics: metrics.clone(),
            concurrency: spec.config.concurrency,
            sink,
        }
        .run(),
    );
    let (measure_tx, measure_rx) = oneshot::channel();
    let (stop_tx, stop_rx) = oneshot::channel();
    let plan = LagPlan {
        base,
        interval,
        offsets,
    };
    let drain = tokio::spawn(drain(results, plan, measure_rx, stop_rx));
    tokio::time::sleep(spec.warmup).await;
    let lag_registry = lag_only(&metrics);
    let before = agent_lag_histogram(&render(&lag_registry));
    let overruns0 = metrics.overruns.get();
    let _ = measure_tx.send(());
    let cpu0 = sys::self_cpu_seconds();
    let t0 = Instant::now();
    tokio::time::sleep(spec.window).await;
    let cpu_s = sys::self_cpu_seconds() - cpu0;
    let window_s = t0.elapsed().as_secs_f64();
    let rss_kib = sys::self_status_kib("VmRSS");
    let peak_rss_kib = sys::self_status_kib("VmHWM");
    let _ = stop_tx.send(());
    let seen = drain.await?;
    let overruns = metrics.overruns.get() - overruns0;
    let hist = agent_lag_histogram(&render(&lag_registry)).minus(&before);
    let mut exposition = Exposition::new(registry);
    exposition.add_latest(metrics.latest.clone());
    let (render_cpu_ms, render_bytes) = timed_scrape(&Arc::new(exposition));
    task.abort();
    Ok(SteadyReport {
        targets: spec.config.targets,
        icmp_count: spec.config.icmp_count.unwrap_or(DEFAULT_ICMP_COUNT),
        interval_s: interval.as_secs_f64(),
        window_s,
        probes: seen.probes,
        failures: seen.failures,
        overruns,
        cpu_s,
        cpu_share: cpu_s / window_s,
        rss_kib,
        peak_rss_kib,
        peak_rss_scraped_kib: sys::self_status_kib("VmHWM"),
        rss_config_kib,
        rss_plan_kib,
        lag_p50_ms: seen.lag.quantile_ms(0.5),
        lag_p99_ms: seen.lag.quantile_ms(0.99),
        lag_max_ms: seen.lag.max_ms(),
        lag_samples: seen.lag.total(),
        hist_lag_p50_le_ms: hist.quantile_le(0.5) * 1000.0,
        hist_lag_p99_le_ms: hist.quantile_le(0.99) * 1000.0,
        metrics_render_cpu_ms: render_cpu_ms,
        metrics_render_bytes: render_bytes,
    })
}

/// A registry holding only the agent's lag histogram: reading it back costs next to nothing,
/// unlike a full render of every device's series.
fn lag_only(metrics: &AgentMetrics) -> Registry {
    let mut registry = Registry::default();
    registry.register(
        "driftvakt_agent_scheduler_lag_seconds",
        "Actual start of a probe minus its planned start.",
        metrics.lag.clone(),
    );
    registry
}

fn timed_scrape(exposition: &Arc<Exposition>) -> (f64, usize) {
    let cpu0 = sys::self_cpu_seconds();
    let bytes = exposition.chunks().map(|chunk| chunk.len()).sum();
    ((sys::self_cpu_seconds() - cpu0) * 1000.0, bytes)
}

/// Offsets of the generated jobs, indexed by device number.
fn offsets_by_index(jobs: &[scheduler::Job]) -> Vec<Duration> {
    let mut offsets = vec![Duration::ZERO; jobs.len()];
    for job in jobs {
        if let Some(i) = device_index(&job.device.id.value) {
            offsets[i] = job.offset;
        }
    }
    offsets
}

/// When each job was planned to start: `base + offset + k * interval`.
struct LagPlan {
    base: DateTime<Utc>,
    interval: Duration,
    offsets: Vec<Duration>,
}

impl LagPlan {
    /// Actual start minus the latest planned start at or before it. `base` is taken just before
    /// the scheduler task is spawned, so this errs by that spawn delay on the high side.
    fn lag(&self, r: &ProbeResult) -> Option<Duration> {
        let offset = *self.offsets.get(device_index(&r.target)?)?;
        let since = (r.time - self.base).to_std().ok()?.checked_sub(offset)?;
        let interval = self.interval.as_nanos().max(1);
        Some(Duration::from_nanos((since.as_nanos() % interval) as u64))
    }
}

/// What the drain saw during the measured window.
#[derive(Default)]
struct Seen {
    probes: u64,
    failures: u64,
    lag: LagHistogram,
}

/// Consumes results like the agent's drain; counts those after `measure` fires.
async fn drain(
    mut results: mpsc::Receiver<std::sync::Arc<ProbeResult>>,
    plan: LagPlan,
    mut measure: oneshot::Receiver<()>,
    mut stop: oneshot::Receiver<()>,
) -> Seen {
    let mut seen = Seen::default();
    let mut measuring = false;
    loop {
        tokio::select! {
            _ = &mut stop => return seen,
            _ = &mut measure, if !measuring => measuring = true,
            r = results.recv() => match r {
                Some(r) if measuring => record(&mut seen, &plan, &r),
                Some(_) => {}
                None => return seen,
            },
        }
    }
}

fn record(seen: &mut Seen, plan: &LagPlan, r: &ProbeResult) {
    seen.probes += 1;
    if !r.ok {
        seen.failures += 1;
    }
    if let Some(lag) = plan.lag(r) {
        seen.lag.add(lag);
    }
}
