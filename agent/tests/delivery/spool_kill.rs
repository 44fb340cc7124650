//! The real `driftvakt-agent` binary, probing many loopback targets at a short interval with an
//! unreachable collector, is killed with SIGKILL at random moments while it writes its spool and
//! started again. After every kill the spool must open, keep every record it had before (the
//! records of the previous round are an unchanged prefix), have strictly increasing sequence
//! numbers, and grow again after the restart. One round also tears the last record by hand, as a
//! power cut could, and the agent must cut it off on start and carry on.
//!
//! Group commit: an agent whose spool syncs at most once a minute (and never pushes) is killed
//! before any sync could have happened; every result its metrics counted as spooled is in the
//! spool afterwards (a SIGKILL leaves the page cache to the kernel; nothing waits in the
//! process).

use driftvakt_agent::metrics::SpoolMetrics;
use driftvakt_agent::spool::{Record, Spool, SpoolOptions};
use rand::Rng;
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BATCH: usize = 500;

fn write_config(dir: &Path) -> PathBuf {
    write_config_with(dir, "push_interval: 1s", "sync_interval: 1s")
}

/// The kill test's configuration with `push` in `agent.collector` and `spool` in `agent.spool`
/// (each one `key: value` line).
fn write_config_with(dir: &Path, push: &str, spool: &str) -> PathBuf {
    std::fs::write(dir.join("token"), "test-token\n").unwrap();
    std::fs::set_permissions(
        dir.join("token"),
        <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o600),
    )
    .unwrap(); // token files: owner only
    let mut yaml = String::from(
        "agent:\n  id: kill-test\n  concurrency: 512\n  collector:\n    url: http://127.0.0.1:1\n    token: { file: token }\n    batch_size: 500\n    PUSH\n  spool:\n    dir: spool\n    max_bytes: 256MiB\n    SPOOL\ndevices:\n",
    )
    .replace("PUSH", push)
    .replace("    SPOOL\n", &format!("    {spool}\n"));
    for i in 0..150 {
        // Closed loopback ports: each probe ends at once with connection_refused.
        yaml.push_str(&format!(
            "  - id: printer-{i}\n    class: printer\n    address: 127.0.0.1\n    checks:\n      - kind: tcp\n        port: {}\n        interval: 100ms\n        timeout: 100ms\n",
            40000 + i
        ));
    }
    for i in 0..20 {
        yaml.push_str(&format!(
            "  - id: ap-{i}\n    class: access_point\n    address: 127.0.0.{}\n    checks:\n      - kind: icmp\n        count: 1\n        interval: 100ms\n        timeout: 100ms\n",
            i + 1
        ));
    }
    let path = dir.join("agent.yaml");
    std::fs::write(&path, yaml).unwrap();
    path
}

fn start(config: &Path, log: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_driftvakt-agent"))
        .args(["run", "--config"])
        .arg(config)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap()
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .map(|rd| rd.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    v.retain(|p: &PathBuf| p.extension().is_some_and(|e| e == "log"));
    v.sort();
    v
}

fn spool_bytes(dir: &Path) -> u64 {
    segments(dir)
        .iter()
        .map(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .sum()
}

/// Waits until the spool has grown past `bytes`, while the agent keeps running.
fn wait_for_growth(dir: &Path, bytes: u64, child: &mut Child, log: &Path) {
    let start = Instant::now();
    while spool_bytes(dir) <= bytes {
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "agent exited with {status}:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "spool did not grow past {bytes} bytes in 30s:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Opens the spool as the agent would and checks it; returns its records.
fn inspect(dir: &Path) -> Vec<Record> {
    let spool = Spool::open(
        dir,
        SpoolOptions::new(256 << 20, BATCH),
        SpoolMetrics::default(),
    )
    .expect("the spool opens after SIGKILL");
    let last = segments(dir).pop();
    for r in spool.repairs() {
        assert_eq!(
            Some(&r.segment),
            last.as_ref(),
            "only the tail may be torn: {r:?}"
        );
    }
    let records = spool.records().expect("every kept record decodes");
    assert!(
        records.windows(2).all(|w| w[0].seq < w[1].seq),
        "sequence numbers strictly increase"
    );
    records
}

/// Cuts the last record of the last segment in half.
fn tear_tail(dir: &Path) {
    let seg = segments(dir).pop().unwrap();
    let len = std::fs::metadata(&seg).unwrap().len();
    OpenOptions::new()
        .write(true)
        .open(&seg)
        .unwrap()
        .set_len(len - 30)
        .unwrap();
}

#[test]
fn sigkill_mid_write_loses_nothing_before_the_tail_and_the_agent_carries_on() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    let spool_dir = dir.path().join("spool");
    let mut rng = rand::rng();
    let mut before: Vec<Record> = Vec::new();
    for round in 0..5 {
        let log = dir.path().join(format!("agent-{round}.log"));
        let mut child = start(&config, &log);
        // Kill at a random point: after a random amount of fresh writing.
        let grow = rng.random_range(1_000..200_000);
        wait_for_growth(&spool_dir, spool_bytes(&spool_dir) + grow, &mut child, &log);
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();

        let mut records = inspect(&spool_dir);
        if round == 3 {
            // A power cut tears the last record; the agent must cut it off on its next start.
            tear_tail(&spool_dir);
            records.pop();
        }
        assert!(
            records.len() > before.len(),
            "round {round}: the agent appended after restart ({} -> {})",
            before.len(),
            records.len()
        );
        assert_eq!(
            records[..before.len()],
            before[..],
            "round {round}: records from before the restart are intact"
        );
        if round > 0 {
            let resumed = records[before.len()].seq;
            assert!(resumed > before.last().unwrap().seq);
            assert_eq!(
                resumed % BATCH as u64,
                0,
                "a restart starts a new batch window"
            );
        }
        before = records;
    }
    let log4 = std::fs::read_to_string(dir.path().join("agent-4.log")).unwrap();
    assert!(
        log4.contains("torn record"),
        "the agent reports the torn tail it cut off:\n{log4}"
    );
}

/// A free loopback port (the listener is dropped before the agent binds it).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The value of the unlabelled metric `name` on the agent's `/metrics` at `port`, if it answers.
fn scrape(port: u16, name: &str) -> Option<f64> {
    use std::io::{Read, Write};
    let mut conn = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    conn.write_all(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .ok()?;
    let mut text = String::new();
    conn.read_to_string(&mut text).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

#[test]
fn sigkill_between_group_commits_loses_no_spooled_result() {
    let dir = tempfile::tempdir().unwrap();
    // Never a timed sync (one a minute) and never a push (one an hour; the first pass, at
    // start, finds the spool empty), so nothing of this run is synced before the kill.
    let config = write_config_with(dir.path(), "push_interval: 1h", "sync_interval: 1m");
    let port = free_port();
    let yaml = std::fs::read_to_string(&config).unwrap().replacen(
        "  id: kill-test\n",
        &format!("  id: kill-test\n  listen: 127.0.0.1:{port}\n"),
        1,
    );
    std::fs::write(&config, yaml).unwrap();
    let log = dir.path().join("agent.log");
    let started = Instant::now();
    let mut child = start(&config, &log);
    let spooled = loop {
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "agent exited with {status}:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        let n = scrape(port, "driftvakt_agent_spool_results").unwrap_or(0.0) as usize;
        if n >= 3_000 {
            break n;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the agent spooled {n} results in 30 s, wanted 3000:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(55),
        "the kill came before the first timed sync"
    );
    let records = inspect(&dir.path().join("spool"));
    assert!(
        records.len() >= spooled,
        "the spool holds {} results after SIGKILL; the agent had counted {spooled} spooled",
        records.len()
    );
    assert_eq!(
        segments(&dir.path().join("spool")).len(),
        1,
        "one segment: no roll (which syncs) happened"
    );
}
