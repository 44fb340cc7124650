//! The agent's OCI image: `scripts/image --agent` builds it from this run's agent binary into a
//! storage of the test's own (the size limit is for the release build and measured by hand, see
//! BENCHMARKS.md); podman runs it in a network namespace the test creates, with only its
//! loopback, beside this run's collector binary started in the same namespace. The agent runs
//! as nobody with the test's configuration and token mounted on /etc/driftvakt, fetches its
//! devices from the collector and pushes results through its spool (the image's volume, where
//! its assignment is kept): the collector's `/api/v1/status` shows the agent seen and the
//! devices it probes up or down. The health check (`driftvakt-agent healthcheck`, the
//! configured listener's /healthz) passes within 5 s and fails, saying why, on a 404 and on a
//! configuration without `agent.listen`.

use super::image::{build, healthcheck, inspect, podman, Cleanup, TOOLS};
use super::rig::*;
use driftvakt_collector_testkit::http::get;
use driftvakt_collector_testkit::inventory::Inventory;
use driftvakt_collector_testkit::process::{agent_bin, collector_bin, wait, Proc, TOKEN_A};
use std::os::unix::fs::{chown, PermissionsExt};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// The collector's port inside the namespace.
const COLLECTOR: u16 = 8480;

/// Site s1, all of it agent a's: a printer whose TCP check asks the collector's port (up), an
/// access point answering ICMP on loopback (up), a screen whose port is closed (down).
fn inventory(dir: &Path, db: &Path) -> std::path::PathBuf {
    Inventory::new()
        .collector("database", db.display())
        .site("s1", "Stadshuset", "Ulricehamn")
        .tcp_device("prn1", "printer", "s1", COLLECTOR, "1s")
        .device("{ id: ap1, class: access_point, site: s1, address: 127.0.0.1, checks: [{ kind: icmp, count: 1, interval: 1s, timeout: 500ms }] }")
        .tcp_device("scr1", "screen", "s1", 9, "1s")
        .agent(dir, "a", TOKEN_A, "sites: [s1]")
        .write(dir)
}

/// What the container gets on /etc/driftvakt: agent a's configuration in central mode (the spool
/// at its default, the image's volume) and its token, readable by nobody only; and a
/// configuration without `agent.listen` for the failing health check.
fn agent_etc(dir: &Path) -> std::path::PathBuf {
    let etc = dir.join("agent-etc");
    std::fs::create_dir(&etc).unwrap();
    std::fs::set_permissions(&etc, std::fs::Permissions::from_mode(0o755)).unwrap();
    let config = |listen: &str| {
        format!(
            "agent:\n  id: a\n{listen}  collector:\n    url: http://127.0.0.1:{COLLECTOR}\n    token: {{ file: /etc/driftvakt/agent.token }}\n    push_interval: 200ms\n    assignment_refresh: 1s\ndevices: []\n"
        )
    };
    std::fs::write(etc.join("agent.yaml"), config("  listen: 0.0.0.0:9464\n")).unwrap();
    std::fs::write(etc.join("no-listener.yaml"), config("")).unwrap();
    let token = etc.join("agent.token");
    std::fs::write(&token, format!("{TOKEN_A}\n")).unwrap();
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o600)).unwrap();
    chown(&token, Some(65534), Some(65534)).unwrap();
    etc
}

/// `/api/v1/status` inside `netns`, as JSON (null while it does not answer).
fn status(netns: &Netns) -> serde_json::Value {
    netns
        .run(|| get(COLLECTOR, "/api/v1/status"))
        .and_then(|body| serde_json::from_str(&body).ok())
        .unwrap_or_default()
}

/// Every device's (id, state) in `status`, sorted.
fn states(status: &serde_json::Value) -> Vec<(String, String)> {
    let mut states: Vec<(String, String)> = status["devices"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|d| {
            let field = |k: &str| d[k].as_str().unwrap_or_default().to_string();
            (field("id"), field("state"))
        })
        .collect();
    states.sort();
    states
}

/// `healthcheck ARGS` run inside the container: its exit status and what it said.
fn healthcheck_in(dir: &Path, container: &str, args: &[&str]) -> (bool, String) {
    let out = podman(dir)
        .args(["exec", container, "/usr/bin/driftvakt-agent", "healthcheck"])
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_agent_image_runs_healthy_and_its_results_reach_the_collector() {
    require_root("the agent image test");
    require_tools(&TOOLS);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let tag = format!("localhost/driftvakt-agent:test-{}", std::process::id());
    let container = format!("driftvakt-agent-test-{}", std::process::id());
    let bin_dir = agent_bin().parent().unwrap().to_path_buf();
    let built = build(dir, &["--agent"], &bin_dir, &tag);
    let config = inspect(dir, &tag);
    assert!(
        config.starts_with("65534:65534 "),
        "runs as nobody: {config}"
    );
    for wanted in [
        "/etc/driftvakt",
        "/var/spool/driftvakt",
        r#""/usr/bin/driftvakt-agent","healthcheck""#,
    ] {
        assert!(config.contains(wanted), "{wanted}: {config}");
    }

    // Declared before the cleanup, so that the container goes first, then the collector and
    // the namespace.
    let netns = Netns::create(&format!("dvagt{}", std::process::id()));
    let db = dir.join("dv.db");
    let inventory = inventory(dir, &db);
    let log = dir.join("collector.log");
    let mut collector = netns.run(|| {
        let mut cmd = Command::new(collector_bin());
        cmd.args(["run", "--config"])
            .arg(&inventory)
            .args(["--listen", &format!("127.0.0.1:{COLLECTOR}")])
            .arg("--database")
            .arg(&db);
        Proc::spawn("collector", &mut cmd, &log)
    });
    wait("the collector's /healthz", Duration::from_secs(20), || {
        collector.assert_running();
        netns.run(|| get(COLLECTOR, "/healthz")).is_some()
    });
    let etc = agent_etc(dir);
    let _cleanup = Cleanup {
        dir,
        container: container.clone(),
        image: tag.clone(),
    };

    let run = Instant::now();
    run_ok(podman(dir).args([
        "run",
        "--detach",
        "--name",
        &container,
        &format!("--network=ns:{}", netns.path().display()),
        "--ulimit=nofile=1024:1024",
        "--ulimit=nproc=1024:1024",
        // Datagram ICMP for the unprivileged user, in the container's own namespace only.
        "--sysctl=net.ipv4.ping_group_range=0 2147483647",
        &format!("--volume={}:/etc/driftvakt:ro", etc.display()),
        &tag,
    ]));
    let logs = || stdout_of(podman(dir).args(["logs", &container]));
    let healthy = loop {
        let out = healthcheck(dir, &container);
        if out.status.success() {
            break run.elapsed();
        }
        assert!(
            run.elapsed() < Duration::from_secs(5),
            "not healthy within 5 s: {}{}\nlogs: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    };

    let want: Vec<(String, String)> = [("ap1", "up"), ("prn1", "up"), ("scr1", "down")]
        .iter()
        .map(|(id, state)| (id.to_string(), state.to_string()))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(45);
    let seen = loop {
        let status = status(&netns);
        if states(&status) == want && status["agents_last_seen"]["a"].is_string() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the agent's results did not arrive as expected within 45 s: {status}\nagent logs: {}\n{}",
            logs(),
            collector.describe()
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    let probed = run.elapsed();
    assert_eq!(
        seen["agents_last_seen"].as_object().map(|o| o.len()),
        Some(1),
        "only agent a reports: {seen}"
    );

    // The spool is the image's volume, and the assignment is kept there.
    let mounts = stdout_of(podman(dir).args([
        "container",
        "inspect",
        "--format",
        "{{range .Mounts}}{{.Destination}}={{.Source}} {{end}}",
        &container,
    ]));
    let spool = mounts
        .split_whitespace()
        .find_map(|m| m.strip_prefix("/var/spool/driftvakt="))
        .unwrap_or_else(|| panic!("no volume on /var/spool/driftvakt: {mounts}"));
    let assignment = std::fs::read_to_string(Path::new(spool).join("assignment.json"))
        .unwrap_or_else(|e| panic!("{spool}/assignment.json: {e}"));
    assert!(assignment.contains("prn1"), "{assignment}");

    // The health check fails, saying why, on a 404 and without a listener to ask.
    let (ok, said) = healthcheck_in(dir, &container, &["--url", "http://127.0.0.1:9464/nope"]);
    assert!(!ok && said.contains("/nope: answered 404"), "{said}");
    let (ok, said) = healthcheck_in(
        dir,
        &container,
        &["--config", "/etc/driftvakt/no-listener.yaml"],
    );
    assert!(!ok && said.contains("agent.listen is not set"), "{said}");

    run_ok(podman(dir).args(["stop", "--time=10", &container]));
    collector.assert_running();
    let size = stdout_of(podman(dir).args(["image", "inspect", "--format", "{{.Size}}", &tag]));
    eprintln!(
        "agent image: built {:.1} s ({} bytes, debug binary stripped), healthy {:.2} s after podman run, results stored after {:.1} s",
        built.as_secs_f64(),
        size.trim(),
        healthy.as_secs_f64(),
        probed.as_secs_f64()
    );
}
