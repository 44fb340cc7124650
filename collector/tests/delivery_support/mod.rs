//! Shared helpers of the delivery tests: the real collector and agent binaries as child
//! processes (killed when dropped, even when a test fails), free loopback ports, bounded waits,
//! the agent's spool read raw, and the collector's database read read-only.
#![allow(dead_code)]

use driftvakt_common::wire::ProbeResult;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const TOKEN_A: &str = "delivery-token-a-0123456789";
pub const TOKEN_B: &str = "delivery-token-b-0123456789";

/// The collector binary cargo built for this test.
pub fn collector_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_driftvakt-collector"))
}

/// The agent binary, next to the collector's (`cargo test --workspace` builds every binary of
/// the workspace before running tests).
pub fn agent_bin() -> PathBuf {
    let path = collector_bin().with_file_name("driftvakt-agent");
    assert!(
        path.is_file(),
        "the agent binary {} is missing: run `cargo build --workspace` first (or run the tests \
         with `cargo test --workspace`)",
        path.display()
    );
    path
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child process that is killed (SIGKILL) when dropped; its stderr goes to `log`.
pub struct Proc {
    pub child: Child,
    pub name: String,
    pub log: PathBuf,
}

impl Proc {
    pub fn spawn(name: &str, cmd: &mut Command, log: &Path) -> Proc {
        let child = cmd
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Proc {
            child,
            name: name.to_string(),
            log: log.to_path_buf(),
        }
    }

    /// SIGKILL and reap.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then wait (at most `limit`) for a clean exit.
    pub fn terminate(&mut self, limit: Duration) {
        let pid = self.child.id().to_string();
        let status = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(status.success(), "kill -TERM {pid} failed");
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "{} exited with {status}", self.describe());
                return;
            }
            assert!(
                start.elapsed() < limit,
                "{} did not stop within {limit:?}",
                self.describe()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Panics with the log if the process has exited.
    pub fn assert_running(&mut self) {
        if let Some(status) = self.child.try_wait().unwrap() {
            panic!("{} exited with {status}", self.describe());
        }
    }

    /// Name and log, for failure messages.
    pub fn describe(&self) -> String {
        let log = read_log(&self.log);
        let tail: Vec<&str> = log.lines().rev().take(40).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        format!(
            "{} (log {}):\n{}",
            self.name,
            self.log.display(),
            tail.join("\n")
        )
    }
}

/// A process log without terminal colour codes.
pub fn read_log(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ parameters final-byte
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Polls `done` every 20 ms; fails the test after `limit`.
pub async fn wait_until<F, Fut>(what: &str, limit: Duration, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !done().await {
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Starts `driftvakt-collector run` on 127.0.0.1:`port` with `database`; waits for /healthz.
pub async fn start_collector(config: &Path, port: u16, database: &Path, log: &Path) -> Proc {
    let mut cmd = Command::new(collector_bin());
    cmd.args(["run", "--config"])
        .arg(config)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .arg("--database")
        .arg(database);
    let mut p = Proc::spawn("collector", &mut cmd, log);
    let url = format!("http://127.0.0.1:{port}/healthz");
    let start = Instant::now();
    loop {
        if let Ok(r) = reqwest::get(&url).await {
            if r.status().is_success() {
                return p;
            }
        }
        p.assert_running();
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "collector did not come up on port {port}: {}",
            p.describe()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Starts `driftvakt-agent run --config FILE`.
pub fn start_agent(config: &Path, log: &Path) -> Proc {
    let mut cmd = Command::new(agent_bin());
    cmd.args(["run", "--config"]).arg(config);
    Proc::spawn("agent", &mut cmd, log)
}

/// Settings of an agent in central mode.
pub struct AgentSetup<'a> {
    pub id: &'a str,
    pub token: &'a str,
    pub collector_port: u16,
    pub metrics_port: u16,
    pub batch_size: usize,
    pub refresh: &'a str,
    /// YAML list items under `devices:` (may be empty).
    pub devices: &'a str,
}

/// Writes `agent.yaml` (and its token file) into `dir`; the spool is `dir/spool`.
pub fn write_agent(dir: &Path, s: &AgentSetup) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("token"), format!("{}\n", s.token)).unwrap();
    std::fs::set_permissions(
        dir.join("token"),
        <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o600),
    )
    .unwrap(); // token files: owner only
    let yaml = format!(
        "agent:\n  id: {id}\n  listen: 127.0.0.1:{metrics}\n  collector:\n    url: http://127.0.0.1:{port}\n    token: {{ file: token }}\n    batch_size: {batch}\n    push_interval: 200ms\n    assignment_refresh: {refresh}\n  spool:\n    dir: spool\n    max_bytes: 256MiB\ndevices:{devices}\n",
        id = s.id,
        metrics = s.metrics_port,
        port = s.collector_port,
        batch = s.batch_size,
        refresh = s.refresh,
        devices = if s.devices.trim().is_empty() {
            " []".to_string()
        } else {
            format!("\n{}", s.devices)
        },
    );
    let path = dir.join("agent.yaml");
    std::fs::write(&path, yaml).unwrap();
    path
}

/// One metric's value from the agent's `/metrics` (summed over label sets), if served.
pub async fn agent_metric(metrics_port: u16, name: &str) -> Option<f64> {
    let text = reqwest::get(format!("http://127.0.0.1:{metrics_port}/metrics"))
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    let values: Vec<f64> = text
        .lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with([' ', '{']))
        .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
        .collect();
    (!values.is_empty()).then(|| values.iter().sum())
}

/// Every record of every segment file in a spool folder, read raw (the agent's format:
/// `len u32 LE | crc32 u32 LE | seq u64 LE | JSON`), in file order; a torn tail ends a file.
pub fn spool_records(dir: &Path) -> Vec<(u64, ProbeResult)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let bytes = std::fs::read(&f).unwrap();
        let mut at = 0;
        while at + 8 <= bytes.len() {
            let len = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
            let Some(payload) = bytes.get(at + 8..at + 8 + len) else {
                break;
            };
            let seq = u64::from_le_bytes(payload[..8].try_into().unwrap());
            out.push((seq, serde_json::from_slice(&payload[8..]).unwrap()));
            at += 8 + len;
        }
    }
    out
}

/// The collector's database, opened read-only.
pub fn database(path: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap()
}

/// Results stored for `agent`.
pub fn stored_count(db: &Path, agent: &str) -> i64 {
    database(db)
        .query_row(
            "SELECT COUNT(*) FROM dv_results WHERE agent = ?1",
            [agent],
            |r| r.get(0),
        )
        .unwrap()
}

/// (target, check, time) keys stored more than once for `agent`.
pub fn stored_duplicates(db: &Path, agent: &str) -> i64 {
    database(db)
        .query_row(
            "SELECT COUNT(*) FROM (SELECT 1 FROM dv_results WHERE agent = ?1 \
             GROUP BY target, check_name, time_ms HAVING COUNT(*) > 1)",
            [agent],
            |r| r.get(0),
        )
        .unwrap()
}

/// Distinct (target, check, time in ms) of `results`.
pub fn keys(results: &[ProbeResult]) -> std::collections::BTreeSet<(String, String, i64)> {
    results
        .iter()
        .map(|r| (r.target.clone(), r.check.clone(), r.time.timestamp_millis()))
        .collect()
}

/// The (target, check, time in ms) of every result stored for `agent`.
pub fn stored_keys(db: &Path, agent: &str) -> std::collections::BTreeSet<(String, String, i64)> {
    let conn = database(db);
    let mut stmt = conn
        .prepare("SELECT target, check_name, time_ms FROM dv_results WHERE agent = ?1")
        .unwrap();
    stmt.query_map([agent], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}
