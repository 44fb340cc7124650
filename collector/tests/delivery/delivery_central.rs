//! Central inventory with real processes: two `driftvakt-agent` binaries without local devices
//! fetch their devices from a real `driftvakt-collector`, probe them, and the results arrive;
//! both agents are assigned the same device (second vantage point) and both report it. The
//! collector is restarted with an extra device, and the agent it is assigned to picks it up after
//! `assignment_refresh`.

use driftvakt_collector_testkit::inventory::Inventory;
use driftvakt_collector_testkit::ports::{accepting_port, free_port};
use driftvakt_collector_testkit::process::*;
use driftvakt_collector_testkit::results_db::*;
use std::path::Path;
use std::time::Duration;

/// One printer reached over TCP on a port the test listens on; `extra` adds an ICMP device.
fn inventory(dir: &Path, tcp_port: u16, db: &Path, extra: bool) -> std::path::PathBuf {
    let mut inv = Inventory::new()
        .collector("database", db.display())
        .site("s1", "Stadshuset", "Ulricehamn")
        .tcp_device("prn1", "printer", "s1", tcp_port, "1s");
    if extra {
        inv = inv.device("{ id: ap1, class: access_point, site: s1, address: 127.0.0.1, checks: [{ kind: icmp, count: 1, interval: 1s, timeout: 500ms }] }");
    }
    inv.agent(dir, "a", TOKEN_A, "sites: [s1]")
        .agent(dir, "b", TOKEN_B, "devices: [prn1]")
        .write(dir)
}

fn stored_for(db: &Path, agent: &str, target: &str) -> i64 {
    database(db)
        .query_row(
            "SELECT COUNT(*) FROM dv_results WHERE agent = ?1 AND target = ?2 AND ok = 1",
            [agent, target],
            |r| r.get(0),
        )
        .unwrap_or(0)
}

async fn device_state(port: u16, device: &str) -> Option<String> {
    let url = format!("http://127.0.0.1:{port}/api/v1/status");
    let v: serde_json::Value = reqwest::get(url).await.ok()?.json().await.ok()?;
    v["devices"]
        .as_array()?
        .iter()
        .find(|d| d["id"] == device)
        .and_then(|d| d["state"].as_str().map(str::to_string))
}

async fn wait_up(port: u16, device: &str) {
    wait_until(&format!("{device} up"), Duration::from_secs(15), || async {
        device_state(port, device).await.as_deref() == Some("up")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn agents_probe_what_the_collector_assigns_and_pick_up_a_changed_inventory() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("dv.db");
    let target = accepting_port();
    let port = free_port();
    let log = |name: &str| dir.path().join(format!("{name}.log"));
    let mut collector = start_collector(
        &inventory(dir.path(), target, &db, false),
        port,
        &db,
        &log("collector-1"),
    )
    .await;
    let mut agents = Vec::new();
    for (id, token) in [("a", TOKEN_A), ("b", TOKEN_B)] {
        let setup = AgentSetup {
            id,
            token,
            collector_port: port,
            metrics_port: free_port(),
            batch_size: 5,
            refresh: "1s",
            devices: "",
        };
        let config = write_agent(&dir.path().join(id), &setup);
        agents.push(start_agent(&config, &log(&format!("agent-{id}"))));
    }

    // Both agents got prn1 from the collector and report it; it is up.
    for agent in ["a", "b"] {
        wait_until(
            &format!("results for prn1 from agent {agent}"),
            Duration::from_secs(15),
            || async { stored_for(&db, agent, "prn1") > 0 },
        )
        .await;
    }
    wait_up(port, "prn1").await;
    let assignment = std::fs::read_to_string(dir.path().join("a/spool/assignment.json")).unwrap();
    assert!(
        assignment.contains("prn1"),
        "the agent stored its assignment"
    );

    // The inventory changes: the collector comes back with ap1 at site s1 (agent a's).
    collector.terminate(Duration::from_secs(10));
    drop(collector);
    let _collector = start_collector(
        &inventory(dir.path(), target, &db, true),
        port,
        &db,
        &log("collector-2"),
    )
    .await;
    wait_until(
        "agent a reports ap1 after its assignment refresh",
        Duration::from_secs(15),
        || async { stored_for(&db, "a", "ap1") > 0 },
    )
    .await;
    wait_up(port, "ap1").await;
    assert_eq!(stored_for(&db, "b", "ap1"), 0, "ap1 is not agent b's");
    let log_a = read_log(&log("agent-a"));
    assert!(log_a.contains("assignment changed"), "{log_a}");
    for a in &mut agents {
        a.assert_running();
    }
}
