//! Smoke run of the benchmark harness on a tiny size: the agent alone (no peers), 20 loopback
//! targets for ICMP, HTTP and TCP, and a few seconds of steady state; then the collector on a
//! tiny inventory (2 agents x 2 batches, a report over a small history). Seconds, not minutes.
//! ICMP needs root or CAP_NET_RAW, as the agent does.

use serde_json::Value;
use std::process::Command;

#[test]
fn harness_measures_the_agent_on_20_loopback_targets() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("report.json");
    let status = Command::new(env!("CARGO_BIN_EXE_driftvakt-bench"))
        .args([
            "compare",
            "--no-peers",
            "--sizes",
            "20",
            "--snmp-requests",
            "0",
            "--no-collector",
        ])
        .args(["--steady-targets", "20", "--steady-interval-s", "1"])
        .args([
            "--steady-seconds",
            "2",
            "--steady-icmp-counts",
            "1",
            "--json",
        ])
        .arg(&json)
        .status()
        .unwrap();
    assert!(status.success(), "driftvakt-bench compare failed: {status}");
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let rows = report["rows"].as_array().unwrap();
    let kinds: Vec<&str> = rows.iter().map(|r| r["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["icmp", "http", "tcp"]);
    for row in rows {
        assert_eq!(row["tool"], "driftvakt");
        assert_eq!(row["probes"], 20, "{row}");
        assert_eq!(row["failures"], 0, "{row}");
        let rate = 20.0 / row["wall_s"].as_f64().unwrap();
        assert!(rate > 0.0 && rate.is_finite(), "{row}");
        assert!(row["cpu_s"].as_f64().unwrap() > 0.0, "{row}");
        assert!(row["peak_rss_kib"].as_u64().unwrap() > 0, "{row}");
    }
    let steady = &report["steady"][0];
    assert!(steady["probes"].as_u64().unwrap() >= 20, "{steady}");
    assert_eq!(steady["failures"], 0, "{steady}");
    assert!(steady["lag_samples"].as_u64().unwrap() > 0, "{steady}");
    let share = steady["cpu_share"].as_f64().unwrap();
    assert!(share > 0.0 && share < 2.0, "{steady}");
}

#[test]
fn harness_measures_the_collector_on_a_tiny_inventory() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("report.json");
    let status = Command::new(env!("CARGO_BIN_EXE_driftvakt-bench"))
        .args(["compare", "--no-agent", "--collector-devices", "40"])
        .args(["--collector-agents", "2", "--collector-batches", "2"])
        .args(["--collector-batch-size", "100"])
        .args([
            "--history-devices",
            "40",
            "--history-outages",
            "400",
            "--json",
        ])
        .arg(&json)
        .status()
        .unwrap();
    assert!(status.success(), "driftvakt-bench compare failed: {status}");
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let ingest = &report["ingest"][0];
    assert_eq!(ingest["accepted"], 400, "{ingest}");
    assert_eq!(ingest["rejected"], 0, "{ingest}");
    assert_eq!(ingest["errors"], 0, "{ingest}");
    assert!(ingest["p99_ms"].as_f64().unwrap() > 0.0, "{ingest}");
    assert!(ingest["peak_rss_kib"].as_u64().unwrap() > 0, "{ingest}");
    let h = &report["history"];
    assert_eq!(h["outages_stored"], 400, "{h}");
    assert_eq!(h["year_report_outages"], 400, "{h}");
    assert_eq!(h["windows"], 24, "{h}");
    for k in [
        "cli_year",
        "cli_tertial",
        "http_year",
        "http_tertial",
        "metrics",
        "status",
    ] {
        let t = &h[k];
        assert!(t["wall_ms"].as_f64().unwrap() > 0.0, "{k}: {t}");
        assert!(t["bytes"].as_u64().unwrap() > 0, "{k}: {t}");
        assert!(t["peak_rss_kib"].as_u64().unwrap() > 0, "{k}: {t}");
    }
    assert!(h["start_status_ms"].as_f64().unwrap() >= h["start_healthz_ms"].as_f64().unwrap());
}
