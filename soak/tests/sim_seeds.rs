//! The CI-sized soak: a few simulated days of a small municipality, three seeds, through the
//! `driftvakt-soak` binary (the real collector library under its settable clock). Every
//! result made must be stored exactly once and every stored outage must equal the oracle's.
//! Beside the three fixed seeds, one seed is the day's number, so that CI tries a new
//! municipality every day; a failure prints the command that replays it exactly.

use std::process::Command;

/// (seed, days, devices, interval in seconds): the seeds start on both of the run's start days
/// (a March service window with the DST change ahead; the October window and DST change).
/// Agents push every minute (a debug build's ingest is the run's cost).
const RUNS: [(u64, u32, usize, u32); 3] = [(11, 2, 24, 120), (12, 2, 24, 120), (13, 3, 16, 120)];

fn soak(seed: u64, days: u32, devices: usize, interval: u32) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_driftvakt-soak"))
        .args([
            "sim",
            "--seed",
            &seed.to_string(),
            "--days",
            &days.to_string(),
        ])
        .args([
            "--devices",
            &devices.to_string(),
            "--interval",
            &interval.to_string(),
        ])
        .args(["--push", "60"])
        .output()
        .expect("driftvakt-soak runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().last().unwrap_or_else(|| {
        panic!(
            "no summary line from seed {seed}: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
}

/// The seed of the day: days since 1970 (UTC), a new one every day, the same all day long.
fn seed_of_the_day() -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the clock is after 1970");
    now.as_secs() / 86_400
}

#[test]
fn every_result_is_stored_once_and_every_outage_is_the_oracles() {
    let today = (seed_of_the_day(), 2, 16, 120);
    eprintln!("seed of the day: {}", today.0);
    for (seed, days, devices, interval) in RUNS.into_iter().chain([today]) {
        let s = soak(seed, days, devices, interval);
        let replay = &s["replay"];
        assert!(s["results_made"].as_u64().unwrap() > 1_000, "{s}");
        assert!(s["outages_expected"].as_u64().unwrap() > 10, "{s}");
        assert_eq!(s["results_made"], s["stored"], "replay: {replay}\n{s}");
        assert_eq!(s["lost"], 0, "replay: {replay}\n{s}");
        assert_eq!(s["doubled"], 0, "replay: {replay}\n{s}");
        assert_eq!(s["mismatch_count"], 0, "replay: {replay}\n{s}");
        assert_eq!(s["outages_expected"], s["outages_seen"], "{s}");
        assert_eq!(s["twin_seen"], false, "the node took itself for two: {s}");
    }
}
