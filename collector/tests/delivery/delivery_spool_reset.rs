//! A lost spool (disk replaced, reinstall, `rm -rf`) must not make the collector drop what
//! comes next. With the real binaries: an agent pushes to a collector, stops, loses its spool
//! folder and starts again, so its sequence numbers start at 1 again. Every result of both runs
//! is stored exactly once: the second run's batches carry a new spool incarnation in their ids,
//! so none is mistaken for a batch of the first run, and nothing is quarantined.
//!
//! A spool folder removed while the agent runs: the agent makes it again (new incarnation) with
//! the unconfirmed results it still holds, keeps delivering within seconds, says so in an error
//! line, and no result it probed is lost, also when the folder goes while the collector is away
//! and the agent is restarted before it comes back.

use chrono::{DateTime, Utc};
use driftvakt_collector_testkit::inventory::Inventory;
use driftvakt_collector_testkit::ports::free_port;
use driftvakt_collector_testkit::process::*;
use driftvakt_collector_testkit::results_db::*;
use driftvakt_collector_testkit::spool::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

const AGENT: &str = "a";
const DEVICES: usize = 10;

fn inventory(dir: &Path) -> PathBuf {
    let mut inv = Inventory::new().site("s1", "Stadshuset", "Ulricehamn");
    for i in 0..DEVICES {
        // A closed loopback port: each probe ends at once with connection_refused.
        inv = inv.device(&format!(
            "{{ id: prn-{i}, class: printer, site: s1, address: 127.0.0.1, checks: [{{ kind: tcp, port: {}, interval: 200ms, timeout: 150ms }}] }}",
            free_port()
        ));
    }
    inv.agent(dir, "a", TOKEN_A, "sites: [s1]").write(dir)
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

/// Stored result times (ms) per device for `agent`, ascending.
fn stored_times(db: &Path, agent: &str) -> BTreeMap<String, Vec<i64>> {
    let mut out: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for (target, _check, time) in stored_keys(db, agent) {
        out.entry(target).or_default().push(time);
    }
    out
}

/// True when every device has a stored result probed after `after`.
fn every_device_stored_after(db: &Path, after: DateTime<Utc>) -> bool {
    let times = stored_times(db, AGENT);
    times.len() == DEVICES
        && times
            .values()
            .all(|t| t.last().is_some_and(|&l| l > after.timestamp_millis()))
}

/// The largest hole in each device's stored results between `from` and `to` (the edges count):
/// with a 200 ms interval anything much above that is a lost result.
fn largest_holes(db: &Path, from: DateTime<Utc>, to: DateTime<Utc>) -> BTreeMap<String, i64> {
    let (from, to) = (from.timestamp_millis(), to.timestamp_millis());
    stored_times(db, AGENT)
        .into_iter()
        .map(|(device, times)| {
            let mut edges = vec![from];
            edges.extend(times.into_iter().filter(|&t| t > from && t < to));
            edges.push(to);
            let hole = edges.windows(2).map(|w| w[1] - w[0]).max().unwrap_or(0);
            (device, hole)
        })
        .collect()
}

/// When every device had its first stored result probed after `after` (probing had begun).
fn all_probing_since(db: &Path, after: DateTime<Utc>) -> DateTime<Utc> {
    let after = after.timestamp_millis();
    let first = stored_times(db, AGENT)
        .values()
        .filter_map(|t| t.iter().copied().find(|&t| t > after))
        .max()
        .expect("stored results");
    DateTime::from_timestamp_millis(first).unwrap()
}

/// Removes a folder the running agent writes to, as one step (a plain recursive delete races
/// with the agent, which may make the spool again in the folder before it is gone).
fn remove_at_once(dir: &Path) {
    let gone = dir.with_extension("removed");
    std::fs::rename(dir, &gone).unwrap();
    std::fs::remove_dir_all(&gone).unwrap();
}

fn ms(n: i64) -> chrono::Duration {
    chrono::Duration::milliseconds(n)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_spool_folder_removed_while_the_agent_runs_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("dv.db");
    let config = inventory(dir.path());
    let port = free_port();
    let log = |name: &str| dir.path().join(format!("{name}.log"));
    let mut collector = start_collector(&config, port, &db, &log("collector-1")).await;
    let agent_dir = dir.path().join("agent");
    let metrics_port = free_port();
    let setup = AgentSetup {
        id: AGENT,
        token: TOKEN_A,
        collector_port: port,
        metrics_port,
        batch_size: 5,
        refresh: "1s",
        devices: "",
    };
    let agent_config = write_agent(&agent_dir, &setup);
    let spool = agent_dir.join("spool");

    // 1. Removed while results flow: delivery goes on within seconds.
    let first_start = Utc::now();
    let mut agent = start_agent(&agent_config, &log("agent-1"));
    wait_until(
        "the agent's first results",
        Duration::from_secs(20),
        || async { every_device_stored_after(&db, first_start) },
    )
    .await;
    let first_probing = all_probing_since(&db, first_start);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let removed = Utc::now();
    remove_at_once(&spool);
    wait_until(
        "results probed after the removal to be stored",
        Duration::from_secs(15),
        || async { every_device_stored_after(&db, removed + ms(500)) },
    )
    .await;
    agent.assert_running();
    assert!(
        spool.join("incarnation").is_file(),
        "the spool is made again"
    );

    // 2. Removed while the collector is away, the agent restarted before it is back: the
    //    unconfirmed results are in the new spool folder and reach the collector.
    collector.kill();
    tokio::time::sleep(Duration::from_secs(2)).await;
    remove_at_once(&spool);
    // The agent sees the removal at its next append (within a probe interval and the writer's
    // gathering time when the machine is quiet; seconds under a loaded CI runner).
    wait_until(
        "the second reset to be counted",
        Duration::from_secs(20),
        || async {
            agent_metric(metrics_port, "driftvakt_agent_spool_resets_total").await == Some(2.0)
        },
    )
    .await;
    let resets = agent_metric(metrics_port, "driftvakt_agent_spool_resets_total").await;
    assert_eq!(resets, Some(2.0), "{}", agent.describe());
    let first_stop = Utc::now();
    agent.terminate(Duration::from_secs(15));
    let first_log = read_log(&log("agent-1"));
    let loud = first_log
        .lines()
        .filter(|l| l.contains("ERROR") && l.contains("spool folder"))
        .count();
    assert_eq!(loud, 2, "each reset is an error line:\n{first_log}");
    let respooled = spool_records(&spool).len();
    assert!(
        respooled > 5 * DEVICES,
        "the unconfirmed results are in the new spool: {respooled}"
    );

    let _collector = start_collector(&config, port, &db, &log("collector-2")).await;
    let second_start = Utc::now();
    let mut agent = start_agent(&agent_config, &log("agent-2"));
    wait_until(
        "the restarted agent's results",
        Duration::from_secs(20),
        || async { every_device_stored_after(&db, second_start + ms(1000)) },
    )
    .await;
    let second_probing = all_probing_since(&db, second_start);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let second_stop = Utc::now();
    agent.terminate(Duration::from_secs(15));

    // Every 200 ms result of both runs is stored: no device has a hole beyond scheduling jitter.
    for (run, from, to) in [
        ("first run", first_probing, first_stop - ms(300)),
        ("second run", second_probing, second_stop - ms(300)),
    ] {
        let holes = largest_holes(&db, from, to);
        assert_eq!(holes.len(), DEVICES);
        assert!(
            holes.values().all(|&h| h < 1500),
            "{run}: results lost, the largest holes per device (ms): {holes:?}\n{}",
            read_log(&log("agent-1"))
        );
    }
    assert_eq!(stored_duplicates(&db, AGENT), 0);
    let quarantined = std::fs::read_dir(spool.join("quarantine")).map_or(0, |d| d.count());
    assert_eq!(quarantined, 0, "nothing refused");
}
