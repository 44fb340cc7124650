//! A webhook receiver that is down across a SIGKILL of the real collector binary still gets the
//! alert exactly once: the notice is in the outbox, the first collector tries and backs off, is
//! killed, the receiver comes up, the second collector on the same database sends it.

use crate::channel_rig::*;
use driftvakt_collector::notify::{OutboxStore, SqliteNotifyStore, Status};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const TOKEN: &str = "kill-test-token-0123456789abcdef";

struct Collector(Child);

impl Collector {
    fn start(dir: &Path, log: &str) -> Collector {
        let child = Command::new(env!("CARGO_BIN_EXE_driftvakt-collector"))
            .args(["run", "--config"])
            .arg(dir.join("collector.yaml"))
            .args(["--listen", &format!("127.0.0.1:{}", free_port())])
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join(log)).unwrap())
            .spawn()
            .expect("cannot start the collector binary");
        Collector(child)
    }

    fn kill(&mut self) {
        let _ = self.0.kill(); // SIGKILL
        let _ = self.0.wait();
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.kill();
    }
}

fn write_inventory(dir: &Path, notify: &str) {
    secret_file(dir, "a1.token", TOKEN);
    let inv = format!(
        "collector:\n  database: {}\nsites:\n  - {{ id: stadshuset, name: Stadshuset, municipality: Tranemo }}\n\
         devices:\n  - {{ id: ap-1, class: access_point, site: stadshuset, address: 10.0.0.11, interval: 60s, checks: [icmp] }}\n\
         agents:\n  - {{ id: a1, token_file: a1.token, municipalities: [Tranemo] }}\n{notify}",
        dir.join("c.db").display()
    );
    std::fs::write(dir.join("collector.yaml"), inv).unwrap();
}

/// Waits (bounded) until `f` holds; panics with `what` and the log.
fn wait_until(what: &str, log: &Path, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!(
        "{what}; collector log:\n{}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_down_across_a_sigkill_gets_the_alert_once() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let port = free_port();
    // The receiver is not started yet: nobody listens on `port`.
    let placeholder = Receiver::start();
    let yaml = channel_yaml(dir, &placeholder, "hook", "hook")
        .replace(
            &placeholder.url("/hook"),
            &format!("http://127.0.0.1:{port}/hook"),
        )
        .replace(
            "retry: { initial_backoff: 10s, max_backoff: 60s, max_attempts: 3, lease: 5m }",
            "retry: { initial_backoff: 1s, max_backoff: 2s, max_attempts: 3, lease: 30s }",
        );
    drop(placeholder);
    write_inventory(dir, &yaml);

    // The alert is decided and in the outbox (the real clock: the binary runs on it).
    let now = chrono::Utc::now();
    let clock = ManualClock::at(&now.to_rfc3339());
    let n = channel_notifier(&yaml, dir, clock);
    let since = (now - chrono::Duration::minutes(20)).to_rfc3339();
    let ids = n.handle(down(&since)).unwrap();
    assert_eq!(ids.len(), 1);
    let key = n.store().get(ids[0]).unwrap().unwrap().key;
    drop(n);

    let store = SqliteNotifyStore::open(&dir.join("c.db")).unwrap();
    let row = || store.get(ids[0]).unwrap().unwrap();
    let mut first = Collector::start(dir, "first.log");
    wait_until(
        "the first collector tried twice",
        &dir.join("first.log"),
        || row().attempts >= 2,
    );
    first.kill();
    assert_ne!(row().status, Status::Sent);

    let rx = Receiver::start_on(port);
    let _second = Collector::start(dir, "second.log");
    wait_until(
        "the receiver got the alert",
        &dir.join("second.log"),
        || !rx.accepted("/hook").is_empty(),
    );
    wait_until("the outbox row is sent", &dir.join("second.log"), || {
        row().status == Status::Sent
    });
    // A few more delivery rounds (every 5 s) must not repeat it.
    std::thread::sleep(Duration::from_secs(11));
    let got: Vec<Got> = rx
        .accepted("/hook")
        .into_iter()
        .filter(|g| g.header("idempotency-key") == key)
        .collect();
    assert_eq!(got.len(), 1, "exactly once: {:?}", rx.all());
    assert_eq!(got[0].json()["device_id"], "ap-1");
    let sig = got[0].header("x-driftvakt-signature");
    assert_eq!(
        sig,
        format!(
            "sha256={}",
            hmac_hex(WEBHOOK_SECRET, got[0].body.as_bytes())
        )
    );
}
