//! The Alertmanager channel against the real Alertmanager (Debian's `prometheus-alertmanager`,
//! started per test on a free loopback port, clustering off): the alert appears with its labels
//! (queried with `amtool`), and the recovery resolves it.

use crate::channel_rig::*;
use std::process::{Child, Command, Stdio};

const ALERTMANAGER: &str = "/usr/bin/prometheus-alertmanager";
const AMTOOL: &str = "/usr/bin/amtool";

struct Alertmanager {
    child: Child,
    port: u16,
}

impl Alertmanager {
    fn start(dir: &std::path::Path) -> Alertmanager {
        for bin in [ALERTMANAGER, AMTOOL] {
            assert!(
                std::path::Path::new(bin).exists(),
                "{bin} is missing: these tests need Debian's prometheus-alertmanager \
                 (`apt-get install prometheus-alertmanager`; scripts/test installs it)"
            );
        }
        let config = dir.join("alertmanager.yml");
        std::fs::write(
            &config,
            "route:\n  receiver: blackhole\nreceivers:\n  - name: blackhole\n",
        )
        .unwrap();
        let port = free_port();
        let child = Command::new(ALERTMANAGER)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.path={}", dir.join("am-data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--cluster.listen-address=")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("alertmanager.log")).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {ALERTMANAGER}: {e}"));
        let am = Alertmanager { child, port };
        for _ in 0..100 {
            if let Ok(r) = reqwest::blocking_get(&format!("http://127.0.0.1:{port}/-/ready")) {
                if r {
                    return am;
                }
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!(
            "Alertmanager did not become ready: {}",
            std::fs::read_to_string(dir.join("alertmanager.log")).unwrap_or_default()
        );
    }

    /// `amtool alert query` as JSON, for alerts matching `matcher`.
    fn query(&self, matcher: &str) -> Vec<serde_json::Value> {
        let out = Command::new(AMTOOL)
            .args([
                "alert",
                "query",
                "-o",
                "json",
                &format!("--alertmanager.url=http://127.0.0.1:{}", self.port),
                matcher,
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "amtool: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<Vec<serde_json::Value>>(&out.stdout).unwrap()
    }
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A tiny blocking GET (std only): whether the answer is 200.
mod reqwest {
    pub fn blocking_get(url: &str) -> std::io::Result<bool> {
        use std::io::{Read, Write};
        let rest = url.strip_prefix("http://").unwrap();
        let (host, path) = rest.split_once('/').unwrap();
        let mut s = std::net::TcpStream::connect(host)?;
        write!(s, "GET /{path} HTTP/1.0\r\nHost: {host}\r\n\r\n")?;
        let mut buf = String::new();
        s.read_to_string(&mut buf)?;
        Ok(buf.starts_with("HTTP/1.0 200") || buf.starts_with("HTTP/1.1 200"))
    }
}

#[tokio::test]
async fn the_alert_appears_in_alertmanager_and_resolves() {
    let tmp = tempfile::tempdir().unwrap();
    let am = Alertmanager::start(tmp.path());
    let rx = Receiver::start();
    // Alertmanager keeps real time, so the notifier's clock starts at the real "now".
    let now = chrono::Utc::now();
    let clock = ManualClock::at(&now.to_rfc3339());
    let since = (now - chrono::Duration::minutes(20)).to_rfc3339();
    let until = now - chrono::Duration::minutes(1);
    let yaml = channel_yaml(tmp.path(), &rx, "am", "am")
        .replace(&rx.url("/am"), &format!("http://127.0.0.1:{}", am.port));
    let n = channel_notifier(&yaml, tmp.path(), clock.clone());
    assert_eq!(n.handle(down(&since)).unwrap().len(), 1);
    let round = n.deliver_due().await;
    assert_eq!(round.sent, 1, "{round:?}");

    let alerts = am.query("device=ap-1");
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let labels = &alerts[0]["labels"];
    assert_eq!(labels["alertname"], "DriftvaktAlert");
    assert_eq!(labels["kind"], "down");
    assert_eq!(labels["municipality"], "Tranemo");
    assert_eq!(alerts[0]["status"]["state"], "active");
    assert!(alerts[0]["annotations"]["summary"]
        .as_str()
        .unwrap()
        .starts_with("Larm: Enhet ap-1"));

    n.handle(driftvakt_collector::notify::Event::DeviceAlertCleared {
        device_id: "ap-1".into(),
        kind: driftvakt_collector::notify::AlertKind::Down,
        until,
    })
    .unwrap();
    clock.advance(mins(11)); // past hold-down
    let round = n.deliver_due().await;
    assert_eq!(round.sent, 1, "{round:?}");
    let left = am.query("device=ap-1");
    assert!(left.is_empty(), "resolved: {left:?}");
}
