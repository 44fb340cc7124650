//! What a Swedish reader sees, through the real collector binary: the driftinformation (page,
//! embedded fragment, Atom feed), the team's status page and the mails.
//!
//! - Text XML cannot carry (a vertical tab pasted from a word processor) is refused at the API
//!   with a 400 naming the field; an incident already stored with one (written into the
//!   database before the collector starts, as an older version let it in) still gives a feed
//!   that a real XML parser (Python's expat, through `xml.dom.minidom`) reads, a page and a
//!   mail without it.
//! - Planned maintenance in the feed: `updated` and `published` are when the window was
//!   created, never its start ahead; each window names what it covers ("alla IT-tjänster",
//!   the service, the services of a device at its site, or the device's class).
//! - The embedded fragment reads "Störning: Trådlöst nätverk" as text; the status page names
//!   classes and causes in Swedish ("accesspunkt", "inget svar inom tidsgränsen").
//!
//! Needs `python3` (its standard library's XML parser). Missing, the test fails saying so.

use chrono::{DateTime, Duration, Timelike, Utc};
use driftvakt_collector::store::{
    IncidentStore, IncidentUpdate, NewManualIncident, SqliteIncidentStore,
};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};

pub(crate) const AGENT_TOKEN: &str = "text-agent-token-0123456789abcdef";
pub(crate) const OPERATOR_TOKEN: &str = "text-operator-token-0123456789ab";

const INVENTORY: &str = r#"
collector:
  database: DATABASE
  operator_token: { env: DV_TEXT_OPERATOR }
sites:
  - { id: kommunhuset, name: Kommunhuset, municipality: Tranemo, node: true }
  - { id: skolan, name: Länghemskolan, municipality: Tranemo }
devices:
  - { id: sw-t1, class: switch, site: kommunhuset, address: 10.40.0.2, interval: 300s, checks: [icmp] }
  - { id: ap-t1, class: access_point, site: skolan, address: 10.40.1.11, interval: 300s, checks: [icmp] }
  - { id: prn-t1, class: printer, site: kommunhuset, address: 10.40.2.21, parent: sw-t1, interval: 300s, checks: [icmp] }
services:
  - { id: wifi-tranemo, name: Trådlöst nätverk, members: [ap-t1] }
  - { id: print-tranemo, name: Utskrift, members: [prn-t1] }
notify:
  outbox_dir: OUTBOX
  from: { default: "IT <it@kommun.example.se>" }
  hold_down: 0s
  municipalities:
    Tranemo: { editors: [intranat@tranemo.example.se], service_desk: [sd@kommun.example.se] }
agents:
  - { id: remote, token_env: DV_TEXT_AGENT, devices: [sw-t1, ap-t1, prn-t1] }
"#;

/// Kills the child when dropped.
pub(crate) struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub(crate) fn start_collector(config: &Path, port: u16, log: &Path) -> Proc {
    let log = std::fs::File::create(log).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_driftvakt-collector"))
        .args(["run", "--config"])
        .arg(config)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .env("DV_TEXT_AGENT", AGENT_TOKEN)
        .env("DV_TEXT_OPERATOR", OPERATOR_TOKEN)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start driftvakt-collector");
    let proc = Proc(child);
    for _ in 0..600 {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return proc;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("the collector did not listen on 127.0.0.1:{port} within a minute");
}

/// One HTTP/1.0 exchange: (status, body).
pub(crate) fn http(
    port: u16,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n{auth}Content-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(request.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8(raw).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    (
        head.split(' ').nth(1).unwrap().parse().unwrap(),
        body.into(),
    )
}

pub(crate) fn get(port: u16, path: &str) -> String {
    let (status, body) = http(port, "GET", path, None, "");
    assert_eq!(status, 200, "GET {path}: {body}");
    body
}

/// The text of an HTML fragment as a reader (or text extraction) gets it: tags dropped.
fn text_of(html: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out
}

/// Parses `xml` with Python's expat (a real XML parser, strict about characters).
fn assert_well_formed(xml: &str) {
    let mut child = Command::new("python3")
        .args([
            "-c",
            "import sys, xml.dom.minidom; xml.dom.minidom.parseString(sys.stdin.buffer.read())",
        ])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("python3 is needed to parse the feed ({e}): `apt-get install python3`")
        });
    child
        .stdin
        .take()
        .unwrap()
        .write_all(xml.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the feed is not well-formed XML: {}\n{xml}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Posts `results` as agent `remote`'s batch `id`; it must be taken whole.
pub(crate) fn post_batch(port: u16, id: &str, results: Vec<Value>) {
    let batch = json!({ "agent": "remote", "batch_id": id, "results": results });
    let (status, body) = http(
        port,
        "POST",
        "/api/v1/results",
        Some(AGENT_TOKEN),
        &batch.to_string(),
    );
    assert_eq!(status, 200, "{body}");
}

pub(crate) fn result(target: &str, time: DateTime<Utc>, ok: bool) -> Value {
    json!({
        "target": target, "check": "icmp", "time": time, "ok": ok, "duration_ms": 1.5,
        "error": if ok { Value::Null } else { json!("timeout") },
        "values": {}
    })
}

#[test]
fn readers_get_well_formed_swedish_text_that_names_what_it_covers() {
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("driftvakt.db");
    let outbox = dir.path().join("outbox");
    let config = dir.path().join("collector.yaml");
    std::fs::write(
        &config,
        INVENTORY
            .replace("DATABASE", database.to_str().unwrap())
            .replace("OUTBOX", outbox.to_str().unwrap()),
    )
    .unwrap();
    let now = Utc::now().with_nanosecond(0).unwrap();

    // An incident stored with a vertical tab in its title and update (an older version let
    // such text in).
    let store = SqliteIncidentStore::open(&database).unwrap();
    let id = store
        .add(
            &NewManualIncident {
                title: "Fast\u{B}telefoni".into(),
                description: "Inga samtal\u{C}kommer fram.".into(),
                services: Vec::new(),
                municipalities: vec!["Tranemo".into()],
                start: now - Duration::hours(1),
                end: None,
                cause: None,
                by: "anna".into(),
            },
            now - Duration::hours(1),
        )
        .unwrap();
    store
        .add_update(
            id,
            &IncidentUpdate {
                at: now - Duration::minutes(30),
                by: "anna".into(),
                text: "Operatören\u{1}felsöker.".into(),
            },
        )
        .unwrap();
    drop(store);

    let port = driftvakt_collector_testkit::ports::free_port();
    let _collector = start_collector(&config, port, &dir.path().join("collector.log"));

    // Refused at the door, naming the field.
    let incident = json!({ "municipalities": ["Tranemo"], "start": now - Duration::minutes(5),
                           "title": "E-post\u{B}ur funktion", "by": "anna" });
    let (status, body) = http(
        port,
        "POST",
        "/api/v1/incidents",
        Some(OPERATOR_TOKEN),
        &incident.to_string(),
    );
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("title holds U+000B"), "{body}");
    let start = now + Duration::days(3);
    let window = |scope: &str, reason: &str| {
        json!({ "start": start, "end": start + Duration::hours(2), "scope": scope,
                "reason": reason, "by": "anna" })
        .to_string()
    };
    let (status, body) = http(
        port,
        "POST",
        "/api/v1/windows",
        Some(OPERATOR_TOKEN),
        &window("all", "Byte\u{B}av brandväggar."),
    );
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("the reason holds U+000B"), "{body}");

    // Windows over everything, a service, a device in a service, a device in none.
    for scope in [
        "municipality:Tranemo",
        "service:print-tranemo",
        "device:ap-t1",
        "device:sw-t1",
    ] {
        let (status, body) = http(
            port,
            "POST",
            "/api/v1/windows",
            Some(OPERATOR_TOKEN),
            &window(scope, "Uppgradering."),
        );
        assert!(status == 200 || status == 201, "{scope}: {status} {body}");
    }
    // ap-t1 down for the last 40 minutes.
    let mut results = Vec::new();
    let mut t = now - Duration::hours(2);
    while t <= now {
        results.push(result("sw-t1", t, true));
        results.push(result("prn-t1", t, true));
        results.push(result("ap-t1", t, t < now - Duration::minutes(40)));
        t += Duration::minutes(5);
    }
    post_batch(port, "text-1", results);

    // The feed: well-formed, the stored title's vertical tab replaced by a line break.
    let atom = get(port, "/driftinfo/tranemo/feed.atom");
    assert_well_formed(&atom);
    let feed = feed_rs::parser::parse(atom.as_bytes()).expect("a valid Atom feed");
    let titles: Vec<String> = feed
        .entries
        .iter()
        .map(|e| e.title.as_ref().unwrap().content.clone())
        .collect();
    assert!(
        titles
            .iter()
            .any(|t| t == "Störning: Fast\ntelefoni (Tranemo)"),
        "{titles:#?}"
    );
    // Planned maintenance: when it was announced, and what it covers.
    let horizon = Utc::now() + Duration::minutes(1);
    for covers in [
        "alla IT-tjänster",
        "Utskrift",
        "Trådlöst nätverk på Länghemskolan",
        "nätverksswitch på Kommunhuset",
    ] {
        let prefix = format!("Planerat underhåll: {covers}, ");
        let entry = feed
            .entries
            .iter()
            .find(|e| e.title.as_ref().unwrap().content.starts_with(&prefix))
            .unwrap_or_else(|| panic!("no entry {prefix:?} in {titles:#?}"));
        let updated = entry.updated.unwrap();
        assert!(
            updated <= horizon && updated >= now - Duration::minutes(1),
            "{prefix}: updated {updated} is when the window was created, not its start {start}"
        );
        assert_eq!(entry.published, Some(updated), "{prefix}");
    }
    assert!(
        !titles.iter().any(|t| t.contains("IT-tjänster i Tranemo")),
        "{titles:#?}"
    );
    assert!(
        feed.updated.unwrap() <= horizon,
        "the feed is not updated ahead"
    );

    // The page and the embedded fragment: no control character; badges read as words.
    let page = get(port, "/driftinfo/tranemo");
    assert!(!page.contains(['\u{B}', '\u{C}', '\u{1}']), "{page}");
    let fragment = text_of(&get(port, "/driftinfo/tranemo?embed=1"));
    for expected in [
        "Störning: Trådlöst nätverk",
        "Störning: Fast\ntelefoni",
        "Planerat: alla IT-tjänster",
    ] {
        assert!(fragment.contains(expected), "no {expected:?} in {fragment}");
    }
    assert!(!fragment.contains("StörningTrådlöst"), "{fragment}");

    // The team's page: classes and causes in Swedish.
    let team_html = get(port, "/?q=t1");
    let team = text_of(&team_html);
    for expected in [
        "accesspunkt",
        "nätverksswitch",
        "skrivare",
        "icmp: inget svar inom tidsgränsen",
    ] {
        assert!(team.contains(expected), "no {expected:?} in {team}");
    }
    for english in [">access_point<", ">switch<", ">printer<", "timeout"] {
        assert!(!team_html.contains(english), "{english:?} in {team_html}");
    }

    // The mail about the stored incident: no control character in subject or text.
    let mut mails = Vec::new();
    for _ in 0..900 {
        mails = driftvakt_collector_testkit::smtp::read_eml_dir(&outbox);
        if mails.iter().any(|m| m.subject.contains("Fast")) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let mail = mails
        .iter()
        .find(|m| m.subject.contains("Fast"))
        .expect("a störning notice about the stored incident within 90 s");
    for part in [&mail.subject, &mail.text, &mail.html] {
        assert!(!part.contains(['\u{B}', '\u{C}', '\u{1}']), "{part:?}");
    }
    assert!(mail.subject.contains("Fast\ntelefoni") || mail.subject.contains("Fast telefoni"));
}
