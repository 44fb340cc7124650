//! Runs every check of every device at its interval, forever.
//!
//! Starts are spread over the interval with a deterministic offset per (device, check), so 5,000
//! targets at 30 s do not fire at once and a restart keeps the same spread. A global semaphore
//! bounds concurrency; every probe runs in its own task with its own timeout, so a slow or dead
//! target never delays the others. A check still running when it is due again skips that round
//! (counted as an overrun) instead of piling up.
//!
//! Results are stamped with the probers' clock (the process's injected one); the tokio clock
//! here only paces starts and measures lag.

use crate::config::{class_timing, AgentConfig, CheckSpec, DeviceConfig};
use crate::metrics::{AgentMetrics, DeviceLabels, SeriesKey};
use crate::probe::{FailureReason, Probers};
use driftvakt_common::wire::ProbeResult;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, Semaphore};
use tokio::time::Instant;

/// One check of one device, with its resolved timing.
#[derive(Debug, Clone)]
pub struct Job {
    pub device: Arc<DeviceConfig>,
    pub check: CheckSpec,
    pub interval: Duration,
    pub timeout: Duration,
    /// Deterministic offset of the first start within the interval.
    pub offset: Duration,
    /// The series this job's results update, and the device's labels (built once).
    pub key: Arc<SeriesKey>,
    pub labels: Arc<DeviceLabels>,
}

fn device_labels(device: &DeviceConfig) -> DeviceLabels {
    DeviceLabels {
        device: device.id.value.clone(),
        class: device.class.as_str().to_string(),
        site: device
            .site
            .as_ref()
            .map(|s| s.value.clone())
            .unwrap_or_default(),
    }
}

/// Resolves every (device, check) to a job: check settings override the device's, which
/// override the config's per-class defaults, which override the built-in class defaults. Only
/// active devices (`status: active`, the default) are probed: planned, in-stock and
/// decommissioned units are kept for the register.
pub fn plan(config: &AgentConfig) -> Vec<Job> {
    config
        .file
        .devices
        .iter()
        .filter(|d| d.is_active())
        .flat_map(|d| {
            let device = d.clone();
            let labels = Arc::new(device_labels(d));
            d.checks().into_iter().map(move |check| {
                let (interval, timeout) = timing(config, &device, &check);
                let key = format!("{}\u{0}{}", device.id.value, check.name());
                let offset =
                    Duration::from_millis(fnv1a(&key) % interval.as_millis().max(1) as u64);
                let key = Arc::new(SeriesKey {
                    device: device.id.value.clone(),
                    check: check.name(),
                });
                Job {
                    device: device.clone(),
                    check,
                    interval,
                    timeout,
                    offset,
                    key,
                    labels: labels.clone(),
                }
            })
        })
        .collect()
}

fn timing(config: &AgentConfig, d: &DeviceConfig, check: &CheckSpec) -> (Duration, Duration) {
    let (class_interval, class_timeout) = class_timing(d.class);
    let defaults = config
        .file
        .defaults
        .get(&d.class)
        .copied()
        .unwrap_or_default();
    let c = check.common();
    let interval = c
        .interval
        .or(d.interval)
        .or(defaults.interval)
        .map(|d| d.std())
        .unwrap_or(class_interval);
    let timeout = c
        .timeout
        .or(d.timeout)
        .or(defaults.timeout)
        .map(|d| d.std())
        .unwrap_or(class_timeout)
        .min(interval);
    (interval.max(Duration::from_millis(100)), timeout)
}

/// FNV-1a: a stable hash, so offsets do not change between runs or Rust versions.
fn fnv1a(s: &str) -> u64 {
    driftvakt_common::hash::fnv1a_64(s.as_bytes())
}

/// Runs one check and records it in the metrics; the result is shared with them, not copied.
/// A probe that panics gives a failed result with `agent_error` (the agent's fault, not the
/// device's) instead of taking the job down with it. The result's time is the probers' clock's.
pub async fn run_job(probers: &Probers, metrics: &AgentMetrics, job: &Job) -> Arc<ProbeResult> {
    use futures::FutureExt;
    metrics.in_flight.inc();
    let time = probers.now();
    let started = std::time::Instant::now();
    let run = std::panic::AssertUnwindSafe(probers.run(&job.device, &job.check, job.timeout));
    let result = run.catch_unwind().await.unwrap_or_else(|panic| {
        let why = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        tracing::error!(device = %job.device.id.value, check = %job.check.name(), panic = %why, "a probe failed inside the agent");
        let mut failed = ProbeResult {
            target: job.device.id.value.clone(),
            check: job.check.name(),
            time,
            ok: false,
            duration_ms: started.elapsed().as_secs_f64() * 1000.0,
            error: Some(FailureReason::AgentError.as_str().to_string()),
            detail: Some(format!("the probe failed inside the agent: {why}")),
            findings: Vec::new(),
            values: Default::default(),
        };
        driftvakt_common::limits::fit(&mut failed);
        failed
    });
    metrics.in_flight.dec();
    let result = Arc::new(result);
    metrics.observe(
        job.check.kind(),
        job.key.clone(),
        job.labels.clone(),
        result.clone(),
    );
    result
}

/// Runs every job once, at most `concurrency` at a time; results in job order. A task is
/// spawned only once it holds a permit, so memory stays bounded by `concurrency`.
pub async fn run_once(
    probers: Arc<Probers>,
    metrics: AgentMetrics,
    jobs: Vec<Job>,
    concurrency: usize,
) -> Vec<Arc<ProbeResult>> {
    let semaphore = Arc::new(Semaphore::new(concurrency));
    let mut tasks = Vec::with_capacity(jobs.len());
    for job in jobs {
        let permit = semaphore
            .clone()
            .acquire_owned()
            .await
            .expect("semaphore closed");
        let (probers, metrics) = (probers.clone(), metrics.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = permit;
            run_job(&probers, &metrics, &job).await
        }));
    }
    let mut out = Vec::with_capacity(tasks.len());
    for t in tasks {
        out.push(t.await.expect("probe task panicked"));
    }
    out
}

/// The periodic scheduler.
pub struct Scheduler {
    pub jobs: Vec<Job>,
    pub probers: Arc<Probers>,
    pub metrics: AgentMetrics,
    pub concurrency: usize,
    pub sink: mpsc::Sender<Arc<ProbeResult>>,
}

impl Scheduler {
    /// Runs until the task is aborted or the sink is closed.
    pub async fn run(self) {
        let semaphore = Arc::new(Semaphore::new(self.concurrency));
        let base = Instant::now();
        let running: Vec<Arc<AtomicBool>> = self
            .jobs
            .iter()
            .map(|_| Arc::new(AtomicBool::new(false)))
            .collect();
        // Extended, not collected: collecting in place would keep the jobs' whole buffer
        // (about 4 MiB at 10,000 jobs) as the buffer of these pointers.
        let mut jobs: Vec<Arc<Job>> = Vec::with_capacity(self.jobs.len());
        jobs.extend(self.jobs.into_iter().map(Arc::new));
        let mut due: BinaryHeap<Reverse<(Instant, usize)>> = jobs
            .iter()
            .enumerate()
            .map(|(i, j)| Reverse((base + j.offset, i)))
            .collect();
        while let Some(Reverse((planned, i))) = due.pop() {
            tokio::time::sleep_until(planned).await;
            if self.sink.is_closed() {
                return;
            }
            let job = &jobs[i];
            due.push(Reverse((next_start(planned, job.interval), i)));
            if running[i].swap(true, Ordering::AcqRel) {
                self.metrics.overruns.inc();
                continue;
            }
            let ctx = (
                job.clone(),
                self.probers.clone(),
                self.metrics.clone(),
                semaphore.clone(),
                self.sink.clone(),
                running[i].clone(),
            );
            tokio::spawn(async move {
                let (job, probers, metrics, semaphore, sink, running) = ctx;
                let _permit = semaphore.acquire().await.expect("semaphore closed");
                metrics.lag.observe(
                    Instant::now()
                        .saturating_duration_since(planned)
                        .as_secs_f64(),
                );
                let result = run_job(&probers, &metrics, &job).await;
                running.store(false, Ordering::Release);
                let _ = sink.send(result).await;
            });
        }
    }
}

/// The next planned start after `planned`, leaving out rounds that already passed.
fn next_start(planned: Instant, interval: Duration) -> Instant {
    let mut next = planned + interval;
    let now = Instant::now();
    if next < now {
        let behind = now.duration_since(next).as_nanos() / interval.as_nanos().max(1);
        next += interval * (u32::try_from(behind).unwrap_or(u32::MAX - 1) + 1);
    }
    next
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_share_the_configurations_devices() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.yaml");
        std::fs::write(
            &path,
            "agent:\n  id: a\ndevices:\n  - id: tv\n    class: screen\n    address: 127.0.0.1\n    \
             checks:\n      - icmp\n      - { kind: tcp, port: 22 }\n  - id: ap\n    \
             class: access_point\n    address: 127.0.0.2\n",
        )
        .unwrap();
        let config = AgentConfig::load(&path).unwrap();
        let jobs = plan(&config);
        // The screen has icmp and tcp, the access point icmp: three jobs, two devices.
        assert_eq!(jobs.len(), 3);
        for job in &jobs {
            let device = config
                .file
                .devices
                .iter()
                .find(|d| d.id.value == job.device.id.value)
                .unwrap();
            assert!(
                Arc::ptr_eq(device, &job.device),
                "{} is a copy",
                job.key.device
            );
        }
        // The configuration and the jobs hold each device: two owners, one copy.
        assert!(config.file.devices.iter().all(|d| Arc::strong_count(d) > 1));
    }

    #[test]
    fn only_active_devices_are_probed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.yaml");
        let mut yaml = String::from("agent:\n  id: a\ndevices:\n");
        for (i, status) in ["active", "planned", "in_stock", "decommissioned"]
            .iter()
            .enumerate()
        {
            yaml += &format!(
                "  - {{ id: d{i}, class: screen, address: 127.0.0.{}, status: {status} }}\n",
                i + 1
            );
        }
        yaml += "  - { id: plain, class: screen, address: 127.0.0.9 }\n";
        std::fs::write(&path, yaml).unwrap();
        let config = AgentConfig::load(&path).unwrap();
        let mut probed: Vec<String> = plan(&config)
            .iter()
            .map(|j| j.device.id.value.clone())
            .collect();
        probed.sort();
        assert_eq!(probed, ["d0", "plain"]);
    }

    #[test]
    fn offsets_are_stable_and_spread() {
        let a = fnv1a("sw-1\u{0}icmp");
        assert_eq!(a, fnv1a("sw-1\u{0}icmp"));
        let buckets: std::collections::HashSet<u64> = (0..1000)
            .map(|i| fnv1a(&format!("dev-{i}\u{0}icmp")) % 30)
            .collect();
        assert_eq!(
            buckets.len(),
            30,
            "1,000 targets should cover every second of 30"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn next_start_skips_missed_rounds() {
        let t0 = Instant::now();
        tokio::time::advance(Duration::from_secs(95)).await;
        let next = next_start(t0, Duration::from_secs(30));
        assert_eq!(next.duration_since(t0), Duration::from_secs(120));
    }
}
