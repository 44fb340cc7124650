//! The collector's OCI image: `scripts/image` builds it with buildah from scratch from this
//! run's binary (stripped; the size limit is for the release build and measured by hand, see
//! BENCHMARKS.md), into a storage of the test's own; podman runs it as in the README (runc)
//! inside a network namespace the test creates, with only its loopback (no bridge, no traffic
//! leaves it); its health check passes within 5 s of the start, it runs as nobody with its
//! config and data as volumes, and the demo inventory is probed (the screen whose HTTP check
//! asks the collector itself is up, the one whose port is closed goes down, the loopback
//! addresses answer ICMP), read from `/api/v1/status` inside that namespace.

use super::rig::*;
use driftvakt_collector_testkit::http::get;
use driftvakt_collector_testkit::process::collector_bin;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

pub(super) const TOOLS: [(&str, &str); 4] = [
    ("/usr/bin/buildah", "buildah"),
    ("/usr/sbin/ip", "iproute2"),
    ("/usr/bin/podman", "podman"),
    ("/usr/sbin/runc", "runc"),
];

/// Global options that keep buildah's and podman's images and containers in `dir`.
pub(super) fn storage(dir: &Path) -> Vec<String> {
    vec![
        format!("--root={}", dir.join("storage").display()),
        format!("--runroot={}", dir.join("run").display()),
        "--storage-driver=vfs".to_string(),
    ]
}

/// podman with the test's storage, runc, no systemd (cgroupfs, events in a file).
pub(super) fn podman(dir: &Path) -> Command {
    let mut cmd = Command::new("podman");
    cmd.args(storage(dir)).args([
        "--runtime=runc",
        "--cgroup-manager=cgroupfs",
        "--events-backend=file",
    ]);
    cmd
}

/// Removes the container and the image even when the test fails.
pub(super) struct Cleanup<'a> {
    pub dir: &'a Path,
    pub container: String,
    pub image: String,
}

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        let _ = podman(self.dir)
            .args(["rm", "--force", "--time=2", &self.container])
            .output();
        let _ = podman(self.dir)
            .args(["rmi", "--force", &self.image])
            .output();
    }
}

pub(super) fn healthcheck(dir: &Path, container: &str) -> Output {
    podman(dir)
        .args(["healthcheck", "run", container])
        .output()
        .unwrap()
}

/// Every device's state in the collector's `/api/v1/status`, asked inside `netns` (empty when
/// it does not answer yet).
fn device_states(netns: &Netns) -> Vec<(String, String)> {
    let Some(body) = netns.run(|| get(8480, "/api/v1/status")) else {
        return Vec::new();
    };
    let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
    let devices = v["devices"].as_array().cloned().unwrap_or_default();
    devices
        .iter()
        .map(|d| {
            let field = |k: &str| d[k].as_str().unwrap_or_default().to_string();
            (field("id"), field("state"))
        })
        .collect()
}

/// What the demo inventory shows once probed: ICMP to loopback addresses up, the printer
/// without its port degraded, the screen asking the collector up, the closed port down.
const DEMO: [(&str, &str); 7] = [
    ("sw-stadshuset-core", "up"),
    ("ap-stadshuset-1", "up"),
    ("ap-stadshuset-2", "up"),
    ("ups-stadshuset", "up"),
    ("skrivare-stadshuset-plan2", "degraded"),
    ("skarm-biblioteket-entre", "up"),
    ("skarm-biblioteket-bokning", "down"),
];

/// Builds image `tag` with `scripts/image` (`args` first, then the binaries of `bin_dir`) into
/// the test's own storage under `dir`; the script prints the tag. Returns how long it took.
pub fn build(dir: &Path, args: &[&str], bin_dir: &Path, tag: &str) -> Duration {
    let started = Instant::now();
    let printed = stdout_of(
        Command::new(repo().join("scripts/image"))
            .args(args)
            .arg("--bin-dir")
            .arg(bin_dir)
            .args(["--tag", tag, "--"])
            .args(storage(dir)),
    );
    assert_eq!(printed.trim(), tag);
    started.elapsed()
}

/// The image's user, volumes and health check, as `podman image inspect` formats them.
pub fn inspect(dir: &Path, tag: &str) -> String {
    stdout_of(podman(dir).args([
        "image",
        "inspect",
        "--format",
        "{{.Config.User}} {{json .Config.Volumes}} {{json .HealthCheck.Test}}",
        tag,
    ]))
}

#[test]
fn the_collector_image_runs_healthy_and_probes_the_demo_inventory() {
    require_root("the image test");
    require_tools(&TOOLS);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let tag = format!("localhost/driftvakt-collector:test-{}", std::process::id());
    let container = format!("driftvakt-test-{}", std::process::id());
    let bin_dir = collector_bin().parent().unwrap().to_path_buf();
    let built = build(dir, &[], &bin_dir, &tag);
    // Declared before the cleanup, so that the container goes first and the namespace after.
    let netns = Netns::create(&format!("dvimg{}", std::process::id()));
    let _cleanup = Cleanup {
        dir,
        container: container.clone(),
        image: tag.clone(),
    };
    let config = inspect(dir, &tag);
    assert!(
        config.starts_with("65534:65534 "),
        "runs as nobody: {config}"
    );
    for wanted in ["/etc/driftvakt", "/var/lib/driftvakt", "healthcheck"] {
        assert!(config.contains(wanted), "{wanted}: {config}");
    }

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
        &tag,
    ]));
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
            stdout_of(podman(dir).args(["logs", &container]))
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut want: Vec<(String, String)> = DEMO
        .iter()
        .map(|(id, state)| (id.to_string(), state.to_string()))
        .collect();
    want.sort();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut states = device_states(&netns);
        states.sort();
        if states == want {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the demo inventory is not probed as expected within 60 s: {states:?}\nlogs: {}",
            stdout_of(podman(dir).args(["logs", &container]))
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let probed = run.elapsed();
    // The health check fails, naming the URL and the answer, where /healthz is not 200.
    let out = podman(dir)
        .args([
            "exec",
            &container,
            "/usr/bin/driftvakt-collector",
            "healthcheck",
        ])
        .args(["--url", "http://127.0.0.1:8480/no-such-page"])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && said.contains("/no-such-page: answered 404"),
        "healthcheck on a 404: {} {said}",
        out.status
    );
    run_ok(podman(dir).args(["stop", "--time=10", &container]));
    let size = stdout_of(podman(dir).args(["image", "inspect", "--format", "{{.Size}}", &tag]));
    eprintln!(
        "image: built {:.1} s ({} bytes, debug binary stripped), healthy {:.2} s after podman run, demo probed after {:.1} s",
        built.as_secs_f64(),
        size.trim(),
        healthy.as_secs_f64(),
        probed.as_secs_f64()
    );
}
