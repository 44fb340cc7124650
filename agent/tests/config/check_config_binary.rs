//! The real binary's `check-config` and `run` refuse a collector token file that group or
//! others can read, naming file, line, key, mode and the fix; `check-config` reads the login
//! checks' password files the same way.

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn a_token_file_readable_by_others_is_refused_by_check_config_and_run() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let token = dir.path().join("agent.token");
    std::fs::write(&token, "token-for-the-agent-0123456789\n").unwrap();
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::write(
        dir.path().join("a.yaml"),
        "agent:\n  id: a\n  collector:\n    url: http://127.0.0.1:9\n    token: { file: agent.token }\n  spool:\n    dir: spool\n",
    )
    .unwrap();
    let expect = [
        "a.yaml:5:5: agent.collector.token: secret file",
        "agent.token has mode 0644",
        "chmod 600",
    ];
    let bin = env!("CARGO_BIN_EXE_driftvakt-agent");
    let out = Command::new(bin)
        .current_dir(dir.path())
        .args(["check-config", "a.yaml"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    for e in expect {
        assert!(err.contains(e), "check-config: want {e:?} in\n{err}");
    }
    let mut child = Command::new(bin)
        .current_dir(dir.path())
        .args(["run", "--config", "a.yaml"])
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
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(2), "{err}");
    for e in expect {
        assert!(err.contains(e), "run: want {e:?} in\n{err}");
    }
    assert!(
        !dir.path().join("spool").exists(),
        "run refused before opening the spool"
    );
}

#[test]
fn check_config_reads_the_login_checks_passwords() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let open = dir.path().join("mail.pw");
    std::fs::write(&open, "Imap-losen-1\n").unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::write(
        dir.path().join("a.yaml"),
        "agent: { id: a }\ndevices:\n  - id: dc-1\n    class: service\n    address: 127.0.0.1\n    checks:\n      \
         - { kind: ldap, bind_dn: \"cn=svc\", bind_password: { file: missing.pw } }\n      \
         - { kind: imap, username: test, password: { file: mail.pw } }\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_driftvakt-agent"))
        .current_dir(dir.path())
        .args(["check-config", "a.yaml"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    for e in [
        "a.yaml:7:7: devices[0].checks[0]: device `dc-1`: ldap check: bind_password: cannot read secret file",
        "missing.pw",
        "device `dc-1`: imap check: password: secret file",
        "mail.pw has mode 0644",
    ] {
        assert!(err.contains(e), "check-config: want {e:?} in\n{err}");
    }
}
