//! Two real collector processes on one SQLite file, a real agent with both URLs, devices that
//! go down one after the other (TCP checks against ports the test closes), and aiosmtpd as the
//! SMTP server. The leader is SIGKILLed mid-outage: the other node leads within 15 s and every
//! notice arrives exactly once. Then the new leader is frozen (SIGSTOP) past its lease while a
//! notice waits for a refusing SMTP server: the other node takes over, the frozen one, woken
//! (SIGCONT), steps down, and the notice arrives once (see the `cluster` module doc for the
//! send a frozen leader had already begun). Every result the agent spooled is stored
//! once. `--nocapture` prints the takeover times.

mod delivery_support;
mod notify_support;

use chrono::{Datelike, Utc};
use delivery_support::{agent_bin, collector_bin, Proc};
use notify_support::SmtpPeer;
use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const TOKEN: &str = "cluster-agent-token-0123456789";
const DEVICES: usize = 4;

fn weekday_away_from_today() -> &'static str {
    let today = Utc::now().with_timezone(&chrono_tz::Europe::Stockholm);
    let names = [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ];
    names[(today.weekday().num_days_from_monday() as usize + 3) % 7]
}

fn owner_only(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(
        path,
        <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o600),
    )
    .unwrap();
}

/// The inventory of node `node` (the two differ only in `collector.node`).
fn inventory(dir: &Path, node: &str, smtp: u16, ports: &[u16]) -> PathBuf {
    owner_only(&dir.join("agent.token"), TOKEN);
    let devices: String = ports
        .iter()
        .enumerate()
        .map(|(i, p)| {
            format!(
                "  - {{ id: ap-{i}, class: access_point, site: hus, address: 127.0.0.1, interval: 1s, \
                 checks: [{{ kind: tcp, port: {p}, timeout: 500ms }}] }}\n"
            )
        })
        .collect();
    let text = format!(
        r#"collector:
  database: {db}
  node: {node}
  cluster: {{ lease: 10s, heartbeat: 2s }}
sites:
  - {{ id: hus, name: Stadshuset, municipality: Tranemo }}
devices:
{devices}agents:
  - {{ id: a1, token_file: agent.token, sites: [hus] }}
calendar:
  primary: {{ weekday: {weekday} }}
  office_hours:
    municipalities:
      Tranemo: {{ monday: [], tuesday: [], wednesday: [], thursday: [], friday: [], saturday: [], sunday: [] }}
notify:
  smtp: {{ host: 127.0.0.1, port: {smtp}, tls: none, timeout: 5s }}
  from:
    default: "IT Tranemo <it@tranemo.example.se>"
  municipalities:
    Tranemo:
      editors: [redaktion@tranemo.example.se]
      service_desk: [servicedesk@tranemo.example.se]
      on_call: [jour@tranemo.example.se]
  hold_down: 0s
  retry: {{ initial_backoff: 1s, max_backoff: 2s, lease: 40s }}
"#,
        db = dir.join("shared.db").display(),
        weekday = weekday_away_from_today(),
    );
    let path = dir.join(format!("{node}.yaml"));
    std::fs::write(&path, text).unwrap();
    path
}

fn agent_config(dir: &Path, urls: &[String]) -> PathBuf {
    let dir = dir.join("agent");
    std::fs::create_dir_all(&dir).unwrap();
    owner_only(&dir.join("token"), TOKEN);
    let urls: Vec<String> = urls.iter().map(|u| format!("      - {u}\n")).collect();
    let text = format!(
        "agent:\n  id: a1\n  collector:\n    urls:\n{}    token: {{ file: token }}\n    push_interval: 200ms\n    assignment_refresh: 2s\n  spool:\n    dir: spool\ndevices: []\n",
        urls.concat()
    );
    let path = dir.join("agent.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

struct Node {
    name: &'static str,
    port: u16,
    config: PathBuf,
    proc: Option<Proc>,
}

impl Node {
    fn start(&mut self, dir: &Path) {
        let mut cmd = Command::new(collector_bin());
        cmd.args(["run", "--config"])
            .arg(&self.config)
            .args(["--listen", &format!("127.0.0.1:{}", self.port)]);
        let n = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis();
        let log = dir.join(format!("{}-{n}.log", self.name));
        self.proc = Some(Proc::spawn(self.name, &mut cmd, &log));
        wait("the collector answers", Duration::from_secs(20), || {
            self.cluster().is_some()
        });
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `cluster` of this node's `/api/v1/status`, if it answers within 2 s.
    fn cluster(&self) -> Option<serde_json::Value> {
        let status: serde_json::Value =
            serde_json::from_str(&get(self.port, "/api/v1/status")?).ok()?;
        status.get("cluster").cloned()
    }

    fn leader(&self) -> Option<String> {
        self.cluster()?["leader"].as_str().map(str::to_string)
    }

    fn signal(&self, sig: &str) {
        signal(self.proc.as_ref().unwrap(), sig);
    }

    fn log(&self) -> String {
        self.proc.as_ref().map(Proc::describe).unwrap_or_default()
    }
}

/// The body of `GET path` on 127.0.0.1:`port` (HTTP/1.0 over a plain socket), if it answers.
fn get(port: u16, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.0 200").then(|| body.to_string())
}

fn wait(what: &str, limit: Duration, mut done: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "timed out after {limit:?}: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
    start.elapsed()
}

/// Message-ID → how many times the SMTP server received it.
fn received(smtp: &SmtpPeer) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for m in smtp.messages() {
        *out.entry(m.header("Message-ID").unwrap_or_default())
            .or_insert(0) += 1;
    }
    out
}

fn alerts_about(smtp: &SmtpPeer, device: &str) -> usize {
    smtp.messages()
        .iter()
        .filter(|m| m.subject.contains(device) || m.text.contains(device))
        .count()
}

fn signal(p: &Proc, sig: &str) {
    let pid = p.child.id().to_string();
    assert!(Command::new("kill")
        .args([sig, &pid])
        .status()
        .unwrap()
        .success());
}

fn outbox_attempts(db: &Path) -> i64 {
    delivery_support::database(db)
        .query_row(
            "SELECT coalesce(sum(attempts), 0) FROM notify_outbox",
            [],
            |r| r.get(0),
        )
        .unwrap_or(0)
}

#[test]
fn failover_after_sigkill_and_sigstop_sends_every_notice_once() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::create_dir_all(dir.join("mail")).unwrap();
    let smtp = SmtpPeer::start(&dir.join("mail"));
    // One listener per device: closing it makes the device's TCP check fail.
    let mut listeners: Vec<Option<TcpListener>> = (0..DEVICES)
        .map(|_| Some(TcpListener::bind("127.0.0.1:0").unwrap()))
        .collect();
    let ports: Vec<u16> = listeners
        .iter()
        .map(|l| l.as_ref().unwrap().local_addr().unwrap().port())
        .collect();
    let mut a = Node {
        name: "a",
        port: delivery_support::free_port(),
        config: inventory(dir, "a", smtp.port, &ports),
        proc: None,
    };
    let mut b = Node {
        name: "b",
        port: delivery_support::free_port(),
        config: inventory(dir, "b", smtp.port, &ports),
        proc: None,
    };
    a.start(dir);
    wait("a leads", Duration::from_secs(10), || {
        a.leader().as_deref() == Some("a")
    });
    b.start(dir);
    let nodes = b.cluster().unwrap();
    assert_eq!(nodes["node"], "b");
    assert_eq!(nodes["leader"], "a");
    assert_eq!(nodes["nodes"].as_array().unwrap().len(), 2);

    let agent_yaml = agent_config(dir, &[a.url(), b.url()]);
    let mut cmd = Command::new(agent_bin());
    cmd.args(["run", "--config"]).arg(&agent_yaml);
    let mut agent = Proc::spawn("agent", &mut cmd, &dir.join("agent.log"));
    let db = dir.join("shared.db");
    wait("results stored", Duration::from_secs(20), || {
        delivery_support::stored_count(&db, "a1") >= 2 * DEVICES as i64
    });

    // Device 0 goes down while `a` leads: one alert.
    listeners[0] = None;
    wait("ap-0's alert", Duration::from_secs(30), || {
        alerts_about(&smtp, "ap-0") >= 1
    });

    // Device 1 goes down and the leader is killed mid-outage.
    listeners[1] = None;
    std::thread::sleep(Duration::from_millis(1500));
    a.proc.as_mut().unwrap().kill();
    let takeover = wait("b leads after the SIGKILL", Duration::from_secs(15), || {
        b.leader().as_deref() == Some("b")
    });
    println!("SIGKILL of the leader: the other node led after {takeover:?}");
    wait("ap-1's alert", Duration::from_secs(40), || {
        alerts_about(&smtp, "ap-1") >= 1
    });
    listeners[2] = None;
    wait("ap-2's alert", Duration::from_secs(40), || {
        alerts_about(&smtp, "ap-2") >= 1
    });

    // `a` comes back as a follower.
    a.start(dir);
    assert_eq!(a.leader().as_deref(), Some("b"));
    let metric = |n: &Node, line: &str| {
        get(n.port, "/metrics").is_some_and(|m| m.lines().any(|l| l == line))
    };
    wait("the cluster metrics", Duration::from_secs(10), || {
        metric(&a, "driftvakt_cluster_nodes 2")
            && metric(&a, "driftvakt_cluster_leader{node=\"a\"} 0")
            && metric(&b, "driftvakt_cluster_leader{node=\"b\"} 1")
    });

    // Device 3's alert waits for a refusing SMTP server on `b`; then `b` freezes.
    smtp.refuse("451");
    let before = outbox_attempts(&db);
    listeners[3] = None;
    wait("b tried ap-3's alert", Duration::from_secs(40), || {
        outbox_attempts(&db) > before
    });
    // The agent pauses (its spool keeps everything), so `b` freezes outside a transaction of
    // its own with high likelihood: see the report on SQLite's file lock.
    signal(&agent, "-STOP");
    b.signal("-STOP");
    let frozen = Instant::now();
    smtp.refuse("");
    let takeover = wait("a leads while b is frozen", Duration::from_secs(15), || {
        a.leader().as_deref() == Some("a")
    });
    println!("SIGSTOP of the leader: the other node led after {takeover:?}");
    while frozen.elapsed() < Duration::from_secs(15) {
        std::thread::sleep(Duration::from_millis(100));
    }
    b.signal("-CONT");
    signal(&agent, "-CONT");
    // Sent by `a` (it got the row back at takeover) or, when `b` froze inside its SMTP
    // conversation, by `b` finishing the send it began under its lease (`a` waits out the
    // row's sending lease of 40 s before sending such a row again).
    wait("ap-3's alert", Duration::from_secs(60), || {
        alerts_about(&smtp, "ap-3") >= 1
    });
    wait("b knows it follows", Duration::from_secs(10), || {
        b.cluster()
            .is_some_and(|c| c["leader"] == "a" && c["node"] == "b")
    });
    // A few delivery rounds of both nodes must not repeat anything.
    std::thread::sleep(Duration::from_secs(12));
    let got = received(&smtp);
    for device in 0..DEVICES {
        assert_eq!(
            alerts_about(&smtp, &format!("ap-{device}")),
            1,
            "ap-{device}: {got:?}\n{}\n{}",
            a.log(),
            b.log()
        );
    }
    assert!(got.values().all(|n| *n == 1), "exactly once: {got:?}");
    assert!(
        b.log().contains("lost the leader lease") || b.log().contains("stepping down"),
        "b stepped down: {}",
        b.log()
    );
    // Nothing lost or doubled on the way in either: the agent stops cleanly (its last flush),
    // and every result in its spool is stored once.
    agent.terminate(Duration::from_secs(20));
    let spooled = delivery_support::spool_records(&dir.join("agent/spool"));
    let stored = delivery_support::stored_keys(&db, "a1");
    let spooled: Vec<_> = spooled.into_iter().map(|(_, r)| r).collect();
    assert!(delivery_support::keys(&spooled).is_subset(&stored));
    assert_eq!(delivery_support::stored_duplicates(&db, "a1"), 0);
}
