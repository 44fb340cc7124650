//! Issue 15's "must show" on PostgreSQL, with real processes: two collector nodes on one
//! throwaway PostgreSQL 15 (the test kit's `pg`), the real agent with both nodes in
//! `agent.collector.urls`, devices whose TCP check fails once the test closes their port, and
//! aiosmtpd as the SMTP server (`rig` holds the rig shared with
//! `cluster_failover`, which runs the same pair on one SQLite file).
//!
//! - **SIGKILL of the leader mid-outage:** the other node leads within 15 s; every notice
//!   reaches the SMTP server once (by `Message-ID` and by device); the stored results are
//!   exactly the agent's spooled ones (each once); and the month and year reports equal those
//!   of a single collector on SQLite fed the pair's stored results again as batches (a replay:
//!   a live agent cannot produce the same traffic twice), which also mails the same subjects.
//!   Only the on-call cases' start and length are left out of the comparison: a case starts
//!   when the technician was paged, by the wall clock of the replay.
//! - **SIGSTOP of the leader past its lease (15 s against 10 s), then SIGCONT:** the other
//!   node leads, every notice once, the woken node steps down; both `/api/v1/status` name one
//!   leader and `driftvakt_cluster_leader` is 1 on exactly one node.
//! - **PostgreSQL stopped for 30 s mid-traffic (`pg_ctl stop -m fast`, then started again on
//!   the same port and data):** pushes are answered 503 with `Retry-After` (the agent logs
//!   them and keeps its spool), nothing is lost or doubled afterwards, both nodes reconnect by
//!   themselves and one leader holds the lease again.
//!
//! Each test has its own PostgreSQL cluster (the third stops its server). `--nocapture` prints
//! the measured figures. A missing PostgreSQL, Python/aiosmtpd or agent binary fails the test
//! with what to install.

use crate::rig;
use driftvakt_collector_testkit::process;

use crate::rig::{
    agent_config, alerts_about, inventory, start_agent, subjects, wait, Devices, Node,
};
use chrono::{DateTime, Datelike, Utc};
use driftvakt_collector::store::{Database, Location};
use driftvakt_collector_testkit::pg::PgCluster;
use driftvakt_collector_testkit::process::{collector_bin, Proc};
use driftvakt_collector_testkit::smtp::SmtpPeer;
use driftvakt_common::wire::{Batch, ProbeResult};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const DEVICES: usize = 3;

/// Two nodes on one PostgreSQL database, the agent pushing to both, aiosmtpd.
struct Rig {
    // Processes first: dropped (killed) before the database server stops.
    agent: Option<Proc>,
    a: Node,
    b: Node,
    smtp: SmtpPeer,
    devices: Devices,
    database: String,
    pg: PgCluster,
    tmp: tempfile::TempDir,
}

impl Rig {
    /// `a` starts and leads, then `b` follows, then the agent runs until results are stored.
    fn start() -> Rig {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        let pg = PgCluster::start();
        let database = pg.url(&pg.create_database());
        std::fs::create_dir_all(dir.join("mail")).unwrap();
        let smtp = SmtpPeer::start(&dir.join("mail"));
        let devices = Devices::new(DEVICES);
        let (a, b) = Node::pair(&dir, &database, smtp.port, &devices.ports);
        let mut rig = Rig {
            agent: None,
            a,
            b,
            smtp,
            devices,
            database,
            pg,
            tmp,
        };
        rig.a.start(&dir);
        wait("a leads", Duration::from_secs(10), || {
            rig.a.leader().as_deref() == Some("a")
        });
        // The throwaway server runs with fsync off: `run` says what that risks.
        assert!(
            rig.a.full_log().contains("fsync is off"),
            "the durability warning: {}",
            rig.a.log()
        );
        rig.b.start(&dir);
        let cluster = rig.b.cluster().unwrap();
        assert_eq!(cluster["node"], "b");
        assert_eq!(cluster["leader"], "a");
        assert_eq!(cluster["nodes"].as_array().unwrap().len(), 2);
        let yaml = agent_config(&dir, &[rig.a.url(), rig.b.url()]);
        rig.agent = Some(start_agent(&dir, &yaml));
        wait("results stored", Duration::from_secs(30), || {
            rig.stored_total() >= 2 * DEVICES
        });
        rig
    }

    fn dir(&self) -> &Path {
        self.tmp.path()
    }

    fn location(&self) -> Location {
        self.database.parse().unwrap()
    }

    fn stored_total(&self) -> usize {
        // Opening fails while the server is down: nothing stored as far as we can see.
        Database::open(&self.location())
            .and_then(|db| db.store())
            .map(|s| {
                self.devices
                    .ids()
                    .iter()
                    .map(|d| s.results(d, 0).map_or(0, |r| r.len()))
                    .sum()
            })
            .unwrap_or(0)
    }

    /// Both nodes name the same leader in `/api/v1/status`, and exactly that node's
    /// `driftvakt_cluster_leader` is 1.
    fn one_leader(&self) -> Option<String> {
        let (la, lb) = (self.a.leader()?, self.b.leader()?);
        let gauges = (self.a.leader_gauge()?, self.b.leader_gauge()?);
        let expected = if la == "a" { (1, 0) } else { (0, 1) };
        (la == lb && gauges == expected).then_some(la)
    }

    /// The agent stops cleanly, and the stored results are exactly its spooled ones, each once
    /// ([`rig::assert_stored_equals_spooled`]).
    fn assert_stored_equals_spooled(&mut self) -> usize {
        let (spool, location, ids) = (
            self.dir().join("agent/spool"),
            self.location(),
            self.devices.ids(),
        );
        rig::assert_stored_equals_spooled(self.agent.as_mut().unwrap(), &spool, &location, &ids)
    }

    /// Each device in `down` has exactly `per_device` notices, the others none, every message
    /// and subject once ([`rig::assert_notices_once`]).
    fn assert_notices_once(&self, down: &[usize], per_device: usize) {
        let logs = format!("{}\n{}", self.a.log(), self.b.log());
        rig::assert_notices_once(&self.smtp, DEVICES, down, per_device, &logs);
    }
}

/// The leader is SIGKILLed while ap-1 is down (its notice possibly queued on the leader).
#[test]
fn sigkill_of_the_leader_mid_outage() {
    let _runs = crate::rig::with_others();
    let mut rig = Rig::start();
    rig.devices.down(0);
    wait("ap-0's notice", Duration::from_secs(30), || {
        alerts_about(&rig.smtp, "ap-0") >= 1
    });
    rig.devices.down(1);
    std::thread::sleep(Duration::from_millis(1500));
    rig.a.proc.as_mut().unwrap().kill();
    let takeover = wait("b leads after the SIGKILL", Duration::from_secs(15), || {
        rig.b.leader().as_deref() == Some("b")
    });
    println!("PostgreSQL, SIGKILL of the leader: the other node led after {takeover:?}");
    wait("ap-1's notice", Duration::from_secs(40), || {
        alerts_about(&rig.smtp, "ap-1") >= 1
    });
    // A few delivery rounds must repeat nothing.
    std::thread::sleep(Duration::from_secs(6));
    rig.assert_notices_once(&[0, 1], 1);
    rig.assert_stored_equals_spooled();

    // The same results, replayed as batches into one collector on SQLite, give the same
    // reports.
    let single = replay_into_single_collector(&rig, &[0, 1]);
    assert_eq!(
        subjects(&single.2),
        subjects(&rig.smtp),
        "the single collector sent the same notices as the pair"
    );
    let now = Utc::now();
    for period in [
        now.format("%Y-%m").to_string(),
        now.format("%Y").to_string(),
    ] {
        let pair = without_page_times(report(&rig.a.config, &rig.database, &period, now));
        let one = without_page_times(report(
            &single.0,
            &single.1.display().to_string(),
            &period,
            now,
        ));
        let mut differences = Vec::new();
        json_diff("", &pair, &one, &mut differences);
        assert!(
            differences.is_empty(),
            "report {period}: the pair on PostgreSQL and a single collector differ at \
             (path: pair, single):\n{}",
            differences.join("\n")
        );
        let outages = pair["devices"].to_string();
        assert!(
            outages.contains("ap-0") && outages.contains("ap-1"),
            "the report covers the devices: {pair}"
        );
    }
    println!("month and year reports: the pair's equal the single collector's (replayed)");
}

/// The leader is frozen past its lease while ap-1 goes down, then woken.
#[test]
fn sigstop_of_the_leader_past_its_lease() {
    let _runs = crate::rig::with_others();
    let mut rig = Rig::start();
    rig.devices.down(0);
    wait("ap-0's notice", Duration::from_secs(30), || {
        alerts_about(&rig.smtp, "ap-0") >= 1
    });
    rig.devices.down(1);
    std::thread::sleep(Duration::from_millis(1500));
    rig.a.signal("-STOP");
    let frozen = Instant::now();
    let takeover = wait("b leads while a is frozen", Duration::from_secs(15), || {
        rig.b.leader().as_deref() == Some("b")
    });
    println!("PostgreSQL, SIGSTOP of the leader: the other node led after {takeover:?}");
    rig.devices.down(2);
    while frozen.elapsed() < Duration::from_secs(15) {
        std::thread::sleep(Duration::from_millis(100));
    }
    rig.a.signal("-CONT");
    wait("a follows b", Duration::from_secs(10), || {
        rig.a.cluster().is_some_and(|c| c["leader"] == "b")
    });
    wait("one leader, b", Duration::from_secs(10), || {
        rig.one_leader().as_deref() == Some("b")
    });
    wait("ap-1's and ap-2's notices", Duration::from_secs(60), || {
        alerts_about(&rig.smtp, "ap-1") >= 1 && alerts_about(&rig.smtp, "ap-2") >= 1
    });
    std::thread::sleep(Duration::from_secs(6));
    assert_eq!(rig.one_leader().as_deref(), Some("b"), "still one leader");
    rig.assert_notices_once(&[0, 1, 2], 1);
    let log = rig.a.full_log();
    assert!(
        log.contains("lost the leader lease"),
        "the woken node stepped down: {}",
        rig.a.log()
    );
    rig.assert_stored_equals_spooled();
}

/// PostgreSQL is stopped for 30 s while the agent pushes and a device goes down.
#[test]
fn postgres_stopped_for_30_s_mid_traffic() {
    let _runs = crate::rig::with_others();
    let mut rig = Rig::start();
    rig.devices.down(0);
    wait("ap-0's notice", Duration::from_secs(30), || {
        alerts_about(&rig.smtp, "ap-0") >= 1
    });
    let before = rig.stored_total();
    rig.pg.pg_ctl_stop_mode("fast");
    let stopped = Instant::now();
    rig.devices.down(1);
    // A push while the database is away: 503 with Retry-After (an empty batch: nothing to
    // store even if it were accepted).
    let empty = serde_json::to_string(&Batch {
        agent: "a1".into(),
        batch_id: "a1-probe-while-postgres-is-down".into(),
        results: Vec::new(),
    })
    .unwrap();
    for node in [&rig.a, &rig.b] {
        let (status, head, body) = rig::post_json(node.port, "/api/v1/results", &empty)
            .unwrap_or_else(|| panic!("{} does not answer: {}", node.name, node.log()));
        assert_eq!(status, 503, "{}: {head}\n{body}", node.name);
        assert!(
            head.to_ascii_lowercase().contains("retry-after: 5"),
            "{}: {head}",
            node.name
        );
        // Status (what dashboards and the other node's operators read) says the same.
        let (status, head, body) = rig::http(
            node.port,
            "GET /api/v1/status HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n",
        )
        .unwrap_or_else(|| panic!("{} does not answer: {}", node.name, node.log()));
        assert_eq!(status, 503, "{} status: {head}\n{body}", node.name);
        assert!(
            head.to_ascii_lowercase().contains("retry-after: 5"),
            "{head}"
        );
    }
    while stopped.elapsed() < Duration::from_secs(30) {
        rig.agent.as_mut().unwrap().assert_running();
        rig.a.proc.as_mut().unwrap().assert_running();
        rig.b.proc.as_mut().unwrap().assert_running();
        std::thread::sleep(Duration::from_millis(200));
    }
    let agent_log = process::read_log(&rig.dir().join("agent.log"));
    let refused = agent_log.matches("status 503").count();
    assert!(refused > 0, "the agent saw 503s: {agent_log}");
    assert!(!agent_log.contains("status 500"), "no 500s: {agent_log}");
    println!("PostgreSQL down for 30 s: the agent logged {refused} pushes answered 503");

    rig.pg.pg_ctl_start();
    let started = Instant::now();
    wait(
        "both nodes answer /api/v1/status",
        Duration::from_secs(30),
        || rig.a.cluster().is_some() && rig.b.cluster().is_some(),
    );
    let reconnected = started.elapsed();
    let leader = wait("one leader again", Duration::from_secs(30), || {
        rig.one_leader().is_some()
    });
    wait("results stored again", Duration::from_secs(60), || {
        rig.stored_total() > before + 4 * DEVICES
    });
    println!(
        "PostgreSQL back: both nodes answered after {reconnected:?}, one leader after another \
         {leader:?}, stored results flowing after {:?}",
        started.elapsed()
    );
    wait("ap-1's notice", Duration::from_secs(40), || {
        alerts_about(&rig.smtp, "ap-1") >= 1
    });
    std::thread::sleep(Duration::from_secs(6));
    assert!(rig.one_leader().is_some(), "still one leader");
    rig.assert_notices_once(&[0, 1], 1);
    rig.assert_stored_equals_spooled();
}

/// Every GET route of the router (read from `collector/src/http/`, so a new route cannot be
/// left out) with the path this test asks for, whether it reads the store, and what it answers
/// once the database is back (an acknowledgement link for an alert that does not exist: 404).
fn get_routes(ack_token: &str) -> Vec<(String, String, bool, u16)> {
    let mut files = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("src/http")];
    let mut routes = BTreeSet::new();
    while let Some(path) = files.pop() {
        if path.is_dir() {
            files.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        // One route a line, whatever rustfmt split over several lines.
        let text = text.replace(".route(\n", ".route(").replace("\",\n", "\",");
        for line in text.lines() {
            let Some(at) = line.find(".route(") else {
                continue;
            };
            let Some(rest) = line[at + ".route(".len()..].trim_start().strip_prefix('"') else {
                continue;
            };
            let (path, handlers) = rest.split_once('"').unwrap();
            if handlers.contains("get(") {
                routes.insert(path.to_string());
            }
        }
    }
    let year = Utc::now().year();
    let table: Vec<(&str, String, bool, u16)> = vec![
        ("/healthz", "/healthz".into(), false, 200),
        ("/metrics", "/metrics".into(), false, 200),
        (
            "/api/v1/assignment",
            "/api/v1/assignment".into(),
            false,
            200,
        ),
        ("/api/v1/status", "/api/v1/status".into(), true, 200),
        (
            "/api/v1/report",
            format!("/api/v1/report?period={year}"),
            true,
            200,
        ),
        (
            "/api/v1/windows",
            format!("/api/v1/windows?from={year}-01-01&to={year}-12-31"),
            true,
            200,
        ),
        (
            "/api/v1/incidents",
            "/api/v1/incidents?ongoing=true".into(),
            true,
            200,
        ),
        (
            "/api/v1/devices/quiet",
            "/api/v1/devices/quiet".into(),
            true,
            200,
        ),
        (
            "/api/v1/oncall",
            format!("/api/v1/oncall?period={year}"),
            true,
            200,
        ),
        ("/ack/{token}", format!("/ack/{ack_token}"), true, 404),
        ("/", "/".into(), true, 200),
        (
            "/driftinfo/{kommun}",
            "/driftinfo/tranemo".into(),
            true,
            200,
        ),
        (
            "/driftinfo/{kommun}",
            "/driftinfo/tranemo.json".into(),
            true,
            200,
        ),
        (
            "/driftinfo/{kommun}/feed.atom",
            "/driftinfo/tranemo/feed.atom".into(),
            true,
            200,
        ),
        // The register's routes (the operator token, see `get_with_token`): the list's
        // monitoring facts and billing's history are in the store; renewals are the YAML's.
        ("/api/v1/inventory", "/api/v1/inventory".into(), true, 200),
        (
            "/api/v1/inventory/renewals",
            "/api/v1/inventory/renewals?within=180d".into(),
            false,
            200,
        ),
        (
            "/api/v1/inventory/billing",
            format!("/api/v1/inventory/billing?period={year}-T1"),
            true,
            200,
        ),
        // The intefunktion cases of a period (measured and registered) and one case (none
        // registered here: 404 once the store answers).
        (
            "/api/v1/intefunktion",
            format!("/api/v1/intefunktion?period={year}"),
            true,
            200,
        ),
        (
            "/api/v1/intefunktion/{id}",
            "/api/v1/intefunktion/1".into(),
            true,
            404,
        ),
        // The topology: links and proposals from the walks in memory, the accepted ones read
        // at start (the store is written only by an acceptance).
        ("/api/v1/topology", "/api/v1/topology".into(), false, 200),
        // The operator web, signed in through the trusted proxy (see `get_with_token`).
        ("/drift", "/drift".into(), false, 303),
        ("/drift/", "/drift/".into(), true, 200),
        ("/drift/logg", "/drift/logg".into(), true, 200),
        ("/drift/fonster", "/drift/fonster".into(), true, 200),
        ("/drift/stil.css", "/drift/stil.css".into(), false, 200),
        (
            "/drift/logga-in",
            "/drift/logga-in".into(),
            false,
            LOGIN_FORM,
        ),
    ];
    let covered: BTreeSet<String> = table.iter().map(|(r, ..)| r.to_string()).collect();
    assert_eq!(
        covered, routes,
        "the test asks every GET route of the router"
    );
    table
        .into_iter()
        .map(|(r, p, store, after)| (r.to_string(), p, store, after))
        .collect()
}

/// The operator token this test configures (the register's routes need it).
const OPERATOR_TOKEN: &str = "operator-token-0123456789abcdef";

/// What the login form answers behind a trusted proxy: the form (it says to sign in at the proxy).
const LOGIN_FORM: u16 = 200;

/// The operator web behind a trusted proxy on 127.0.0.1, its group `it` an operator.
const WEB: &str =
    "  web: { auth: trusted_proxy, proxies: [127.0.0.1], groups: { operator: [it] } }\n";

/// `GET path` with the agent's token (the assignment needs it; the others but the register's
/// ignore it), or the operator's for the register's routes.
fn get_with_token(port: u16, path: &str) -> (u16, String, String) {
    let token = if path.starts_with("/api/v1/inventory") || path.starts_with("/api/v1/topology") {
        OPERATOR_TOKEN
    } else {
        rig::TOKEN
    };
    let person = if path.starts_with("/drift") {
        "X-Remote-User: anna\r\nX-Remote-Groups: it\r\n"
    } else {
        ""
    };
    rig::http(
        port,
        &format!(
            "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n{person}\r\n"
        ),
    )
    .unwrap_or_else(|| panic!("GET {path}: no answer within 2 s"))
}

/// While PostgreSQL is stopped, every GET route that reads the store answers 503 with
/// `Retry-After` (reports, windows, the status page, driftinfo and its feed included), and
/// those that need no store still answer 200; once it is back, they answer as before.
#[test]
fn every_route_answers_503_with_retry_after_while_postgres_is_away() {
    let _runs = crate::rig::with_others();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let pg = PgCluster::start();
    let database = pg.url(&pg.create_database());
    std::fs::create_dir_all(dir.join("mail")).unwrap();
    let smtp = SmtpPeer::start(&dir.join("mail"));
    let devices = Devices::new(1);
    let config = inventory(dir, "a", &database, smtp.port, &devices.ports);
    let key = "ack-key-0123456789abcdef";
    rig::owner_only(&dir.join("ack.key"), key);
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str("  ack: { public_url: \"http://127.0.0.1\", key: { file: ack.key } }\n");
    rig::owner_only(&dir.join("operator.token"), OPERATOR_TOKEN);
    let text = text.replacen(
        "collector:\n",
        &format!("collector:\n  operator_token: {{ file: operator.token }}\n{WEB}"),
        1,
    );
    std::fs::write(&config, text).unwrap();
    // A valid, unexpired link for alert 1 at step 0 (`notify::ack`'s format).
    let body = format!("1.0.{}", Utc::now().timestamp() + 3600);
    let signature = driftvakt_collector::notify::ack::hmac_sha256_hex(
        key.as_bytes(),
        format!("driftvakt-ack-v1:{body}").as_bytes(),
    );
    let token = format!("{body}.{}", &signature[..32]);
    let routes = get_routes(&token);

    let mut node = Node::new("a", config);
    node.start(dir);
    for (route, path, _, after) in &routes {
        let (status, _, answer) = get_with_token(node.port, path);
        assert_eq!(status, *after, "{route}: GET {path} before: {answer}");
    }

    pg.pg_ctl_stop_mode("fast");
    for (route, path, store, after) in &routes {
        let (status, head, answer) = get_with_token(node.port, path);
        if !*store {
            assert_eq!(
                status, *after,
                "{route} needs no store: GET {path}: {answer}"
            );
            continue;
        }
        assert_eq!(status, 503, "{route}: GET {path}: {head}\n{answer}");
        assert!(
            head.to_ascii_lowercase().contains("retry-after: 5"),
            "{route}: GET {path}: {head}"
        );
        println!("PostgreSQL away: GET {path} → 503, Retry-After: 5");
    }
    node.proc.as_mut().unwrap().assert_running();

    pg.pg_ctl_start();
    wait(
        "the node answers status again",
        Duration::from_secs(30),
        || get_with_token(node.port, "/api/v1/status").0 == 200,
    );
    for (route, path, _, after) in &routes {
        let (status, _, answer) = get_with_token(node.port, path);
        assert_eq!(status, *after, "{route}: GET {path} after: {answer}");
    }
}

/// Replays the pair's stored results, in time order and in batches, into a fresh single
/// collector on SQLite (same inventory otherwise, its own SMTP server) and waits until it has
/// mailed about each device in `down` (its on-call cases are part of the report); its
/// (inventory, database, SMTP server).
fn replay_into_single_collector(rig: &Rig, down: &[usize]) -> (PathBuf, PathBuf, SmtpPeer) {
    let dir = rig.dir().join("single");
    std::fs::create_dir_all(dir.join("mail")).unwrap();
    let smtp = SmtpPeer::start(&dir.join("mail"));
    let db = dir.join("single.db");
    let config = inventory(
        &dir,
        "single",
        &db.display().to_string(),
        smtp.port,
        &rig.devices.ports,
    );
    let mut node = Node::new("single", config.clone());
    node.start(&dir);
    // Each stored result as the agent would send it: outcome and cause as stored.
    let store = Database::open(&rig.location()).unwrap().store().unwrap();
    let mut results = Vec::new();
    for device in rig.devices.ids() {
        for r in store.results(&device, 0).unwrap() {
            assert_eq!(r.count, 1, "a single result, not a compacted run");
            results.push(ProbeResult {
                target: r.target,
                check: r.check,
                time: DateTime::from_timestamp_millis(r.time).unwrap(),
                ok: r.ok,
                duration_ms: 0.0,
                error: if r.ok { None } else { r.cause },
                detail: None,
                findings: Vec::new(),
                values: BTreeMap::new(),
            });
        }
    }
    results.sort_by_key(|r| r.time);
    for (i, chunk) in results.chunks(50).enumerate() {
        let batch = Batch {
            agent: "a1".into(),
            batch_id: format!("replay-{i}"),
            results: chunk.to_vec(),
        };
        let (status, _, body) = rig::post_json(
            node.port,
            "/api/v1/results",
            &serde_json::to_string(&batch).unwrap(),
        )
        .expect("the single collector answers");
        assert_eq!(status, 200, "replay batch {i}: {body}");
        let reply: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(reply["accepted"], chunk.len(), "replay batch {i}: {body}");
    }
    wait(
        "the single collector's notices",
        Duration::from_secs(60),
        || {
            down.iter()
                .all(|i| alerts_about(&smtp, &format!("ap-{i}")) >= 1)
        },
    );
    std::thread::sleep(Duration::from_secs(3));
    node.proc
        .as_mut()
        .unwrap()
        .terminate(Duration::from_secs(20));
    (config, db, smtp)
}

/// `driftvakt-collector report --format json` for `period` as of `now`.
fn report(config: &Path, database: &str, period: &str, now: DateTime<Utc>) -> serde_json::Value {
    let out = Command::new(collector_bin())
        .args(["report", "--config"])
        .arg(config)
        .args(["--database", database, "--period", period])
        .args(["--format", "json", "--now", &now.to_rfc3339()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "report {period} on {database}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The report without the start and length of its on-call cases: a case starts when the
/// on-call technician was paged (the notifier's wall clock), which a replay later cannot
/// reproduce. Device, kinds, billing and every availability figure stay compared.
fn without_page_times(mut report: serde_json::Value) -> serde_json::Value {
    let cases = report["oncall"]["cases"]
        .as_array_mut()
        .expect("oncall.cases");
    for case in cases {
        let case = case.as_object_mut().unwrap();
        assert!(case.remove("start").is_some() && case.remove("length_s").is_some());
    }
    report
}

/// Each path where `a` and `b` differ, with both values.
fn json_diff(path: &str, a: &serde_json::Value, b: &serde_json::Value, out: &mut Vec<String>) {
    use serde_json::Value;
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                let (va, vb) = (&x.get(k), &y.get(k));
                match (va, vb) {
                    (Some(va), Some(vb)) => json_diff(&format!("{path}.{k}"), va, vb, out),
                    _ => out.push(format!("{path}.{k}: {va:?}, {vb:?}")),
                }
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (va, vb)) in x.iter().zip(y).enumerate() {
                json_diff(&format!("{path}[{i}]"), va, vb, out);
            }
        }
        _ if a != b => out.push(format!("{path}: {a}, {b}")),
        _ => {}
    }
}
