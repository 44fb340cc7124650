//! Two real collector processes on one SQLite file, a real agent with both URLs, devices that
//! go down one after the other (TCP checks against ports the test closes), and aiosmtpd as the
//! SMTP server. The leader is SIGKILLed mid-outage: the other node leads within 15 s and every
//! notice arrives exactly once. Then the new leader is frozen (SIGSTOP) past its lease while a
//! notice waits for a refusing SMTP server: the other node takes over, the frozen one, woken
//! (SIGCONT), steps down, and the notice arrives once (see the `cluster` module doc for the
//! send a frozen leader had already begun). Every result the agent spooled is stored
//! once. `--nocapture` prints the takeover times.
//!
//! Beside it, one node alone (what a real install meets on its first days): a collector started
//! alone is not taken for a second node (its in-memory tails stay on), and an agent stopped for
//! an upgrade in the middle of an outage does not split it (no "upphört", no second störning,
//! one outage in the report).

use driftvakt_collector_testkit::{results_db, spool};

use crate::rig::{
    agent_config, alerts_about, get, inventory, received, signal, start_agent, subjects, wait,
    Devices, Node,
};
use driftvakt_collector_testkit::smtp::SmtpPeer;
use std::path::Path;
use std::time::{Duration, Instant};

const DEVICES: usize = 4;

fn outbox_attempts(db: &Path) -> i64 {
    results_db::database(db)
        .query_row(
            "SELECT coalesce(sum(attempts), 0) FROM notify_outbox",
            [],
            |r| r.get(0),
        )
        .unwrap_or(0)
}

#[test]
fn failover_after_sigkill_and_sigstop_sends_every_notice_once() {
    let _runs = crate::rig::with_others();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::create_dir_all(dir.join("mail")).unwrap();
    let smtp = SmtpPeer::start(&dir.join("mail"));
    let mut devices = Devices::new(DEVICES);
    let db = dir.join("shared.db");
    let database = db.display().to_string();
    let (mut a, mut b) = Node::pair(dir, &database, smtp.port, &devices.ports);
    a.start(dir);
    wait("a leads", Duration::from_secs(10), || {
        a.leader().as_deref() == Some("a")
    });
    b.start(dir);
    let nodes = b.cluster().unwrap();
    assert_eq!(nodes["node"], "b");
    assert_eq!(nodes["leader"], "a");
    assert_eq!(nodes["nodes"].as_array().unwrap().len(), 2);

    let agent_yaml = agent_config(dir, &[a.url(), b.url()]);
    let mut agent = start_agent(dir, &agent_yaml);
    wait("results stored", Duration::from_secs(20), || {
        results_db::stored_count(&db, "a1") >= 2 * DEVICES as i64
    });

    // Device 0 goes down while `a` leads: one alert.
    devices.down(0);
    wait("ap-0's alert", Duration::from_secs(30), || {
        alerts_about(&smtp, "ap-0") >= 1
    });

    // Device 1 goes down and the leader is killed mid-outage.
    devices.down(1);
    std::thread::sleep(Duration::from_millis(1500));
    a.proc.as_mut().unwrap().kill();
    let takeover = wait("b leads after the SIGKILL", Duration::from_secs(15), || {
        b.leader().as_deref() == Some("b")
    });
    println!("SIGKILL of the leader: the other node led after {takeover:?}");
    wait("ap-1's alert", Duration::from_secs(40), || {
        alerts_about(&smtp, "ap-1") >= 1
    });
    devices.down(2);
    wait("ap-2's alert", Duration::from_secs(40), || {
        alerts_about(&smtp, "ap-2") >= 1
    });

    // `a` comes back as a follower.
    a.start(dir);
    assert_eq!(a.leader().as_deref(), Some("b"));
    wait("the cluster metrics", Duration::from_secs(10), || {
        a.metric("driftvakt_cluster_nodes 2")
            && a.metric("driftvakt_cluster_leader{node=\"a\"} 0")
            && b.metric("driftvakt_cluster_leader{node=\"b\"} 1")
    });

    // Device 3's alert waits for a refusing SMTP server on `b`; then `b` freezes.
    smtp.refuse("451");
    let before = outbox_attempts(&db);
    devices.down(3);
    wait("b tried ap-3's alert", Duration::from_secs(40), || {
        outbox_attempts(&db) > before
    });
    // The agent pauses (its spool keeps everything), and `b` freezes outside a write
    // transaction of its own (a frozen SQLite writer keeps the file's lock).
    signal(&agent, "-STOP");
    b.freeze_outside_write_lock(&db);
    let frozen = Instant::now();
    smtp.refuse("");
    let takeover = wait("a leads while b is frozen", Duration::from_secs(15), || {
        a.leader().as_deref() == Some("a")
    });
    println!("SIGSTOP of the leader: the other node led after {takeover:?}");
    while frozen.elapsed() < Duration::from_secs(15) {
        std::thread::sleep(Duration::from_millis(100));
    }
    b.signal("-CONT");
    signal(&agent, "-CONT");
    // Sent by `a` (it got the row back at takeover) or, when `b` froze inside its SMTP
    // conversation, by `b` finishing the send it began under its lease (`a` waits out the
    // row's sending lease of 40 s before sending such a row again).
    wait("ap-3's alert", Duration::from_secs(60), || {
        alerts_about(&smtp, "ap-3") >= 1
    });
    wait("b knows it follows", Duration::from_secs(10), || {
        b.cluster()
            .is_some_and(|c| c["leader"] == "a" && c["node"] == "b")
    });
    // A few delivery rounds of both nodes must not repeat anything.
    std::thread::sleep(Duration::from_secs(12));
    let got = received(&smtp);
    for device in 0..DEVICES {
        assert_eq!(
            alerts_about(&smtp, &format!("ap-{device}")),
            1,
            "ap-{device}: {got:?}\n{}\n{}",
            a.log(),
            b.log()
        );
    }
    assert!(got.values().all(|n| *n == 1), "exactly once: {got:?}");
    assert!(
        b.log().contains("lost the leader lease") || b.log().contains("stepping down"),
        "b stepped down: {}",
        b.log()
    );
    // Nothing lost or doubled on the way in either: the agent stops cleanly (its last flush),
    // and every result in its spool is stored once.
    agent.terminate(Duration::from_secs(20));
    let spooled = spool::spool_records(&dir.join("agent/spool"));
    let stored = results_db::stored_keys(&db, "a1");
    let spooled: Vec<_> = spooled.into_iter().map(|(_, r)| r).collect();
    assert!(spool::keys(&spooled).is_subset(&stored));
    assert_eq!(results_db::stored_duplicates(&db, "a1"), 0);
}

/// A node "a" alone on a SQLite file in `dir`, mailing to `smtp`, with a service of the first
/// two devices (down when both are).
fn single_node(dir: &Path, smtp: u16, devices: &Devices) -> Node {
    let db = dir.join("driftvakt.db").display().to_string();
    let config = inventory(dir, "a", &db, smtp, &devices.ports);
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(
        "services:\n  - { id: wifi, name: Trådlöst nätverk, members: [ap-0, ap-1], rule: any, \
         counts_as_incident: true }\n",
    );
    std::fs::write(&config, text).unwrap();
    Node::new("a", config)
}

#[test]
fn a_collector_alone_keeps_its_memory_tails_past_its_heartbeats() {
    let _runs = crate::rig::with_others();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::create_dir_all(dir.join("mail")).unwrap();
    let smtp = SmtpPeer::start(&dir.join("mail"));
    let devices = Devices::new(2);
    let mut node = single_node(dir, smtp.port, &devices);
    node.start(dir);
    wait("the tails gauge", Duration::from_secs(10), || {
        node.metric("driftvakt_ingest_memory_tails 1")
    });
    // Four heartbeats (2 s each): the twin check has read this node's own row several times.
    std::thread::sleep(Duration::from_secs(9));
    let log = node.full_log();
    assert!(
        !log.contains("another collector process") && !log.contains("shares the database"),
        "a lone collector took itself for another node:\n{log}"
    );
    assert!(
        node.metric("driftvakt_ingest_memory_tails 1"),
        "the tails went off: {}",
        node.log()
    );
    assert!(node.metric("driftvakt_cluster_nodes 1"), "{}", node.log());
}

#[test]
fn an_agent_restart_inside_an_outage_does_not_split_it() {
    let _runs = crate::rig::with_others();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::create_dir_all(dir.join("mail")).unwrap();
    let smtp = SmtpPeer::start(&dir.join("mail"));
    let mut devices = Devices::new(2);
    let mut node = single_node(dir, smtp.port, &devices);
    node.start(dir);
    let agent_yaml = agent_config(dir, &[node.url()]);
    let mut agent = start_agent(dir, &agent_yaml);
    wait("results stored", Duration::from_secs(20), || {
        results_db::stored_count(&dir.join("driftvakt.db"), "a1") >= 4
    });

    devices.down(0);
    devices.down(1);
    let sent = |s: &SmtpPeer| subjects(s).values().sum::<usize>();
    // A störning to the editors and an alert per device.
    wait(
        "the störning and both alerts",
        Duration::from_secs(40),
        || sent(&smtp) >= 3,
    );
    std::thread::sleep(Duration::from_secs(3));
    let before = subjects(&smtp);

    // The agent stops for an upgrade, longer than the devices' stale time (3 × 1 s), and
    // comes back with both still down.
    agent.terminate(Duration::from_secs(10));
    std::thread::sleep(Duration::from_secs(12));
    let mut agent = start_agent(dir, &agent_yaml);
    std::thread::sleep(Duration::from_secs(15));
    agent.assert_running();
    let after = subjects(&smtp);
    assert_eq!(
        after,
        before,
        "the restart changed what people were told\n{}",
        node.log()
    );
    for subject in after.keys() {
        let lower = subject.to_lowercase();
        assert!(
            !lower.contains("upphört") && !lower.contains("åtgärdat"),
            "{subject}"
        );
    }

    // One outage per device and one for the service, still open.
    let year = chrono::Utc::now().format("%Y").to_string();
    let report: serde_json::Value =
        serde_json::from_str(&get(node.port, &format!("/api/v1/report?period={year}")).unwrap())
            .unwrap();
    for d in ["ap-0", "ap-1"] {
        let row = report["devices"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == d)
            .unwrap();
        assert_eq!(row["outages"], 1, "{d}: {row}");
        // Down through the 12 s silence too: the outage covers stop, silence and restart.
        let down = row["downtime_s"].as_f64().unwrap();
        let observed = row["observed_s"].as_f64().unwrap();
        assert!(down >= 27.0, "{d}: down through the silence: {row}");
        assert!(
            observed - down < 10.0,
            "{d}: only its first seconds up: {row}"
        );
    }
    let wifi = report["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "wifi")
        .unwrap();
    assert_eq!(wifi["outages"], 1, "{wifi}");
    let status: serde_json::Value =
        serde_json::from_str(&get(node.port, "/api/v1/status").unwrap()).unwrap();
    let text = status.to_string();
    assert!(text.contains("\"down\""), "{text}");
    drop(agent);
}
