//! The CI-sized real-time soak: about three minutes of the real `driftvakt-agent` and
//! `driftvakt-collector` binaries (debug builds beside `driftvakt-soak` in the target folder;
//! `cargo test --workspace` builds them, as scripts/test runs it), 24 loopback devices probed
//! every 2 s, and the process faults of the plan: an agent SIGKILLed and restarted, an agent
//! SIGSTOPped inside an outage, the collector SIGKILLed and SIGSTOPped, a spool folder taken
//! away under a running agent, an agent's clock an hour ahead, the collector's disk full, the SMTP server down and
//! refusing, the webhook receiver answering 500. Every result made must be
//! stored exactly once, every outage must match the plan and, exactly, the oracle on the results
//! made, every mail the mail oracle's, and no log may hold an ERROR the plan did not cause.
//!
//! The second test runs the same plan against the PostgreSQL pair: two collector nodes on a
//! throwaway cluster, the agents listing both, the collector faults striking the node that
//! holds the leader lease, and PostgreSQL stopped where SQLite's disk fills. The two run one
//! after the other (their edges are timed to a probe interval).

use std::path::Path;
use std::process::Command;
use std::sync::Mutex;

/// One soak at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

#[test]
fn real_binaries_under_process_faults_lose_nothing_and_match_the_plan() {
    let s = soak(&[]);
    assert!(
        s["faults"]["DiskFull"].as_u64().unwrap_or(0) >= 1,
        "no DiskFull: {s}"
    );
}

#[test]
fn the_postgresql_pair_under_leader_and_database_faults_loses_nothing_and_matches_the_plan() {
    let s = soak(&["--postgres"]);
    assert_eq!(s["backend"], "postgres-pair", "{s}");
    assert!(
        s["faults"]["PostgresStop"].as_u64().unwrap_or(0) >= 1,
        "no PostgresStop: {s}"
    );
    // The collector kill and stop struck the node that led at that moment.
    let collector_faults = s["faults"]["CollectorKill"].as_u64().unwrap_or(0)
        + s["faults"]["CollectorStop"].as_u64().unwrap_or(0);
    assert_eq!(s["leaders_struck"].as_u64(), Some(collector_faults), "{s}");
}

/// Runs the CI-sized soak with `extra` arguments and checks what both backends must hold;
/// returns the summary line.
fn soak(extra: &[&str]) -> serde_json::Value {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());

    let soak = Path::new(env!("CARGO_BIN_EXE_driftvakt-soak"));
    for bin in ["driftvakt-agent", "driftvakt-collector"] {
        let path = soak.with_file_name(bin);
        assert!(
            path.is_file(),
            "{} is missing: run `cargo build -p driftvakt-agent -p driftvakt-collector` first \
             (`cargo test --workspace`, as scripts/test runs it, builds it)",
            path.display()
        );
    }
    let out = Command::new(soak)
        .args(["real", "--seed", "2", "--minutes", "3"])
        .args(["--devices", "24", "--interval", "2"])
        .args(extra)
        .output()
        .expect("driftvakt-soak runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line = stdout
        .lines()
        .last()
        .unwrap_or_else(|| panic!("no summary line: {stderr}"));
    let s: serde_json::Value =
        serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}\n{stderr}"));
    assert!(s["results_made"].as_u64().unwrap() > 1_000, "{s}");
    assert!(s["outages_expected"].as_u64().unwrap() >= 5, "{s}");
    for kind in [
        "AgentKill",
        "AgentStop",
        "CollectorKill",
        "CollectorStop",
        "SpoolDeleted",
        "ClockStep",
        "SmtpDown",
        "SmtpRefusing",
        "WebhookFailing",
    ] {
        assert!(
            s["faults"][kind].as_u64().unwrap_or(0) >= 1,
            "no {kind}: {s}"
        );
    }
    assert_eq!(s["lost"], 0, "{s}");
    assert_eq!(s["doubled"], 0, "{s}");
    assert_eq!(s["results_made"], s["stored"], "{s}");
    // What the agent stamped an hour ahead is refused, not stored.
    assert!(s["stamped_ahead"].as_u64().unwrap() >= 1, "{s}");
    assert_eq!(s["stored_ahead"], 0, "{s}");
    assert_eq!(s["outage_mismatches"], 0, "{s}");
    assert_eq!(s["exact_mismatches"], 0, "{s}");
    assert_eq!(s["twin_seen"], false, "{s}");
    assert_eq!(s["errors_unexpected"], 0, "{s}");
    assert!(s["spool_resets"].as_u64().unwrap() >= 1, "{s}");
    // The mails against the mail oracle: störning and åtgärdat to the editors, Larm and Larm
    // upphört to the service desk and on-call, each by recipient and subject.
    assert_eq!(s["mail_mismatches"], 0, "{s}");
    for kind in ["störning", "åtgärdat", "larm", "upphört"] {
        assert!(
            s["mails_by_kind"][kind][0].as_u64().unwrap_or(0) >= 1,
            "no {kind} expected: {s}"
        );
    }
    for kind in ["webhook alert", "webhook resolved"] {
        assert!(
            s["mails_by_kind"][kind][0].as_u64().unwrap_or(0) >= 1,
            "no {kind} expected: {s}"
        );
    }
    let (expected, races) = (&s["mails_expected"], &s["mail_races"]);
    let expected = expected.as_u64().unwrap() + races.as_u64().unwrap();
    assert_eq!(s["mails_received"].as_u64().unwrap(), expected, "{s}");
    assert!(out.status.success(), "{s}\n{stderr}");
    s
}
