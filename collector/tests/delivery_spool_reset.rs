//! A lost spool (disk replaced, reinstall, `rm -rf`) must not make the collector drop what
//! comes next. With the real binaries: an agent pushes to a collector, stops, loses its spool
//! folder and starts again, so its sequence numbers start at 1 again. Every result of both runs
//! is stored exactly once: the second run's batches carry a new spool incarnation in their ids,
//! so none is mistaken for a batch of the first run, and nothing is quarantined.

mod delivery_support;

use delivery_support::*;
use std::path::{Path, PathBuf};
use std::time::Duration;

const AGENT: &str = "a";
const DEVICES: usize = 10;

fn inventory(dir: &Path) -> PathBuf {
    std::fs::write(dir.join("a.token"), TOKEN_A).unwrap();
    let mode = <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o600);
    std::fs::set_permissions(dir.join("a.token"), mode).unwrap(); // owner only
    let mut text = String::from(
        "sites:\n  - { id: s1, name: Stadshuset, municipality: Ulricehamn }\ndevices:\n",
    );
    for i in 0..DEVICES {
        // A closed loopback port: each probe ends at once with connection_refused.
        text.push_str(&format!(
            "  - {{ id: prn-{i}, class: printer, site: s1, address: 127.0.0.1, checks: [{{ kind: tcp, port: {}, interval: 200ms, timeout: 150ms }}] }}\n",
            free_port()
        ));
    }
    text.push_str("agents:\n  - { id: a, token_file: a.token, sites: [s1] }\n");
    let path = dir.join("collector.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Runs the agent for `secs`, stops it cleanly (it hands what is left to the collector) and
/// returns every result its spool held.
async fn run_agent(
    config: &Path,
    spool: &Path,
    log: &Path,
    secs: u64,
) -> Vec<driftvakt_common::wire::ProbeResult> {
    let mut agent = start_agent(config, log);
    tokio::time::sleep(Duration::from_secs(secs)).await;
    agent.assert_running();
    agent.terminate(Duration::from_secs(15));
    spool_records(spool).into_iter().map(|(_, r)| r).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn after_a_spool_reset_every_new_result_is_stored_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("dv.db");
    let config = inventory(dir.path());
    let port = free_port();
    let _collector = start_collector(&config, port, &db, &dir.path().join("collector.log")).await;
    let agent_dir = dir.path().join("agent");
    let setup = AgentSetup {
        id: AGENT,
        token: TOKEN_A,
        collector_port: port,
        metrics_port: free_port(),
        batch_size: 5,
        refresh: "1s",
        devices: "",
    };
    let agent_config = write_agent(&agent_dir, &setup);
    let spool = agent_dir.join("spool");

    let first = run_agent(&agent_config, &spool, &dir.path().join("agent-1.log"), 2).await;
    let first_ids = std::fs::read_to_string(spool.join("incarnation")).unwrap();
    std::fs::remove_dir_all(&spool).unwrap(); // the spool is lost
    let second = run_agent(&agent_config, &spool, &dir.path().join("agent-2.log"), 2).await;
    let second_ids = std::fs::read_to_string(spool.join("incarnation")).unwrap();
    assert_ne!(first_ids, second_ids, "a new spool is a new incarnation");
    assert!(
        first.len() > 20 && second.len() > 20,
        "both runs probed: {} and {} results",
        first.len(),
        second.len()
    );

    let stored = stored_keys(&db, AGENT);
    let (first, second) = (keys(&first), keys(&second));
    let missing: Vec<_> = second.difference(&stored).collect();
    assert!(
        missing.is_empty(),
        "{} of {} results after the reset were not stored, e.g. {:?}",
        missing.len(),
        second.len(),
        missing.first()
    );
    assert!(first.is_subset(&stored), "the first run's results are kept");
    assert_eq!(stored.len(), first.len() + second.len());
    assert_eq!(stored_duplicates(&db, AGENT), 0);
    let quarantine = spool.join("quarantine");
    let quarantined = std::fs::read_dir(&quarantine).map_or(0, |d| d.count());
    assert_eq!(
        quarantined,
        0,
        "nothing refused: {}",
        read_log(&dir.path().join("agent-2.log"))
    );
}
