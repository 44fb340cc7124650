//! `driftvakt-collector healthcheck` without a collector, and `driftvakt-agent healthcheck`
//! without an agent: each fails (exit 1) with the URL it asked and the reason (the image tests
//! show them passing, and failing on a 404).

use driftvakt_collector_testkit::ports::free_port;
use driftvakt_collector_testkit::process::{agent_bin, collector_bin};
use std::process::Command;

#[test]
fn healthcheck_fails_naming_the_url_when_nothing_listens() {
    let url = format!("http://127.0.0.1:{}/healthz", free_port());
    let out = Command::new(collector_bin())
        .args(["healthcheck", "--url", &url, "--timeout", "2"])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(said.contains(&url), "names the URL: {said}");
}

#[test]
fn agent_healthcheck_asks_the_configured_listener_and_names_it_when_nothing_listens() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = dir.path().join("agent.yaml");
    std::fs::write(
        &config,
        format!("agent:\n  id: a\n  listen: 0.0.0.0:{port}\ndevices: []\n"),
    )
    .unwrap();
    let out = Command::new(agent_bin())
        .args(["healthcheck", "--timeout", "2", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{said}");
    let url = format!("http://127.0.0.1:{port}/healthz");
    assert!(
        said.contains(&url),
        "asks loopback at the listener's port: {said}"
    );
}
