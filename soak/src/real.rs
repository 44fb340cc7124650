//! Real time: the real `driftvakt-collector` and `driftvakt-agent` binaries as processes, the
//! devices as loopback TCP listeners opened and closed by the plan ([`crate::plan`]), a real
//! SMTP server (aiosmtpd, `tests/smtp/smtp_sink.py`), a webhook receiver
//! ([`crate::procs::WebhookPeer`]), and the plan's faults: agents SIGKILLed and restarted or
//! SIGSTOPped inside an outage, an agent's wall clock an hour ahead (libfaketime), the collector
//! SIGKILLed and restarted or SIGSTOPped or its disk full (`RLIMIT_FSIZE`), an agent's spool
//! folder taken away while it runs, the SMTP server down or refusing (451), the webhook
//! answering 500.
//!
//! What the agents made is read from their spools (the agent writes every result there before
//! it pushes it): the live folders every few seconds, each folder before an agent is started
//! again, a taken-away folder before it is deleted, and all of them at the end. At the end the
//! agents are stopped, started once more without checks so they only deliver what they hold,
//! the collector is stopped and its SQLite store opened (through the collector's own `Store`).
//! Checked:
//!
//! - every result made is stored exactly once (`lost`, `doubled`), and none stamped while its
//!   agent's clock was ahead (`stamped_ahead`, `stored_ahead`);
//! - the stored outages match the plan's (devices down and unknown, services down), each edge
//!   within the plan's tolerance (`outages_expected`, `outages_seen`, `outage_mismatches`);
//! - the stored outages equal, to the millisecond, what the oracle computes from the results
//!   made (`exact_mismatches`);
//! - the mails the SMTP server received and the webhook's requests equal the notices the mail
//!   oracle ([`crate::mails`]) predicts from the plan, by recipient and subject
//!   (`mails_expected`, `mail_mismatches`);
//! - no `ERROR` in any log that the plan did not cause (`errors_unexpected`), and never
//!   "another collector process beats" (issue 23 item 1, `twin_seen`).

use crate::mails;
use crate::oracle::{self, Expected};
use crate::plan::{
    match_with_tolerance, Backend, Fault, FaultKind, Plan, PAIR_HEARTBEAT_MS, PAIR_LEASE_MS,
};
use crate::procs::{
    free_port, http_get, metric, read_spool, wait_until, Devices, Proc, WebhookPeer,
};
use crate::schedule::{Ms, World, STALE_INTERVALS};
use anyhow::{bail, Context, Result};
use driftvakt_collector::inventory::Inventory;
use driftvakt_collector::store::{Database, EntityKind, Store};
use driftvakt_testkit::pg::PgCluster;
use std::collections::{BTreeMap, BTreeSet};
use std::io::BufRead;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Mismatches printed at most.
const SHOWN: usize = 10;
const PYTHON: &str = "/usr/bin/python3";
/// Debian's libfaketime (package `libfaketime`), preloaded into the agents so the plan can step
/// their wall clock (`ClockStep`); the thread-safe variant, as the agent runs threads.
const FAKETIME: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1";
/// How far a `ClockStep` puts an agent's wall clock ahead (the collector accepts 5 min).
const CLOCK_AHEAD: &str = "+1h";
const SMTP_SINK: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/smtp/smtp_sink.py");
/// What the collector logs when it takes itself for a second node (issue 23 item 1).
const TWIN: &str = "another collector process beats";

/// What a real-time run is made of.
#[derive(Debug, Clone)]
pub struct RealParams {
    pub seed: u64,
    pub minutes: f64,
    pub devices: usize,
    pub interval_s: u32,
    /// Where `driftvakt-agent` and `driftvakt-collector` are.
    pub bin_dir: PathBuf,
    /// One collector on SQLite, or the pair on a throwaway PostgreSQL cluster.
    pub backend: Backend,
}

/// The line printed at the end of a real-time run.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct RealSummary {
    pub seed: u64,
    /// `sqlite` (one collector) or `postgres-pair`.
    pub backend: String,
    pub minutes: f64,
    pub devices: usize,
    pub services: usize,
    pub interval_s: u32,
    pub tolerance_ms: Ms,
    /// The run's start (Unix ms): planned times are relative to it.
    pub start_ms: Ms,
    pub faults: BTreeMap<String, usize>,
    pub results_made: usize,
    /// Results an agent stamped while its clock was ahead (`ClockStep`): made, to be refused.
    pub stamped_ahead: usize,
    /// Of those, stored (must be 0).
    pub stored_ahead: usize,
    pub stored: usize,
    pub lost: usize,
    pub doubled: usize,
    pub outages_expected: usize,
    pub outages_seen: usize,
    pub outage_mismatches: usize,
    /// Service outages shorter than the tolerance at a planned edge: two members' edges
    /// crossing in real time (the exact check covers them).
    pub edge_races: usize,
    pub exact_mismatches: usize,
    pub errors_expected: usize,
    pub errors_unexpected: usize,
    pub twin_seen: bool,
    pub spool_resets: usize,
    /// Collector faults (kill, stop) that struck the node holding the leader lease.
    pub leaders_struck: usize,
    /// Mails and webhook requests the mail oracle expects.
    pub mails_expected: usize,
    /// Distinct messages received (mails by `Message-ID`, webhook requests by
    /// `Idempotency-Key`).
    pub mails_received: usize,
    pub mail_mismatches: usize,
    /// Mails beyond the expected count at instants where two edges were planned at once.
    pub mail_races: usize,
    /// Messages received again with a `Message-ID` already seen (SMTP delivers at least once).
    pub mails_doubled: usize,
    /// Webhook requests answered 500 while the receiver failed (retried by the collector).
    pub webhook_refused: usize,
    /// Per kind of notice (störning, åtgärdat, larm, upphört, planerat, webhook alert and
    /// resolved): expected, received.
    pub mails_by_kind: BTreeMap<String, (usize, usize)>,
    pub mismatches: Vec<String>,
    /// Every mismatch, written to `mismatches.txt` in the kept logs.
    #[serde(skip)]
    pub all_mismatches: Vec<String>,
    pub elapsed_s: f64,
    pub logs: String,
    pub replay: String,
}

impl RealSummary {
    pub fn passed(&self) -> bool {
        self.lost == 0
            && self.doubled == 0
            && self.stored_ahead == 0
            && self.outage_mismatches == 0
            && self.exact_mismatches == 0
            && self.mail_mismatches == 0
            && self.errors_unexpected == 0
            && !self.twin_seen
            && self.results_made > 0
    }
}

/// The agents' results made: (target, check, time in ms) → ok.
type Made = BTreeMap<(String, String, Ms), bool>;

/// Everything running, and where it lives.
struct Rig {
    dir: PathBuf,
    bin_dir: PathBuf,
    /// The collector nodes: one on SQLite, two on PostgreSQL.
    nodes: Vec<NodeProc>,
    /// `--database` for every node (the SQLite file or the PostgreSQL URL).
    database: String,
    /// The PostgreSQL cluster of the pair.
    pg: Option<PgCluster>,
    /// The node a collector fault struck (started again or woken at its end).
    struck: usize,
    /// Collector faults that struck the node holding the leader lease.
    leaders_struck: usize,
    agents: Vec<AgentProc>,
    smtp_port: u16,
    smtp: Option<Proc>,
    mail_dir: PathBuf,
    /// "451" while the SMTP server refuses every message, empty otherwise.
    refuse_file: PathBuf,
    made: Made,
    spool_deletes: usize,
    /// Spool resets the agents counted (`driftvakt_agent_spool_resets_total`, read after each
    /// folder was taken away).
    spool_resets: usize,
}

/// One collector node: its configuration (its own `collector.node`), port and process.
struct NodeProc {
    name: String,
    config: PathBuf,
    port: u16,
    proc: Option<Proc>,
    starts: usize,
}

struct AgentProc {
    id: String,
    dir: PathBuf,
    metrics_port: u16,
    proc: Option<Proc>,
    starts: usize,
    /// This process's spool resets already counted.
    resets_counted: usize,
}

impl Rig {
    fn start_collector(&mut self, n: usize) -> Result<()> {
        let node = &mut self.nodes[n];
        let log = self
            .dir
            .join(format!("collector-{}{}.log", node.name, node.starts));
        node.starts += 1;
        let mut cmd = Command::new(self.bin_dir.join("driftvakt-collector"));
        cmd.args(["run", "--config"])
            .arg(&node.config)
            .args(["--listen", &format!("127.0.0.1:{}", node.port)])
            .args(["--database", &self.database]);
        // A write past RLIMIT_FSIZE (`DiskFull`) then fails with EFBIG, as on a full disk,
        // instead of killing the process (an ignored signal stays ignored across exec).
        // SAFETY: signal(2) is async-signal-safe, and nothing else runs between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
                Ok(())
            });
        }
        node.proc = Some(Proc::spawn("collector", &mut cmd, &log)?);
        Ok(())
    }

    fn wait_collector(&mut self, n: usize) -> Result<()> {
        let port = self.nodes[n].port;
        wait_until("the collector's /healthz", Duration::from_secs(90), || {
            http_get(port, "/healthz", Duration::from_secs(1)).is_some_and(|(s, _)| s == 200)
        })
    }

    /// The node that holds the leader lease now (`driftvakt_cluster_leader` 1), else the first
    /// that runs: the one a collector fault strikes.
    fn leader(&self) -> usize {
        self.lease_holder()
            .or_else(|| self.nodes.iter().position(|n| n.proc.is_some()))
            .unwrap_or(0)
    }

    /// The node whose `/metrics` says it holds the leader lease.
    fn lease_holder(&self) -> Option<usize> {
        let leads = |n: &NodeProc| metric(n.port, "driftvakt_cluster_leader") == Some(1.0);
        self.nodes.iter().position(|n| n.proc.is_some() && leads(n))
    }

    /// Picks the node a collector fault strikes: the leader.
    fn strike(&mut self) {
        let holder = self.lease_holder();
        self.leaders_struck += usize::from(holder.is_some());
        self.struck = self.leader();
    }

    fn start_smtp(&mut self) -> Result<()> {
        if !Path::new(PYTHON).exists() {
            bail!("{PYTHON} is missing: the soak needs Debian's Python with python3-aiosmtpd");
        }
        let log = self.dir.join("smtp.log");
        let mut child = Command::new(PYTHON)
            .arg(SMTP_SINK)
            .args(["--port", &self.smtp_port.to_string()])
            .arg("--dir")
            .arg(&self.mail_dir)
            .arg("--refuse-file")
            .arg(&self.refuse_file)
            .stdout(Stdio::piped())
            .stderr(
                std::fs::File::options()
                    .create(true)
                    .append(true)
                    .open(&log)?,
            )
            .spawn()
            .with_context(|| format!("cannot start {PYTHON} {SMTP_SINK}"))?;
        let mut line = String::new();
        let stdout = child.stdout.take().context("stdout")?;
        std::io::BufReader::new(stdout).read_line(&mut line)?;
        if !line.starts_with("READY") {
            let _ = child.kill();
            let _ = child.wait();
            bail!(
                "the SMTP server did not start (is python3-aiosmtpd installed? \
                 `apt-get install python3-aiosmtpd`); see {}",
                log.display()
            );
        }
        self.smtp = Some(Proc {
            name: "smtp".into(),
            child,
            log,
        });
        Ok(())
    }

    /// Writes the agent's YAML: central mode, its metrics on `metrics_port`, devices overridden
    /// without checks when `drain` (it then only delivers its spool).
    fn write_agent(&self, a: usize, drain: Option<&World>) -> Result<PathBuf> {
        let ag = &self.agents[a];
        let mut devices = String::from(" []");
        if let Some(world) = drain {
            devices = String::new();
            for d in world.devices.iter().filter(|d| d.agent == a) {
                devices.push_str(&format!(
                    "\n  - {{ id: {}, class: {}, address: 127.0.0.1, checks: [] }}",
                    d.id,
                    d.class.as_str()
                ));
            }
        }
        let yaml = format!(
            "agent:\n  id: {id}\n  listen: 127.0.0.1:{metrics}\n  collector:\n    urls: [{urls}]\n    token: {{ file: token }}\n    batch_size: 50\n    push_interval: 500ms\n    assignment_refresh: 10s\n  spool:\n    dir: spool\n    max_bytes: 256MiB\ndevices:{devices}\n",
            id = ag.id,
            metrics = ag.metrics_port,
            urls = self
                .nodes
                .iter()
                .map(|n| format!("\"http://127.0.0.1:{}\"", n.port))
                .collect::<Vec<_>>()
                .join(", "),
        );
        let path = ag.dir.join("agent.yaml");
        std::fs::write(&path, yaml)?;
        Ok(path)
    }

    fn start_agent(&mut self, a: usize, drain: Option<&World>) -> Result<()> {
        let config = self.write_agent(a, drain)?;
        let ag = &mut self.agents[a];
        let log = self.dir.join(format!("{}-{}.log", ag.id, ag.starts));
        ag.starts += 1;
        ag.resets_counted = 0;
        let clock = ag.dir.join("faketime.rc");
        std::fs::write(&clock, "+0\n")?;
        let mut cmd = Command::new(self.bin_dir.join("driftvakt-agent"));
        cmd.args(["run", "--config"])
            .arg(&config)
            .current_dir(&ag.dir)
            // Only the wall clock is moved (the probes are paced by the monotonic one), and
            // the file is read at every call so a step takes effect at once.
            .env("LD_PRELOAD", FAKETIME)
            .env("FAKETIME_TIMESTAMP_FILE", &clock)
            .env("FAKETIME_NO_CACHE", "1")
            .env("FAKETIME_DONT_FAKE_MONOTONIC", "1");
        ag.proc = Some(Proc::spawn(&ag.id, &mut cmd, &log)?);
        Ok(())
    }

    fn snapshot_spools(&mut self) {
        for a in &self.agents {
            read_spool(&a.dir.join("spool"), &mut self.made);
        }
    }

    fn signal_agent(&self, a: usize, sig: libc::c_int) {
        if let Some(p) = &self.agents[a].proc {
            p.signal(sig);
        }
    }

    /// The fault's first half at its start, its second at its end.
    fn fault(&mut self, f: &Fault, at_end: bool, world: &World) -> Result<()> {
        let a = f.agent;
        match (f.kind, at_end) {
            (FaultKind::AgentKill, false) => {
                if let Some(mut p) = self.agents[a].proc.take() {
                    p.kill();
                }
                self.snapshot_spools();
            }
            (FaultKind::AgentKill, true) => {
                self.snapshot_spools();
                self.start_agent(a, None)?;
            }
            (FaultKind::AgentStop, false) => self.signal_agent(a, libc::SIGSTOP),
            (FaultKind::AgentStop, true) => self.signal_agent(a, libc::SIGCONT),
            (FaultKind::CollectorKill, false) => {
                self.strike();
                if let Some(mut p) = self.nodes[self.struck].proc.take() {
                    p.kill();
                }
            }
            (FaultKind::CollectorKill, true) => self.start_collector(self.struck)?,
            (FaultKind::CollectorStop, false) => {
                self.strike();
                if let Some(p) = &self.nodes[self.struck].proc {
                    p.signal(libc::SIGSTOP);
                }
            }
            (FaultKind::CollectorStop, true) => {
                if let Some(p) = &self.nodes[self.struck].proc {
                    p.signal(libc::SIGCONT);
                }
            }
            (FaultKind::PostgresStop, false) => {
                if let Some(pg) = &self.pg {
                    pg.pg_ctl_stop_mode("fast");
                }
            }
            (FaultKind::PostgresStop, true) => {
                if let Some(pg) = &self.pg {
                    pg.pg_ctl_start();
                }
            }
            (FaultKind::ClockStep, at_end) => {
                let offset = if at_end { "+0" } else { CLOCK_AHEAD };
                std::fs::write(
                    self.agents[a].dir.join("faketime.rc"),
                    format!("{offset}\n"),
                )?;
            }
            (FaultKind::DiskFull, at_end) => {
                if let Some(p) = &self.nodes[0].proc {
                    let db = self.dir.join("soak.db");
                    let size = std::fs::metadata(&db).map(|m| m.len()).unwrap_or(0);
                    p.limit_file_size((!at_end).then_some(size))?;
                }
            }
            (FaultKind::SpoolDeleted, false) => {
                let spool = self.agents[a].dir.join("spool");
                let gone = self.agents[a]
                    .dir
                    .join(format!("spool.gone-{}", self.spool_deletes));
                self.spool_deletes += 1;
                // A rename takes the folder away from the agent as a deletion does, and keeps
                // its records readable for the count of results made.
                std::fs::rename(&spool, &gone)
                    .with_context(|| format!("taking away {}", spool.display()))?;
            }
            (FaultKind::SpoolDeleted, true) => {
                let _ = world;
                let gone = self.agents[a]
                    .dir
                    .join(format!("spool.gone-{}", self.spool_deletes - 1));
                read_spool(&gone, &mut self.made);
                std::fs::remove_dir_all(&gone)?;
                let ag = &mut self.agents[a];
                let n = metric(ag.metrics_port, "driftvakt_agent_spool_resets_total").unwrap_or(0.0)
                    as usize;
                self.spool_resets += n.saturating_sub(ag.resets_counted);
                ag.resets_counted = n;
            }
        }
        Ok(())
    }
}

/// One thing to do at a time of the run.
#[derive(Debug, Clone, Copy)]
enum Action {
    Fault(Fault, bool),
    SmtpDown,
    SmtpUp,
    SmtpRefuse(bool),
    WebhookFailing(bool),
}

fn timeline(plan: &Plan) -> Vec<(Ms, Action)> {
    let mut out = Vec::new();
    for f in &plan.faults {
        out.push((f.start, Action::Fault(*f, false)));
        out.push((f.end, Action::Fault(*f, true)));
    }
    for s in &plan.smtp_down {
        out.push((s.start, Action::SmtpDown));
        out.push((s.end, Action::SmtpUp));
    }
    for s in &plan.webhook_failing {
        out.push((s.start, Action::WebhookFailing(true)));
        out.push((s.end, Action::WebhookFailing(false)));
    }
    for s in &plan.smtp_refusing {
        out.push((s.start, Action::SmtpRefuse(true)));
        out.push((s.end, Action::SmtpRefuse(false)));
    }
    out.sort_by_key(|(t, _)| *t);
    out
}

fn write_secret(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, format!("{text}\n"))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(())
}

fn now_ms() -> Ms {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as Ms)
        .unwrap_or(0)
}

/// Runs the plan with the real binaries and compares.
pub fn run(p: RealParams) -> Result<RealSummary> {
    let started = Instant::now();
    for bin in ["driftvakt-agent", "driftvakt-collector"] {
        let path = p.bin_dir.join(bin);
        if !path.is_file() {
            bail!(
                "{} is missing: build the binaries first (`cargo build -p driftvakt-agent -p \
                 driftvakt-collector`, as scripts/test and scripts/soak do), or point \
                 SOAK_BIN_DIR at them",
                path.display()
            );
        }
    }
    if !Path::new(FAKETIME).is_file() {
        bail!("{FAKETIME} is missing: the soak steps the agents' clocks with Debian's libfaketime (`apt-get install libfaketime`)");
    }
    let run_ms = (p.minutes * 60_000.0) as Ms;
    let plan = Plan::generate_for(p.seed, run_ms, p.devices, p.interval_s, p.backend);
    let world = Arc::new(plan.world.clone());
    let base = std::env::var_os("SOAK_TMPDIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let tmp = tempfile::Builder::new()
        .prefix("driftvakt-soak-real")
        .tempdir_in(base)?;
    let dir = tmp.path().to_path_buf();
    let mut devices = Devices::new(world.devices.len())?;
    let smtp_port = free_port()?;
    for (i, a) in world.agents.iter().enumerate() {
        write_secret(&dir.join(format!("{a}.token")), &token(i, a))?;
    }
    let hook = WebhookPeer::start()?;
    write_secret(&dir.join("hook.key"), "soak-webhook-key-0123456789")?;
    let config = dir.join("collector.yaml");
    let yaml = plan.inventory_yaml(&dir, &devices.ports, smtp_port, hook.port);
    std::fs::write(&config, &yaml)?;
    let (pg, database, nodes) = match p.backend {
        Backend::Sqlite => {
            let node = NodeProc::new("", config.clone())?;
            (None, dir.join("soak.db").display().to_string(), vec![node])
        }
        Backend::PostgresPair => {
            let pg = PgCluster::start();
            let url = pg.url(&pg.create_database());
            let mut nodes = Vec::new();
            for name in ["a", "b"] {
                let path = dir.join(format!("collector-{name}.yaml"));
                std::fs::write(&path, pair_node_yaml(&yaml, name))?;
                nodes.push(NodeProc::new(name, path)?);
            }
            (Some(pg), url, nodes)
        }
    };
    let mut rig = Rig {
        dir: dir.clone(),
        bin_dir: p.bin_dir.clone(),
        nodes,
        database: database.clone(),
        pg,
        struck: 0,
        leaders_struck: 0,
        agents: Vec::new(),
        smtp_port,
        smtp: None,
        mail_dir: dir.join("mail"),
        refuse_file: dir.join("smtp.refuse"),
        made: Made::new(),
        spool_deletes: 0,
        spool_resets: 0,
    };
    for (i, a) in world.agents.iter().enumerate() {
        let adir = dir.join(a);
        std::fs::create_dir_all(&adir)?;
        write_secret(&adir.join("token"), &token(i, a))?;
        rig.agents.push(AgentProc {
            id: a.clone(),
            dir: adir,
            metrics_port: free_port()?,
            proc: None,
            starts: 0,
            resets_counted: 0,
        });
    }
    rig.start_smtp()?;
    for n in 0..rig.nodes.len() {
        rig.start_collector(n)?;
        rig.wait_collector(n)?;
    }

    // The run's clock: ms after t0 (monotonic), and the same instant in Unix ms.
    let t0 = Instant::now();
    let epoch0 = now_ms();
    devices.follow(&world, t0);
    for a in 0..rig.agents.len() {
        rig.start_agent(a, None)?;
    }
    drive(&plan, &world, &mut rig, &hook, t0)?;

    // The end: agents stopped, then started without checks until their spools are delivered.
    let stop_rel = t0.elapsed().as_millis() as Ms;
    for a in &mut rig.agents {
        if let Some(mut proc) = a.proc.take() {
            proc.terminate(Duration::from_secs(15));
        }
    }
    rig.snapshot_spools();
    for a in 0..rig.agents.len() {
        rig.start_agent(a, Some(&world))?;
    }
    for a in &rig.agents {
        let port = a.metrics_port;
        wait_until(
            &format!("{}'s spool to be delivered", a.id),
            Duration::from_secs(180),
            || metric(port, "driftvakt_agent_spool_results") == Some(0.0),
        )?;
    }
    for a in &mut rig.agents {
        if let Some(mut proc) = a.proc.take() {
            proc.terminate(Duration::from_secs(15));
        }
    }
    rig.snapshot_spools();
    // Notices of the last recoveries, and any held while the SMTP server was away, go out.
    std::thread::sleep(Duration::from_secs(5));
    wait_until(
        "the leader's outbox to be empty",
        Duration::from_secs(120),
        || {
            let port = rig.nodes[rig.leader()].port;
            metric(port, "driftvakt_notify_outbox_pending") == Some(0.0)
        },
    )?;
    for node in &mut rig.nodes {
        if let Some(mut c) = node.proc.take() {
            if !c.terminate(Duration::from_secs(30)) {
                eprintln!("soak: the collector did not stop within 30 s on SIGTERM");
            }
        }
    }
    if let Some(mut s) = rig.smtp.take() {
        s.terminate(Duration::from_secs(5));
    }
    drop(devices);

    let mut summary = RealSummary {
        seed: p.seed,
        backend: match p.backend {
            Backend::Sqlite => "sqlite".into(),
            Backend::PostgresPair => "postgres-pair".into(),
        },
        minutes: p.minutes,
        devices: world.devices.len(),
        services: world.services.len(),
        interval_s: p.interval_s,
        tolerance_ms: plan.tolerance(),
        start_ms: epoch0,
        spool_resets: rig.spool_resets,
        leaders_struck: rig.leaders_struck,
        replay: format!(
            "scripts/soak real --seed {} --minutes {} --devices {} --interval {}{}",
            p.seed,
            p.minutes,
            p.devices,
            p.interval_s,
            if p.backend == Backend::PostgresPair {
                " --postgres"
            } else {
                ""
            }
        ),
        ..RealSummary::default()
    };
    for f in &plan.faults {
        *summary.faults.entry(format!("{:?}", f.kind)).or_default() += 1;
    }
    summary
        .faults
        .insert("SmtpDown".into(), plan.smtp_down.len());
    summary
        .faults
        .insert("SmtpRefusing".into(), plan.smtp_refusing.len());
    summary
        .faults
        .insert("WebhookFailing".into(), plan.webhook_failing.len());
    summary.webhook_refused = hook.refused();
    // What an agent stamped while its clock was ahead is made, but the collector must refuse
    // it: it is left out of what must be stored, and must not be.
    let (made, ahead): (Made, Made) = std::mem::take(&mut rig.made)
        .into_iter()
        .partition(|((_, _, t), _)| *t <= epoch0 + stop_rel + 60_000);
    summary.results_made = made.len();
    summary.stamped_ahead = ahead.len();
    compare(
        &plan,
        &config,
        &database,
        &made,
        &ahead,
        epoch0,
        stop_rel,
        &mut summary,
    )?;
    check_logs(&plan, &dir, epoch0, &mut summary)?;
    compare_mails(&plan, &rig.mail_dir, &hook.received(), epoch0, &mut summary);
    summary.elapsed_s = started.elapsed().as_secs_f64();
    if summary.passed() {
        summary.logs = "(removed)".into();
    } else {
        std::fs::write(
            dir.join("mismatches.txt"),
            summary.all_mismatches.join("\n"),
        )?;
        summary.logs = tmp.keep().display().to_string();
    }
    Ok(summary)
}

impl NodeProc {
    fn new(name: &str, config: PathBuf) -> Result<NodeProc> {
        Ok(NodeProc {
            name: name.into(),
            config,
            port: free_port()?,
            proc: None,
            starts: 0,
        })
    }
}

/// One node's configuration of the pair: the run's, with its own `collector.node` and the
/// lease the plan expects.
fn pair_node_yaml(yaml: &str, name: &str) -> String {
    let lease = format!(
        "collector:\n  node: soak-{name}\n  cluster: {{ lease: {}ms, heartbeat: {}ms }}\n",
        PAIR_LEASE_MS, PAIR_HEARTBEAT_MS
    );
    yaml.replacen("collector:\n", &lease, 1)
}

fn token(i: usize, agent: &str) -> String {
    format!("soak-token-{i}-{agent}-0123456789")
}

/// Follows the timeline until the run's end: faults, the SMTP server, spool snapshots.
fn drive(plan: &Plan, world: &World, rig: &mut Rig, hook: &WebhookPeer, t0: Instant) -> Result<()> {
    let end = plan.slots * plan.slot;
    let mut next_snapshot = 0;
    for (at, action) in timeline(plan) {
        wait_for(t0, at, rig, &mut next_snapshot)?;
        match action {
            Action::Fault(f, at_end) => rig.fault(&f, at_end, world)?,
            Action::SmtpDown => {
                if let Some(mut s) = rig.smtp.take() {
                    s.terminate(Duration::from_secs(5));
                }
            }
            Action::SmtpUp => rig.start_smtp()?,
            Action::WebhookFailing(on) => hook.failing.store(on, Ordering::Relaxed),
            Action::SmtpRefuse(on) => {
                std::fs::write(&rig.refuse_file, if on { "451" } else { "" })?;
            }
        }
    }
    wait_for(t0, end, rig, &mut next_snapshot)
}

/// Sleeps until `at` ms after `t0`, reading the spools every 5 s and checking that the
/// processes that should run do.
fn wait_for(t0: Instant, at: Ms, rig: &mut Rig, next_snapshot: &mut Ms) -> Result<()> {
    loop {
        let now = t0.elapsed().as_millis() as Ms;
        if now >= *next_snapshot {
            rig.snapshot_spools();
            *next_snapshot = now + 5_000;
            for a in &mut rig.agents {
                if let Some(p) = &mut a.proc {
                    if !p.running() {
                        bail!("{} exited; see {}", a.id, p.log.display());
                    }
                }
            }
        }
        if now >= at {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(((at - now) as u64).clamp(1, 100)));
    }
}

/// The store against the results made and the plan.
#[allow(clippy::too_many_arguments)]
fn compare(
    plan: &Plan,
    config: &Path,
    database: &str,
    made: &Made,
    ahead: &Made,
    epoch0: Ms,
    stop_rel: Ms,
    summary: &mut RealSummary,
) -> Result<()> {
    // The configuration is loaded as the collector loads it (it must be valid), the store
    // opened where the nodes had it.
    Inventory::load(config).map_err(|e| anyhow::anyhow!("inventory: {e}"))?;
    let location = database
        .parse()
        .map_err(|e| anyhow::anyhow!("the database {database}: {e}"))?;
    let db = Database::open(&location).context("opening the collector's store")?;
    let store = db.store()?;
    let world = &plan.world;
    count_results(world, &*store, made, ahead, summary)?;
    let seen = stored_outages(&*store)?;
    let stale = plan.interval * STALE_INTERVALS;
    // Open unknown outages after the agents stopped are the run's end, not the run.
    let ended = |o: &Expected| o.kind == "unknown" && o.end.is_none();
    let seen: BTreeSet<Expected> = seen.into_iter().filter(|o| !ended(o)).collect();

    // Against the plan, each edge within the tolerance (times relative to the run's start).
    let expected = plan.expected();
    let relative: BTreeSet<Expected> = seen
        .iter()
        .map(|o| Expected {
            start: o.start - epoch0,
            end: o.end.map(|e| e - epoch0),
            ..o.clone()
        })
        .filter(|o| o.start < stop_rel - stale)
        .collect();
    let (missing, unexpected, races) = match_with_tolerance(&expected, &relative, plan.tolerance());
    summary.outages_expected = expected.len();
    summary.outages_seen = relative.len();
    summary.outage_mismatches = missing.len() + unexpected.len();
    summary.edge_races = races.len();
    let show = |what: &str, e: &Expected| {
        format!(
            "{what} {} {} {:.1}s..{} (run time)",
            e.id,
            e.kind,
            e.start as f64 / 1000.0,
            e.end
                .map(|t| format!("{:.1}s", t as f64 / 1000.0))
                .unwrap_or("open".into())
        )
    };
    for m in &missing {
        push(summary, show("planned, not stored:", m));
    }
    for u in &unexpected {
        push(summary, show("stored, not planned:", u));
    }

    // Exactly: the oracle on the results made.
    let exact = exact_oracle(world, made);
    let exact: BTreeSet<Expected> = exact.into_iter().filter(|o| !ended(o)).collect();
    let wrong: Vec<String> = exact
        .difference(&seen)
        .map(|e| {
            format!(
                "exact: missing {} {} {}..{:?}",
                e.id, e.kind, e.start, e.end
            )
        })
        .chain(seen.difference(&exact).map(|e| {
            format!(
                "exact: unexpected {} {} {}..{:?}",
                e.id, e.kind, e.start, e.end
            )
        }))
        .collect();
    summary.exact_mismatches = wrong.len();
    for w in wrong {
        push(summary, w);
    }
    Ok(())
}

/// The mails received against the mail oracle's.
fn compare_mails(
    plan: &Plan,
    mail_dir: &Path,
    hooks: &[(String, serde_json::Value)],
    epoch0: Ms,
    summary: &mut RealSummary,
) {
    let expected = mails::expected(plan, epoch0, now_ms());
    let mut got = mails::received(mail_dir);
    mails::add_hooks(&mut got, hooks);
    let (wrong, races) = mails::compare(&expected, &got);
    summary.mails_expected = expected.values().map(|e| e.count).sum();
    summary.mails_received = got.total - got.doubled;
    summary.mails_doubled = got.doubled;
    summary.mail_races = races;
    summary.mails_by_kind = mails::by_kind(&expected, &got)
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    summary.mail_mismatches = wrong.len();
    for w in wrong {
        push(summary, w);
    }
}

fn push(summary: &mut RealSummary, line: String) {
    summary.all_mismatches.push(line.clone());
    if summary.mismatches.len() < SHOWN {
        summary.mismatches.push(line);
    }
}

/// The oracle's outages computed from the results the agents made (Unix ms).
fn exact_oracle(world: &World, made: &Made) -> BTreeSet<Expected> {
    let mut own = Vec::new();
    let mut out = BTreeSet::new();
    for d in &world.devices {
        let results: Vec<(Ms, bool)> = made
            .range((d.id.clone(), String::new(), Ms::MIN)..)
            .take_while(|((t, _, _), _)| *t == d.id)
            .map(|((_, _, time), ok)| (*time, *ok))
            .collect();
        let o = oracle::own_timeline(d.interval_ms, &results);
        for (spans, kind) in [(&o.down, "down"), (&o.unknown, "unknown")] {
            for s in spans.iter() {
                out.insert(Expected {
                    id: d.id.clone(),
                    kind,
                    start: s.start,
                    end: (s.end != oracle::OPEN).then_some(s.end),
                });
            }
        }
        own.push(o);
    }
    for s in &world.services {
        for span in oracle::service_down(&own, &s.members, s.need) {
            out.insert(Expected {
                id: s.id.clone(),
                kind: "down",
                start: span.start,
                end: (span.end != oracle::OPEN).then_some(span.end),
            });
        }
    }
    out
}

fn stored_outages(store: &dyn Store) -> Result<BTreeSet<Expected>> {
    let (lo, hi) = (i64::MIN / 4, i64::MAX / 4);
    let mut seen = BTreeSet::new();
    for (entity, kinds) in [
        (EntityKind::Device, &["down", "unknown"][..]),
        (EntityKind::Service, &["down"][..]),
    ] {
        for o in store.outages(entity, None, lo, hi)? {
            let kind = format!("{:?}", o.kind).to_lowercase();
            let Some(k) = kinds.iter().find(|k| **k == kind) else {
                continue;
            };
            seen.insert(Expected {
                id: o.id,
                kind: k,
                start: o.start,
                end: o.end,
            });
        }
    }
    Ok(seen)
}

/// Every result made stored exactly once.
fn count_results(
    world: &World,
    store: &dyn Store,
    made: &Made,
    ahead: &Made,
    summary: &mut RealSummary,
) -> Result<()> {
    for d in &world.devices {
        let stored = store.results(&d.id, i64::MIN / 4)?;
        summary.stored += stored.iter().map(|r| r.count as usize).sum::<usize>();
        let mut seen = BTreeSet::new();
        for r in &stored {
            let key = (d.id.clone(), r.check.clone(), r.time);
            if ahead.contains_key(&key) {
                summary.stored_ahead += 1;
                push(
                    summary,
                    format!("stored though stamped an hour ahead: {} {}", d.id, r.time),
                );
                continue;
            }
            let known = made.get(&key) == Some(&r.ok);
            if r.count != 1 || !seen.insert(key) || !known {
                summary.doubled += r.count.max(1) as usize;
                push(
                    summary,
                    format!(
                        "stored twice or never made: {} {} ({} results)",
                        d.id, r.time, r.count
                    ),
                );
            }
        }
        for ((target, check, time), _) in made
            .range((d.id.clone(), String::new(), Ms::MIN)..)
            .take_while(|((t, _, _), _)| *t == d.id)
        {
            if !seen.contains(&(target.clone(), check.clone(), *time)) {
                summary.lost += 1;
                push(summary, format!("lost: {target} {check} {time}"));
            }
        }
    }
    Ok(())
}

/// Whether a log line's time (its first word, RFC 3339) lies in a fault of the store
/// (`DiskFull`, `PostgresStop`) or the 10 s after it (a write that failed then, reported late).
fn while_store_failing(plan: &Plan, epoch0: Ms, line: &str) -> bool {
    let Some(t) = line
        .split_whitespace()
        .next()
        .and_then(|w| chrono::DateTime::parse_from_rfc3339(w).ok())
    else {
        return false;
    };
    let t = t.timestamp_millis() - epoch0;
    plan.faults.iter().any(|f| {
        matches!(f.kind, FaultKind::DiskFull | FaultKind::PostgresStop)
            && f.start <= t
            && t <= f.end + 10_000
    })
}

/// ERROR lines in the logs: those the plan causes (a spool folder taken away; pushes and mails
/// failing while the collector or the SMTP server is away) and the rest.
fn check_logs(plan: &Plan, dir: &Path, epoch0: Ms, summary: &mut RealSummary) -> Result<()> {
    let spool_deleted = plan
        .faults
        .iter()
        .any(|f| f.kind == FaultKind::SpoolDeleted);
    let mut logs: Vec<PathBuf> = std::fs::read_dir(dir)?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    logs.sort();
    for log in logs {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let name = log
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        for line in text.lines() {
            if line.contains(TWIN) {
                summary.twin_seen = true;
                push(summary, format!("{name}: {line}"));
            }
            if !line.contains(" ERROR ") {
                continue;
            }
            let caused = (spool_deleted
                && line.contains("was removed or replaced while the agent ran"))
                || (name.starts_with("collector") && while_store_failing(plan, epoch0, line));
            if caused {
                summary.errors_expected += 1;
            } else {
                summary.errors_unexpected += 1;
                push(summary, format!("{name}: {line}"));
            }
        }
    }
    Ok(())
}
