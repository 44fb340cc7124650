//! The agent without the privilege to ping: the real binary runs as `nobody` (setpriv drops
//! every capability) in a fresh network namespace, where `net.ipv4.ping_group_range` is the
//! kernel's default `1 0` (no unprivileged ping), whatever the host allows. It must say so
//! once, loudly, with what to do, and every ICMP result must carry `permission_denied`, which
//! the wire classifies as the agent's fault, not the device's. And where the namespace allows
//! unprivileged ping (`ping_group_range` wide open, as Debian's and Ubuntu's systemd set it), the
//! same unprivileged agent pings over datagram ICMP sockets, IPv4 and IPv6, with no hint at all.
//! Needs root (to switch users and make the namespace), setpriv and unshare (util-linux), ip
//! (iproute2) and sysctl (procps).

use driftvakt_common::wire::{ErrorKind, ProbeResult};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const HINT_LINE: &str = "ICMP checks cannot run";

/// The binary and a config, in a folder `nobody` can read and execute from.
struct Setup {
    _dir: tempfile::TempDir,
    bin: PathBuf,
    config: PathBuf,
}

fn setup() -> Setup {
    // SAFETY: geteuid has no preconditions.
    assert_eq!(
        unsafe { libc::geteuid() },
        0,
        "this test runs the agent as nobody and needs root to switch to it (run the tests as root)"
    );
    for tool in ["/usr/bin/setpriv", "/usr/bin/unshare"] {
        assert!(
            Path::new(tool).exists(),
            "{tool} is missing: install util-linux"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let bin = dir.path().join("driftvakt-agent");
    driftvakt_testkit::files::executable_copy(
        Path::new(env!("CARGO_BIN_EXE_driftvakt-agent")),
        &bin,
    );
    let config = dir.path().join("agent.yaml");
    std::fs::write(
        &config,
        "agent:\n  id: unprivileged\ndevices:\n".to_string()
            + &(1..=3)
                .map(|i| {
                    format!(
                        "  - id: sw-{i}\n    class: switch\n    address: 127.0.0.{i}\n    \
                         interval: 1s\n    timeout: 500ms\n    checks: [icmp]\n"
                    )
                })
                .collect::<String>(),
    )
    .unwrap();
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644)).unwrap();
    Setup {
        _dir: dir,
        bin,
        config,
    }
}

/// `unshare --net setpriv ... agent args`: both exec, so the child's pid is the agent's.
fn as_nobody(s: &Setup, args: &[&str]) -> Command {
    let mut c = Command::new("/usr/bin/unshare");
    c.args([
        "--net",
        "--",
        "/usr/bin/setpriv",
        "--reuid=nobody",
        "--regid=nogroup",
        "--clear-groups",
        "--",
    ])
    .arg(&s.bin)
    .args(args)
    .current_dir(s.bin.parent().unwrap())
    .env("RUST_LOG", "info")
    .env_remove("NO_COLOR");
    c
}

/// [`as_nobody`] in a namespace whose loopback is up and whose `ping_group_range` lets every
/// group ping: the setup is a shell inside the new namespace, as root, before it drops to nobody.
fn as_nobody_allowed_to_ping(s: &Setup, args: &[&str]) -> Command {
    for tool in ["/usr/sbin/ip", "/usr/sbin/sysctl"] {
        assert!(
            Path::new(tool).exists(),
            "{tool} is missing: install iproute2 and procps"
        );
    }
    let mut c = Command::new("/usr/bin/unshare");
    c.args([
        "--net",
        "--",
        "/bin/sh",
        "-ec",
        "/usr/sbin/ip link set lo up; \
         /usr/sbin/sysctl -q -w net.ipv4.ping_group_range='0 2147483647'; \
         exec /usr/bin/setpriv --reuid=nobody --regid=nogroup --clear-groups -- \"$@\"",
        "sh",
    ])
    .arg(&s.bin)
    .args(args)
    .current_dir(s.bin.parent().unwrap())
    .env("RUST_LOG", "info")
    .env_remove("NO_COLOR");
    c
}

fn hint_lines(stderr: &str) -> Vec<&str> {
    stderr.lines().filter(|l| l.contains(HINT_LINE)).collect()
}

fn assert_the_hint(stderr: &str) {
    let lines = hint_lines(stderr);
    assert_eq!(lines.len(), 1, "exactly one line about it:\n{stderr}");
    let line = lines[0];
    for says in [
        "ERROR",
        "3 of them, IPv4",
        "root",
        "setcap cap_net_raw+ep",
        "CAP_NET_RAW",
        "net.ipv4.ping_group_range",
        "permission_denied",
    ] {
        assert!(line.contains(says), "the line says {says:?}: {line}");
    }
}

#[test]
fn probe_once_as_nobody_says_once_what_to_do_and_results_are_the_agents_fault() {
    let s = setup();
    let config = s.config.display().to_string();
    let out = as_nobody(&s, &["probe", "--once", "--config", &config])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{}: {stderr}", out.status);
    assert_the_hint(&stderr);
    let results: Vec<ProbeResult> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(results.len(), 3, "{stderr}");
    for r in &results {
        assert!(!r.ok, "{r:?}");
        assert_eq!(r.error.as_deref(), Some("permission_denied"), "{r:?}");
        assert_eq!(r.error_kind(), Some(ErrorKind::PermissionDenied));
        assert!(r.is_agent_fault(), "{r:?}");
        let detail = r.detail.as_deref().unwrap_or_default();
        assert!(detail.contains("CAP_NET_RAW"), "{detail}");
    }
}

#[test]
fn run_as_nobody_logs_the_error_once_not_once_per_probe() {
    let s = setup();
    let config = s.config.display().to_string();
    let log = s.bin.parent().unwrap().join("run.log");
    let mut child = as_nobody(&s, &["run", "--config", &config])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    // Three devices at 1 s: a dozen probes or so.
    std::thread::sleep(Duration::from_millis(3500));
    assert!(
        child.try_wait().unwrap().is_none(),
        "the agent keeps running without ICMP privilege:\n{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    // SAFETY: kill(2) on our own child.
    assert_eq!(
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) },
        0
    );
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "no exit within 15 s of SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    let stderr = std::fs::read_to_string(&log).unwrap();
    assert!(status.success(), "{status}: {stderr}");
    assert_the_hint(&stderr);
    let errors = stderr.lines().filter(|l| l.contains("ERROR")).count();
    assert_eq!(errors, 1, "one error line in all:\n{stderr}");
}

#[test]
fn where_ping_group_range_allows_it_nobody_pings_over_datagram_sockets() {
    let s = setup();
    let mut config = std::fs::read_to_string(&s.config).unwrap();
    config.push_str(
        "  - id: sw-v6\n    class: switch\n    address: \"::1\"\n    interval: 1s\n    \
         timeout: 500ms\n    checks: [icmp]\n",
    );
    std::fs::write(&s.config, config).unwrap();
    let path = s.config.display().to_string();
    let out = as_nobody_allowed_to_ping(&s, &["probe", "--once", "--config", &path])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{}: {stderr}", out.status);
    assert!(
        hint_lines(&stderr).is_empty(),
        "no privilege hint where ping is allowed:\n{stderr}"
    );
    let results: Vec<ProbeResult> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(results.len(), 4, "{stderr}");
    for r in &results {
        assert!(
            r.ok,
            "nobody pings {} over a datagram socket: {r:?}",
            r.target
        );
        assert_eq!(r.error, None, "{r:?}");
        let received = r.values.get("icmp_received");
        assert!(
            received.is_some_and(
                |v| matches!(v, driftvakt_common::wire::Value::Number(n) if *n >= 1.0)
            ),
            "echo replies counted for {}: {:?}",
            r.target,
            r.values
        );
    }
    assert!(results.iter().any(|r| r.target == "sw-v6"), "IPv6 too");
}
