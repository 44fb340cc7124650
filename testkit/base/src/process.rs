//! The real binaries as child processes: `driftvakt-collector` and `driftvakt-agent` found
//! beside the running test (cargo builds them before the tests), started with their logs in a
//! file, killed (SIGKILL) when dropped, also when a test fails; bounded waits; an agent's
//! configuration in central mode and its `/metrics`.

use crate::files::owner_only;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The tokens of agents `a` and `b` in the tests that run the binaries.
pub const TOKEN_A: &str = "delivery-token-a-0123456789";
pub const TOKEN_B: &str = "delivery-token-b-0123456789";

/// `target/debug`: the folder of the test binary's `deps/` folder, where cargo puts the
/// workspace's binaries.
fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let deps = exe.parent().expect("the test binary's folder");
    deps.parent()
        .expect("the target profile folder")
        .to_path_buf()
}

/// The target folder cargo builds into (`target`, or `CARGO_TARGET_DIR`): above [`bin_dir`].
pub fn target_dir() -> PathBuf {
    bin_dir().parent().expect("the target folder").to_path_buf()
}

fn binary(name: &str, hint: &str) -> PathBuf {
    let path = bin_dir().join(name);
    assert!(
        path.is_file(),
        "the binary {} is missing: {hint}",
        path.display()
    );
    path
}

/// The collector binary (`cargo test -p driftvakt-collector` builds it for its own tests).
pub fn collector_bin() -> PathBuf {
    binary(
        "driftvakt-collector",
        "run `cargo build -p driftvakt-collector` first (or the tests with `cargo test --workspace`)",
    )
}

/// The agent binary (`cargo test --workspace` builds every binary of the workspace before
/// running tests; `cargo test -p driftvakt-agent` builds it for the agent's own tests).
pub fn agent_bin() -> PathBuf {
    binary(
        "driftvakt-agent",
        "run `cargo build --workspace` first (or run the tests with `cargo test --workspace`)",
    )
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
    owner_only(&dir.join("token"), &format!("{}\n", s.token));
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

/// Polls `done` every 100 ms, blocking; fails the test after `limit`; how long it took.
pub fn wait(what: &str, limit: Duration, mut done: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "timed out after {limit:?}: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
    start.elapsed()
}

/// `kill SIG PID` (`-STOP`, `-CONT`, `-TERM`, …).
pub fn signal(p: &Proc, sig: &str) {
    let pid = p.child.id().to_string();
    assert!(Command::new("kill")
        .args([sig, &pid])
        .status()
        .unwrap()
        .success());
}
