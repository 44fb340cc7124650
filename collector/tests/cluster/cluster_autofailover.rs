//! Issue 35's "what to show" for the database: PostgreSQL that fails over by itself under two
//! collector nodes, with real processes. Debian's pg_auto_failover (`autofailover_rig`: a
//! monitor and two data nodes on loopback ports, synchronous replication) serves the pair
//! through the multi-host URL `postgres://…@127.0.0.1:P1,127.0.0.1:P2/driftvakt?
//! target_session_attrs=read-write`; the real agent pushes to both nodes and four posters push
//! batches of their own (each remembers what the collectors confirmed); aiosmtpd receives the
//! notices.
//!
//! The primary's host dies (SIGKILL of its keeper and postgres at once) while a device is down
//! and another goes down: measured, the time until a poster's batch is confirmed again (by the
//! new primary); then every batch a poster had confirmed is stored, once; the stored results
//! are exactly the agent's spooled ones, once; every notice reached the SMTP server once; one
//! node leads; and the old primary, started again, rejoins as the standby.
//! No node logs a durability warning at start: this is the layout the README recommends.
//! The test runs alone in its binary (`rig::alone`): beside it, the other cluster tests' timed
//! waits ran out on two cores.
//! `--nocapture` prints the figures.

use crate::autofailover_rig::Formation;
use crate::rig::{
    agent_config, alerts_about, owner_only, received, start_agent, subjects, wait, Devices, Node,
};
use chrono::Utc;
use driftvakt_collector::store::{Database, Location};
use driftvakt_collector_testkit::process::Proc;
use driftvakt_collector_testkit::smtp::SmtpPeer;
use driftvakt_collector_testkit::spool;
use driftvakt_common::wire::{Batch, ProbeResult};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const DEVICES: usize = 3;
const POSTERS: usize = 4;
const POSTER_TOKEN: &str = "failover-poster-token-0123456789";

/// (device, check, time in ms) of one result.
type Key = (String, String, i64);

/// A batch a poster had confirmed: its result's key and when the answer came.
struct Confirmed {
    key: Key,
    at: Instant,
}

/// The rig's inventory plus site `lab` with one device per poster (`px-0`…), which agent `p`
/// (the posters' token) reports; the real agent `a1` keeps site `hus`.
fn with_posters(config: &Path) {
    let dir = config.parent().unwrap();
    owner_only(&dir.join("poster.token"), POSTER_TOKEN);
    let devices: String = (0..POSTERS)
        .map(|i| {
            format!(
                "  - {{ id: px-{i}, class: access_point, site: lab, address: 127.0.0.1, \
                 interval: 1s, checks: [icmp] }}\n"
            )
        })
        .collect();
    let text = std::fs::read_to_string(config)
        .unwrap()
        .replacen("devices:\n", &format!("devices:\n{devices}"), 1)
        .replacen(
            "sites:\n",
            "sites:\n  - { id: lab, name: Labbet, municipality: Tranemo }\n",
            1,
        )
        .replacen(
            "agents:\n",
            "agents:\n  - { id: p, token_file: poster.token, sites: [lab] }\n",
            1,
        );
    std::fs::write(config, text).unwrap();
}

/// Poster `i`: one result of `px-i` at the current millisecond per batch, every 100 ms, each
/// batch pushed (to node `a`, then `b`, then again) until one confirms it; stops at `stop`.
fn poster(
    i: usize,
    ports: [u16; 2],
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<Vec<Confirmed>>>,
) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut k = 0;
        while !stop.load(Ordering::SeqCst) {
            let time = Utc::now();
            let r = ProbeResult {
                target: format!("px-{i}"),
                check: "icmp".into(),
                time,
                ok: true,
                duration_ms: 1.0,
                error: None,
                detail: None,
                findings: Vec::new(),
                values: Default::default(),
            };
            let key = (r.target.clone(), r.check.clone(), time.timestamp_millis());
            let json = serde_json::to_string(&Batch {
                agent: "p".into(),
                batch_id: format!("px-{i}-{k}"),
                results: vec![r],
            })
            .unwrap();
            for port in ports.iter().cycle() {
                let answer = driftvakt_collector_testkit::http::post_json(
                    *port,
                    "/api/v1/results",
                    POSTER_TOKEN,
                    &json,
                );
                match answer {
                    Some((200, _, _)) => break,
                    Some((503, _, _)) | None => std::thread::sleep(Duration::from_millis(100)),
                    Some((status, _, body)) => panic!("px-{i}: push answered {status}: {body}"),
                }
            }
            log.lock().unwrap().push(Confirmed {
                key,
                at: Instant::now(),
            });
            k += 1;
            std::thread::sleep(Duration::from_millis(100));
        }
    })
}

/// Every result stored for `devices`, through the store API on the multi-host URL: key → rows.
fn stored(location: &Location, devices: &[String]) -> BTreeMap<Key, u32> {
    let store = Database::open(location).unwrap().store().unwrap();
    let mut out = BTreeMap::new();
    for device in devices {
        for r in store.results(device, 0).unwrap() {
            *out.entry((r.target, r.check, r.time)).or_insert(0) += r.count;
        }
    }
    out
}

fn assert_once(stored: &BTreeMap<Key, u32>, wanted: &BTreeSet<Key>, what: &str) {
    let doubled: Vec<_> = stored.iter().filter(|(_, n)| **n != 1).collect();
    assert!(
        doubled.is_empty(),
        "{what}: stored more than once: {doubled:?}"
    );
    let have: BTreeSet<Key> = stored.keys().cloned().collect();
    let lost: Vec<_> = wanted.difference(&have).collect();
    let extra: Vec<_> = have.difference(wanted).collect();
    assert!(
        lost.is_empty() && extra.is_empty(),
        "{what}: confirmed but not stored: {lost:?}\nstored but never sent: {extra:?}"
    );
}

#[test]
fn the_primarys_host_dies_under_two_collectors() {
    let _alone = crate::rig::alone();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let started = Instant::now();
    let mut pg = Formation::start();
    let url = pg.url();
    println!(
        "pg_auto_failover formation ready after {:?}",
        started.elapsed()
    );
    std::fs::create_dir_all(dir.join("mail")).unwrap();
    let smtp = SmtpPeer::start(&dir.join("mail"));
    let mut devices = Devices::new(DEVICES);
    let (mut a, mut b) = Node::pair(dir, &url, smtp.port, &devices.ports);
    with_posters(&a.config);
    with_posters(&b.config);
    a.start(dir);
    wait("a leads", Duration::from_secs(10), || {
        a.leader().as_deref() == Some("a")
    });
    b.start(dir);
    let mut agent: Proc = start_agent(dir, &agent_config(dir, &[a.url(), b.url()]));
    let stop = Arc::new(AtomicBool::new(false));
    let confirmed = Arc::new(Mutex::new(Vec::new()));
    let posters: Vec<JoinHandle<()>> = (0..POSTERS)
        .map(|i| poster(i, [a.port, b.port], stop.clone(), confirmed.clone()))
        .collect();

    devices.down(0);
    wait("ap-0's notice", Duration::from_secs(30), || {
        alerts_about(&smtp, "ap-0") >= 1
    });
    devices.down(1);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(pg.state(0).map(|s| s.0).as_deref(), Some("primary"));
    let before = confirmed.lock().unwrap().len();
    pg.kill(0);
    let killed = Instant::now();
    let resumed = wait(
        "a batch confirmed after the kill",
        Duration::from_secs(60),
        || confirmed.lock().unwrap().iter().any(|c| c.at > killed),
    );
    pg.wait("node2 is the primary", Duration::from_secs(30), |f| {
        f.state(1)
            .is_some_and(|(r, _)| r == "wait_primary" || r == "primary")
    });
    println!(
        "pg_auto_failover, the primary's host SIGKILLed: ingest resumed on the new primary \
         after {resumed:?} ({before} batches confirmed before)"
    );
    assert!(
        resumed <= Duration::from_secs(30),
        "goal: ingest back within 30 s"
    );
    wait("ap-1's notice", Duration::from_secs(40), || {
        alerts_about(&smtp, "ap-1") >= 1
    });

    // The old primary comes back as the standby of the new one.
    pg.restart(0);
    let rejoined = pg.wait("node1 is secondary again", Duration::from_secs(60), |f| {
        f.state(0)
            .is_some_and(|(r, g)| r == "secondary" && g == "secondary")
    });
    println!("the old primary, started again, was a standby after {rejoined:?}");
    assert_eq!(
        pg.node_sql(0, "SELECT pg_is_in_recovery()").as_deref(),
        Some("t")
    );
    // The new primary makes it synchronous once it is `primary` again (from `wait_primary`).
    pg.wait(
        "the standby is synchronous again",
        Duration::from_secs(30),
        |f| {
            f.node_sql(1, "SELECT sync_state FROM pg_stat_replication")
                .is_some_and(|s| s == "quorum")
        },
    );

    // A few more delivery rounds and pushes on the new primary.
    std::thread::sleep(Duration::from_secs(6));
    stop.store(true, Ordering::SeqCst);
    for p in posters {
        p.join().unwrap();
    }
    agent.terminate(Duration::from_secs(20));

    let location: Location = url.parse().unwrap();
    // Every batch a poster had confirmed is stored, once.
    let sent: BTreeSet<Key> = confirmed
        .lock()
        .unwrap()
        .iter()
        .map(|c| c.key.clone())
        .collect();
    let px: Vec<String> = (0..POSTERS).map(|i| format!("px-{i}")).collect();
    assert_once(&stored(&location, &px), &sent, "posters");
    // The agent's results: stored = spooled, each once.
    let spooled: Vec<ProbeResult> = spool::spool_records(&dir.join("agent/spool"))
        .into_iter()
        .map(|(_, r)| r)
        .collect();
    assert_once(
        &stored(&location, &devices.ids()),
        &spool::keys(&spooled),
        "agent",
    );
    // Every notice once; one leader.
    for i in 0..DEVICES {
        let want = usize::from(i < 2);
        assert_eq!(
            alerts_about(&smtp, &format!("ap-{i}")),
            want,
            "notices about ap-{i}: {:?}\n{}\n{}",
            subjects(&smtp),
            a.log(),
            b.log()
        );
    }
    let got = received(&smtp);
    assert!(got.values().all(|n| *n == 1), "exactly once: {got:?}");
    let (la, lb) = (a.leader(), b.leader());
    assert!(la.is_some() && la == lb, "one leader: {la:?} {lb:?}");
    for node in [&a, &b] {
        let log = node.full_log();
        assert!(
            !log.contains("confirmed to agents"),
            "{}: no durability warning with a synchronous standby: {log}",
            node.name
        );
    }
    println!(
        "{} poster batches and {} agent results stored once each; test took {:?}",
        sent.len(),
        spooled.len(),
        started.elapsed()
    );
}
