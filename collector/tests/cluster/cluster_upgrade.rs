//! Issue 35's rolling upgrade, with real processes: the pair starts on the previous release
//! (the commit in `packaging/previous-release`, built by the test from this checkout's git
//! history: `driftvakt_testkit::previous`) on one throwaway PostgreSQL database, the real
//! agent pushing to both nodes and devices going down one after the other (aiosmtpd as the
//! SMTP server); then the README's order:
//!
//! 1. the follower stops (SIGTERM) and starts on this build: it migrates the schema (expand
//!    only: the old leader keeps running on it and sends a notice while the new node follows);
//! 2. the leader stops (SIGTERM, mid-outage): the upgraded node takes over at its next
//!    heartbeat; the stopped one starts on this build and follows;
//! 3. two new nodes; one more device goes down.
//!
//! Checked: every result the agent spooled is stored, none twice; every notice reaches the
//! SMTP server once; and a sampler reading the lease from the database (and each node's
//! `driftvakt_cluster_leader`) every 250 ms finds a live leader at every sample but those of the
//! takeover, and never two nodes that say they lead. `--nocapture` prints the build time of the
//! previous release, the takeover and the samples.

use crate::rig::{self, agent_config, alerts_about, get, start_agent, wait, Devices, Node};
use driftvakt_collector::store::sqlite::migrations::SCHEMA_VERSION;
use driftvakt_collector::store::Location;
use driftvakt_collector_testkit::pg::PgCluster;
use driftvakt_collector_testkit::previous::previous_collector;
use driftvakt_collector_testkit::process::collector_bin;
use driftvakt_collector_testkit::smtp::SmtpPeer;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Devices probed every second, so the agent pushes all through the upgrade; 0 to 3 go down.
const DEVICES: usize = 40;

/// One look at the cluster.
#[derive(Debug)]
struct Sample {
    at: Instant,
    /// The lease's holder while it has not run out (the database's view).
    holder: Option<String>,
    /// The nodes whose `driftvakt_cluster_leader` is 1 (each node's own view).
    claims: Vec<&'static str>,
}

/// Samples the lease and the nodes' leader gauges until stopped.
struct Sampler {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Vec<Sample>>,
}

impl Sampler {
    fn start(pg: Arc<PgCluster>, db: String, nodes: [(&'static str, u16); 2]) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut samples = Vec::new();
            while !stopped.load(Ordering::Relaxed) {
                samples.push(sample(&pg, &db, &nodes));
                std::thread::sleep(Duration::from_millis(250));
            }
            samples
        });
        Sampler { stop, thread }
    }

    fn finish(self) -> Vec<Sample> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("the sampler")
    }
}

fn sample(pg: &PgCluster, db: &str, nodes: &[(&'static str, u16)]) -> Sample {
    let at = Instant::now();
    let lease = pg.psql(
        db,
        "SELECT holder, expires_ms - (extract(epoch FROM clock_timestamp()) * 1000)::bigint \
         FROM cluster_lease",
    );
    let (holder, left) = lease.split_once('|').expect("holder|ms left");
    let left: i64 = left.parse().expect("ms left");
    let holder = (!holder.is_empty() && left > 0).then(|| holder.to_string());
    let claims = nodes
        .iter()
        .filter(|(name, port)| leader_gauge(*port, name) == Some(1))
        .map(|(name, _)| *name)
        .collect();
    Sample { at, holder, claims }
}

/// `driftvakt_cluster_leader{node="NAME"}` on the `/metrics` at `port`, if served.
fn leader_gauge(port: u16, name: &str) -> Option<i64> {
    let prefix = format!("driftvakt_cluster_leader{{node=\"{name}\"}} ");
    get(port, "/metrics")?
        .lines()
        .find_map(|l| l.strip_prefix(&prefix)?.trim().parse().ok())
}

/// `SELECT version FROM dv_schema` (and the marker from migration 15 on).
fn schema_row(pg: &PgCluster, db: &str, with_marker: bool) -> String {
    let sql = if with_marker {
        "SELECT version, oldest_compatible FROM dv_schema"
    } else {
        "SELECT version FROM dv_schema"
    };
    pg.psql(db, sql)
}

/// Stops `node` (SIGTERM: a leader releases its lease) and starts it on this build.
fn upgrade(node: &mut Node, dir: &std::path::Path) {
    node.proc
        .as_mut()
        .unwrap()
        .terminate(Duration::from_secs(20));
    node.bin = collector_bin();
    node.start(dir);
}

#[test]
fn rolling_upgrade_from_the_previous_release_under_load() {
    // A cold build of the previous release takes minutes of both cores: alone, so that the
    // other tests' timed waits do not starve beside it.
    let old = {
        let _alone = rig::alone();
        previous_collector()
    };
    let _runs = rig::with_others();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let pg = Arc::new(PgCluster::start());
    let name = pg.create_database();
    let database = pg.url(&name);
    std::fs::create_dir_all(dir.join("mail")).unwrap();
    let smtp = SmtpPeer::start(&dir.join("mail"));
    let mut devices = Devices::new(DEVICES);
    let (mut a, mut b) = Node::pair(dir, &database, smtp.port, &devices.ports);
    a.bin = old.clone();
    b.bin = old;

    // The pair on the previous release, the agent pushing to both.
    a.start(dir);
    wait("a leads", Duration::from_secs(10), || {
        a.leader().as_deref() == Some("a")
    });
    b.start(dir);
    assert_eq!(b.leader().as_deref(), Some("a"));
    let old_version: i64 = schema_row(&pg, &name, false).parse().unwrap();
    assert!(
        old_version < SCHEMA_VERSION,
        "the previous release wrote schema {old_version}, this build {SCHEMA_VERSION}: the \
         test shows a migration under a running node only when they differ"
    );
    let yaml = agent_config(dir, &[a.url(), b.url()]);
    let mut agent = start_agent(dir, &yaml);
    wait("results stored", Duration::from_secs(30), || {
        pg.psql(&name, "SELECT count(*) FROM dv_results")
            .parse::<usize>()
            .unwrap()
            >= 2 * DEVICES
    });
    let sampler = Sampler::start(pg.clone(), name.clone(), [("a", a.port), ("b", b.port)]);

    // Both old: ap-0 goes down.
    devices.down(0);
    wait("ap-0's notice", Duration::from_secs(30), || {
        alerts_about(&smtp, "ap-0") >= 1
    });

    // 1. The follower is upgraded; it migrates the schema under the old leader.
    upgrade(&mut b, dir);
    assert_eq!(
        schema_row(&pg, &name, true),
        format!(
            "{SCHEMA_VERSION}|{}",
            driftvakt_collector::store::schema::oldest_compatible(SCHEMA_VERSION)
        ),
        "the upgraded node migrated the schema and wrote the marker"
    );
    wait("b follows a", Duration::from_secs(10), || {
        b.leader().as_deref() == Some("a")
    });
    // The old leader goes on, on the migrated schema: it sends ap-1's notice.
    devices.down(1);
    wait("ap-1's notice", Duration::from_secs(40), || {
        alerts_about(&smtp, "ap-1") >= 1
    });
    a.proc.as_mut().unwrap().assert_running();
    assert_eq!(b.leader().as_deref(), Some("a"), "the old node still leads");

    // 2. The leader is upgraded mid-outage: ap-2 goes down, then a stops.
    devices.down(2);
    std::thread::sleep(Duration::from_millis(1500));
    let takeover_from = Instant::now();
    a.proc.as_mut().unwrap().terminate(Duration::from_secs(20));
    let takeover = wait("b leads after a stopped", Duration::from_secs(15), || {
        leader_gauge(b.port, "b") == Some(1) && b.leader().as_deref() == Some("b")
    });
    let takeover_to = Instant::now();
    println!("rolling upgrade: the upgraded node led {takeover:?} after the old leader's SIGTERM");
    a.bin = collector_bin();
    a.start(dir);
    wait("a follows b", Duration::from_secs(10), || {
        a.leader().as_deref() == Some("b")
    });
    wait("ap-2's notice", Duration::from_secs(40), || {
        alerts_about(&smtp, "ap-2") >= 1
    });

    // 3. Two new nodes: ap-3 goes down.
    devices.down(3);
    wait("ap-3's notice", Duration::from_secs(40), || {
        alerts_about(&smtp, "ap-3") >= 1
    });
    // A few delivery rounds of both nodes must repeat nothing.
    std::thread::sleep(Duration::from_secs(6));
    let samples = sampler.finish();

    let logs = format!("{}\n{}", a.log(), b.log());
    rig::assert_notices_once(&smtp, DEVICES, &[0, 1, 2, 3], 1, &logs);
    let outside: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.at < takeover_from || s.at > takeover_to)
        .collect();
    let leaderless: Vec<_> = outside.iter().filter(|s| s.holder.is_none()).collect();
    assert!(
        leaderless.is_empty(),
        "samples without a leader outside the takeover: {leaderless:?}\n{logs}"
    );
    let two: Vec<_> = samples.iter().filter(|s| s.claims.len() > 1).collect();
    assert!(two.is_empty(), "two nodes said they lead: {two:?}\n{logs}");
    let gap = samples
        .windows(2)
        .map(|w| w[1].at - w[0].at)
        .max()
        .unwrap_or_default();
    assert!(
        outside.len() >= 40 && gap < Duration::from_secs(3),
        "{} samples outside the takeover, at most {gap:?} apart: too few to say much",
        outside.len()
    );
    println!(
        "rolling upgrade: {} samples at most {gap:?} apart, a live lease at all {} outside the \
         takeover, never two nodes that said they lead",
        samples.len(),
        outside.len()
    );
    let location: Location = database.parse().unwrap();
    rig::assert_stored_equals_spooled(
        &mut agent,
        &dir.join("agent/spool"),
        &location,
        &devices.ids(),
    );
}
