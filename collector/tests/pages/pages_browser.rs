//! The driftinfo pages and the team's status page in a real browser: the real collector binary
//! with a simulated history (a service down now with an operator's update, one resolved
//! yesterday, an ad-hoc service window next Tuesday, an incident registered by hand with an
//! update), opened in Debian's headless Chromium, checked with axe-core (from npm) for
//! WCAG 2.1 A/AA violations, and again with JavaScript off (same content). The Atom feed is
//! parsed with `feed-rs`, and its entry ids are the same after a restart of the collector.
//! The editors get an "uppdatering" notice for each update. Tranemo has no office hours, so the
//! access point's outage pages on-call: the acknowledgement link's page shows what is
//! acknowledged (device, site, fault, since when, who was paged) and passes axe too; its
//! screenshot is the one in the README (`docs/kvittera-larm.png`). The operator web's pages
//! (`/drift/`: the login, the overview with that alarm, the windows, the audit log) are opened
//! in both browsers with an operator's session and pass axe too; they have no script at all.
//!
//! Chromium is driven over the DevTools protocol (a websocket on 127.0.0.1, port from its
//! `DevToolsActivePort` file): navigation waits for the load event, axe is injected with
//! `Runtime.evaluate` (no page is changed, nothing is fetched) and its promise awaited, every
//! request the page makes is recorded (`Network.requestWillBeSent`) and must go to the
//! collector on 127.0.0.1. A second Chromium runs with JavaScript off from its start
//! (`--blink-settings=scriptEnabled=false`); the page's script marks `<html>` when it runs, so
//! the test knows which pass had it. Screenshots are written under
//! `CARGO_TARGET_TMPDIR/pages_browser/` (the path is printed).
//!
//! Needs `chromium` (Debian) and `collector/tests/axe/node_modules/axe-core` (`npm install` in
//! `collector/tests/axe`); `scripts/test` installs both. Missing either fails with what to do.

use chrono::{DateTime, Datelike, Duration, NaiveTime, TimeZone, Timelike, Utc, Weekday};
use driftvakt_collector_testkit::devtools::{chromium, start_chromium, Cdp};
use driftvakt_collector_testkit::ports::free_port;
use driftvakt_collector_testkit::process::Proc;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;

const AGENT_TOKEN: &str = "pages-agent-token-0123456789abcdef";
const OPERATOR_TOKEN: &str = "pages-operator-token-0123456789ab";

const INVENTORY: &str = r#"
collector:
  database: DATABASE
  operator_token: { env: DV_PAGES_OPERATOR }
  grafana_url: http://127.0.0.1:9/grafana
  web: { auth: local, users_file: users.yaml }
sites:
  - { id: kommunhuset, name: Kommunhuset, municipality: Tranemo, node: true }
  - { id: skolan, name: Länghemskolan, municipality: Tranemo }
  - { id: stadshuset, name: Stadshuset, municipality: Ulricehamn }
devices:
  - { id: sw-t1, class: switch, site: kommunhuset, address: 10.40.0.2, interval: 300s, checks: [icmp] }
  - { id: ap-t1, class: access_point, site: skolan, address: 10.40.1.11, interval: 300s, checks: [icmp], description: "Accesspunkt matsalen" }
  - { id: prn-t1, class: printer, site: kommunhuset, address: 10.40.2.21, parent: sw-t1, interval: 300s, checks: [icmp] }
  - { id: sw-u1, class: switch, site: stadshuset, address: 10.50.0.2, interval: 300s, checks: [icmp] }
services:
  - { id: wifi-tranemo, name: Trådlöst nätverk, members: [ap-t1] }
  - { id: print-tranemo, name: Utskrift, members: [prn-t1] }
  - { id: net-ulricehamn, name: Nätverk Ulricehamn, members: [sw-u1] }
calendar:
  office_hours:
    municipalities:
      Tranemo: { monday: [], tuesday: [], wednesday: [], thursday: [], friday: [], saturday: [], sunday: [] }
notify:
  from: { default: "IT <it@kommun.example.se>" }
  hold_down: 0s
  ack: { public_url: "PUBLIC_URL", key: { env: DV_PAGES_ACK } }
  municipalities:
    Tranemo:
      editors: [intranat@tranemo.example.se]
      service_desk: [sd@kommun.example.se]
      on_call:
        - { name: Olle Berg, mail: olle.berg@tranemo.example.se }
        - { name: Anna Åström, mail: anna.astrom@tranemo.example.se }
    Ulricehamn: { editors: [intranat@ulricehamn.example.se], service_desk: [sd@kommun.example.se] }
agents:
  - { id: remote, token_env: DV_PAGES_AGENT, devices: [sw-t1, ap-t1, prn-t1, sw-u1] }
"#;

/// Starts the collector on `port` and waits until it listens.
fn start_collector(config: &Path, port: u16, log: &Path) -> Proc {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_driftvakt-collector"));
    cmd.args(["run", "--config"])
        .arg(config)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .env("DV_PAGES_AGENT", AGENT_TOKEN)
        .env("DV_PAGES_OPERATOR", OPERATOR_TOKEN)
        .env("DV_PAGES_ACK", "pages-ack-key-0123456789abcdef");
    let mut proc = Proc::spawn("collector", &mut cmd, log);
    for _ in 0..600 {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return proc;
        }
        proc.assert_running();
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("the collector did not listen on 127.0.0.1:{port} within a minute");
}

fn result(target: &str, time: DateTime<Utc>, ok: bool) -> Value {
    json!({
        "target": target, "check": "icmp", "time": time, "ok": ok, "duration_ms": 1.5,
        "error": if ok { Value::Null } else { json!("timeout") },
        "detail": if ok { Value::Null } else { json!("3 av 3 paket förlorade") },
        "values": {}
    })
}

/// Next Tuesday (not today) at `hh`:00 in Stockholm.
fn next_tuesday(now: DateTime<Utc>, hh: u32) -> DateTime<Utc> {
    let tz = chrono_tz::Europe::Stockholm;
    let mut d = now.with_timezone(&tz).date_naive() + Duration::days(1);
    while d.weekday() != Weekday::Tue {
        d += Duration::days(1);
    }
    let local = d.and_time(NaiveTime::from_hms_opt(hh, 0, 0).unwrap());
    tz.from_local_datetime(&local)
        .single()
        .unwrap()
        .with_timezone(&Utc)
}

struct Api {
    base: String,
    http: reqwest::Client,
    rt: tokio::runtime::Runtime,
}

impl Api {
    fn send(&self, method: reqwest::Method, path: &str, token: &str, body: Value) -> Value {
        self.rt.block_on(async {
            let r = self
                .http
                .request(method.clone(), format!("{}{path}", self.base))
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = r.status();
            let text = r.text().await.unwrap();
            assert!(status.is_success(), "{method} {path}: {status}: {text}");
            serde_json::from_str(&text).unwrap_or(Value::Null)
        })
    }

    fn get(&self, path: &str) -> (String, String) {
        self.rt.block_on(async {
            let r = self
                .http
                .get(format!("{}{path}", self.base))
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success(), "GET {path}: {}", r.status());
            let ct = r
                .headers()
                .get("content-type")
                .map(|v| v.to_str().unwrap().to_string())
                .unwrap_or_default();
            (ct, r.text().await.unwrap())
        })
    }
}

/// The simulated history, relative to the wall clock (the binary runs on it).
fn write_history(api: &Api, now: DateTime<Utc>) {
    let start = now - Duration::hours(26);
    let step = Duration::minutes(5);
    let mut results = Vec::new();
    let mut t = start;
    while t <= now {
        let yesterday = now - Duration::hours(24);
        results.push(result("sw-t1", t, true));
        results.push(result("sw-u1", t, true));
        results.push(result("ap-t1", t, t < now - Duration::minutes(40)));
        results.push(result(
            "prn-t1",
            t,
            !(t >= yesterday && t < yesterday + Duration::minutes(55)),
        ));
        t += step;
    }
    for (i, chunk) in results.chunks(200).enumerate() {
        api.send(
            reqwest::Method::POST,
            "/api/v1/results",
            AGENT_TOKEN,
            json!({ "agent": "remote", "batch_id": format!("history-{i}"), "results": chunk }),
        );
    }
    let tuesday = next_tuesday(now, 18);
    api.send(
        reqwest::Method::POST,
        "/api/v1/windows",
        OPERATOR_TOKEN,
        json!({ "start": tuesday, "end": tuesday + Duration::hours(3),
                "scope": "municipality:Tranemo", "reason": "Byte av brandväggar.", "by": "anna" }),
    );
    let incident = api.send(
        reqwest::Method::POST,
        "/api/v1/incidents",
        OPERATOR_TOKEN,
        json!({ "municipalities": ["Tranemo"], "start": now - Duration::hours(2),
                "title": "E-post fungerar inte",
                "description": "Det går inte att skicka eller ta emot e-post.", "by": "anna" }),
    );
    let id = incident["id"].as_i64().unwrap();
    api.send(
        reqwest::Method::PATCH,
        &format!("/api/v1/incidents/{id}"),
        OPERATOR_TOKEN,
        json!({ "update": "Leverantören felsöker, beräknas klart 14.00", "by": "anna" }),
    );
    api.send(
        reqwest::Method::POST,
        "/api/v1/services/wifi-tranemo/updates",
        OPERATOR_TOKEN,
        json!({ "text": "Accesspunkten i matsalen byts ut i eftermiddag.", "by": "olle" }),
    );
}

/// `html` without what changes with the clock: the text of `<time>` elements and of
/// `class="varaktighet"` spans, and the "Uppdaterad" line.
fn without_clock(html: &str) -> String {
    let mut out = html.to_string();
    for (open, close) in [
        ("<time", "</time>"),
        ("<span class=\"varaktighet\"", "</span>"),
    ] {
        let mut rest = out.as_str();
        let mut kept = String::new();
        while let Some(i) = rest.find(open) {
            kept.push_str(&rest[..i]);
            let j = rest[i..].find(close).map(|j| i + j + close.len()).unwrap();
            kept.push_str(open);
            kept.push('…');
            rest = &rest[j..];
        }
        kept.push_str(rest);
        out = kept;
    }
    out
}

fn axe_source() -> String {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/axe/node_modules/axe-core/axe.min.js");
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "axe-core is missing ({}: {e}): run `npm ci` in collector/tests/axe (scripts/test does)",
            path.display()
        )
    })
}

/// axe-core's WCAG 2.1 A and AA rules on the page open in `cdp`; panics listing violations.
fn assert_accessible(cdp: &mut Cdp, axe: &str, name: &str) {
    cdp.eval(axe);
    let violations = cdp.eval(
        "axe.run(document, { runOnly: { type: 'tag', values: \
         ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } }).then(r => ({ \
         violations: r.violations.map(v => ({ id: v.id, impact: v.impact, help: v.help, \
         nodes: v.nodes.map(n => n.target.join(' ')) })), passes: r.passes.length }))",
    );
    let list = violations["violations"].as_array().unwrap();
    assert!(
        list.is_empty(),
        "{name}: WCAG 2.1 A/AA violations:\n{}",
        serde_json::to_string_pretty(list).unwrap()
    );
    assert!(
        violations["passes"].as_u64().unwrap() > 10,
        "{name}: axe ran no rules"
    );
    eprintln!(
        "{name}: axe-core {} rules passed, no WCAG 2.1 A/AA violations",
        violations["passes"]
    );
}

/// The path of the acknowledgement link the first on-call contact was mailed (waits up to
/// 90 s for the alerting check to page).
fn ack_path(notify: &driftvakt_collector::store::SqliteNotifyStore) -> String {
    use driftvakt_collector::store::OutboxStore;
    for _ in 0..900 {
        let rows = notify.list(None).unwrap();
        let mailed = rows
            .iter()
            .filter(|r| r.kind == "alert" && r.recipient == "olle.berg@tranemo.example.se");
        for r in mailed {
            // Quoted-printable soft line breaks may cut the link.
            let raw = String::from_utf8_lossy(&r.raw).replace("=\r\n", "");
            if let Some(i) = raw.find("/ack/") {
                let token: String = raw[i + 5..]
                    .chars()
                    .take_while(|c| c.is_ascii_hexdigit() || *c == '.')
                    .collect();
                return format!("/ack/{token}");
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("no on-call alert with an acknowledgement link within 90 s");
}

#[test]
fn pages_in_a_real_browser_with_axe_and_the_feed_across_a_restart() {
    let browser = chromium();
    let axe = axe_source();
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("driftvakt.db");
    let config = dir.path().join("collector.yaml");
    let port = free_port();
    std::fs::write(
        &config,
        INVENTORY
            .replace("DATABASE", database.to_str().unwrap())
            .replace("PUBLIC_URL", &format!("http://127.0.0.1:{port}")),
    )
    .unwrap();
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("pages_browser");
    std::fs::create_dir_all(&shots).unwrap();
    eprintln!("screenshots: {}", shots.display());
    eprintln!("chromium: {}", browser.display());

    add_operator(&config);
    let collector = start_collector(&config, port, &dir.path().join("collector-1.log"));
    let api = Api {
        base: format!("http://127.0.0.1:{port}"),
        // No pooled connections: the collector is restarted below.
        http: reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .unwrap(),
        rt: tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap(),
    };
    let now = Utc::now()
        .with_second(0)
        .unwrap()
        .with_nanosecond(0)
        .unwrap();
    write_history(&api, now);

    // JSON: what the page shows.
    let (ct, text) = api.get("/driftinfo/tranemo.json");
    assert!(ct.starts_with("application/json"), "{ct}");
    let info: Value = serde_json::from_str(&text).unwrap();
    let titles = |k: &str| -> Vec<String> {
        info[k]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["title"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        titles("ongoing"),
        ["E-post fungerar inte", "Trådlöst nätverk"],
        "{text}"
    );
    assert_eq!(titles("resolved"), ["Utskrift"], "{text}");
    assert_eq!(info["resolved"][0]["duration_text"], "55 minuter", "{text}");
    let planned = info["planned"].as_array().unwrap();
    assert!(
        planned
            .iter()
            .any(|m| m["title"] == "Särskilt servicefönster"
                && m["reason"] == "Byte av brandväggar."),
        "{text}"
    );
    assert_eq!(
        info["ongoing"][1]["latest_update"]["text"],
        "Accesspunkten i matsalen byts ut i eftermiddag."
    );
    assert_eq!(
        info["ongoing"][0]["latest_update"]["text"],
        "Leverantören felsöker, beräknas klart 14.00"
    );
    assert_eq!(info["ongoing"][1]["places"], "Länghemskolan");

    // The public page names services and sites, never addresses or device ids; the embed
    // fragment has no page chrome.
    let (ct, public) = api.get("/driftinfo/tranemo");
    assert!(ct.starts_with("text/html"), "{ct}");
    for secret in ["10.40.", "ap-t1", "prn-t1", "sw-t1"] {
        assert!(!public.contains(secret), "the public page shows {secret}");
    }
    let (_, fragment) = api.get("/driftinfo/tranemo?embed=1");
    assert!(
        fragment.starts_with("<div class=\"driftinfo\" lang=\"sv\">"),
        "{fragment}"
    );
    assert!(!fragment.contains("<html") && !fragment.contains("<script"));
    assert!(fragment.contains("Leverantören felsöker, beräknas klart 14.00"));
    let (_, team) = api.get("/?q=ap-t1");
    assert!(
        team.contains("10.40.1.11")
            && team.contains("icmp: inget svar inom tidsgränsen (3 av 3 paket förlorade)"),
        "{team}"
    );
    assert!(
        !team.contains("10.50.0.2"),
        "the filter keeps other devices out"
    );

    // The feed, parsed by a real feed parser.
    let (ct, atom) = api.get("/driftinfo/tranemo/feed.atom");
    assert!(ct.starts_with("application/atom+xml"), "{ct}");
    let feed = feed_rs::parser::parse(atom.as_bytes()).expect("a valid Atom feed");
    assert_eq!(feed.feed_type, feed_rs::model::FeedType::Atom);
    let entry_titles: Vec<String> = feed
        .entries
        .iter()
        .map(|e| e.title.as_ref().unwrap().content.clone())
        .collect();
    for expected in [
        "Störning: Trådlöst nätverk (Länghemskolan)",
        "Uppdatering: Trådlöst nätverk (Länghemskolan)",
        "Störning: E-post fungerar inte (Tranemo)",
        "Uppdatering: E-post fungerar inte (Tranemo)",
        "Störning: Utskrift (Kommunhuset)",
        "Åtgärdat: Utskrift (Kommunhuset)",
    ] {
        assert!(
            entry_titles.iter().any(|t| t == expected),
            "no entry {expected:?} in {entry_titles:#?}"
        );
    }
    assert!(
        entry_titles
            .iter()
            .any(|t| t.starts_with("Planerat underhåll: alla IT-tjänster, tisdag")),
        "{entry_titles:#?}"
    );
    let ids: BTreeSet<(String, String)> = feed
        .entries
        .iter()
        .map(|e| (e.id.clone(), e.title.as_ref().unwrap().content.clone()))
        .collect();
    assert_eq!(ids.len(), feed.entries.len());
    assert!(ids.iter().all(|(id, _)| id.starts_with("urn:uuid:")));
    assert_eq!(
        ids.iter().map(|(id, _)| id).collect::<BTreeSet<_>>().len(),
        ids.len(),
        "entry ids are unique"
    );

    // The editors get the updates as "uppdatering" (the alerting check runs at least every
    // 30 s).
    let notify = driftvakt_collector::store::SqliteNotifyStore::open(&database).unwrap();
    let mut subjects = Vec::new();
    for _ in 0..900 {
        use driftvakt_collector::store::OutboxStore;
        subjects = notify
            .list(None)
            .unwrap()
            .into_iter()
            .filter(|r| r.kind == "update")
            .map(|r| format!("{} → {}", r.subject, r.recipient))
            .collect();
        if subjects.len() >= 2 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    subjects.sort();
    assert_eq!(
        subjects,
        [
            "Driftmeddelande – uppdatering: E-post fungerar inte, Tranemo → intranat@tranemo.example.se",
            "Driftmeddelande – uppdatering: Trådlöst nätverk, Länghemskolan → intranat@tranemo.example.se",
        ]
    );

    // The browser.
    let connect = |profile: &str, scripts: bool| {
        let proc = start_chromium(&dir.path().join(profile), scripts);
        let mut cdp = proc.connect();
        cdp.call("Page.enable", json!({}));
        cdp.call("Network.enable", json!({}));
        cdp.call("DOM.enable", json!({}));
        (proc, cdp)
    };
    // Two browsers: one as people have it, one with JavaScript off from the start.
    let (_chromium, mut cdp) = connect("chromium-js", true);
    let (_chromium_nojs, mut nojs) = connect("chromium-utan-js", false);
    let base = format!("http://127.0.0.1:{port}");
    for (name, page, must_show) in [
        (
            "driftinfo-tranemo",
            "/driftinfo/tranemo",
            vec![
                "Trådlöst nätverk",
                "Accesspunkten i matsalen byts ut i eftermiddag.",
                "E-post fungerar inte",
                "Leverantören felsöker, beräknas klart 14.00",
                "Särskilt servicefönster",
                "Byte av brandväggar.",
                "Utskrift",
                "55 minuter",
            ],
        ),
        (
            "driftinfo-ulricehamn",
            "/driftinfo/ulricehamn",
            vec!["Inga kända störningar just nu."],
        ),
        (
            "status",
            "/",
            vec![
                "ap-t1",
                "10.40.1.11",
                "icmp: inget svar inom tidsgränsen",
                "accesspunkt",
                "Kommunhuset",
                "Grafana: Översikt",
            ],
        ),
    ] {
        let url = format!("{base}{page}");
        let requests = cdp.open(&url);
        for r in &requests {
            assert!(
                r.starts_with(&base),
                "{name} requested {r}: only the collector may be asked"
            );
        }
        let lang = cdp.eval("document.documentElement.lang");
        assert_eq!(lang, "sv");
        let text = cdp.eval("document.body.innerText");
        for s in &must_show {
            assert!(
                text.as_str().unwrap().contains(s),
                "{name} does not show {s:?}:\n{text}"
            );
        }
        cdp.screenshot(&shots.join(format!("{name}.png")));
        assert_accessible(&mut cdp, &axe, name);
        let (with_js, top) = cdp.html("#innehall");
        assert!(
            top.contains("data-uppdatering=\"skript\""),
            "{name}: the script did not run"
        );

        let requests = nojs.open(&url);
        assert!(requests.iter().all(|r| r.starts_with(&base)));
        let (without_js, top) = nojs.html("#innehall");
        assert!(
            !top.contains("data-uppdatering=\"skript\""),
            "{name}: scripts ran although disabled"
        );
        assert_eq!(
            without_clock(&with_js),
            without_clock(&without_js),
            "{name}: the page without JavaScript shows other content"
        );
        nojs.screenshot(&shots.join(format!("{name}-utan-js.png")));
        eprintln!("{name}: {} with and without JavaScript alike", url);
    }

    // The acknowledgement page of the access point's on-call page, as a phone shows it: what
    // is acknowledged, in Swedish, and accessible. Its screenshot is the README's.
    let ack = ack_path(&notify);
    cdp.call(
        "Emulation.setDeviceMetricsOverride",
        json!({ "width": 390, "height": 640, "deviceScaleFactor": 2, "mobile": true }),
    );
    let requests = cdp.open(&format!("{base}{ack}"));
    assert!(
        requests.iter().all(|r| r.starts_with(&base)),
        "{requests:?}"
    );
    assert_eq!(cdp.eval("document.documentElement.lang"), "sv");
    let text = cdp.eval("document.body.innerText");
    let text = text.as_str().unwrap();
    for s in [
        "Accesspunkt matsalen (accesspunkt)",
        "Länghemskolan, Tranemo",
        "Enheten svarar inte",
        "Sedan",
        "Larmade",
        "Olle Berg (du)",
        "Kvittera – jag tar larmet",
    ] {
        assert!(
            text.contains(s),
            "the ack page does not show {s:?}:\n{text}"
        );
    }
    cdp.screenshot(&shots.join("kvittera-larm.png"));
    assert_accessible(&mut cdp, &axe, "kvittera-larm");

    cdp.call("Emulation.clearDeviceMetricsOverride", json!({}));
    drift_pages(&mut cdp, &mut nojs, &axe, port, &shots);

    // Restart: the same feed ids.
    drop(collector);
    let _collector = start_collector(&config, port, &dir.path().join("collector-2.log"));
    let (_, atom2) = api.get("/driftinfo/tranemo/feed.atom");
    let feed2 = feed_rs::parser::parse(atom2.as_bytes()).unwrap();
    let ids2: BTreeSet<(String, String)> = feed2
        .entries
        .iter()
        .map(|e| (e.id.clone(), e.title.as_ref().unwrap().content.clone()))
        .collect();
    assert_eq!(ids, ids2, "feed entry ids changed across a restart");
    eprintln!(
        "feed: {} entries, the same ids after a restart; screenshots in {}",
        ids2.len(),
        shots.display()
    );

    // After the restart (sessions live in memory: log in again), the operator web's forms.
    drift_actions(port, &operator_session(port), &ack);
}

const OPERATOR_PASSWORD: &str = "ett riktigt långt lösenord";

/// `driftvakt-collector user add anna --role operator` for the operator web.
fn add_operator(config: &Path) {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_driftvakt-collector"))
        .args(["user", "add", "anna", "--role", "operator", "--config"])
        .arg(config)
        .env("DV_PAGES_AGENT", AGENT_TOKEN)
        .env("DV_PAGES_OPERATOR", OPERATOR_TOKEN)
        .env("DV_PAGES_ACK", "pages-ack-key-0123456789abcdef")
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{OPERATOR_PASSWORD}").unwrap();
    assert!(child.wait().unwrap().success());
}

/// A session of the operator web: logs in through the form over plain HTTP; the session
/// cookie's value.
fn operator_session(port: u16) -> String {
    use driftvakt_collector_testkit::http::http;
    let (status, head, page) = http(
        port,
        "GET /drift/logga-in HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n",
    )
    .unwrap();
    assert_eq!(status, 200, "{page}");
    let cookie = |head: &str, name: &str| -> String {
        head.lines()
            .filter_map(|l| l.strip_prefix("set-cookie: "))
            .find_map(|c| c.strip_prefix(&format!("{name}=")))
            .map(|c| c.split(';').next().unwrap().to_string())
            .unwrap_or_else(|| panic!("no cookie {name} in {head}"))
    };
    let login = cookie(&head, "dv_login");
    let body = serde_urlencoded::to_string([
        ("csrf", login.as_str()),
        ("namn", "anna"),
        ("losenord", OPERATOR_PASSWORD),
    ])
    .unwrap();
    let (status, head, _) = http(
        port,
        &format!(
            "POST /drift/logga-in HTTP/1.0\r\nHost: 127.0.0.1\r\nCookie: dv_login={login}\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ),
    )
    .unwrap();
    assert_eq!(status, 303, "{head}");
    cookie(&head, "dv_session")
}

/// The operator web's pages in both browsers: the login page, then (with the session cookie
/// set as the login sets it: Secure, HttpOnly, SameSite=Strict) the overview, the windows and
/// the audit log; axe-core finds no WCAG 2.1 A/AA violation on any, nothing is fetched from
/// elsewhere, and without JavaScript each shows the same forms (the pages have no script).
fn drift_pages(cdp: &mut Cdp, nojs: &mut Cdp, axe: &str, port: u16, shots: &Path) {
    let base = format!("http://127.0.0.1:{port}");
    let session = operator_session(port);
    let pages = [
        (
            "drift-logga-in",
            "/drift/logga-in",
            vec!["Användarnamn", "Lösenord", "Logga in"],
        ),
        (
            "drift-oversikt",
            "/drift/",
            vec![
                "Kvittera larm",
                "Trådlöst nätverk",
                "Publicera uppdatering",
                "E-post fungerar inte",
                "Registrera en incident",
            ],
        ),
        (
            "drift-fonster",
            "/drift/fonster",
            vec![
                "Servicefönster",
                "Byte av brandväggar.",
                "Lägg till ett tillfälligt fönster",
            ],
        ),
        ("drift-logg", "/drift/logg", vec!["anna", "login", "ok"]),
    ];
    for (i, (name, path, must_show)) in pages.iter().enumerate() {
        if i == 1 {
            for b in [&mut *cdp, &mut *nojs] {
                let set = b.call(
                    "Network.setCookie",
                    json!({ "name": "dv_session", "value": session, "url": format!("{base}/drift/"),
                            "path": "/drift", "secure": true, "httpOnly": true, "sameSite": "Strict" }),
                );
                assert_eq!(set["success"], true, "{set}");
            }
        }
        let url = format!("{base}{path}");
        let mut forms = Vec::new();
        for b in [&mut *cdp, &mut *nojs] {
            let requests = b.open(&url);
            // `data:` is the browser's own icon of a date field, not a request anywhere.
            assert!(
                requests
                    .iter()
                    .all(|r| r.starts_with(&base) || r.starts_with("data:")),
                "{name}: {requests:?}"
            );
            let (main, _) = b.html("main");
            for s in must_show {
                assert!(main.contains(s), "{name} does not show {s:?}:\n{main}");
            }
            forms.push(main.matches("<form").count());
        }
        assert_eq!(forms[0], forms[1], "{name}: other forms without JavaScript");
        if i > 0 {
            let (header, _) = cdp.html("header");
            assert!(header.contains("Inloggad som anna (operatör)"), "{header}");
        }
        assert_eq!(cdp.eval("document.documentElement.lang"), "sv");
        assert_eq!(
            cdp.eval("document.scripts.length"),
            0,
            "{name} has a script"
        );
        cdp.screenshot(&shots.join(format!("{name}.png")));
        assert_accessible(cdp, axe, name);
    }
}

/// The operator web's forms on the probed history, as a browser without JavaScript posts
/// them: an update of the wifi disturbance (the intranet's JSON shows it once), and the
/// access point's on-call alarm acknowledged (its link then says by whom).
fn drift_actions(port: u16, session: &str, ack: &str) {
    use driftvakt_collector_testkit::http::http;
    let send = |method: &str, path: &str, body: &str| {
        http(
            port,
            &format!(
                "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nCookie: dv_session={session}\r\n\
                 Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            ),
        )
        .unwrap()
    };
    let (status, _, page) = send("GET", "/drift/", "");
    assert_eq!(status, 200, "{page}");
    let field = "name=\"csrf\" value=\"";
    let at = page.find(field).unwrap() + field.len();
    let csrf = &page[at..at + page[at..].find('"').unwrap()];
    let text = "Ny accesspunkt monteras kl. 15.";
    let body = serde_urlencoded::to_string([("csrf", csrf), ("text", text)]).unwrap();
    let (status, _, answer) = send("POST", "/drift/tjanster/wifi-tranemo/uppdatering", &body);
    assert_eq!(status, 303, "{answer}");
    let (_, _, json) = http(port, "GET /driftinfo/tranemo.json HTTP/1.0\r\n\r\n").unwrap();
    let info: Value = serde_json::from_str(&json).unwrap();
    let wifi = info["ongoing"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["title"] == "Trådlöst nätverk")
        .unwrap();
    assert_eq!(wifi["latest_update"]["text"], text, "{json}");
    let posted = wifi["updates"].as_array().unwrap();
    assert_eq!(
        posted.iter().filter(|u| u["text"] == text).count(),
        1,
        "{json}"
    );

    let kvittera = "/kvittera\"";
    let end = page.find(kvittera).expect("an alarm to acknowledge");
    let alarm = &page[page[..end].rfind('/').unwrap()..end + "/kvittera".len()];
    let body = serde_urlencoded::to_string([("csrf", csrf)]).unwrap();
    let (status, _, answer) = send("POST", &format!("/drift/larm{alarm}"), &body);
    assert_eq!(status, 303, "{alarm}: {answer}");
    let (_, _, link) = http(port, &format!("GET {ack} HTTP/1.0\r\n\r\n")).unwrap();
    assert!(
        link.contains("Larmet är redan kvitterat av anna."),
        "{link}"
    );
    let (_, _, log) = send("GET", "/drift/logg", "");
    for line in [
        "<td>anna</td><td>service.update</td><td>service wifi-tranemo: Ny accesspunkt monteras kl. 15.</td>",
        "<td>anna</td><td>alarm.acknowledge</td>",
    ] {
        assert!(log.contains(line), "no {line} in\n{log}");
    }
}
