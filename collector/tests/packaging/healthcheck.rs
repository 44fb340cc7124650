//! `driftvakt-collector healthcheck` without a collector: it fails (exit 1) with the URL it
//! asked and the reason (the image test shows it passing, and failing on a 404).

use driftvakt_collector_testkit::ports::free_port;
use driftvakt_collector_testkit::process::collector_bin;
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
