//! configs/driftvakt-collector.service starts: its `ExecStartPre=` (check-config) exits 0 and
//! its `ExecStart=` (run) keeps running, serves /healthz and stops cleanly on SIGTERM, with the
//! built binary and the demo config (loopback only) in place of the installed ones;
//! `systemd-analyze verify` finds nothing wrong with the file. `check-config` takes the file
//! positionally and as `--config`.

use driftvakt_collector_testkit::http::http_status;
use driftvakt_collector_testkit::ports::free_port;
use driftvakt_collector_testkit::units::*;
use std::path::Path;

const INSTALLED_BIN: &str = "/usr/bin/driftvakt-collector";
const INSTALLED_CONFIG: &str = "/etc/driftvakt/collector.yaml";

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_driftvakt-collector"))
}

/// The demo config (an embedded agent probing loopback addresses, mail to an outbox folder)
/// with its listener on `port` and its database in `dir`.
fn demo_config(dir: &Path, port: u16) -> std::path::PathBuf {
    let demo = std::fs::read_to_string(configs().join("demo.yaml")).unwrap();
    assert!(demo.contains("127.0.0.1:8480"), "the demo listens on 8480");
    assert!(demo.contains("database: data/demo.db"));
    std::fs::create_dir_all(dir.join("data")).unwrap();
    let path = dir.join("collector.yaml");
    let text = demo
        .replace("127.0.0.1:8480", &format!("127.0.0.1:{port}"))
        .replace(
            "database: data/demo.db",
            &format!("database: {}", dir.join("data/demo.db").display()),
        );
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn the_collector_unit_starts_runs_and_stops() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = demo_config(tmp.path(), port);
    let unit = Unit::read(&configs().join("driftvakt-collector.service"));
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
    assert!(
        tmp.path().join("data/demo.db").exists(),
        "the database was created"
    );
    verify(&unit, INSTALLED_BIN, bin(), tmp.path());
}

#[test]
fn check_config_takes_the_file_positionally_or_as_config_but_exactly_once() {
    let tmp = tempfile::tempdir().unwrap();
    let config = demo_config(tmp.path(), free_port());
    let config = config.to_str().unwrap();
    check_config_forms(bin(), config, &["-c"]);
}
