//! Shared rig of the cluster process tests (`cluster_failover` on one SQLite file,
//! `cluster_postgres` on PostgreSQL): the inventory of a node (devices with a TCP check each,
//! mail to aiosmtpd, a short lease), the agent's configuration with every node's URL, a
//! collector node as a child process with its `/api/v1/status` and `/metrics`, devices that go
//! down when the test closes their listener, plain HTTP/1.0 over 127.0.0.1, signals, counting
//! the notices the SMTP server received, and the two end checks of the pair tests on the store
//! API: stored results = the agent's spooled ones, each notice once.

use chrono::{Datelike, Utc};
use driftvakt_collector::store::{Database, Location};
pub use driftvakt_collector_testkit::files::owner_only;
pub use driftvakt_collector_testkit::http::{get, http};
use driftvakt_collector_testkit::process::{agent_bin, collector_bin, read_log, Proc};
pub use driftvakt_collector_testkit::process::{signal, wait};
use driftvakt_collector_testkit::smtp::SmtpPeer;
use driftvakt_collector_testkit::spool;
use driftvakt_common::wire::ProbeResult;
use std::collections::{BTreeMap, BTreeSet};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

/// The pg_auto_failover test runs alone ([`alone`]); the others of this binary run side by
/// side ([`with_others`]). Its three PostgreSQL servers and their keepers beside six collector
/// nodes on two cores made the others' timed waits (leases, notices) run out.
static RUNS: RwLock<()> = RwLock::new(());

/// Held by a test that may run beside the others of this binary.
pub fn with_others() -> RwLockReadGuard<'static, ()> {
    RUNS.read().unwrap_or_else(|e| e.into_inner())
}

/// Held by a test that runs alone.
pub fn alone() -> RwLockWriteGuard<'static, ()> {
    RUNS.write().unwrap_or_else(|e| e.into_inner())
}

/// The agent's token (file `agent.token` beside the inventories).
pub const TOKEN: &str = "cluster-agent-token-0123456789";

/// A weekday three days away from today: no planned window falls on the test.
pub fn weekday_away_from_today() -> &'static str {
    let today = Utc::now().with_timezone(&chrono_tz::Europe::Stockholm);
    let names = [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ];
    names[(today.weekday().num_days_from_monday() as usize + 3) % 7]
}

/// Devices `ap-0`…: one loopback listener each; closing it makes the device's TCP check fail.
pub struct Devices {
    listeners: Vec<Option<TcpListener>>,
    pub ports: Vec<u16>,
}

impl Devices {
    pub fn new(n: usize) -> Devices {
        let listeners: Vec<Option<TcpListener>> = (0..n)
            .map(|_| Some(TcpListener::bind("127.0.0.1:0").unwrap()))
            .collect();
        let ports = listeners
            .iter()
            .map(|l| l.as_ref().unwrap().local_addr().unwrap().port())
            .collect();
        Devices { listeners, ports }
    }

    /// `ap-{i}` goes down (its port refuses from now on).
    pub fn down(&mut self, i: usize) {
        self.listeners[i] = None;
    }

    pub fn ids(&self) -> Vec<String> {
        (0..self.ports.len()).map(|i| format!("ap-{i}")).collect()
    }
}

/// The inventory of node `node` on `database` (a path or a `postgres://` URL), mailing to
/// 127.0.0.1:`smtp`; the nodes of one cluster differ only in `collector.node`. Written to
/// `dir/{node}.yaml`.
pub fn inventory(dir: &Path, node: &str, database: &str, smtp: u16, ports: &[u16]) -> PathBuf {
    owner_only(&dir.join("agent.token"), TOKEN);
    let devices: String = ports
        .iter()
        .enumerate()
        .map(|(i, p)| {
            format!(
                "  - {{ id: ap-{i}, class: access_point, site: hus, address: 127.0.0.1, interval: 1s, \
                 checks: [{{ kind: tcp, port: {p}, timeout: 500ms }}] }}\n"
            )
        })
        .collect();
    let text = format!(
        r#"collector:
  database: "{database}"
  node: {node}
  cluster: {{ lease: 10s, heartbeat: 2s }}
sites:
  - {{ id: hus, name: Stadshuset, municipality: Tranemo }}
devices:
{devices}agents:
  - {{ id: a1, token_file: agent.token, sites: [hus] }}
calendar:
  primary: {{ weekday: {weekday} }}
  office_hours:
    municipalities:
      Tranemo: {{ monday: [], tuesday: [], wednesday: [], thursday: [], friday: [], saturday: [], sunday: [] }}
notify:
  smtp: {{ host: 127.0.0.1, port: {smtp}, tls: none, timeout: 5s }}
  from:
    default: "IT Tranemo <it@tranemo.example.se>"
  municipalities:
    Tranemo:
      editors: [redaktion@tranemo.example.se]
      service_desk: [servicedesk@tranemo.example.se]
      on_call: [jour@tranemo.example.se]
  hold_down: 0s
  retry: {{ initial_backoff: 1s, max_backoff: 2s, lease: 40s }}
"#,
        weekday = weekday_away_from_today(),
    );
    let path = dir.join(format!("{node}.yaml"));
    std::fs::write(&path, text).unwrap();
    path
}

/// The agent's configuration (`dir/agent/agent.yaml`) listing every node in `urls`; its spool
/// is `dir/agent/spool`, large enough that no segment is deleted during a test.
pub fn agent_config(dir: &Path, urls: &[String]) -> PathBuf {
    let dir = dir.join("agent");
    std::fs::create_dir_all(&dir).unwrap();
    owner_only(&dir.join("token"), TOKEN);
    let urls: Vec<String> = urls.iter().map(|u| format!("      - {u}\n")).collect();
    let text = format!(
        "agent:\n  id: a1\n  collector:\n    urls:\n{}    token: {{ file: token }}\n    push_interval: 200ms\n    assignment_refresh: 2s\n  spool:\n    dir: spool\n    max_bytes: 256MiB\ndevices: []\n",
        urls.concat()
    );
    let path = dir.join("agent.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Starts the agent on `config`, logging to `dir/agent.log`.
pub fn start_agent(dir: &Path, config: &Path) -> Proc {
    let mut cmd = Command::new(agent_bin());
    cmd.args(["run", "--config"]).arg(config);
    Proc::spawn("agent", &mut cmd, &dir.join("agent.log"))
}

/// One collector node: `driftvakt-collector run` on 127.0.0.1:`port`.
pub struct Node {
    pub name: &'static str,
    pub port: u16,
    pub config: PathBuf,
    pub proc: Option<Proc>,
    /// The collector binary it runs: this build's, or an older release's (`cluster_upgrade`).
    pub bin: PathBuf,
}

impl Node {
    pub fn new(name: &'static str, config: PathBuf) -> Node {
        Node {
            name,
            port: driftvakt_collector_testkit::ports::free_port(),
            config,
            proc: None,
            bin: collector_bin(),
        }
    }

    /// Nodes `a` and `b` on `database`, mailing to `smtp_port`, checking `ports` (not started).
    pub fn pair(dir: &Path, database: &str, smtp_port: u16, ports: &[u16]) -> (Node, Node) {
        (
            Node::new("a", inventory(dir, "a", database, smtp_port, ports)),
            Node::new("b", inventory(dir, "b", database, smtp_port, ports)),
        )
    }

    /// Starts (or restarts) the process and waits until its `/api/v1/status` answers.
    pub fn start(&mut self, dir: &Path) {
        let mut cmd = Command::new(&self.bin);
        cmd.args(["run", "--config"])
            .arg(&self.config)
            .args(["--listen", &format!("127.0.0.1:{}", self.port)]);
        let n = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis();
        let log = dir.join(format!("{}-{n}.log", self.name));
        self.proc = Some(Proc::spawn(self.name, &mut cmd, &log));
        let limit = Duration::from_secs(20);
        let start = Instant::now();
        while self.cluster().is_none() {
            self.proc.as_mut().unwrap().assert_running();
            assert!(
                start.elapsed() < limit,
                "{} did not answer within {limit:?}: {}",
                self.name,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `cluster` of this node's `/api/v1/status`, if it answers 200 within 2 s.
    pub fn cluster(&self) -> Option<serde_json::Value> {
        let status: serde_json::Value =
            serde_json::from_str(&get(self.port, "/api/v1/status")?).ok()?;
        status.get("cluster").cloned()
    }

    /// The leader this node names in `/api/v1/status`.
    pub fn leader(&self) -> Option<String> {
        self.cluster()?["leader"].as_str().map(str::to_string)
    }

    /// Whether this node's `/metrics` has exactly the line `line`.
    pub fn metric(&self, line: &str) -> bool {
        get(self.port, "/metrics").is_some_and(|m| m.lines().any(|l| l == line))
    }

    /// `driftvakt_cluster_leader{node="NAME"}` on this node's `/metrics`, if served.
    pub fn leader_gauge(&self) -> Option<i64> {
        let prefix = format!("driftvakt_cluster_leader{{node=\"{}\"}} ", self.name);
        get(self.port, "/metrics")?
            .lines()
            .find_map(|l| l.strip_prefix(&prefix)?.trim().parse().ok())
    }

    pub fn signal(&self, sig: &str) {
        signal(self.proc.as_ref().unwrap(), sig);
    }

    /// SIGSTOP this node at a moment it holds no write lock on the SQLite file `db`.
    ///
    /// A process frozen inside a write transaction keeps SQLite's file lock, and no other
    /// process can write until it runs again: no lease can pass while it sleeps, whatever the
    /// collector does. That is SQLite's nature, not what the failover test is about, so the
    /// test freezes, tries the write lock itself, and on a busy file thaws the node for a
    /// moment and freezes it again.
    pub fn freeze_outside_write_lock(&self, db: &Path) {
        for _ in 0..200 {
            self.signal("-STOP");
            if write_lock_free(db) {
                return;
            }
            self.signal("-CONT");
            std::thread::sleep(Duration::from_millis(20 + rand::random::<u64>() % 80));
        }
        panic!(
            "{} held the write lock of {} at 200 freezes",
            self.name,
            db.display()
        );
    }

    /// Name and log tail, for failure messages.
    pub fn log(&self) -> String {
        self.proc.as_ref().map(Proc::describe).unwrap_or_default()
    }

    /// The whole log of the current process.
    pub fn full_log(&self) -> String {
        self.proc
            .as_ref()
            .map(|p| read_log(&p.log))
            .unwrap_or_default()
    }
}

/// `POST path` with a JSON body and the agent's bearer token: (status, head, body).
pub fn post_json(port: u16, path: &str, json: &str) -> Option<(u16, String, String)> {
    driftvakt_collector_testkit::http::post_json(port, path, TOKEN, json)
}

/// Message-ID → how many times the SMTP server received it.
pub fn received(smtp: &SmtpPeer) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for m in smtp.messages() {
        *out.entry(m.header("Message-ID").unwrap_or_default())
            .or_insert(0) += 1;
    }
    out
}

/// Messages the SMTP server received that name `device` (subject or text).
pub fn alerts_about(smtp: &SmtpPeer, device: &str) -> usize {
    smtp.messages()
        .iter()
        .filter(|m| m.subject.contains(device) || m.text.contains(device))
        .count()
}

/// Subject → how many times the SMTP server received it.
pub fn subjects(smtp: &SmtpPeer) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for m in smtp.messages() {
        *out.entry(m.subject.clone()).or_insert(0) += 1;
    }
    out
}

/// Whether a write transaction on `db` can begin at once (nobody holds its write lock).
fn write_lock_free(db: &Path) -> bool {
    let Ok(conn) = rusqlite::Connection::open(db) else {
        return false;
    };
    conn.busy_timeout(Duration::ZERO).ok();
    conn.execute_batch("BEGIN IMMEDIATE; ROLLBACK;").is_ok()
}

/// (device, check, time in ms) of one result.
pub type Key = (String, String, i64);

/// Every result of `devices` stored in the database at `location`, through the store API:
/// (device, check, time) → how many rows. (Opening migrates the database to this build's
/// schema.)
pub fn stored(location: &Location, devices: &[String]) -> BTreeMap<Key, u32> {
    let db = Database::open(location).expect("open the pair's database");
    let store = db.store().unwrap();
    let mut out = BTreeMap::new();
    for device in devices {
        for r in store.results(device, 0).unwrap() {
            assert_eq!(r.agent, "a1");
            *out.entry((r.target, r.check, r.time)).or_insert(0) += r.count;
        }
    }
    out
}

/// The agent stops cleanly (its last flush), then: every result it produced is in its `spool`
/// (nothing was deleted from it), and the results of `devices` stored at `location` are
/// exactly those, each once. Returns how many.
pub fn assert_stored_equals_spooled(
    agent: &mut Proc,
    spool: &Path,
    location: &Location,
    devices: &[String],
) -> usize {
    agent.terminate(Duration::from_secs(20));
    let records = spool::spool_records(spool);
    assert_eq!(
        records.first().map(|(seq, _)| *seq),
        Some(1),
        "the spool still starts at its first result (no segment was deleted)"
    );
    let spooled: Vec<ProbeResult> = records.into_iter().map(|(_, r)| r).collect();
    let keys = spool::keys(&spooled);
    assert_eq!(
        keys.len(),
        spooled.len(),
        "the agent produced each key once"
    );
    let stored = stored(location, devices);
    let doubled: Vec<_> = stored.iter().filter(|(_, n)| **n != 1).collect();
    assert!(
        doubled.is_empty(),
        "results stored more than once: {doubled:?}"
    );
    let stored: BTreeSet<Key> = stored.into_keys().collect();
    let lost: Vec<_> = keys.difference(&stored).collect();
    let extra: Vec<_> = stored.difference(&keys).collect();
    assert!(
        lost.is_empty() && extra.is_empty(),
        "spooled but not stored: {lost:?}\nstored but never spooled: {extra:?}"
    );
    println!("stored results = spooled results: {}", keys.len());
    keys.len()
}

/// Every message `smtp` received has its own `Message-ID` and subject; of the devices
/// `ap-0`…`ap-{devices - 1}`, each in `down` has exactly `per_device` messages, the others
/// none. `logs` go into the failure message.
pub fn assert_notices_once(
    smtp: &SmtpPeer,
    devices: usize,
    down: &[usize],
    per_device: usize,
    logs: &str,
) {
    let got = received(smtp);
    for i in 0..devices {
        let want = if down.contains(&i) { per_device } else { 0 };
        assert_eq!(
            alerts_about(smtp, &format!("ap-{i}")),
            want,
            "notices about ap-{i}: {:?}\n{logs}",
            subjects(smtp),
        );
    }
    assert!(got.values().all(|n| *n == 1), "exactly once: {got:?}");
    let subjects = subjects(smtp);
    assert!(
        subjects.values().all(|n| *n == 1),
        "each subject once: {subjects:?}"
    );
}
