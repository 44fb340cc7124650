//! What a real install meets on its first days, through the real binaries: a collector started
//! alone is not taken for a second node (its in-memory tails stay on), and an agent stopped for
//! an upgrade in the middle of an outage does not split it (no "upphört", no second störning,
//! one outage in the report). Real collector and agent processes, aiosmtpd as the SMTP server.

mod cluster_support;
mod delivery_support;
mod notify_support;

use cluster_support::{agent_config, get, inventory, start_agent, subjects, wait, Devices, Node};
use notify_support::SmtpPeer;
use std::path::Path;
use std::time::Duration;

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
        delivery_support::stored_count(&dir.join("driftvakt.db"), "a1") >= 4
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
