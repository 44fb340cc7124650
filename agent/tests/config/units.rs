//! configs/driftvakt-agent.service starts: its `ExecStartPre=` (check-config) exits 0 and its
//! `ExecStart=` (run) keeps running, serves /healthz and stops cleanly on SIGTERM, with the built
//! binary and the demo config in place of the installed ones; `systemd-analyze verify` finds
//! nothing wrong with the file. `check-config` takes the file positionally and as `--config`.

use driftvakt_testkit::http::http_status;
use driftvakt_testkit::ports::free_port;
use driftvakt_testkit::units::*;
use std::path::Path;

const INSTALLED_BIN: &str = "/usr/bin/driftvakt-agent";
const INSTALLED_CONFIG: &str = "/etc/driftvakt/agent.yaml";

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_driftvakt-agent"))
}

/// The demo config (loopback targets only) with its listener on `port`.
fn demo_config(dir: &Path, port: u16) -> std::path::PathBuf {
    let demo = std::fs::read_to_string(configs().join("demo-agent.yaml")).unwrap();
    assert!(demo.contains("127.0.0.1:9464"), "the demo listens on 9464");
    let path = dir.join("agent.yaml");
    std::fs::write(
        &path,
        demo.replace("127.0.0.1:9464", &format!("127.0.0.1:{port}")),
    )
    .unwrap();
    path
}

#[test]
fn the_agent_unit_starts_runs_and_stops() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = demo_config(tmp.path(), port);
    let unit = Unit::read(&configs().join("driftvakt-agent.service"));
    assert!(unit.text.contains("\nLimitNOFILE=65536\n"), "{}", unit.text);
    for pre in &unit.exec_start_pre {
        run_pre(
            &substitute(pre, INSTALLED_BIN, bin(), INSTALLED_CONFIG, &config),
            tmp.path(),
        );
    }
    let start = substitute(
        &unit.exec_start,
        INSTALLED_BIN,
        bin(),
        INSTALLED_CONFIG,
        &config,
    );
    run_start(&start, tmp.path(), || {
        http_status(&format!("127.0.0.1:{port}"), "/healthz") == Some(200)
    });
    verify(&unit, INSTALLED_BIN, bin(), tmp.path());
}

#[test]
fn check_config_takes_the_file_positionally_or_as_config_but_exactly_once() {
    let tmp = tempfile::tempdir().unwrap();
    let config = demo_config(tmp.path(), free_port());
    let config = config.to_str().unwrap();
    check_config_forms(bin(), config, &[]);
}
