//! The namespace site rig itself, probed with the agent's own probers: every host answers ICMP,
//! the UPS answers SNMP from inside its namespace (on battery, 35 minutes left), the screen
//! answers HTTP; with the uplink down nothing answers, and everything comes back with it.

use crate::rig_site::{Role, Site};
use driftvakt_agent::config::AgentConfig;
use driftvakt_agent::probe::Probers;
use driftvakt_common::clock::SystemClock;
use std::path::Path;
use std::time::Duration;

fn snmp_file(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/snmp")
        .join(name)
}

fn agent_config(site: &Site, dir: &Path) -> AgentConfig {
    let yaml = format!(
        "agent: {{ id: rig }}
snmp_credentials:
  - id: ups
    version: v2c
    community: {{ file: ups.community }}
devices:
  - {{ id: sw, class: switch, address: {sw}, checks: [icmp] }}
  - {{ id: ap, class: access_point, address: {ap}, checks: [icmp] }}
  - id: ups
    class: ups
    address: {ups}
    checks: [icmp, {{ kind: snmp, credentials: ups }}]
  - id: screen
    class: screen
    address: {screen}
    checks: [icmp, {{ kind: http, url: 'http://{screen}/', body_contains: Lokalbokning }}]
",
        sw = site.switch_ip,
        ap = site.ip("ap"),
        ups = site.ip("ups"),
        screen = site.ip("screen"),
    );
    std::fs::write(dir.join("ups.community"), "ups-battery\n").unwrap();
    let mode = <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o600);
    std::fs::set_permissions(dir.join("ups.community"), mode).unwrap(); // owner only
    std::fs::write(dir.join("agent.yaml"), yaml).unwrap();
    AgentConfig::load(&dir.join("agent.yaml")).unwrap_or_else(|e| panic!("{e}"))
}

async fn probe_all(probers: &Probers, cfg: &AgentConfig) -> Vec<(String, bool, Option<String>)> {
    let mut out = Vec::new();
    for d in &cfg.file.devices {
        for c in d.checks() {
            let r = probers.run(d, &c, Duration::from_secs(2)).await;
            out.push((format!("{}/{}", r.target, r.check), r.ok, r.error.clone()));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosts_answer_until_the_uplink_goes_down_and_again_after() {
    let site = Site::build(
        "rig",
        &[
            ("ap", Role::Plain),
            ("ups", Role::Snmp(vec![snmp_file("ups-battery.snmprec")])),
            ("screen", Role::Http("<h1>Lokalbokning</h1>".into())),
        ],
    );
    let dir = tempfile::tempdir().unwrap();
    let cfg = agent_config(&site, dir.path());
    let probers = Probers::new(&cfg.probe_settings(), std::sync::Arc::new(SystemClock)).unwrap();
    // snmpsim and the HTTP server need a moment after start.
    let ups = &cfg.file.devices[2];
    let snmp = ups.checks()[1].clone();
    let mut last = None;
    for _ in 0..50 {
        let r = probers.run(ups, &snmp, Duration::from_secs(1)).await;
        if r.ok {
            last = Some(r);
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let ups_result = last.expect("the UPS's snmpsim in its namespace never answered");
    assert_eq!(ups_result.number("ups_runtime_minutes"), Some(35.0));
    assert!(ups_result
        .findings
        .iter()
        .any(|f| f.code == "ups_runtime_below_minimum"));

    // The screen's HTTP server may still be starting.
    let mut up = probe_all(&probers, &cfg).await;
    for _ in 0..50 {
        if up.iter().all(|(_, ok, _)| *ok) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        up = probe_all(&probers, &cfg).await;
    }
    assert!(up.iter().all(|(_, ok, _)| *ok), "all should answer: {up:?}");

    site.uplink_down();
    let down = probe_all(&probers, &cfg).await;
    assert!(
        down.iter().all(|(_, ok, _)| !*ok),
        "nothing should answer: {down:?}"
    );

    site.uplink_up();
    let back = probe_all(&probers, &cfg).await;
    assert!(
        back.iter().all(|(_, ok, _)| *ok),
        "all should answer again: {back:?}"
    );
}
