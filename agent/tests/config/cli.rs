//! The `driftvakt-agent` binary as scripts use it: `probe --once` prints one JSON result a line
//! and exits 0 even when targets are down; `check-config` exits 0 for a valid file and 2 with
//! file:line messages for a broken one.

use driftvakt_common::wire::ProbeResult;
use std::path::Path;
use std::process::Command;

fn agent() -> Command {
    Command::new(env!("CARGO_BIN_EXE_driftvakt-agent"))
}

fn repo(path: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(path)
        .display()
        .to_string()
}

#[test]
fn probe_once_prints_json_lines_and_exits_zero_with_targets_down() {
    let out = agent()
        .args([
            "probe",
            "--once",
            "--config",
            &repo("configs/demo-agent.yaml"),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let results: Vec<ProbeResult> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(results.len(), 7, "one line per check of the demo");
    let jetdirect = results.iter().find(|r| r.check == "jetdirect").unwrap();
    assert!(!jetdirect.ok);
    assert_eq!(jetdirect.error.as_deref(), Some("connection_refused"));
    let switch = results.iter().find(|r| r.target == "sw-demo-core").unwrap();
    assert!(switch.ok && switch.number("icmp_rtt_avg_seconds").is_some());
}

#[test]
fn check_config_accepts_the_example_and_names_lines_in_a_broken_file() {
    let ok = agent()
        .args(["check-config", &repo("configs/demo-agent.yaml")])
        .env("DRIFTVAKT_SNMP_COMMUNITY", "public")
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    // The example names production files (/etc/driftvakt/agent.token); check-config resolves
    // secrets as `run` does, so on a machine without them it names the line of each.
    let example = agent()
        .args(["check-config", &repo("configs/agent.example.yaml")])
        .env("DRIFTVAKT_SNMP_COMMUNITY", "public")
        .output()
        .unwrap();
    assert_eq!(example.status.code(), Some(2));
    let err = String::from_utf8_lossy(&example.stderr);
    assert!(
        err.contains("agent.example.yaml:14:5: agent.collector.token: cannot read secret file /etc/driftvakt/agent.token"),
        "{err}"
    );
    let bad = agent()
        .args([
            "check-config",
            &repo("agent/tests/bad_configs/unknown_key.yaml"),
        ])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains("unknown_key.yaml:6:5: devices[0].intervall: unknown field `intervall`"),
        "{err}"
    );
}

#[test]
fn check_config_refuses_a_device_id_the_wire_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("agent.yaml");
    let id = "d".repeat(200);
    std::fs::write(
        &file,
        format!("agent: {{ id: a }}\ndevices:\n  - {{ id: {id}, class: switch, address: 127.0.0.1, checks: [icmp] }}\n"),
    )
    .unwrap();
    let out = agent().arg("check-config").arg(&file).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("agent.yaml:3:11: devices[0]: device id `dddddddddddddddddddddddddddddddddddddddd…`: 200 characters, at most 128"),
        "{err}"
    );
}

#[test]
fn check_config_refuses_radius_secrets_and_a_sip_ca_file_that_run_could_not_read() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let open = dir.path().join("radius.secret");
    std::fs::write(&open, "delad-hemlighet\n").unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o644)).unwrap();
    let file = dir.path().join("agent.yaml");
    std::fs::write(
        &file,
        "agent: { id: a }\ndevices:\n  - id: nps-1\n    class: service\n    address: 127.0.0.1\n    checks:\n      - kind: radius\n        user: wifitest\n        secret: { file: radius.secret }\n        password: { file: missing.password }\n  - id: vx-1\n    class: service\n    address: 127.0.0.1\n    checks:\n      - { kind: sip, transport: tls, ca_file: no-such-ca.pem }\n",
    )
    .unwrap();
    let out = agent().arg("check-config").arg(&file).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    for expected in [
        "agent.yaml:7:7: devices[0].checks[0].kind: device `nps-1`: radius check: secret: secret file",
        "has mode 0644: group and others can read it",
        "device `nps-1`: radius check: password: cannot read secret file",
        "agent.yaml:15:7: devices[1].checks[0]: device `vx-1`: sip check ca_file: cannot read",
        "no-such-ca.pem",
    ] {
        assert!(err.contains(expected), "{expected}\nin\n{err}");
    }
}
