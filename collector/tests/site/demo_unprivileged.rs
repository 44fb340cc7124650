//! The README's demo as a newcomer runs it on a laptop: the collector with its embedded agent
//! as a normal user, without the privilege to ping. The real binary runs as `nobody` (setpriv
//! drops every capability) in a fresh network namespace, where `net.ipv4.ping_group_range` is
//! the kernel's default `1 0` (no unprivileged ping), whatever the host allows. Every ICMP
//! result fails with `permission_denied`, the agent's own fault: the devices must be unknown,
//! never down; the editors must get no störning; the IT team gets one alert about the agent;
//! and the collector says so once, loudly, at start. Needs root (to switch users and make the
//! namespace), setpriv, unshare and ip.

use driftvakt_collector::app::App;
use driftvakt_collector::clock::FixedClock;
use driftvakt_collector::inventory::Inventory;
use driftvakt_collector::state::Health;
use driftvakt_collector::store::{OutboxStore, SqliteNotifyStore, SqliteStore};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

const CONFIG: &str = r#"
collector:
  listen: 127.0.0.1:18480
  database: DIR/data/demo.db
sites:
  - { id: stadshuset, name: Stadshuset, municipality: Ulricehamn, node: true }
devices:
  - { id: sw-1, class: switch, site: stadshuset, address: 127.0.0.1, interval: 1s, timeout: 500ms, checks: [icmp] }
  - { id: ap-1, class: access_point, site: stadshuset, address: 127.0.0.2, parent: sw-1, interval: 1s, timeout: 500ms, checks: [icmp] }
  - { id: ap-2, class: access_point, site: stadshuset, address: 127.0.0.3, parent: sw-1, interval: 1s, timeout: 500ms, checks: [icmp] }
services:
  - { id: wifi, name: Trådlöst nätverk, members: [sw-1, ap-1, ap-2] }
agents:
  - { id: demo-embedded, embedded: true, sites: [stadshuset] }
notify:
  from:
    default: "IT Ulricehamn <it@ulricehamn.example.se>"
  municipalities:
    Ulricehamn:
      editors: [intranat@ulricehamn.example.se]
      service_desk: [servicedesk@ulricehamn.example.se]
      on_call: [beredskap@ulricehamn.example.se]
  hold_down: 1s
"#;

fn require_root_and_tools() {
    // SAFETY: geteuid has no preconditions.
    assert_eq!(
        unsafe { libc::geteuid() },
        0,
        "this test runs the collector as nobody and needs root to switch to it"
    );
    for tool in ["/usr/bin/setpriv", "/usr/bin/unshare", "/usr/sbin/ip"] {
        assert!(
            Path::new(tool).exists(),
            "{tool} is missing: install util-linux and iproute2"
        );
    }
}

#[test]
fn the_demo_without_ping_privilege_blames_the_agent_not_the_devices() {
    require_root_and_tools();
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let bin = dir.path().join("driftvakt-collector");
    driftvakt_collector_testkit::files::executable_copy(
        Path::new(env!("CARGO_BIN_EXE_driftvakt-collector")),
        &bin,
    );
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    // nobody writes the database and the .eml folder.
    Command::new("chown")
        .args(["nobody:nogroup"])
        .arg(&data)
        .status()
        .unwrap();
    let config = dir.path().join("demo.yaml");
    std::fs::write(
        &config,
        CONFIG.replace("DIR", &dir.path().display().to_string()),
    )
    .unwrap();
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644)).unwrap();

    let log = dir.path().join("collector.log");
    let script = format!(
        "ip link set lo up && exec setpriv --reuid=nobody --regid=nogroup --clear-groups \
         --inh-caps=-all -- {} run --config {}",
        bin.display(),
        config.display()
    );
    let mut child = Command::new("unshare")
        .args(["--net", "sh", "-c", &script])
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("start the collector in a namespace");
    std::thread::sleep(Duration::from_secs(10));
    // SAFETY: kill(2) on our own child's pid (sh exec'd into setpriv, which exec'd the binary).
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    let status = child.wait().unwrap();
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        status.success(),
        "the collector stopped cleanly: {status}\n{text}"
    );
    let loud = text.matches("ICMP checks cannot run").count();
    assert_eq!(loud, 1, "said once, loudly:\n{text}");

    // What the collector stored: read with the library, as of now.
    let db = data.join("demo.db");
    let inv = Inventory::load(&config).unwrap();
    let app = App::new(
        inv,
        Arc::new(SqliteStore::open(&db).unwrap()),
        Arc::new(FixedClock(chrono::Utc::now())),
    )
    .unwrap();
    let status = app.status().unwrap();
    for d in &status.devices {
        assert_eq!(d.state, Health::Unknown, "{} is not blamed\n{text}", d.id);
    }
    assert_eq!(status.services[0].state, Health::Unknown);
    let outbox = SqliteNotifyStore::open(&db).unwrap().list(None).unwrap();
    let subjects: Vec<&str> = outbox.iter().map(|r| r.subject.as_str()).collect();
    assert!(
        !subjects.iter().any(|s| s.contains("störning")),
        "no störning for the editors: {subjects:?}"
    );
    let about_agent: Vec<_> = outbox
        .iter()
        .filter(|r| {
            r.subject
                .starts_with("Larm: Driftvakt-agenten demo-embedded")
        })
        .collect();
    assert_eq!(about_agent.len(), 1, "{subjects:?}");
    assert_eq!(
        about_agent[0].recipient,
        "servicedesk@ulricehamn.example.se"
    );
    assert_eq!(subjects.len(), 1, "nothing else: {subjects:?}");
}
