//! "Nothing lost, nothing doubled" with real processes: a central-mode `driftvakt-agent` probes
//! many loopback targets at a short interval with small batches and pushes to a real
//! `driftvakt-collector`, which is killed with SIGKILL at random moments and restarted on the
//! same port and database. The agent is then stopped (SIGTERM) and started once more with its
//! devices overridden locally by devices without checks, so it only drains its spool. Every
//! result the agent wrote to its spool must be stored exactly once.
//!
//! The agent's spool keeps its active segment for the whole run (segments are 16 MiB at this
//! `max_bytes`, and the active one is never deleted), so after the first agent stops its segment
//! files hold every result it produced.

use driftvakt_collector_testkit::inventory::Inventory;
use driftvakt_collector_testkit::ports::free_port;
use driftvakt_collector_testkit::process::*;
use driftvakt_collector_testkit::results_db::*;
use driftvakt_collector_testkit::spool::*;
use rand::Rng;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const AGENT: &str = "a";
const TCP_DEVICES: usize = 20;
const ICMP_DEVICES: usize = 10;

fn inventory(dir: &Path) -> PathBuf {
    let mut inv = Inventory::new().site("s1", "Stadshuset", "Ulricehamn");
    for i in 0..TCP_DEVICES {
        // A closed loopback port: each probe ends at once with connection_refused.
        inv = inv.device(&format!(
            "{{ id: prn-{i}, class: printer, site: s1, address: 127.0.0.1, checks: [{{ kind: tcp, port: {}, interval: 200ms, timeout: 150ms }}] }}",
            free_port()
        ));
    }
    for i in 0..ICMP_DEVICES {
        inv = inv.device(&format!(
            "{{ id: ap-{i}, class: access_point, site: s1, address: 127.0.0.{}, checks: [{{ kind: icmp, count: 1, interval: 200ms, timeout: 150ms }}] }}",
            i + 1
        ));
    }
    inv.agent(dir, "a", TOKEN_A, "sites: [s1]").write(dir)
}

/// The same device ids, without checks: they override the assigned ones, so the agent probes
/// nothing and only delivers its spool.
fn drain_devices() -> String {
    let mut out = String::new();
    for i in 0..TCP_DEVICES {
        out.push_str(&format!(
            "  - {{ id: prn-{i}, class: printer, address: 127.0.0.1, checks: [] }}\n"
        ));
    }
    for i in 0..ICMP_DEVICES {
        out.push_str(&format!(
            "  - {{ id: ap-{i}, class: access_point, address: 127.0.0.1, checks: [] }}\n"
        ));
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkilled_collector_loses_nothing_and_doubles_nothing() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("dv.db");
    let config = inventory(dir.path());
    let port = free_port();
    let log = |name: String| dir.path().join(format!("{name}.log"));
    let mut collector = start_collector(&config, port, &db, &log("collector-0".into())).await;
    let agent_dir = dir.path().join("agent");
    let metrics_port = free_port();
    let mut setup = AgentSetup {
        id: AGENT,
        token: TOKEN_A,
        collector_port: port,
        metrics_port,
        batch_size: 7,
        refresh: "1s",
        devices: "",
    };
    let mut agent = start_agent(&write_agent(&agent_dir, &setup), &log("agent-1".into()));

    let mut rng = rand::rng();
    for kill in 1..=4 {
        tokio::time::sleep(Duration::from_millis(rng.random_range(300..1200))).await;
        agent.assert_running();
        collector.kill(); // SIGKILL, wherever it is
        tokio::time::sleep(Duration::from_millis(rng.random_range(50..600))).await;
        collector = start_collector(&config, port, &db, &log(format!("collector-{kill}"))).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let probes = agent_metric(metrics_port, "driftvakt_agent_probes_total")
        .await
        .expect("the agent serves its probe counter");
    let failures = agent_metric(metrics_port, "driftvakt_agent_push_failures_total").await;
    assert!(
        failures.unwrap_or(0.0) > 0.0,
        "the kills hit the flow: pushes failed and were retried"
    );
    agent.terminate(Duration::from_secs(15));
    drop(agent);

    let produced = spool_records(&agent_dir.join("spool"));
    assert!(
        produced.windows(2).all(|w| w[0].0 < w[1].0),
        "spool sequence numbers increase"
    );
    assert!(
        produced.len() as f64 >= probes,
        "{} results spooled, {probes} probes counted before the stop",
        produced.len()
    );
    assert!(produced.len() > 500, "only {} results", produced.len());

    // Drain: same spool, no probing.
    let drain = drain_devices();
    setup.devices = &drain;
    let mut agent = start_agent(&write_agent(&agent_dir, &setup), &log("agent-2".into()));
    wait_until(
        "the spool to be fully acked",
        Duration::from_secs(20),
        || async { agent_metric(metrics_port, "driftvakt_agent_spool_results").await == Some(0.0) },
    )
    .await;
    agent.terminate(Duration::from_secs(15));

    let results: Vec<_> = produced.into_iter().map(|(_, r)| r).collect();
    let want = keys(&results);
    assert_eq!(
        want.len(),
        results.len(),
        "the agent produced no duplicates"
    );
    assert_eq!(stored_count(&db, AGENT), results.len() as i64);
    assert_eq!(stored_duplicates(&db, AGENT), 0);
    assert_eq!(
        stored_keys(&db, AGENT),
        want,
        "exactly the produced results are stored"
    );
    let log2 = read_log(&log("agent-2".into()));
    let probing: Vec<&str> = log2.lines().filter(|l| l.contains(" probing ")).collect();
    assert!(
        !probing.is_empty() && probing.iter().all(|l| l.contains("checks=0")),
        "the draining agent probes nothing:\n{log2}"
    );
    eprintln!(
        "{} results over 4 collector kills, {:?}",
        results.len(),
        started.elapsed()
    );
}
