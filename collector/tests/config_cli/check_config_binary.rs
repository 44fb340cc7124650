//! The real binary's `check-config` refuses what `run` would fail on, naming file, line and key,
//! and `run` refuses the same configurations with the same message (before it listens).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BASE: &str = "collector:\n  listen: 127.0.0.1:0\n  database: data/c.db\nsites:\n  - { id: s1, municipality: Ulricehamn }\n";

fn collector() -> Command {
    Command::new(env!("CARGO_BIN_EXE_driftvakt-collector"))
}

/// Runs `check-config` and `run` on `yaml` (written to a 0755 folder) and checks that both
/// fail with `expect` (each a part of the message).
fn both_refuse(yaml: &str, setup: impl Fn(&Path), expect: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    setup(dir.path());
    let file = dir.path().join("c.yaml");
    std::fs::write(&file, yaml).unwrap();
    let check = collector()
        .current_dir(dir.path())
        .env_remove("DRIFTVAKT_SMTP_PASSWORD")
        .args(["check-config", "c.yaml"])
        .output()
        .unwrap();
    let check_err = String::from_utf8_lossy(&check.stderr).to_string();
    assert!(!check.status.success(), "check-config passed: {check_err}");
    for e in expect {
        assert!(
            check_err.contains(e),
            "check-config: want {e:?} in\n{check_err}"
        );
    }
    let mut child = collector()
        .current_dir(dir.path())
        .env_remove("DRIFTVAKT_SMTP_PASSWORD")
        .args(["run", "--config", "c.yaml"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > Duration::from_secs(20) {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("run did not refuse the configuration");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut run_err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut run_err).unwrap();
    assert!(!status.success(), "run: {run_err}");
    for e in expect {
        assert!(run_err.contains(e), "run: want {e:?} in\n{run_err}");
    }
}

#[test]
fn a_missing_operator_token_file() {
    let yaml = BASE.replace(
        "  database: data/c.db\n",
        "  database: data/c.db\n  operator_token: { file: operator.token }\n",
    );
    both_refuse(
        &yaml,
        |_| {},
        &[
            "c.yaml:4:3: collector.operator_token: cannot read secret file",
            "operator.token",
        ],
    );
}

#[test]
fn an_unset_smtp_password_variable() {
    let yaml = format!(
        "{BASE}notify:\n  smtp:\n    host: 127.0.0.1\n    port: 2525\n    username: driftvakt\n    password_env: DRIFTVAKT_SMTP_PASSWORD\n"
    );
    both_refuse(
        &yaml,
        |_| {},
        &["c.yaml:11:5: notify.smtp.password_env: environment variable DRIFTVAKT_SMTP_PASSWORD (the SMTP password) is not set"],
    );
}

#[test]
fn a_token_file_readable_by_others() {
    let yaml = format!("{BASE}agents:\n  - id: a1\n    token_file: a1.token\n    sites: [s1]\n");
    both_refuse(
        &yaml,
        |dir| {
            let t = dir.join("a1.token");
            std::fs::write(&t, "token-for-a1-0123456789\n").unwrap();
            std::fs::set_permissions(&t, std::fs::Permissions::from_mode(0o644)).unwrap();
        },
        &[
            "c.yaml:8:17: agents[0].token_file: token file",
            "a1.token has mode 0644",
            "chmod 600",
        ],
    );
}

#[test]
fn a_cron_that_never_fires() {
    let yaml = format!(
        "{BASE}notify:\n  reports:\n    - name: feb31\n      period: previous_month\n      cron: \"0 0 7 31 2 *\"\n"
    );
    both_refuse(
        &yaml,
        |_| {},
        &["c.yaml:10:7: notify.reports[0].cron: cron expression \"0 0 7 31 2 *\" never fires"],
    );
}

#[test]
fn plaintext_auth_allowed_explicitly_is_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        "{BASE}notify:\n  allow_plaintext_auth: true\n  smtp:\n    host: 127.0.0.1\n    port: 2525\n    tls: none\n    username: driftvakt\n    password_env: DRIFTVAKT_TEST_SMTP_PW\n"
    );
    std::fs::write(dir.path().join("c.yaml"), yaml).unwrap();
    let out = collector()
        .current_dir(dir.path())
        .env("DRIFTVAKT_TEST_SMTP_PW", "secret")
        .args(["check-config", "c.yaml"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("warning: notify.smtp: the SMTP password"),
        "{err}"
    );
    assert!(String::from_utf8_lossy(&out.stdout)
        .contains("ok (1 sites, 0 devices, 0 services, 0 agents, 1 warning)"));
}

#[test]
fn an_operator_web_users_file_that_does_not_read() {
    let yaml = BASE.replace(
        "  database: data/c.db\n",
        "  database: data/c.db\n  web: { auth: local, users_file: users.yaml }\n",
    );
    both_refuse(
        &yaml,
        |dir| std::fs::write(dir.join("users.yaml"), "users: [ { name: anna } ]\n").unwrap(),
        &[
            "collector.web.users_file:",
            "users.yaml",
            "missing field `role`",
        ],
    );
}
