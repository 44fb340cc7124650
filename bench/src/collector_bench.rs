//! The collector's side of the benchmark: the real `driftvakt-collector` in a child process
//! (its CPU from `/proc/PID/stat`, its peak memory its own `VmHWM`), driven over HTTP from this
//! process.
//!
//! - [`ingest`]: agents posting batches concurrently (distinct tokens, devices assigned per
//!   agent): results per second durably committed, batch latency, the collector's CPU and RSS.
//! - [`history`]: a year of history ([`crate::collector_gen::write_history`]), then the time
//!   until a fresh collector answers `/healthz` and `/api/v1/status`, one `/metrics` scrape,
//!   and year and tertial reports over HTTP and from the CLI.

use crate::collector_gen::{self, token};
use crate::sys;
use crate::sys::free_port;
use anyhow::{bail, Context, Result};
use chrono::Utc;
use driftvakt_collector::inventory::Inventory;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How to start the collector: the `driftvakt-collector` binary next to this one, else this
/// binary's `collector-exec` (the same library entry points). For profiling,
/// `DRIFTVAKT_BENCH_COLLECTOR_PREFIX` (e.g. `perf record -g -o FILE --`) is put in front; the
/// CPU and memory figures are then the wrapper's, so use it for profiles only.
fn collector_command() -> Result<Command> {
    if let Ok(bin) = std::env::var("DRIFTVAKT_BENCH_COLLECTOR") {
        // Another build of the collector (an earlier release, for a side-by-side run).
        return Ok(Command::new(bin));
    }
    let exe = std::env::current_exe()?;
    let sibling = exe.with_file_name("driftvakt-collector");
    let mut argv: Vec<String> = std::env::var("DRIFTVAKT_BENCH_COLLECTOR_PREFIX")
        .map(|p| p.split_whitespace().map(String::from).collect())
        .unwrap_or_default();
    if sibling.is_file() {
        argv.push(sibling.to_string_lossy().into_owned());
    } else {
        argv.push(exe.to_string_lossy().into_owned());
        argv.push("collector-exec".into());
    }
    let mut c = Command::new(&argv[0]);
    c.args(&argv[1..]);
    Ok(c)
}

/// A running `driftvakt-collector run`, killed on drop.
pub struct CollectorProc {
    child: Child,
    base: String,
    pub started: Instant,
}

impl CollectorProc {
    pub fn start(config: &Path, log: &Path) -> Result<CollectorProc> {
        Self::start_binary(None, config, log)
    }

    /// [`CollectorProc::start`] with the collector binary `bin` (another build) if given.
    pub fn start_binary(bin: Option<&Path>, config: &Path, log: &Path) -> Result<CollectorProc> {
        let port = free_port()?;
        let started = Instant::now();
        let mut command = match bin {
            Some(bin) => Command::new(bin),
            None => collector_command()?,
        };
        let child = command
            .arg("run")
            .arg("--config")
            .arg(config)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log)?)
            .spawn()
            .context("cannot start the collector")?;
        Ok(CollectorProc {
            child,
            base: format!("http://127.0.0.1:{port}"),
            started,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Polls `path` until it answers 200; returns the time since the process started.
    pub fn wait_ok(&mut self, client: &Http, path: &str) -> Result<Duration> {
        let deadline = Instant::now() + Duration::from_secs(300);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                bail!("the collector exited ({status})");
            }
            if matches!(client.get(&self.url(path)), Ok((200, _))) {
                return Ok(self.started.elapsed());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        bail!("the collector did not answer {path} within 300 s")
    }

    pub fn cpu_s(&self) -> Result<f64> {
        sys::proc_cpu_seconds(self.pid())
    }

    pub fn kib(&self, field: &str) -> Result<u64> {
        sys::proc_status_kib(self.pid(), field)
    }
}

impl Drop for CollectorProc {
    fn drop(&mut self) {
        // SIGTERM first: the collector (or a profiler wrapping it) shuts down cleanly.
        // SAFETY: kill(2) on our own child's pid.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A blocking HTTP GET: an async client on a current-thread runtime.
pub struct Http {
    rt: tokio::runtime::Runtime,
    client: reqwest::Client,
}

impl Http {
    pub fn new() -> Result<Http> {
        Ok(Http {
            rt: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?,
            client: reqwest::Client::builder()
                .no_proxy()
                .timeout(Duration::from_secs(600))
                .build()?,
        })
    }

    /// Status and body of `GET url`, or the transport error.
    pub fn get(&self, url: &str) -> Result<(u16, Vec<u8>)> {
        self.rt.block_on(async {
            let r = self.client.get(url).send().await?;
            let status = r.status().as_u16();
            Ok((status, r.bytes().await?.to_vec()))
        })
    }
}

pub(crate) fn blocking_client() -> Result<Http> {
    Http::new()
}

/// What one ingest run measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IngestRow {
    /// `sqlite` or `postgres` (rows written before PostgreSQL existed have none: SQLite).
    #[serde(default = "sqlite")]
    pub backend: String,
    pub devices: usize,
    pub agents: usize,
    pub batch_size: usize,
    pub batches: usize,
    pub accepted: u64,
    pub rejected: u64,
    /// Batches not answered 200.
    pub errors: u64,
    pub wall_s: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// The collector's CPU seconds over the run.
    pub cpu_s: f64,
    pub peak_rss_kib: u64,
    pub load: f64,
    /// `driftvakt_ingest_memory_tails` at the end of the run: whether re-derivation still
    /// read recent history from memory (rows written before the gauge existed have none).
    #[serde(default)]
    pub tails_on: Option<bool>,
    /// Lines at ERROR level in the collector's log over the run.
    #[serde(default)]
    pub log_errors: Option<usize>,
}

fn sqlite() -> String {
    "sqlite".to_string()
}

impl IngestRow {
    pub fn results_per_s(&self) -> f64 {
        self.accepted as f64 / self.wall_s
    }
}

/// `agents` agents post `batches` batches of `batch_size` results each, all agents at once,
/// each agent one batch at a time, to a fresh collector with `devices` devices, storing in a new
/// SQLite file.
pub fn ingest(
    devices: usize,
    agents: usize,
    batch_size: usize,
    batches: usize,
) -> Result<IngestRow> {
    ingest_into(None, devices, agents, batch_size, batches)
}

/// [`ingest`] into `database` (a `postgres://` URL of an empty database), or a new SQLite
/// file when `None`.
pub fn ingest_into(
    database: Option<&str>,
    devices: usize,
    agents: usize,
    batch_size: usize,
    batches: usize,
) -> Result<IngestRow> {
    let dir = tempfile::tempdir()?;
    let db = match database {
        Some(url) => std::path::PathBuf::from(url),
        None => dir.path().join("c.db"),
    };
    let config = collector_gen::write_inventory(dir.path(), devices, agents, &db)?;
    let log = dir.path().join("collector.log");
    let mut proc = CollectorProc::start(&config, &log)?;
    let http = blocking_client()?;
    proc.wait_ok(&http, "/healthz")?;
    let base = Utc::now() - chrono::Duration::days(10);
    let bodies: Vec<Vec<Vec<u8>>> = (0..agents)
        .map(|k| {
            (0..batches)
                .map(|n| collector_gen::batch(k, agents, devices, n, batch_size, base))
                .map(|b| serde_json::to_vec(&b))
                .collect::<Result<_, _>>()
        })
        .collect::<Result<_, _>>()?;
    let load = sys::load1();
    let cpu0 = proc.cpu_s()?;
    let t0 = Instant::now();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let outcomes = rt.block_on(post_all(&proc.url("/api/v1/results"), bodies));
    let wall_s = t0.elapsed().as_secs_f64();
    let cpu_s = proc.cpu_s()? - cpu0;
    // A client of its own: the one that waited for `/healthz` holds a keep-alive connection
    // the collector closed as idle during the run, and reusing it can fail.
    let tails_on = tails_gauge(&proc, &blocking_client()?)?;
    let log_errors = std::fs::read_to_string(&log)
        .ok()
        .map(|l| l.lines().filter(|l| l.contains("ERROR")).count());
    let mut latencies: Vec<f64> = outcomes.iter().map(|o| o.ms).collect();
    latencies.sort_by(f64::total_cmp);
    Ok(IngestRow {
        backend: if database.is_some() {
            "postgres"
        } else {
            "sqlite"
        }
        .to_string(),
        devices,
        agents,
        batch_size,
        batches: outcomes.len(),
        accepted: outcomes.iter().map(|o| o.accepted).sum(),
        rejected: outcomes.iter().map(|o| o.rejected).sum(),
        errors: outcomes.iter().filter(|o| !o.ok).count() as u64,
        wall_s,
        p50_ms: quantile(&latencies, 0.5),
        p99_ms: quantile(&latencies, 0.99),
        cpu_s,
        peak_rss_kib: proc.kib("VmHWM")?,
        load,
        tails_on,
        log_errors,
    })
}

/// `driftvakt_ingest_memory_tails` on the collector's `/metrics`, if it is there.
fn tails_gauge(proc: &CollectorProc, http: &Http) -> Result<Option<bool>> {
    let (status, body) = http.get(&proc.url("/metrics"))?;
    if status != 200 {
        bail!("GET /metrics: {status}");
    }
    Ok(String::from_utf8_lossy(&body)
        .lines()
        .find_map(|l| l.strip_prefix("driftvakt_ingest_memory_tails "))
        .map(|v| v.trim() == "1"))
}

pub(crate) fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1]
}

/// One batch's answer.
pub(crate) struct Posted {
    pub(crate) ok: bool,
    pub(crate) accepted: u64,
    pub(crate) rejected: u64,
    pub(crate) ms: f64,
}

/// Every agent's batches, agents concurrently, each agent's in order.
async fn post_all(url: &str, bodies: Vec<Vec<Vec<u8>>>) -> Vec<Posted> {
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    let agents = bodies.len();
    let per_agent = bodies.into_iter().enumerate().map(|(k, batches)| {
        let client = client.clone();
        async move {
            let mut out = Vec::new();
            for body in batches {
                out.push(post_one(&client, url, &token(k), body).await);
            }
            out
        }
    });
    let all: Vec<Vec<Posted>> = futures::stream::iter(per_agent)
        .buffer_unordered(agents.max(1))
        .collect()
        .await;
    all.into_iter().flatten().collect()
}

pub(crate) async fn post_one(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    body: Vec<u8>,
) -> Posted {
    let t0 = Instant::now();
    let answer = async {
        let r = client
            .post(url)
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .ok()?;
        if !r.status().is_success() {
            return None;
        }
        r.json::<serde_json::Value>().await.ok()
    }
    .await;
    let ms = t0.elapsed().as_secs_f64() * 1000.0;
    let count = |v: &serde_json::Value, k: &str| match &v[k] {
        serde_json::Value::Array(a) => a.len() as u64,
        other => other.as_u64().unwrap_or(0),
    };
    match answer {
        Some(v) => Posted {
            ok: true,
            accepted: count(&v, "accepted"),
            rejected: count(&v, "rejected"),
            ms,
        },
        None => Posted {
            ok: false,
            accepted: 0,
            rejected: 0,
            ms,
        },
    }
}

/// Wall time, CPU time and peak memory of one operation.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Timed {
    pub wall_ms: f64,
    pub cpu_ms: f64,
    /// Peak RSS of the process after the operation (the collector's `VmHWM` so far, or the
    /// CLI's own).
    pub peak_rss_kib: u64,
    pub bytes: usize,
    pub load: f64,
}

/// What the history part measured.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct HistoryRow {
    pub devices: usize,
    pub outages_intended: usize,
    pub outages_stored: usize,
    /// Service windows (primary and activated secondary) in the year so far.
    pub windows: usize,
    pub generate_s: f64,
    pub db_mib: f64,
    pub start_healthz_ms: f64,
    pub start_status_ms: f64,
    pub rss_started_kib: u64,
    pub status: Timed,
    /// The first `/metrics` scrape and the median of three more.
    pub metrics_first: Timed,
    pub metrics: Timed,
    pub http_year: Timed,
    pub http_tertial: Timed,
    pub cli_year: Timed,
    pub cli_tertial: Timed,
    /// Sum of the devices' outages in the year report (a check on the history).
    pub year_report_outages: u64,
}

/// The year report's period and the tertial measured (a whole one, May to August).
pub const YEAR: &str = "2026";
pub const TERTIAL: &str = "2026-T2";

/// Writes the history, then measures restart, status, `/metrics` and the reports.
pub fn history(devices: usize, outages: usize) -> Result<HistoryRow> {
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("c.db");
    let config = collector_gen::write_inventory(dir.path(), devices, 20.min(devices), &db)?;
    let inv = Inventory::load(&config).map_err(|e| anyhow::anyhow!("inventory: {e}"))?;
    let t0 = Instant::now();
    let written = collector_gen::write_history(&inv, outages, Utc::now())?;
    let mut row = HistoryRow {
        devices,
        outages_intended: outages,
        outages_stored: written.outages_stored,
        windows: written.windows,
        generate_s: t0.elapsed().as_secs_f64(),
        db_mib: file_mib(&db) + file_mib(&db.with_extension("db-wal")),
        ..HistoryRow::default()
    };
    served(&mut row, &config, dir.path())?;
    row.cli_year = cli_report(&config, YEAR)?;
    row.cli_tertial = cli_report(&config, TERTIAL)?;
    Ok(row)
}

fn file_mib(path: &Path) -> f64 {
    std::fs::metadata(path).map_or(0.0, |m| m.len() as f64 / 1024.0 / 1024.0)
}

/// Restart, status, `/metrics` and HTTP reports on one collector process.
fn served(row: &mut HistoryRow, config: &Path, dir: &Path) -> Result<()> {
    let client = blocking_client()?;
    let mut proc = CollectorProc::start(config, &dir.join("collector.log"))?;
    row.start_healthz_ms = proc.wait_ok(&client, "/healthz")?.as_secs_f64() * 1000.0;
    row.start_status_ms = proc.wait_ok(&client, "/api/v1/status")?.as_secs_f64() * 1000.0;
    row.rss_started_kib = proc.kib("VmRSS")?;
    row.status = timed_get(&proc, &client, "/api/v1/status")?.0;
    row.metrics_first = timed_get(&proc, &client, "/metrics")?.0;
    let mut scrapes = (0..3)
        .map(|_| Ok(timed_get(&proc, &client, "/metrics")?.0))
        .collect::<Result<Vec<Timed>>>()?;
    scrapes.sort_by(|a, b| a.wall_ms.total_cmp(&b.wall_ms));
    row.metrics = scrapes.swap_remove(1);
    let (tertial, _) = timed_get(&proc, &client, &format!("/api/v1/report?period={TERTIAL}"))?;
    row.http_tertial = tertial;
    let (year, body) = timed_get(&proc, &client, &format!("/api/v1/report?period={YEAR}"))?;
    row.http_year = year;
    row.year_report_outages = report_outages(&body)?;
    Ok(())
}

/// GET `path` on the collector: client wall time, collector CPU (10 ms resolution), its peak.
fn timed_get(proc: &CollectorProc, client: &Http, path: &str) -> Result<(Timed, Vec<u8>)> {
    let load = sys::load1();
    let cpu0 = proc.cpu_s()?;
    let t0 = Instant::now();
    let (status, body) = client.get(&proc.url(path))?;
    if status != 200 {
        bail!("GET {path}: {status}");
    }
    let wall_ms = t0.elapsed().as_secs_f64() * 1000.0;
    let timed = Timed {
        wall_ms,
        cpu_ms: (proc.cpu_s()? - cpu0) * 1000.0,
        peak_rss_kib: proc.kib("VmHWM")?,
        bytes: body.len(),
        load,
    };
    Ok((timed, body))
}

fn report_outages(body: &[u8]) -> Result<u64> {
    let v: serde_json::Value = serde_json::from_slice(body)?;
    let devices = v["devices"].as_array().context("report without devices")?;
    Ok(devices.iter().filter_map(|d| d["outages"].as_u64()).sum())
}

/// `driftvakt-collector report --period PERIOD --format json`: wall, CPU and peak RSS.
pub fn cli_report(config: &Path, period: &str) -> Result<Timed> {
    let load = sys::load1();
    let t0 = Instant::now();
    let mut child = collector_command()?
        .arg("report")
        .arg("--config")
        .arg(config)
        .args(["--period", period, "--format", "json"])
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("cannot start the collector's report")?;
    let mut stdout = child.stdout.take().context("report stdout")?;
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        stdout.read_to_end(&mut out).map(|_| out)
    });
    let usage = sys::wait_polling_peak_rss(&child)?;
    let out = reader.join().expect("report reader panicked")?;
    if !usage.success {
        bail!(
            "driftvakt-collector report failed (exit {})",
            usage.exit_code
        );
    }
    Ok(Timed {
        wall_ms: t0.elapsed().as_secs_f64() * 1000.0,
        cpu_ms: usage.cpu_seconds * 1000.0,
        peak_rss_kib: usage.max_rss_kib,
        bytes: out.len(),
        load,
    })
}
