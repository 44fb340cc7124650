//! End to end: a site goes dark, and everything a user sees is right.
//!
//! A small municipality in network namespaces (`rig_site`): one node site with a node switch,
//! two access points, a printer (SNMP by snmpsim), a smart screen (HTTP) and a UPS (SNMP by
//! snmpsim, on mains at first) behind it. The real `driftvakt-agent` (central mode) probes them
//! for the real `driftvakt-collector`, which mails through a real SMTP server (aiosmtpd) and is
//! scraped, with the agent, by Debian's real Prometheus. Everything is asserted on what people
//! see: the mails in the SMTP server's folder, the report JSON, Prometheus queries.
//!
//! The scenarios run one after the other on one rig (one test function):
//! 1. the site's uplink goes down: one störning to the editors, one on-call alert for the
//!    switch, nothing about the devices behind it; the link comes back: one åtgärdat; the
//!    report and Prometheus show the switch down and the children unreachable, then all up;
//! 5. (measured during 1) detection latency from link down to the störning in the mail folder;
//! 4. the same outage again with the collector SIGKILLed mid-outage and restarted;
//! 3. the UPS goes on battery with 35 minutes left: an on-call alert naming the four-hour
//!    requirement;
//! 2. the same outage inside an ad-hoc window (created over the API): no mail, planned downtime.
//!
//! Needs root, iproute2, snmpsim, python3-aiosmtpd and prometheus (`scripts/test` installs them).

use crate::rig_site::{Role, Site};
use chrono::{DateTime, Datelike, Utc};
use driftvakt_collector_testkit::ports::free_port;
use driftvakt_collector_testkit::process::{start_agent, start_collector, Proc};
use driftvakt_collector_testkit::prometheus::Prometheus;
use driftvakt_collector_testkit::smtp::{Eml, SmtpPeer};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const AGENT_TOKEN: &str = "e2e-agent-token-0123456789";
const OPERATOR_TOKEN: &str = "e2e-operator-token-0123456789";

const SITE: &str = "stadshuset";
const SWITCH: &str = "sw-stadshuset";
const CHILDREN: [&str; 5] = [
    "ap-stadshuset-1",
    "ap-stadshuset-2",
    "prn-stadshuset",
    "skarm-stadshuset",
    "ups-stadshuset",
];

const EDITORS: &str = "intranat@tranemo.example.se";
const SERVICE_DESK: &str = "servicedesk@tranemo.example.se";
const ON_CALL: &str = "beredskap@tranemo.example.se";

const STORNING: &str = "Driftmeddelande – störning: Nätverket, Stadshuset";
const ATGARDAT: &str = "Driftmeddelande – åtgärdat: Nätverket, Stadshuset";

/// Probe interval of every device, and failures before a device is down.
const INTERVAL_S: u64 = 2;
const CONFIRM_FAILURES: u64 = 3;

fn snmp_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/snmp")
        .join(name)
}

/// A lowercase English weekday name three days from now (Europe/Stockholm): where the primary
/// service window is moved so that it never covers the test, whenever CI runs it.
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

/// The collector's inventory: the site, its devices behind the switch, the agent, a calendar
/// without office hours and the SMTP server.
fn inventory(dir: &Path, site: &Site, smtp_port: u16) -> PathBuf {
    std::fs::write(dir.join("agent.token"), AGENT_TOKEN).unwrap();
    std::fs::set_permissions(
        dir.join("agent.token"),
        <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o600),
    )
    .unwrap(); // token files: owner only
    std::fs::write(dir.join("operator.token"), OPERATOR_TOKEN).unwrap();
    std::fs::set_permissions(
        dir.join("operator.token"),
        <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o600),
    )
    .unwrap(); // token files: owner only
    let icmp = "{ kind: icmp, count: 1, timeout: 1s }";
    let snmp = |cred: &str| format!("{{ kind: snmp, credentials: {cred}, timeout: 1s }}");
    let text = format!(
        r#"collector:
  database: {db}
  confirm_failures: {CONFIRM_FAILURES}
  operator_token: {{ file: operator.token }}
sites:
  - {{ id: {SITE}, name: Stadshuset, municipality: Tranemo, node: true }}
snmp_credentials:
  - {{ id: ups, version: v2c, community: {{ file: ups.community }} }}
  - {{ id: printer, version: v2c, community: {{ file: printer.community }} }}
devices:
  - {{ id: {SWITCH}, class: switch, site: {SITE}, address: {sw}, interval: {INTERVAL_S}s, checks: [{icmp}] }}
  - {{ id: ap-stadshuset-1, class: access_point, site: {SITE}, parent: {SWITCH}, address: {ap1}, interval: {INTERVAL_S}s, checks: [{icmp}] }}
  - {{ id: ap-stadshuset-2, class: access_point, site: {SITE}, parent: {SWITCH}, address: {ap2}, interval: {INTERVAL_S}s, checks: [{icmp}] }}
  - {{ id: prn-stadshuset, class: printer, site: {SITE}, parent: {SWITCH}, address: {prn}, interval: {INTERVAL_S}s, checks: [{icmp}, {snmp_printer}] }}
  - {{ id: skarm-stadshuset, class: screen, site: {SITE}, parent: {SWITCH}, address: {screen}, interval: {INTERVAL_S}s, checks: [{icmp}, {{ kind: http, url: "http://{screen}/", body_contains: Lokalbokning, timeout: 1s }}] }}
  - {{ id: ups-stadshuset, class: ups, site: {SITE}, parent: {SWITCH}, address: {ups}, interval: {INTERVAL_S}s, checks: [{icmp}, {snmp_ups}] }}
agents:
  - {{ id: e2e-agent, token_file: agent.token, sites: [{SITE}] }}
# "Now" is always outside office hours, whenever CI runs: Tranemo has none on any weekday, so
# device alerts go to on-call. The primary service window is moved to a weekday three days
# away, so it never covers the test either.
calendar:
  primary: {{ weekday: {weekday} }}
  office_hours:
    municipalities:
      Tranemo: {{ monday: [], tuesday: [], wednesday: [], thursday: [], friday: [], saturday: [], sunday: [] }}
notify:
  smtp: {{ host: 127.0.0.1, port: {smtp_port}, tls: none }}
  from:
    default: "IT Tranemo <it@tranemo.example.se>"
  municipalities:
    Tranemo:
      editors: [{EDITORS}]
      service_desk: [{SERVICE_DESK}]
      on_call: [{ON_CALL}]
  hold_down: 0s
"#,
        db = dir.join("dv.db").display(),
        sw = site.switch_ip,
        ap1 = site.ip("ap1"),
        ap2 = site.ip("ap2"),
        prn = site.ip("printer"),
        screen = site.ip("screen"),
        ups = site.ip("ups"),
        snmp_printer = snmp("printer"),
        snmp_ups = snmp("ups"),
        weekday = weekday_away_from_today(),
    );
    let path = dir.join("collector.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

/// The agent in central mode: no devices of its own, results pushed every second.
fn agent_config(dir: &Path, collector_port: u16, metrics_port: u16) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("token"), AGENT_TOKEN).unwrap();
    std::fs::set_permissions(
        dir.join("token"),
        <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o600),
    )
    .unwrap(); // token files: owner only
               // The SNMP communities the inventory's credentials name (files relative to this config).
    std::fs::write(dir.join("ups.community"), "ups\n").unwrap();
    std::fs::write(dir.join("printer.community"), "printer\n").unwrap();
    for f in ["ups.community", "printer.community"] {
        let mode = <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o600);
        std::fs::set_permissions(dir.join(f), mode).unwrap(); // secret files: owner only
    }
    let yaml = format!(
        "agent:\n  id: e2e-agent\n  listen: 127.0.0.1:{metrics_port}\n  collector:\n    url: http://127.0.0.1:{collector_port}\n    token: {{ file: token }}\n    batch_size: 100\n    push_interval: 1s\n    assignment_refresh: 2s\n  spool:\n    dir: spool\n    max_bytes: 64MiB\ndevices: []\n"
    );
    let path = dir.join("agent.yaml");
    std::fs::write(&path, yaml).unwrap();
    path
}

/// snmpsim data files named after their community: the UPS on mains, and a printer whose
/// toner is fine (the shipped printer file has low black toner, which would raise an alert of
/// its own; here only the site's outage should mail).
fn snmp_data(dir: &Path) -> (PathBuf, PathBuf) {
    let data = dir.join("snmp");
    std::fs::create_dir_all(&data).unwrap();
    let ups = data.join("ups.snmprec");
    std::fs::copy(snmp_file("ups-mains.snmprec"), &ups).unwrap();
    let printer = data.join("printer.snmprec");
    let low = std::fs::read_to_string(snmp_file("printer-low-toner.snmprec")).unwrap();
    let fine = low.replace(
        "1.3.6.1.2.1.43.11.1.1.9.1.1|2|80",
        "1.3.6.1.2.1.43.11.1.1.9.1.1|2|1600",
    );
    assert_ne!(
        low, fine,
        "the printer data file changed: update the toner line"
    );
    std::fs::write(&printer, fine).unwrap();
    (ups, printer)
}

/// Polls `done` every 100 ms; fails the test with `what` after `limit`.
async fn wait_for<F, Fut>(what: &str, limit: Duration, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !done().await {
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn get_json(url: &str) -> Option<Value> {
    let r = reqwest::get(url).await.ok()?;
    if !r.status().is_success() {
        return None;
    }
    r.json().await.ok()
}

/// Device states from the collector's `/api/v1/status`.
async fn states(port: u16) -> Option<Vec<(String, String)>> {
    let v = get_json(&format!("http://127.0.0.1:{port}/api/v1/status")).await?;
    Some(
        v["devices"]
            .as_array()?
            .iter()
            .map(|d| {
                (
                    d["id"].as_str().unwrap_or_default().to_string(),
                    d["state"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect(),
    )
}

async fn all_in_state(port: u16, want: impl Fn(&str) -> &'static str) -> bool {
    let Some(s) = states(port).await else {
        return false;
    };
    s.len() == 1 + CHILDREN.len() && s.iter().all(|(id, st)| st == want(id))
}

/// Waits until every device is in the state `want` gives it (the collector's view).
async fn wait_states(port: u16, what: &str, within: Duration, want: fn(&str) -> &'static str) {
    let start = Instant::now();
    while !all_in_state(port, want).await {
        assert!(
            start.elapsed() < within,
            "timed out after {within:?} waiting for {what}: {:?}",
            states(port).await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until every device is up (the collector's view).
async fn wait_all_up(port: u16, within: Duration) {
    wait_states(port, "every device up", within, |_| "up").await;
}

/// The switch down and every child unreachable (the collector's view).
fn dark(id: &str) -> &'static str {
    if id == SWITCH {
        "down"
    } else {
        "unreachable"
    }
}

/// `driftvakt_device_state` per device, through Prometheus.
async fn prom_states(prom: &Prometheus) -> Vec<(String, f64)> {
    prom.samples("driftvakt_device_state")
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|(labels, v)| (labels["device"].as_str().unwrap_or("").to_string(), v))
        .collect()
}

async fn prom_shows(prom: &Prometheus, want: impl Fn(&str) -> f64) -> bool {
    let s = prom_states(prom).await;
    s.len() == 1 + CHILDREN.len() && s.iter().all(|(id, v)| *v == want(id))
}

/// The report JSON for `[from, to]`.
async fn report(port: u16, from: DateTime<Utc>, to: DateTime<Utc>) -> Value {
    let url = format!("http://127.0.0.1:{port}/api/v1/report");
    let resp = reqwest::Client::new()
        .get(url)
        .query(&[("from", from.to_rfc3339()), ("to", to.to_rfc3339())])
        .send()
        .await
        .expect("report request");
    assert!(resp.status().is_success(), "report: {}", resp.status());
    resp.json().await.unwrap()
}

fn device_row<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["devices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["id"] == id)
        .unwrap_or_else(|| panic!("{id} is not in the report: {report}"))
}

fn num(v: &Value, key: &str) -> f64 {
    v[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} missing in {v}"))
}

fn describe(mails: &[Eml]) -> String {
    mails
        .iter()
        .map(|m| format!("  to {}: {}", m.to(), m.subject))
        .collect::<Vec<_>>()
        .join("\n")
}

fn with_subject<'a>(mails: &'a [Eml], subject: &str) -> Vec<&'a Eml> {
    mails.iter().filter(|m| m.subject == subject).collect()
}

/// Everything the test runs; dropped (killed, torn down) in reverse order, also on failure.
struct Rig {
    dir: tempfile::TempDir,
    site: Site,
    smtp: SmtpPeer,
    config: PathBuf,
    port: u16,
    collector: Option<Proc>,
    _agent: Proc,
    prom: Prometheus,
    /// Collector starts so far (each gets its own log).
    starts: usize,
}

impl Rig {
    async fn start() -> Rig {
        let dir = tempfile::tempdir().unwrap();
        let (ups, printer) = snmp_data(dir.path());
        let site = Site::build(
            "dark",
            &[
                ("ap1", Role::Plain),
                ("ap2", Role::Plain),
                ("printer", Role::Snmp(vec![printer])),
                ("screen", Role::Http("<h1>Lokalbokning</h1>".into())),
                ("ups", Role::Snmp(vec![ups])),
            ],
        );
        let mail_dir = dir.path().join("mail");
        let smtp = SmtpPeer::start(&mail_dir);
        let config = inventory(dir.path(), &site, smtp.port);
        let port = free_port();
        let metrics_port = free_port();
        let db = dir.path().join("dv.db");
        let collector =
            start_collector(&config, port, &db, &dir.path().join("collector-1.log")).await;
        let agent_cfg = agent_config(&dir.path().join("agent"), port, metrics_port);
        let agent = start_agent(&agent_cfg, &dir.path().join("agent.log"));
        let prom = Prometheus::start(&[
            format!("127.0.0.1:{port}"),
            format!("127.0.0.1:{metrics_port}"),
        ]);
        Rig {
            dir,
            site,
            smtp,
            config,
            port,
            collector: Some(collector),
            _agent: agent,
            prom,
            starts: 1,
        }
    }

    fn mails(&self) -> Vec<Eml> {
        self.smtp.messages()
    }

    /// Kills the collector with SIGKILL (no clean shutdown) and starts it again.
    async fn kill_and_restart_collector(&mut self) {
        let mut c = self.collector.take().expect("a running collector");
        c.kill();
        drop(c);
        self.starts += 1;
        let log = self
            .dir
            .path()
            .join(format!("collector-{}.log", self.starts));
        let db = self.dir.path().join("dv.db");
        self.collector = Some(start_collector(&self.config, self.port, &db, &log).await);
    }

    /// Fails with the processes' logs when one of them has exited.
    fn assert_running(&mut self) {
        if let Some(c) = self.collector.as_mut() {
            c.assert_running();
        }
        self._agent.assert_running();
    }

    /// Mails arriving after `seen` mails, waiting (bounded) until `done` holds for them.
    async fn wait_mails(
        &self,
        seen: usize,
        what: &str,
        within: Duration,
        done: impl Fn(&[Eml]) -> bool,
    ) -> Vec<Eml> {
        let start = Instant::now();
        loop {
            let all = self.mails();
            let new = all.get(seen..).unwrap_or_default().to_vec();
            if done(&new) {
                return new;
            }
            assert!(
                start.elapsed() < within,
                "timed out after {within:?} waiting for {what}; new mails:\n{}",
                describe(&new)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The mails of one outage outside windows: one störning to the editors, one on-call alert
/// for the switch, and after the link came back one åtgärdat and one "larm upphört" — nothing
/// about the devices behind the switch, nothing to anyone else.
fn assert_outage_mails(mails: &[Eml]) {
    let all = describe(mails);
    let storning = with_subject(mails, STORNING);
    assert_eq!(storning.len(), 1, "exactly one störning:\n{all}");
    assert_eq!(storning[0].to(), EDITORS, "störning to the editors:\n{all}");
    assert!(
        storning[0].text.contains("(5 enheter)"),
        "the störning counts the five devices behind the switch: {}",
        storning[0].text
    );
    let alerts: Vec<&Eml> = mails
        .iter()
        .filter(|m| m.subject.starts_with("Larm: "))
        .collect();
    assert_eq!(alerts.len(), 1, "exactly one alert:\n{all}");
    assert_eq!(
        alerts[0].subject,
        format!("Larm: {SWITCH}, Stadshuset – Enheten svarar inte")
    );
    assert_eq!(alerts[0].to(), ON_CALL, "the alert pages on-call:\n{all}");
    assert!(
        alerts[0].text.contains("Larm (beredskap)"),
        "{}",
        alerts[0].text
    );
    let atgardat = with_subject(mails, ATGARDAT);
    assert_eq!(atgardat.len(), 1, "exactly one åtgärdat:\n{all}");
    assert_eq!(atgardat[0].to(), EDITORS);
    assert!(
        atgardat[0].text.contains("varade i mindre än en minut"),
        "the åtgärdat gives the duration: {}",
        atgardat[0].text
    );
    let cleared: Vec<&Eml> = mails
        .iter()
        .filter(|m| m.subject.starts_with("Larm upphört: "))
        .collect();
    assert_eq!(cleared.len(), 1, "exactly one alert cleared:\n{all}");
    assert!(
        cleared[0].subject.contains(SWITCH),
        "{}",
        cleared[0].subject
    );
    assert_eq!(cleared[0].to(), ON_CALL);
    assert_eq!(mails.len(), 4, "no other mails:\n{all}");
    for m in mails {
        for child in CHILDREN {
            assert!(
                !m.subject.contains(child) && !m.text.contains(child),
                "a device behind the switch was alerted on its own: {}",
                m.subject
            );
        }
    }
}

/// The report over one outage: the switch's own outage, unreachable time on every child, all
/// of it unplanned (`planned` false) or planned (`planned` true).
fn assert_outage_report(r: &Value, down_s: f64, planned: bool) {
    for id in std::iter::once(SWITCH).chain(CHILDREN) {
        let row = device_row(r, id);
        let downtime = num(row, "downtime_s");
        assert_eq!(row["outages"], 1, "{id}: one outage in {row}");
        // Down (switch) or unreachable (children) from the first failed probe to the first
        // answer: the link's down time within a few probe intervals.
        let slack = 2.0 * INTERVAL_S as f64 + 2.0;
        assert!(
            (downtime - down_s).abs() <= slack,
            "{id}: downtime {downtime} s, the link was down {down_s:.1} s: {row}"
        );
        let (p, u) = (
            num(row, "planned_downtime_s"),
            num(row, "unplanned_downtime_s"),
        );
        if planned {
            assert!(p > 0.0 && u == 0.0, "{id}: all planned: {row}");
        } else {
            assert!(u > 0.0 && p == 0.0, "{id}: all unplanned: {row}");
        }
    }
}

fn since(t0: Instant) -> f64 {
    t0.elapsed().as_secs_f64()
}

/// What one outage outside windows showed.
struct Outage {
    mails: Vec<Eml>,
    report: Value,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    /// Link down to the störning in the mail folder.
    latency: Duration,
}

/// The uplink goes down and comes back; with `kill`, the collector is SIGKILLed and restarted
/// after the störning arrived and before the link comes back. Asserts the mails, the
/// collector's status and Prometheus while dark and after, and the report.
async fn outage(rig: &mut Rig, t0: Instant, kill: bool) -> Outage {
    let port = rig.port;
    let seen = rig.mails().len();
    let down_at = Utc::now();
    let down = Instant::now();
    rig.site.uplink_down();
    rig.wait_mails(seen, "the störning", Duration::from_secs(40), |m| {
        !with_subject(m, STORNING).is_empty()
    })
    .await;
    let latency = down.elapsed();
    eprintln!(
        "[{:5.1}s] störning in the mail folder {:.2} s after the link went down",
        since(t0),
        latency.as_secs_f64()
    );
    if kill {
        rig.kill_and_restart_collector().await;
        eprintln!("[{:5.1}s] collector SIGKILLed and restarted", since(t0));
    }
    // A wait, not a latency bound (that is the störning's, above): after a SIGKILL the
    // restarted collector first re-derives and takes the lease, on two loaded cores.
    rig.wait_mails(
        seen,
        "the switch's on-call alert",
        Duration::from_secs(45),
        |m| m.iter().any(|m| m.subject.starts_with("Larm: ")),
    )
    .await;
    wait_states(
        port,
        "the collector's view: switch down, children unreachable",
        Duration::from_secs(15),
        dark,
    )
    .await;
    wait_for(
        "Prometheus: driftvakt_device_state 2 for the switch, 3 for the children",
        Duration::from_secs(15),
        || prom_shows(&rig.prom, |id| if id == SWITCH { 2.0 } else { 3.0 }),
    )
    .await;
    eprintln!(
        "[{:5.1}s] dark: mails, status and Prometheus agree",
        since(t0)
    );

    rig.site.uplink_up();
    let down_s = down.elapsed().as_secs_f64();
    rig.wait_mails(
        seen,
        "the åtgärdat and the alert cleared",
        Duration::from_secs(30),
        |m| {
            !with_subject(m, ATGARDAT).is_empty()
                && m.iter().any(|m| m.subject.starts_with("Larm upphört: "))
        },
    )
    .await;
    wait_all_up(port, Duration::from_secs(15)).await;
    wait_for(
        "Prometheus: driftvakt_device_state 0 for every device",
        Duration::from_secs(15),
        || prom_shows(&rig.prom, |_| 0.0),
    )
    .await;
    // Nothing else arrives after the åtgärdat: wait out a delivery round.
    tokio::time::sleep(DELIVERY_ROUND).await;
    let mails = rig.mails()[seen..].to_vec();
    assert_outage_mails(&mails);
    // From just before the link went down (outages start at the first failed probe) to now.
    let (from, to) = (down_at - chrono::Duration::seconds(1), Utc::now());
    let report = report(port, from, to).await;
    assert_outage_report(&report, down_s, false);
    eprintln!(
        "[{:5.1}s] outage over (link down {down_s:.1} s): mails, report, Prometheus right",
        since(t0)
    );
    Outage {
        mails,
        report,
        from,
        to,
        latency,
    }
}

/// A little more than the collector's delivery period (5 s): a mail enqueued before it
/// started has been sent when it ends.
const DELIVERY_ROUND: Duration = Duration::from_millis(5500);

/// Per device: (outages, downtime) of a report, to compare two reports of the same interval.
fn outage_figures(r: &Value) -> Vec<(String, u64, f64)> {
    r["devices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["id"].as_str().unwrap().to_string(),
                d["outages"].as_u64().unwrap(),
                num(d, "downtime_s"),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_dark_site_is_told_once_reported_and_graphed() {
    let t0 = Instant::now();
    let mut rig = Rig::start().await;
    let port = rig.port;
    wait_all_up(port, Duration::from_secs(30)).await;
    eprintln!("[{:5.1}s] rig up, every device up", since(t0));
    assert!(
        rig.prom
            .wait_for("driftvakt_device_state == 0", Duration::from_secs(20))
            .await,
        "Prometheus never showed the devices up"
    );
    assert!(
        rig.mails().is_empty(),
        "no mail before the outage:\n{}",
        describe(&rig.mails())
    );

    // 1 + 5. The uplink goes down, outside office hours, and comes back.
    let first = outage(&mut rig, t0, false).await;
    let bar = Duration::from_secs(CONFIRM_FAILURES * INTERVAL_S + 5);
    eprintln!(
        "[{:5.1}s] scenario 1 done; detection latency (link down to störning in the mail \
         folder): {:.2} s, bar confirm_failures × interval + 5 s = {} s",
        since(t0),
        first.latency.as_secs_f64(),
        bar.as_secs()
    );

    // 4. The same with the collector SIGKILLed mid-outage and restarted: the same mails, once
    // each, and the same report; the first outage's report is unchanged by the restart.
    let second = outage(&mut rig, t0, true).await;
    let subjects = |o: &Outage| {
        let mut s: Vec<(String, String)> = o
            .mails
            .iter()
            .map(|m| (m.to(), m.subject.clone()))
            .collect();
        s.sort();
        s
    };
    assert_eq!(
        subjects(&first),
        subjects(&second),
        "the same mails after a restart"
    );
    let again = report(port, first.from, first.to).await;
    assert_eq!(
        outage_figures(&again),
        outage_figures(&first.report),
        "the first outage's report changed after the restart"
    );
    eprintln!("[{:5.1}s] scenario 4 done", since(t0));

    // 3. The UPS at the node goes on battery with 35 minutes left: on-call hears of the
    // four-hour requirement.
    let seen = rig.mails().len();
    rig.site
        .replace_snmp_file("ups", "ups.snmprec", &snmp_file("ups-battery.snmprec"));
    let ups_alerts = rig
        .wait_mails(
            seen,
            "the UPS alerts (on battery, under four hours)",
            Duration::from_secs(30),
            |m| m.iter().filter(|m| m.subject.starts_with("Larm: ")).count() >= 2,
        )
        .await;
    eprintln!("[{:5.1}s] UPS alerts arrived", since(t0));
    let all = describe(&ups_alerts);
    assert_eq!(ups_alerts.len(), 2, "two UPS alerts, nothing else:\n{all}");
    for m in &ups_alerts {
        assert!(
            m.subject.starts_with("Larm: ups-stadshuset, Stadshuset – "),
            "{all}"
        );
        assert_eq!(m.to(), ON_CALL, "UPS alerts page on-call:\n{all}");
    }
    let runtime: Vec<&Eml> = ups_alerts
        .iter()
        .filter(|m| m.subject.contains("krav 4 timmar"))
        .collect();
    assert_eq!(runtime.len(), 1, "one alert names the four hours:\n{all}");
    assert_eq!(
        runtime[0].subject,
        "Larm: ups-stadshuset, Stadshuset – UPS-reserven räcker 35 minuter (krav 4 timmar)"
    );
    assert!(
        runtime[0]
            .text
            .contains("fyra timmars reservkraft vid knutpunkter"),
        "{}",
        runtime[0].text
    );
    assert!(
        ups_alerts
            .iter()
            .any(|m| m.subject.ends_with("– UPS går på batteri")),
        "{all}"
    );
    // The same reading through Prometheus: the agent's probe value and the collector's gauge.
    wait_for(
        "Prometheus: the UPS on battery with 35 minutes left",
        Duration::from_secs(15),
        || async {
            let agent = rig
                .prom
                .samples(r#"probe_ups_runtime_minutes{device="ups-stadshuset"}"#)
                .await
                .unwrap_or_default();
            let collector = rig
                .prom
                .samples(r#"driftvakt_ups_on_battery{device="ups-stadshuset"}"#)
                .await
                .unwrap_or_default();
            agent.first().is_some_and(|s| s.1 == 35.0)
                && collector.first().is_some_and(|s| s.1 == 1.0)
        },
    )
    .await;
    // Back on mains: both alerts are cleared.
    rig.site
        .replace_snmp_file("ups", "ups.snmprec", &snmp_file("ups-mains.snmprec"));
    let mails = rig
        .wait_mails(
            seen,
            "the UPS alerts cleared",
            Duration::from_secs(30),
            |m| {
                m.iter()
                    .filter(|m| m.subject.starts_with("Larm upphört: ups-stadshuset"))
                    .count()
                    >= 2
            },
        )
        .await;
    wait_all_up(port, Duration::from_secs(15)).await;
    tokio::time::sleep(DELIVERY_ROUND).await;
    let mails = rig
        .mails()
        .get(seen..)
        .map(<[Eml]>::to_vec)
        .unwrap_or(mails);
    let cleared = mails
        .iter()
        .filter(|m| m.subject.starts_with("Larm upphört: ups-stadshuset") && m.to() == ON_CALL)
        .count();
    assert_eq!(
        (mails.len(), cleared),
        (4, 2),
        "two alerts and their two clearings:\n{}",
        describe(&mails)
    );
    eprintln!("[{:5.1}s] scenario 3 done", since(t0));

    // 2. The same outage inside an ad-hoc window for the site (created over the API with the
    // operator token, covering now): no mail at all, and the downtime is planned. It runs last:
    // the window cannot be cancelled once started, and would silence what came after it. The
    // UPS, back on mains after scenario 3, must be unreachable here like the rest.
    let now = Utc::now();
    let window_end = now + chrono::Duration::seconds(40);
    let resp = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/api/v1/windows"))
        .bearer_auth(OPERATOR_TOKEN)
        .json(&serde_json::json!({
            "start": (now - chrono::Duration::minutes(1)).to_rfc3339(),
            "end": window_end.to_rfc3339(),
            "scope": format!("site:{SITE}"),
            "reason": "Byte av accesswitch",
            "by": "e2e",
        }))
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let body = resp.text().await.unwrap();
    assert!(status.is_success(), "creating the window: {status} {body}");
    let seen = rig.mails().len();
    let down_at = Utc::now();
    let down = Instant::now();
    rig.site.uplink_down();
    wait_states(
        port,
        "the collector's view in the window: switch down, children unreachable",
        Duration::from_secs(20),
        dark,
    )
    .await;
    // Long enough for the störning and the alert to have been sent, were they not suppressed.
    tokio::time::sleep(DELIVERY_ROUND).await;
    rig.site.uplink_up();
    let down_s = down.elapsed().as_secs_f64();
    wait_all_up(port, Duration::from_secs(15)).await;
    tokio::time::sleep(DELIVERY_ROUND).await;
    let mails = rig.mails()[seen..].to_vec();
    assert!(
        mails.is_empty(),
        "no mail about an outage inside a service window:\n{}",
        describe(&mails)
    );
    let r = report(port, down_at - chrono::Duration::seconds(1), Utc::now()).await;
    assert_outage_report(&r, down_s, true);
    eprintln!("[{:5.1}s] scenario 2 done", since(t0));

    rig.assert_running();
    eprintln!(
        "[{:5.1}s] total; detection latency {:.2} s (first outage), {:.2} s (second)",
        since(t0),
        first.latency.as_secs_f64(),
        second.latency.as_secs_f64()
    );
    assert!(
        first.latency <= bar,
        "detection latency {:.2} s is over confirm_failures × interval + 5 s = {} s",
        first.latency.as_secs_f64(),
        bar.as_secs()
    );
}
