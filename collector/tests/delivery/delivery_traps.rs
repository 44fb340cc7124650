//! SNMP traps end to end with the real binaries: an APC on a node site (snmpsim recording)
//! switches to battery and sends `upsOnBattery` (net-snmp's `snmptrap`) to the agent in
//! central mode, whose push interval is an hour. The poll the trap triggers reaches the
//! collector within 2 s of the trap, with `ups_on_battery` and the four-hour node finding
//! (`ups_runtime_below_minimum`) that the poll confirms.

use driftvakt_collector_testkit::files::owner_only;
use driftvakt_collector_testkit::inventory::Inventory;
use driftvakt_collector_testkit::ports::free_port;
use driftvakt_collector_testkit::process::*;
use driftvakt_collector_testkit::results_db::database;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const COMMUNITY: &str = "trap-community-e2e";

fn recordings() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/snmp")
}

/// `snmpsimd` serving `ups-apc-mains.snmprec` on 127.0.0.1:`port` (its process group killed
/// on drop); the data folder, to switch the recording.
struct Snmpsim {
    child: Child,
    data: PathBuf,
}

impl Drop for Snmpsim {
    fn drop(&mut self) {
        // SAFETY: plain kill(2) of the process group this test started.
        unsafe { libc::kill(-(self.child.id() as i32), libc::SIGKILL) };
        let _ = self.child.wait();
    }
}

fn start_snmpsim(dir: &Path, port: u16) -> Snmpsim {
    use std::os::unix::fs::PermissionsExt;
    let data = dir.join("data");
    let cache = dir.join("cache");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::create_dir_all(&cache).unwrap();
    std::fs::copy(
        recordings().join("ups-apc-mains.snmprec"),
        data.join("ups-apc-mains.snmprec"),
    )
    .unwrap();
    for (p, mode) in [(dir, 0o755), (&data, 0o755), (&cache, 0o777)] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    let file = data.join("ups-apc-mains.snmprec");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let bin = ["snmpsim-command-responder", "snmpsimd"]
        .into_iter()
        .find(|b| {
            Command::new("sh")
                .args(["-c", &format!("command -v {b}")])
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .expect("snmpsim is missing: install the Debian package `snmpsim`");
    let log = std::fs::File::create(dir.join("snmpsim.log")).unwrap();
    let child = Command::new(bin)
        .arg(format!("--data-dir={}", data.display()))
        .arg(format!("--cache-dir={}", cache.display()))
        .arg(format!("--agent-udpv4-endpoint=127.0.0.1:{port}"))
        .args(["--process-user=nobody", "--process-group=nogroup"])
        .stdout(Stdio::from(log.try_clone().unwrap()))
        .stderr(Stdio::from(log))
        .process_group(0)
        .spawn()
        .expect("start snmpsim");
    Snmpsim { child, data }
}

impl Snmpsim {
    /// Serves the battery recording under the mains community from now on (newer mtime, so
    /// snmpsim reads it again).
    fn switch_to_battery(&self) {
        let path = self.data.join("ups-apc-mains.snmprec");
        let old = std::fs::metadata(&path).unwrap().modified().unwrap();
        let battery =
            std::fs::read_to_string(recordings().join("ups-apc-battery.snmprec")).unwrap();
        std::fs::write(&path, battery).unwrap();
        let f = std::fs::File::options().write(true).open(&path).unwrap();
        f.set_modified(old + Duration::from_secs(3)).unwrap();
    }
}

fn snmptrap(dir: &Path, port: u16, oid: &str) {
    assert!(
        Path::new("/usr/bin/snmptrap").exists(),
        "/usr/bin/snmptrap is missing: install the Debian package `snmp`"
    );
    let out = Command::new("snmptrap")
        .args([
            "-v",
            "2c",
            "-c",
            COMMUNITY,
            &format!("127.0.0.1:{port}"),
            "",
            oid,
        ])
        .env("MIBS", "")
        .env("SNMP_PERSISTENT_DIR", dir.join("net-snmp"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Results of the UPS's SNMP check at the collector, degraded by `finding` (among the
/// cause's comma-separated codes).
fn stored_with(db: &Path, finding: &str) -> i64 {
    database(db)
        .query_row(
            "SELECT COUNT(*) FROM dv_results WHERE target = 'ups1' AND check_name = 'snmp' \
             AND ok = 1 AND degraded = 1 AND ',' || cause || ',' LIKE ?1",
            [format!("%,{finding},%")],
            |r| r.get(0),
        )
        .unwrap_or(0)
}

fn agent_config(dir: &Path, collector_port: u16, metrics_port: u16, trap_port: u16) -> PathBuf {
    std::fs::create_dir_all(dir.join("spool")).unwrap();
    owner_only(&dir.join("token"), &format!("{TOKEN_A}\n"));
    owner_only(&dir.join("ups.community"), "ups-apc-mains\n");
    owner_only(&dir.join("trap.community"), &format!("{COMMUNITY}\n"));
    let yaml = format!(
        "agent:\n  id: a\n  listen: 127.0.0.1:{metrics_port}\n  collector:\n    url: http://127.0.0.1:{collector_port}\n    \
         token: {{ file: token }}\n    push_interval: 1h\n    assignment_refresh: 1h\n  spool:\n    dir: spool\n  \
         traps:\n    listen: 127.0.0.1:{trap_port}\n    communities: [{{ file: trap.community }}]\ndevices: []\n"
    );
    let path = dir.join("agent.yaml");
    std::fs::write(&path, yaml).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread")]
async fn a_ups_on_battery_trap_reaches_the_collector_within_two_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("dv.db");
    let sim_port = free_udp_port();
    let sim = start_snmpsim(&dir.path().join("sim"), sim_port);
    wait("snmpsim answers", Duration::from_secs(20), || {
        answers(sim_port)
    });
    let port = free_port();
    let inventory = Inventory::new()
        .collector("database", db.display())
        .site_yaml("{ id: s1, name: Stadshuset, municipality: Ulricehamn, node: true }")
        .section("snmp_credentials:\n  - { id: ups, version: v2c, community: { file: ups.community } }\n")
        .device(&format!(
            "{{ id: ups1, class: ups, site: s1, address: 127.0.0.1, interval: 1h, checks: [{{ kind: snmp, credentials: ups, port: {sim_port} }}] }}"
        ))
        .agent(dir.path(), "a", TOKEN_A, "sites: [s1]")
        .write(dir.path());
    owner_only(&dir.path().join("ups.community"), "ups-apc-mains\n");
    let _collector =
        start_collector(&inventory, port, &db, &dir.path().join("collector.log")).await;
    let trap_port = free_udp_port();
    let agent_dir = dir.path().join("agent");
    let config = agent_config(&agent_dir, port, free_port(), trap_port);
    let agent_log = dir.path().join("agent.log");
    let mut agent = start_agent(&config, &agent_log);
    wait(
        "the agent probes its assignment and receives traps",
        Duration::from_secs(20),
        || {
            let log = read_log(&agent_log);
            log.contains("receiving SNMP traps") && log.contains("checks=1")
        },
    );
    // Let the agent's first push pass (at start) go by: the next one is an hour away.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(stored_with(&db, "ups_on_battery"), 0);

    sim.switch_to_battery();
    let sent = Instant::now();
    snmptrap(dir.path(), trap_port, "1.3.6.1.4.1.318.0.5");
    while stored_with(&db, "ups_on_battery") == 0 {
        assert!(
            sent.elapsed() < Duration::from_secs(10),
            "no ups_on_battery at the collector after 10 s (stored: {:?}); agent log:\n{}\ncollector log:\n{}",
            database(&db).query_row(
                "SELECT COUNT(*), MAX(cause) FROM dv_results",
                [],
                |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Option<String>>(1)?))
            ),
            read_log(&agent_log),
            read_log(&dir.path().join("collector.log"))
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let took = sent.elapsed();
    eprintln!("ups_on_battery at the collector {took:?} after the trap was sent");
    assert!(
        took < Duration::from_secs(2),
        "ups_on_battery took {took:?} to reach the collector; agent log:\n{}",
        read_log(&agent_log)
    );
    assert!(
        stored_with(&db, "ups_runtime_below_minimum") > 0,
        "the four-hour node finding comes with the confirming poll"
    );
    agent.assert_running();
}

/// net-snmp's `snmpget` of sysUpTime.0 gets an answer.
fn answers(port: u16) -> bool {
    Command::new("snmpget")
        .args(["-v", "2c", "-c", "ups-apc-mains", "-t", "0.3", "-r", "0"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("1.3.6.1.2.1.1.3.0")
        .env("MIBS", "")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn free_udp_port() -> u16 {
    let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    s.local_addr().unwrap().port()
}
