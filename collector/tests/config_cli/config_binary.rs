//! The configuration as the real binary reads it, and the wire's rules beside it:
//! - `check-config` refuses every id and name the wire refuses (length, control and
//!   bidirectional formatting characters, `/`) with file:line:key, by the same function;
//! - a batch holding one result the wire refuses (an over-long target) is stored but for that
//!   result, which the reply names.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_driftvakt-collector");
const TOKEN: &str = "wire-token-0123456789abcdef";

fn collector() -> Command {
    Command::new(BIN)
}

/// Kills the collector when dropped, so a failing test leaves no process behind.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn write_secret(dir: &Path, name: &str, value: &str) {
    let p = dir.join(name);
    std::fs::write(&p, format!("{value}\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
}

fn check_config(dir: &Path, yaml: &str) -> Output {
    std::fs::write(dir.join("c.yaml"), yaml).unwrap();
    collector()
        .current_dir(dir)
        .args(["check-config", "c.yaml"])
        .output()
        .unwrap()
}

fn inventory(devices: &str) -> String {
    let devices = if devices.is_empty() {
        "devices: []\n".to_string()
    } else {
        format!("devices:\n{devices}")
    };
    format!(
        "collector:\n  database: data/c.db\nsites:\n  - {{ id: s1, municipality: Ulricehamn }}\n{devices}agents:\n  - {{ id: a1, token_file: a1.token, sites: [s1] }}\n"
    )
}

#[test]
fn check_config_refuses_the_ids_and_names_the_wire_refuses() {
    let dir = tempfile::tempdir().unwrap();
    write_secret(dir.path(), "a1.token", TOKEN);
    let long = "d".repeat(200);
    let cases = [
        (
            format!("  - {{ id: {long}, class: switch, site: s1, address: 10.0.0.1, checks: [icmp] }}\n"),
            "c.yaml:6:11: devices[0]: device id `dddddddddddddddddddddddddddddddddddddddd…`: 200 characters, at most 128",
        ),
        (
            "  - { id: \"sw\\0\", class: switch, site: s1, address: 10.0.0.1, checks: [icmp] }\n".to_string(),
            "c.yaml:6:11: devices[0]: device id `sw\\0`: must not contain control characters",
        ),
        (
            "  - { id: \"sw\\u202E1\", class: switch, site: s1, address: 10.0.0.1, checks: [icmp] }\n".to_string(),
            "devices[0]: device id `sw\\u{202e}1`: must not contain bidirectional formatting characters",
        ),
        (
            "  - { id: s1/sw, class: switch, site: s1, address: 10.0.0.1, checks: [icmp] }\n".to_string(),
            "c.yaml:6:11: devices[0]: device id `s1/sw`: must not contain `/`",
        ),
        (
            format!(
                "  - id: sw\n    class: switch\n    site: s1\n    address: 10.0.0.1\n    checks: [{{ kind: tcp, port: 22, name: {} }}]\n",
                "c".repeat(65)
            ),
            "device `sw`: check name `cccccccccccccccccccccccccccccccccccccccc`: 65 characters, at most 64",
        ),
    ];
    for (devices, expect) in cases {
        let out = check_config(dir.path(), &inventory(&devices));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "check-config passed:\n{devices}");
        assert!(err.contains(expect), "want {expect:?} in\n{err}");
    }
    // An agent's id is on the wire too.
    let yaml = inventory("").replace("id: a1,", "id: a/1,");
    let out = check_config(dir.path(), &yaml);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("c.yaml:7:11: agents[0]: agent id `a/1`: must not contain `/`"),
        "{err}"
    );
    // The limit itself passes.
    let ok = format!(
        "  - {{ id: {}, class: switch, site: s1, address: 10.0.0.1, checks: [icmp] }}\n",
        "d".repeat(128)
    );
    let out = check_config(dir.path(), &inventory(&ok));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn start(dir: &Path, port: u16) -> Running {
    let child = collector()
        .current_dir(dir)
        .args(["run", "--config", "c.yaml", "--listen"])
        .arg(format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut running = Running(child);
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return running;
        }
        if let Some(status) = running.0.try_wait().unwrap() {
            let mut err = String::new();
            let mut pipe = running.0.stderr.take().unwrap();
            std::io::Read::read_to_string(&mut pipe, &mut err).unwrap();
            panic!("the collector exited ({status}):\n{err}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("the collector did not listen on {port}");
}

fn result(target: &str, at: chrono::DateTime<chrono::Utc>) -> serde_json::Value {
    serde_json::json!({
        "target": target, "check": "icmp", "time": at.to_rfc3339(), "ok": true,
        "duration_ms": 0.5, "error": null, "values": {}
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn one_over_long_target_does_not_take_its_batch_mates_down() {
    let dir = tempfile::tempdir().unwrap();
    write_secret(dir.path(), "a1.token", TOKEN);
    let devices: String = (1..=4)
        .map(|i| format!("  - {{ id: sw-{i}, class: switch, site: s1, address: 10.0.0.{i}, checks: [icmp] }}\n"))
        .collect();
    std::fs::write(dir.path().join("c.yaml"), inventory(&devices)).unwrap();
    let port = free_port();
    let _collector = start(dir.path(), port);
    let now = chrono::Utc::now() - chrono::Duration::seconds(5);
    let mut results: Vec<serde_json::Value> =
        (1..=4).map(|i| result(&format!("sw-{i}"), now)).collect();
    results.insert(2, result(&"x".repeat(200), now));
    let batch = serde_json::json!({ "agent": "a1", "batch_id": "a1-1-1-5", "results": results });
    let resp = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/api/v1/results"))
        .bearer_auth(TOKEN)
        .json(&batch)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let reply: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(reply["accepted"], 4, "{reply}");
    assert_eq!(reply["rejected"][0]["index"], 2, "{reply}");
    assert_eq!(
        reply["rejected"][0]["reason"],
        "invalid result: results[2].target: 200 characters, at most 128"
    );
    // What the database holds, read by the binary's own `db stats`.
    let stats = collector()
        .current_dir(dir.path())
        .args(["db", "stats", "--config", "c.yaml", "--format", "json"])
        .output()
        .unwrap();
    assert!(
        stats.status.success(),
        "{}",
        String::from_utf8_lossy(&stats.stderr)
    );
    let stats: serde_json::Value = serde_json::from_slice(&stats.stdout).unwrap();
    assert_eq!(stats["raw_results"], 4, "{stats}");
}

/// Runs `check-config` and `run` in `dir` on `c.yaml`; both must fail, and their stderr is
/// returned (run's is read once it exits).
fn both_refuse(dir: &Path) -> (String, String) {
    let check = collector()
        .current_dir(dir)
        .args(["check-config", "c.yaml"])
        .output()
        .unwrap();
    assert!(!check.status.success(), "check-config passed");
    let run = collector()
        .current_dir(dir)
        .args(["run", "--config", "c.yaml", "--listen", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!run.status.success(), "run started");
    (
        String::from_utf8_lossy(&check.stderr).to_string(),
        String::from_utf8_lossy(&run.stderr).to_string(),
    )
}

#[test]
fn an_agents_token_cannot_be_the_operator_token() {
    let dir = tempfile::tempdir().unwrap();
    write_secret(dir.path(), "a1.token", TOKEN);
    let base = inventory("");
    // The same file for both roles.
    let yaml = base.replace(
        "  database: data/c.db\n",
        "  database: data/c.db\n  operator_token: { file: a1.token }\n",
    );
    std::fs::write(dir.path().join("c.yaml"), &yaml).unwrap();
    for err in <[String; 2]>::from(both_refuse(dir.path())) {
        assert!(
            err.contains("c.yaml:3:3: collector.operator_token: the operator token is read from the same file"),
            "{err}"
        );
        assert!(err.contains("as agent `a1`'s token (c.yaml:8)"), "{err}");
        assert!(!err.contains(TOKEN), "the secret is printed:\n{err}");
    }
    // Another file with the same value.
    write_secret(dir.path(), "operator.token", TOKEN);
    let yaml = base.replace(
        "  database: data/c.db\n",
        "  database: data/c.db\n  operator_token: { file: operator.token }\n",
    );
    std::fs::write(dir.path().join("c.yaml"), &yaml).unwrap();
    for err in <[String; 2]>::from(both_refuse(dir.path())) {
        assert!(
            err.contains("c.yaml:3:3: collector.operator_token: the operator token has the same secret as agent `a1`'s token (c.yaml:8)"),
            "{err}"
        );
        assert!(!err.contains(TOKEN), "the secret is printed:\n{err}");
    }
    // A webhook's signing secret, the same way.
    let yaml = format!(
        "{base}notify:\n  channels:\n    hook:\n      webhook:\n        url: http://127.0.0.1:9/hook\n        secret: {{ file: operator.token }}\n"
    );
    std::fs::write(dir.path().join("c.yaml"), &yaml).unwrap();
    let (check, _) = both_refuse(dir.path());
    assert!(
        check.contains("notify.channels.hook.webhook.secret: channel `hook`'s webhook.secret has the same secret as agent `a1`'s token (c.yaml:7)"),
        "{check}"
    );
    // Its own secret passes.
    write_secret(
        dir.path(),
        "operator.token",
        "operator-token-0123456789abcdef",
    );
    let yaml = base.replace(
        "  database: data/c.db\n",
        "  database: data/c.db\n  operator_token: { file: operator.token }\n",
    );
    let out = check_config(dir.path(), &yaml);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_file_that_is_not_yaml_is_named_never_shown() {
    let dir = tempfile::tempdir().unwrap();
    write_secret(dir.path(), "a1.token", TOKEN);
    let secret_line = "root:$6$Zq9sEcReT$hAsHhAsHhAsH0123456789abcdefgh:19000:0:99999:7:::";
    let shadow = dir.path().join("shadow");
    std::fs::write(
        &shadow,
        format!("{secret_line}\ndaemon:*:19000:0:99999:7:::\n"),
    )
    .unwrap();
    let cases = [
        format!("include: [{}]\n{}", shadow.display(), inventory("")),
        format!("{}\n", secret_line),
        "sites:\n  - id: s1\n    municipality: Ulricehamn\n    required_runtime_minutes: \"hunter2-SeCrEt\"\n"
            .to_string(),
        "collector:\n  node: { \"p4ss w0rd SeCrEt\": 1 }\n".to_string(),
    ];
    for yaml in cases {
        let out = check_config(dir.path(), &yaml);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "check-config passed:\n{yaml}");
        for secret in [
            "$6$",
            "Zq9sEcReT",
            "hAsH",
            "19000",
            "SeCrEt",
            "hunter2",
            "p4ss",
        ] {
            assert!(!err.contains(secret), "`{secret}` is printed:\n{err}");
        }
        assert!(
            err.contains(":1:") || err.contains(":4:") || err.contains(":2:"),
            "{err}"
        );
    }
    // The included file is named, with its line.
    let yaml = format!("include: [{}]\n{}", shadow.display(), inventory(""));
    let err = String::from_utf8_lossy(&check_config(dir.path(), &yaml).stderr).to_string();
    assert!(err.contains(&format!("{}:1:", shadow.display())), "{err}");
}

#[test]
fn a_secret_file_it_cannot_read_names_the_user_it_runs_as() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    write_secret(dir.path(), "a1.token", TOKEN);
    std::fs::write(dir.path().join("c.yaml"), inventory("")).unwrap();
    std::fs::set_permissions(
        dir.path().join("c.yaml"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    // A copy of the binary in the open folder: the checkout may lie where the service user
    // cannot reach (a clone under /root).
    let bin = dir.path().join("driftvakt-collector");
    driftvakt_collector_testkit::files::executable_copy(Path::new(BIN), &bin);
    let mut cmd = Command::new(&bin);
    cmd.current_dir(dir.path()).args(["check-config", "c.yaml"]);
    // SAFETY: geteuid has no preconditions.
    let (want, uid) = if unsafe { libc::geteuid() } == 0 {
        // As root every file is readable: run as nobody, as a service user would run.
        std::os::unix::process::CommandExt::uid(&mut cmd, 65534);
        std::os::unix::process::CommandExt::gid(&mut cmd, 65534);
        ("(uid 65534)", 65534)
    } else {
        std::fs::set_permissions(
            dir.path().join("a1.token"),
            std::fs::Permissions::from_mode(0o000),
        )
        .unwrap();
        ("(uid ", 0)
    };
    let out = cmd.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "check-config passed");
    assert!(
        err.contains("c.yaml:7:27: agents[0]: cannot read token file a1.token: Permission denied"),
        "{err}"
    );
    assert!(err.contains("this process runs as "), "{err}");
    assert!(err.contains(want), "{err}");
    if uid == 65534 {
        assert!(err.contains("user nobody (uid 65534)"), "{err}");
    }
}

/// `sites` sites and `devices` access points with a few keys each, one agent for all.
fn large_inventory(sites: usize, devices: usize) -> String {
    let mut yaml = String::from("collector:\n  database: data/c.db\nsites:\n");
    for s in 0..sites {
        let m = if s % 2 == 0 { "Ulricehamn" } else { "Tranemo" };
        yaml.push_str(&format!(
            "  - {{ id: s{s}, name: Plats {s}, municipality: {m} }}\n"
        ));
    }
    yaml.push_str("devices:\n");
    for i in 0..devices {
        yaml.push_str(&format!(
            "  - {{ id: dev-{i}, class: access_point, site: s{}, address: 10.{}.{}.{}, checks: [icmp] }}\n",
            i % sites,
            i / 65_536,
            (i / 256) % 256,
            i % 256
        ));
    }
    yaml.push_str(
        "agents:\n  - { id: a1, token_file: a1.token, municipalities: [Ulricehamn, Tranemo] }\n",
    );
    yaml
}

#[test]
fn fifty_thousand_devices_in_one_file_load_and_a_bomb_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    write_secret(dir.path(), "a1.token", TOKEN);
    let start = Instant::now();
    let out = check_config(dir.path(), &large_inventory(100, 50_000));
    let took = start.elapsed();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(
        summary.contains("ok (100 sites, 50000 devices, 0 services, 1 agents)"),
        "{summary}"
    );
    eprintln!("check-config of 50,000 devices in one file: {took:?}");
    // Aliases past the budget (a strict schema stops nested "billion laughs" at the first
    // nested list; common::config's tests show that one refused too).
    let refs = vec!["*d"; 60_000].join(", ");
    let bomb = inventory(
        "  - { id: &d sw-1, class: switch, site: s1, address: 10.0.0.1, checks: [icmp] }\n",
    )
    .replace("sites: [s1] }", &format!("devices: [{refs}] }}"));
    let out = check_config(dir.path(), &bomb);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("c.yaml:"), "{err}");
    assert!(err.contains("budget breached"), "{err}");
    assert!(
        err.contains("split it into several files joined with `include:`"),
        "{err}"
    );
}
