//! Smoke run of the benchmark harness on a tiny size: the agent alone (no peers), 20 loopback
//! targets for ICMP, HTTP and TCP, and a few seconds of steady state; then the collector on a
//! tiny inventory (2 agents x 2 batches, a report over a small history); then `pipeline` with
//! the real agent and collector binaries, twice side by side, 20 devices for 8 s. Seconds, not
//! minutes.
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

/// `driftvakt-agent` or `driftvakt-collector` of this build, beside the bench binary (`cargo test
/// --workspace`, as `scripts/test` runs it, builds them before any test runs); a missing one
/// fails with what to run.
fn sibling(name: &str) -> std::path::PathBuf {
    let path = std::path::Path::new(env!("CARGO_BIN_EXE_driftvakt-bench")).with_file_name(name);
    assert!(
        path.is_file(),
        "{} is missing: run `cargo build -p driftvakt-agent -p driftvakt-collector` first",
        path.display()
    );
    path
}

#[test]
fn pipeline_measures_the_real_agent_and_collector_side_by_side() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("pipeline.json");
    let (agent, collector) = (sibling("driftvakt-agent"), sibling("driftvakt-collector"));
    let output = Command::new(env!("CARGO_BIN_EXE_driftvakt-bench"))
        .arg("pipeline")
        .arg("--agent")
        .arg(&agent)
        .arg("--collector")
        .arg(&collector)
        .arg("--old-agent")
        .arg(&agent)
        .arg("--old-collector")
        .arg(&collector)
        .args(["--devices", "20", "--interval-s", "1", "--warmup-s", "3"])
        .args(["--seconds", "8", "--json"])
        .arg(&json)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "driftvakt-bench pipeline failed: {}\n{text}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(text.contains("| old ÷ new |"), "{text}");
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let runs = report.as_array().unwrap();
    assert_eq!(runs.len(), 2);
    for run in runs {
        assert_eq!(run["log_errors"], 0, "{run}");
        let (a, c) = (&run["agent"], &run["collector"]);
        // 20 devices a second for 8 s; the collector stores what the pushes (every 5 s) bring.
        let probes = a["count"].as_f64().unwrap();
        assert!((100.0..=220.0).contains(&probes), "{run}");
        assert!(c["count"].as_f64().unwrap() > 0.0, "{run}");
        for f in [a, c] {
            assert!(f["cpu_ms_per"].as_f64().unwrap() > 0.0, "{run}");
            assert!(f["rss_end_kib"].as_u64().unwrap() > 0, "{run}");
            assert!(f["open_files_end"].as_u64().unwrap() > 3, "{run}");
        }
        assert!(a["bytes_per"].as_f64().unwrap() > 0.0, "{run}");
    }
}
