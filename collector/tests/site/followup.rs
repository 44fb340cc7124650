//! The committee's follow-up, through the real ingest path with the clock set: handling time in
//! working days, billable on-call cases, incidents per municipality against the goal, incidents
//! registered by hand over the real HTTP API (mailed once), and the backup-power warning.

use chrono::{DateTime, Duration, Utc};
use driftvakt_collector::alerting::{Alerting, CheckReport};
use driftvakt_collector::app::App;
use driftvakt_collector::clock::Clock;
use driftvakt_collector::http::{serve, ApiState};
use driftvakt_collector::inventory::Inventory;
use driftvakt_collector::notify::{Notifier, OutboxStore, SmtpTransport};
use driftvakt_collector::report::{self, Format, Report};
use driftvakt_collector::store::{Database, NotifyStore, Stores, WindowStore};
use driftvakt_collector::windows::CalendarService;
use driftvakt_collector_testkit::notify::ManualClock;
use driftvakt_collector_testkit::smtp::{Eml, SmtpPeer};
use driftvakt_common::schema::Secret;
use driftvakt_common::wire::{Batch, ProbeResult};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

const TOKEN: &str = "followup-test-token-0123456789";
const OPERATOR: &str = "followup-operator-token-0123456789";
const EDITORS: &str = "intranat@tranemo.example.se";
const ON_CALL: &str = "beredskap@tranemo.example.se";
const DESK: &str = "servicedesk@tranemo.example.se";

/// Tranemo: the e-mail service (a device of class `service`) at Kommunhuset (a crisis site
/// with a UPS, a switch and a printer behind it) and a node without a UPS; Ulricehamn: one
/// access point.
const INVENTORY: &str = r#"
collector:
  database: DATABASE
sites:
  - { id: kommunhuset, name: Kommunhuset Tranemo, municipality: Tranemo, crisis_site: true }
  - { id: nod-limmared, name: Nod Limmared, municipality: Tranemo, node: true, department: Samhällsbyggnad }
  - { id: stadshuset, name: Stadshuset, municipality: Ulricehamn }
devices:
  - { id: mail, class: service, site: kommunhuset, address: mail.tranemo.example.se, interval: 1h, checks: [icmp] }
  - { id: ups-kommunhuset, class: ups, site: kommunhuset, address: 10.2.0.5, interval: 60s, checks: [icmp] }
  - { id: sw-limmared, class: switch, site: nod-limmared, address: 10.2.1.1, interval: 60s, checks: [icmp], description: "Nodswitch Limmared" }
  - { id: ap-stadshuset, class: access_point, site: stadshuset, address: 10.3.0.11, interval: 1h, checks: [icmp] }
  - { id: sw-kommunhuset, class: switch, site: kommunhuset, address: 10.2.0.1, interval: 10m, checks: [icmp] }
  - { id: skrivare-kommunhuset, class: printer, site: kommunhuset, address: 10.2.0.30, interval: 10m, checks: [icmp], parent: sw-kommunhuset }
services:
  - { id: epost, name: E-post, members: [mail] }
  - { id: natverk-kommunhuset, name: Nätverk Kommunhuset, members: [sw-kommunhuset] }
  - { id: utskrift-kommunhuset, name: Utskrift Kommunhuset, members: [skrivare-kommunhuset] }
agents:
  - { id: a1, token_file: a1.token, municipalities: [Tranemo, Ulricehamn] }
notify:
  smtp: { host: 127.0.0.1, port: PORT, tls: none, timeout: 5s }
  from:
    default: "IT Tranemo <it@tranemo.example.se>"
  municipalities:
    Tranemo:
      editors: [intranat@tranemo.example.se]
      service_desk: [servicedesk@tranemo.example.se]
      on_call: [beredskap@tranemo.example.se]
  hold_down: 0s
  retry: { initial_backoff: 10s, max_backoff: 60s }
"#;

struct Rig {
    tmp: tempfile::TempDir,
    peer: SmtpPeer,
    clock: Arc<ManualClock>,
    app: App,
    calendar: Arc<CalendarService<Arc<dyn WindowStore>>>,
    alerting: Alerting<Arc<dyn NotifyStore>>,
    /// The database's stores, opened once (as `run` opens them).
    stores: Stores,
    batches: AtomicU64,
}

impl Rig {
    fn start(now: &str) -> Rig {
        Rig::start_with(now, "")
    }

    /// A rig whose inventory has `extra` appended (e.g. a `calendar:` section).
    fn start_with(now: &str, extra: &str) -> Rig {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let peer = SmtpPeer::start(&dir.join("mail"));
        let clock = ManualClock::at(now);
        std::fs::write(dir.join("a1.token"), TOKEN).unwrap();
        let mode = <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o600);
        std::fs::set_permissions(dir.join("a1.token"), mode).unwrap(); // owner only
        let text = INVENTORY
            .replace("DATABASE", &dir.join("collector.db").display().to_string())
            .replace("PORT", &peer.port.to_string())
            + extra;
        std::fs::write(dir.join("collector.yaml"), text).unwrap();
        let inv = Inventory::load(&dir.join("collector.yaml")).unwrap();
        let db = inv.settings.database.clone();
        let stores = Database::open(&db).unwrap().stores().unwrap();
        let config = inv.notify.clone().unwrap();
        let calendar = Arc::new(CalendarService::new(
            inv.calendar.clone().unwrap_or_default(),
            stores.windows.clone(),
            clock.clone(),
        ));
        let c = clock.clone();
        let app = App::new(inv, stores.results.clone(), Arc::new(move || c.now())).unwrap();
        let transport = SmtpTransport::from_config(config.smtp.as_ref().unwrap()).unwrap();
        let notifier = Notifier::new(
            config,
            calendar.clone(),
            clock.clone(),
            stores.notify.clone(),
            Arc::new(transport),
        );
        let alerting = Alerting::new(
            app.clone(),
            Arc::new(notifier),
            stores.announced.clone(),
            stores.service_updates.clone(),
        );
        Rig {
            tmp,
            peer,
            clock,
            app,
            calendar,
            alerting,
            stores,
            batches: AtomicU64::new(0),
        }
    }

    /// Sets the clock to `now`, ingests `results` through the real ingest path and runs the
    /// alerting check.
    async fn ingest(&self, now: DateTime<Utc>, results: Vec<ProbeResult>) -> CheckReport {
        self.clock.set(&now.to_rfc3339());
        if !results.is_empty() {
            let n = self.batches.fetch_add(1, Ordering::SeqCst);
            let batch = Batch {
                agent: "a1".into(),
                batch_id: format!("followup-{n}"),
                results,
            };
            let resp = self.app.ingest_batch("a1", batch).await.unwrap();
            assert!(resp.rejected.is_empty(), "{:?}", resp.rejected);
        }
        self.alerting.check().unwrap()
    }

    async fn deliver_until(&self, n: usize) -> Vec<Eml> {
        for _ in 0..100 {
            self.alerting.notifier().deliver_due().await;
            let got = self.peer.messages();
            if got.len() >= n {
                return got;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let got: Vec<String> = self
            .peer
            .messages()
            .into_iter()
            .map(|m| m.subject)
            .collect();
        panic!("expected {n} messages, got {got:?}");
    }

    fn report(&self, period: &str) -> Report {
        let calendar = self.calendar.calendar().unwrap();
        let period = driftvakt_collector::availability::Period::parse(period).unwrap();
        let mut r = report::build(
            &self.app.inventory,
            &*self.app.store,
            &calendar,
            &period,
            self.clock.now(),
        )
        .unwrap();
        let stores = &self.stores;
        report::add_oncall_cases(&mut r, &*stores.notify, &*stores.oncall_cases).unwrap();
        r
    }
}

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn icmp(target: &str, time: DateTime<Utc>, ok: bool) -> ProbeResult {
    ProbeResult {
        target: target.into(),
        check: "icmp".into(),
        time,
        ok,
        duration_ms: 1.0,
        error: (!ok).then(|| "timeout".to_string()),
        detail: None,
        findings: Vec::new(),
        values: Default::default(),
    }
}

/// Results of `devices` every `step` from `from` (inclusive) to `until` (exclusive), failing
/// where `down` says so, ingested in batches of a few hundred with the clock just after each.
async fn history(
    rig: &Rig,
    devices: &[&str],
    from: DateTime<Utc>,
    until: DateTime<Utc>,
    step: Duration,
    down: impl Fn(&str, DateTime<Utc>) -> bool,
) {
    let mut batch = Vec::new();
    let mut t = from;
    while t < until {
        for d in devices {
            batch.push(icmp(d, t, !down(d, t)));
        }
        t += step;
        if batch.len() >= 400 || t >= until {
            let last = batch.last().map(|r: &ProbeResult| r.time).unwrap();
            rig.ingest(last + Duration::seconds(30), std::mem::take(&mut batch))
                .await;
        }
    }
}

/// Runs the collector binary with `args` after `--config` and returns its stdout.
fn binary(rig: &Rig, args: &[&str]) -> String {
    let config = rig.tmp.path().join("collector.yaml");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_driftvakt-collector"))
        .arg(args[0])
        .arg("--config")
        .arg(&config)
        .args(&args[1..])
        .output()
        .expect("run driftvakt-collector");
    assert!(
        out.status.success(),
        "driftvakt-collector {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The JSON report from the binary.
fn binary_report(rig: &Rig, period: &str, now: &str) -> serde_json::Value {
    let out = binary(
        rig,
        &[
            "report", "--period", period, "--format", "json", "--now", now,
        ],
    );
    serde_json::from_str(&out).unwrap()
}

fn to<'a>(mails: &'a [Eml], to: &str) -> Vec<&'a Eml> {
    mails.iter().filter(|m| m.to() == to).collect()
}

#[tokio::test]
async fn a_service_fault_from_friday_afternoon_to_monday_morning_is_within_one_working_day() {
    // Friday 13 March 2026 15:00 in Tranemo (UTC+1) to Monday 16 March 09:00: hourly results of
    // the e-mail service, failing from Friday 15:00, back on Monday 09:00.
    let start = utc("2026-03-13T14:00:00Z");
    let rig = Rig::start("2026-03-13T13:00:00Z");
    rig.ingest(
        start - Duration::hours(1),
        vec![icmp("mail", start - Duration::hours(1), true)],
    )
    .await;
    for h in 0..=66 {
        let t = start + Duration::hours(h);
        let back = h == 66;
        rig.ingest(t + Duration::seconds(30), vec![icmp("mail", t, back)])
            .await;
    }
    let r = rig.report("2026-03");
    assert_eq!(r.incidents.list.len(), 1, "{:?}", r.incidents.list);
    let i = &r.incidents.list[0];
    assert_eq!(i.start, start);
    assert_eq!(i.end, Some(utc("2026-03-16T08:00:00Z")));
    assert_eq!(i.municipalities, ["Tranemo"]);
    // Friday 15:00–16:00 and Monday 07:30–09:00.
    assert_eq!(i.working_time_s, 9_000.0);
    // One working day: Friday's office hours, 07:30–16:00.
    assert_eq!(i.handling_goal_s, 30_600.0);
    assert_eq!(i.within_goal, Some(true));
    let h = &r.incidents.handling;
    assert_eq!(
        (h.within, h.over, h.median_working_s),
        (1, 0, Some(9_000.0))
    );
    let tranemo = r
        .incidents
        .by_municipality
        .iter()
        .find(|m| m.municipality == "Tranemo")
        .unwrap();
    assert_eq!((tranemo.period, tranemo.year_to_date), (1, 1));
    assert_eq!(tranemo.handling.within, 1);
    let json: serde_json::Value = serde_json::to_value(&r).unwrap();
    assert_eq!(json["incidents"]["list"][0]["working_time_s"], 9_000.0);
    assert_eq!(json["incidents"]["handling"]["within"], 1);
    assert_eq!(json["incidents"]["handling"]["over"], 0);
    // The service device is reported like the rest.
    assert!(r
        .devices
        .iter()
        .any(|d| d.id == "mail" && d.class == "service"));
}

#[tokio::test]
async fn a_night_page_of_ten_minutes_bills_half_an_hour_and_calls_without_an_alarm_bill_their_department(
) {
    // Tuesday 10 March 2026 02:00 in Tranemo: the node switch fails from minute 10.
    let base = utc("2026-03-10T01:00:00Z");
    let rig = Rig::start("2026-03-10T01:00:00Z");
    let at = |m: i64| base + Duration::minutes(m);
    for m in 0..10 {
        rig.ingest(
            at(m) + Duration::seconds(30),
            vec![icmp("sw-limmared", at(m), true)],
        )
        .await;
    }
    let mut opened = Vec::new();
    for m in 10..13 {
        let r = rig
            .ingest(
                at(m) + Duration::seconds(30),
                vec![icmp("sw-limmared", at(m), false)],
            )
            .await;
        opened.extend(r.opened);
    }
    assert_eq!(opened, ["device:sw-limmared:down"]);
    let mails = rig.deliver_until(1).await;
    let page = to(&mails, ON_CALL);
    assert_eq!(page.len(), 1, "{mails:?}");
    let paged_at = rig.clock.now();
    // Back ten minutes after the page.
    for m in 13..23 {
        rig.ingest(
            at(m) + Duration::seconds(30),
            vec![icmp("sw-limmared", at(m), false)],
        )
        .await;
    }
    let back = paged_at + Duration::minutes(10);
    let r = rig
        .ingest(back, vec![icmp("sw-limmared", back, true)])
        .await;
    assert_eq!(r.closed, ["device:sw-limmared:down"]);

    let r = rig.report("2026-T1");
    assert_eq!(r.oncall_cases, 1);
    let case = &r.oncall.cases[0];
    assert_eq!(case.device_id, "sw-limmared");
    assert_eq!(case.municipality, "Tranemo");
    assert_eq!(case.start, paged_at);
    assert_eq!(case.end, Some(back));
    assert_eq!(case.ended_by, "recovered");
    assert_eq!(case.length_s, 600.0);
    assert_eq!(case.billable_s, 1_800.0);
    assert_eq!(r.oncall.billable_s, 1_800.0);
    assert_eq!(r.oncall.by_municipality[0].billable_s, 1_800.0);
    let html = report::render(&r, Format::Html);
    assert!(
        html.contains("<span class=n id=oncall-billable>0,50</span>"),
        "{html}"
    );

    // The invoice basis from the command line.
    let args = driftvakt_collector::cli::oncall::OncallArgs {
        common: driftvakt_collector::cli::CommonArgs {
            config: rig.tmp.path().join("collector.yaml"),
            listen: None,
            database: None,
        },
        period: Some("2026-T1".into()),
        format: driftvakt_collector::cli::oncall::OncallFormat::Csv,
        now: None,
        action: None,
    };
    let csv = driftvakt_collector::cli::oncall::run(&args, rig.clock.clone()).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 4, "{csv}");
    assert!(
        lines[1].starts_with("Tranemo,Samhällsbyggnad,sw-limmared,Nodswitch Limmared,down,"),
        "{csv}"
    );
    assert!(lines[1].ends_with(",recovered,600,1800"), "{csv}");
    assert_eq!(lines[2], "Tranemo,Samhällsbyggnad,total,,,,,,,1800");
    assert_eq!(lines[3], "Tranemo,,total,,,,,,,1800");

    // Calls no alarm raised, registered by hand for a department: over the API (with the
    // operator token) and with the binary.
    let api = serve_api(&rig).await;
    let url = format!("{}/api/v1/oncall", api.base);
    let body = serde_json::json!({
        "municipality": "Tranemo",
        "department": "Barn och utbildning",
        "start": "2026-03-09T22:00:00Z",
        "end": "2026-03-09T22:15:00Z",
        "title": "Skolans passersystem låser ute nattpersonalen",
        "by": "erik"
    });
    let (status, _) = send(reqwest::Method::POST, url.clone(), None, body.clone()).await;
    assert_eq!(status, 401, "registering needs the operator token");
    let mut wrong = body.clone();
    wrong["municipality"] = "Borås".into();
    let (status, refused) = send(reqwest::Method::POST, url.clone(), Some(OPERATOR), wrong).await;
    assert_eq!(status, 400);
    assert!(refused["error"]
        .as_str()
        .unwrap()
        .contains("unknown municipality"));
    let (status, created) = send(reqwest::Method::POST, url.clone(), Some(OPERATOR), body).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["department"], "Barn och utbildning");
    let added = binary(
        &rig,
        &[
            "oncall",
            "add",
            "--municipality",
            "Tranemo",
            "--department",
            "Barn och utbildning",
            "--start",
            "2026-03-09T23:00:00Z",
            "--end",
            "2026-03-09T23:50:00Z",
            "--title",
            "Inloggningen på äldreboendet",
        ],
    );
    let added: serde_json::Value = serde_json::from_str(&added).unwrap();
    assert_eq!(added["department"], "Barn och utbildning");

    // Billed like pages: 15 minutes bill half an hour, 50 minutes bill 50; summed per
    // municipality and department.
    let r = rig.report("2026-T1");
    assert_eq!(r.oncall_cases, 3);
    let by: Vec<(&str, &str, usize, f64)> = r
        .oncall
        .by_department
        .iter()
        .map(|d| {
            (
                d.municipality.as_str(),
                d.department.as_str(),
                d.cases,
                d.billable_s,
            )
        })
        .collect();
    assert_eq!(
        by,
        [
            ("Tranemo", "Barn och utbildning", 2, 1_800.0 + 3_000.0),
            ("Tranemo", "Samhällsbyggnad", 1, 1_800.0)
        ]
    );
    assert_eq!(r.oncall.by_municipality[0].billable_s, 6_600.0);
    let html = report::render(&r, Format::Html);
    assert!(
        html.contains("<tr class=oncall-department><td>Tranemo</td><td>Barn och utbildning</td><td class=n>2</td><td class=n>1,33</td></tr>"),
        "{html}"
    );
    let (status, listed) = send(
        reqwest::Method::GET,
        format!("{url}?period=2026-T1"),
        None,
        serde_json::Value::Null,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(listed["billable_s"], 6_600.0);
    let invoice = binary(&rig, &["oncall", "--period", "2026-T1"]);
    assert!(
        invoice.contains("\nTranemo,Barn och utbildning,total,,,,,,,4800\n"),
        "{invoice}"
    );
    assert!(
        invoice.contains("\nTranemo,,total,,,,,,,6600\n"),
        "{invoice}"
    );
    let _ = api.stop.send(());
}

struct Api {
    base: String,
    stop: tokio::sync::oneshot::Sender<()>,
}

async fn serve_api(rig: &Rig) -> Api {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let state = ApiState {
        cluster: None,
        app: rig.app.clone(),
        stores: rig.stores.clone(),
        calendar: rig.calendar.clone(),
        operator_token: Some(Secret::new(OPERATOR)),
        exposition: Default::default(),
        alerts: None,
        pages: Default::default(),
    };
    tokio::spawn(serve(state, listener, async {
        let _ = rx.await;
    }));
    Api { base, stop: tx }
}

async fn send(
    method: reqwest::Method,
    url: String,
    token: Option<&str>,
    body: serde_json::Value,
) -> (u16, serde_json::Value) {
    let mut req = reqwest::Client::new().request(method, url).json(&body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or_default())
}

#[tokio::test]
async fn a_manual_incident_counts_against_the_goal_is_mailed_once_and_a_sixth_misses_it() {
    // Wednesday 11 March 2026, 10:00 in Tranemo.
    let rig = Rig::start("2026-03-11T09:00:00Z");
    let api = serve_api(&rig).await;
    let url = format!("{}/api/v1/incidents", api.base);
    let body = serde_json::json!({
        "municipalities": ["Tranemo"],
        "start": "2026-03-11T08:30:00Z",
        "title": "Fast telefoni",
        "description": "Operatörens växel svarar inte.",
        "by": "anna"
    });
    let (status, _) = send(reqwest::Method::POST, url.clone(), None, body.clone()).await;
    assert_eq!(status, 401, "changes need the operator token");
    let (status, created) = send(reqwest::Method::POST, url.clone(), Some(OPERATOR), body).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_i64().unwrap();
    assert_eq!(created["municipalities"], serde_json::json!(["Tranemo"]));

    let r = rig.ingest(rig.clock.now(), Vec::new()).await;
    assert_eq!(r.opened, [format!("incident:{id}:Tranemo")]);
    let mails = rig.deliver_until(1).await;
    let notice = to(&mails, EDITORS);
    assert_eq!(notice.len(), 1);
    assert_eq!(
        notice[0].subject,
        "Driftmeddelande – störning: Fast telefoni, Tranemo"
    );

    // An update is listed with the ongoing incident, and the editors get one "uppdatering".
    rig.clock.advance(Duration::minutes(20));
    let patch = format!("{url}/{id}");
    let (status, _) = send(
        reqwest::Method::PATCH,
        patch.clone(),
        Some(OPERATOR),
        serde_json::json!({"update": "Leverantören felsöker.", "by": "anna"}),
    )
    .await;
    assert_eq!(status, 200);
    let r = rig.ingest(rig.clock.now(), Vec::new()).await;
    assert!(r.opened.is_empty() && r.closed.is_empty(), "{r:?}");
    let (_, ongoing) = send(
        reqwest::Method::GET,
        format!("{url}?ongoing=true"),
        None,
        serde_json::Value::Null,
    )
    .await;
    assert_eq!(ongoing[0]["updates"][0]["text"], "Leverantören felsöker.");

    // Closed: one åtgärdat; the störning and the update were mailed once each.
    let (status, closed) = send(
        reqwest::Method::PATCH,
        patch.clone(),
        Some(OPERATOR),
        serde_json::json!({"end": "2026-03-11T09:15:00Z"}),
    )
    .await;
    assert_eq!(status, 200, "{closed}");
    let (status, _) = send(
        reqwest::Method::PATCH,
        patch,
        Some(OPERATOR),
        serde_json::json!({"end": "2026-03-11T09:16:00Z"}),
    )
    .await;
    assert_eq!(status, 409);
    let r = rig.ingest(rig.clock.now(), Vec::new()).await;
    assert_eq!(r.closed, [format!("incident:{id}:Tranemo")]);
    let mails = rig.deliver_until(3).await;
    let editors = to(&mails, EDITORS);
    assert_eq!(editors.len(), 3, "{mails:?}");
    for kind in ["störning", "uppdatering"] {
        let n = editors.iter().filter(|m| m.subject.contains(kind)).count();
        assert_eq!(n, 1, "{kind}");
    }
    assert!(editors
        .iter()
        .any(|m| m.subject == "Driftmeddelande – åtgärdat: Fast telefoni, Tranemo"));

    // It counts against the goal.
    let r = rig.report("2026");
    assert_eq!(r.incidents.year_to_date, 1);
    assert_eq!(r.incidents.list[0].manual_id, Some(id));
    assert_eq!(r.incidents.list[0].working_time_s, 45.0 * 60.0);
    let tranemo = |r: &Report| {
        r.incidents
            .by_municipality
            .iter()
            .find(|m| m.municipality == "Tranemo")
            .cloned()
            .unwrap()
    };
    assert_eq!(tranemo(&r).year_to_date, 1);
    assert!(tranemo(&r).meets_goal);

    // Four more make five: still within the goal; a sixth misses it, for Tranemo only.
    for n in 0..5 {
        let day = 2 + n;
        let body = serde_json::json!({
            "services": ["epost"],
            "start": format!("2026-03-0{day}T09:00:00Z"),
            "end": format!("2026-03-0{day}T10:00:00Z"),
            "title": "E-post",
        });
        let (status, created) =
            send(reqwest::Method::POST, url.clone(), Some(OPERATOR), body).await;
        assert_eq!(status, 201, "{created}");
        let r = rig.report("2026");
        assert_eq!(tranemo(&r).meets_goal, n < 4, "after {} incidents", n + 2);
    }
    let r = rig.report("2026");
    let t = tranemo(&r);
    assert_eq!(
        (t.year_to_date, t.meets_goal, t.over_goal_by),
        (6, false, 1)
    );
    let u = r
        .incidents
        .by_municipality
        .iter()
        .find(|m| m.municipality == "Ulricehamn")
        .unwrap();
    assert_eq!((u.year_to_date, u.meets_goal), (0, true));
    assert!(!r.incidents.meets_goal);
    let html = report::render(&r, Format::Html);
    assert!(html.contains("Nej – 1 över målet"), "{html}");
    let _ = api.stop.send(());
}

#[test]
fn a_node_without_a_ups_is_warned_about_and_listed() {
    let rig_dir = tempfile::tempdir().unwrap();
    let dir = rig_dir.path();
    std::fs::write(dir.join("a1.token"), TOKEN).unwrap();
    let mode = <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o600);
    std::fs::set_permissions(dir.join("a1.token"), mode).unwrap(); // owner only
    let text = INVENTORY
        .replace("DATABASE", &dir.join("c.db").display().to_string())
        .replace("PORT", "2525");
    std::fs::write(dir.join("c.yaml"), text).unwrap();
    let inv = Inventory::load(&dir.join("c.yaml")).unwrap();
    let warnings = inv.preflight(utc("2026-03-11T09:00:00Z")).unwrap();
    assert_eq!(
        warnings,
        ["site `nod-limmared` (network node (knutpunkt)) has no UPS in the inventory: it needs 240 minutes of backup power"]
    );
    let backup = inv.backup_power();
    assert_eq!(backup.len(), 2);
    assert!(backup[0].crisis_site && !backup[0].missing_ups);
    assert!(backup[1].node && backup[1].missing_ups);
    let _ = Path::new(".");
}

#[tokio::test]
async fn a_fault_in_the_lunch_break_waits_for_the_desk_instead_of_paging() {
    // Tranemo's Wednesdays with the 2014 document's lunch: 07:45–12:00 and 12:45–16:30.
    let calendar = "calendar:\n  office_hours:\n    municipalities:\n      Tranemo:\n        wednesday: [\"07:45-12:00\", \"12:45-16:30\"]\n";
    // Wednesday 11 March 2026, 12:00 in Tranemo; the node switch fails from 12:05.
    let base = utc("2026-03-11T11:00:00Z");
    let rig = Rig::start_with("2026-03-11T11:00:00Z", calendar);
    let at = |m: i64| base + Duration::minutes(m);
    let mut opened = Vec::new();
    for m in 0..10 {
        let r = rig
            .ingest(
                at(m) + Duration::seconds(30),
                vec![icmp("sw-limmared", at(m), m < 5)],
            )
            .await;
        opened.extend(r.opened);
    }
    assert_eq!(opened, ["device:sw-limmared:down"]);
    let rows = rig.alerting.notifier().store().list(None).unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(
        rows[0].recipient, DESK,
        "the lunch break does not page on-call"
    );
    assert_eq!(rows[0].due_at, at(45), "it waits for the desk at 12:45");
    rig.clock.set(&at(45).to_rfc3339());
    let mails = rig.deliver_until(1).await;
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].to(), DESK);
    assert!(
        mails[0].text.contains("väntade till kontorstid"),
        "{}",
        mails[0].text
    );
    assert_eq!(rig.report("2026-T1").oncall_cases, 0);
}

#[tokio::test]
async fn a_switch_down_with_a_printer_behind_it_is_one_incident_for_tranemo() {
    // The switch at Kommunhuset is down from Friday 13 March 2026 09:00 to Monday 16 March
    // 09:00 (Tranemo time); the printer behind it answers nothing meanwhile either.
    let (down_from, down_to) = (utc("2026-03-13T08:00:00Z"), utc("2026-03-16T08:00:00Z"));
    let rig = Rig::start("2026-03-13T06:00:00Z");
    history(
        &rig,
        &["sw-kommunhuset", "skrivare-kommunhuset"],
        utc("2026-03-13T07:00:00Z"),
        utc("2026-03-16T10:00:00Z"),
        Duration::minutes(10),
        |_, t| t >= down_from && t < down_to,
    )
    .await;
    let now = "2026-03-16T10:00:00Z";
    let r = binary_report(&rig, "2026-T1", now);
    let list = r["incidents"]["list"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{list:#?}");
    let one = &list[0];
    assert_eq!(
        one["services"],
        serde_json::json!(["natverk-kommunhuset", "utskrift-kommunhuset"])
    );
    assert_eq!(one["name"], "Nätverk Kommunhuset, Utskrift Kommunhuset");
    assert_eq!(one["municipalities"], serde_json::json!(["Tranemo"]));
    assert_eq!(one["root_causes"], serde_json::json!(["sw-kommunhuset"]));
    assert_eq!(one["start"], "2026-03-13T08:00:00Z");
    assert_eq!(one["end"], "2026-03-16T08:00:00Z");
    assert_eq!(one["parts"].as_array().unwrap().len(), 2);
    let tranemo = |r: &serde_json::Value| {
        r["incidents"]["by_municipality"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["municipality"] == "Tranemo")
            .cloned()
            .unwrap()
    };
    assert_eq!(tranemo(&r)["year_to_date"], 1);
    assert_eq!(r["incidents"]["year_to_date"], 1);
    // The per-service figures stay: each service had its outage.
    for s in r["services"].as_array().unwrap() {
        let expect = if s["id"] == "epost" { 0 } else { 1 };
        assert_eq!(s["outages"], expect, "{s}");
    }

    // Registered by hand for the printing service the probes saw down: the same incident.
    let added = binary(
        &rig,
        &[
            "incident",
            "add",
            "--service",
            "utskrift-kommunhuset",
            "--start",
            "2026-03-13T09:00:00Z",
            "--end",
            "2026-03-13T12:00:00Z",
            "--title",
            "Utskrift Kommunhuset",
        ],
    );
    let printing: serde_json::Value = serde_json::from_str(&added).unwrap();
    // The telephony behind the switch, linked by naming the switch as its cause.
    let added = binary(
        &rig,
        &[
            "incident",
            "add",
            "--municipality",
            "Tranemo",
            "--cause",
            "sw-kommunhuset",
            "--start",
            "2026-03-13T08:05:00Z",
            "--end",
            "2026-03-16T08:30:00Z",
            "--title",
            "Fast telefoni Kommunhuset",
        ],
    );
    let telephony: serde_json::Value = serde_json::from_str(&added).unwrap();
    // An unrelated fault at the same time is an incident of its own.
    binary(
        &rig,
        &[
            "incident",
            "add",
            "--municipality",
            "Tranemo",
            "--start",
            "2026-03-14T10:00:00Z",
            "--end",
            "2026-03-14T11:00:00Z",
            "--title",
            "Inloggning",
        ],
    );
    let r = binary_report(&rig, "2026-T1", now);
    let list = r["incidents"]["list"].as_array().unwrap();
    assert_eq!(list.len(), 2, "{list:#?}");
    let one = list
        .iter()
        .find(|i| i["root_causes"] == serde_json::json!(["sw-kommunhuset"]))
        .unwrap();
    assert_eq!(
        one["manual_ids"],
        serde_json::json!([telephony["id"], printing["id"]])
    );
    // From the first start to the last end.
    assert_eq!(one["start"], "2026-03-13T08:00:00Z");
    assert_eq!(one["end"], "2026-03-16T08:30:00Z");
    assert_eq!(one["duration_s"], 3.0 * 86_400.0 + 1_800.0);
    assert_eq!(tranemo(&r)["year_to_date"], 2);
    let refused = std::process::Command::new(env!("CARGO_BIN_EXE_driftvakt-collector"))
        .args(["incident", "--config"])
        .arg(rig.tmp.path().join("collector.yaml"))
        .args(["add", "--municipality", "Tranemo", "--cause", "sw-nowhere"])
        .args(["--start", "2026-03-14T10:00:00Z", "--title", "X"])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("unknown device `sw-nowhere`"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
}

#[tokio::test]
async fn a_telephony_incident_of_25_8_hours_lowers_ulricehamn_by_its_duration_over_the_year() {
    // A year of hourly results of Stadshuset's access point, all answered.
    let (year_from, year_to) = (utc("2025-12-31T23:00:00Z"), utc("2026-12-31T23:00:00Z"));
    let rig = Rig::start("2025-12-31T22:00:00Z");
    history(
        &rig,
        &["ap-stadshuset"],
        year_from,
        year_to,
        Duration::hours(1),
        |_, _| false,
    )
    .await;
    let now = "2026-12-31T23:00:00Z";
    let ulricehamn = |r: &serde_json::Value| {
        r["municipalities"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["id"] == "Ulricehamn")
            .cloned()
            .unwrap()
    };
    let before = ulricehamn(&binary_report(&rig, "2026", now));
    assert_eq!(before["availability"], 1.0, "{before}");
    let observed = before["observed_s"].as_f64().unwrap();
    assert_eq!(observed, 365.0 * 86_400.0);

    // The operator's telephony was down for 25.8 hours, registered by hand for Ulricehamn.
    binary(
        &rig,
        &[
            "incident",
            "add",
            "--municipality",
            "Ulricehamn",
            "--start",
            "2026-10-06T06:00:00Z",
            "--end",
            "2026-10-07T07:48:00Z",
            "--title",
            "Fast telefoni",
        ],
    );
    let duration = 25.8 * 3600.0;
    let r = binary_report(&rig, "2026", now);
    let after = ulricehamn(&r);
    let drop = before["availability"].as_f64().unwrap() - after["availability"].as_f64().unwrap();
    assert!(
        (drop - duration / observed).abs() < 1e-12,
        "availability fell by {drop}, not {}: {after}",
        duration / observed
    );
    assert_eq!(after["own_time"]["unplanned_downtime_s"], duration);
    assert_eq!(after["own_time"]["error_budget_used_s"], duration);
    assert_eq!(after["unplanned_downtime_s"], duration, "one device");
    // What the probes saw of the access point stays as it was; Tranemo is not touched.
    let ap = r["devices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["id"] == "ap-stadshuset")
        .unwrap();
    assert_eq!(ap["availability"], 1.0);
    let tranemo = r["municipalities"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == "Tranemo")
        .unwrap();
    assert_eq!(tranemo["downtime_s"], 0.0, "{tranemo}");
    assert_eq!(r["incidents"]["year_to_date"], 1);
    let html = binary(
        &rig,
        &[
            "report", "--period", "2026", "--format", "html", "--now", now,
        ],
    );
    let expected = format!("{:.3}", (1.0 - duration / observed) * 100.0).replace('.', ",");
    assert!(
        html.contains(&format!(
            "<td>Ulricehamn</td><td class=n>1</td><td class=n>{expected}&nbsp;%"
        )),
        "{expected} % for Ulricehamn in {html}"
    );

    // Registered for the e-mail service: the service's downtime.
    binary(
        &rig,
        &[
            "incident",
            "add",
            "--service",
            "epost",
            "--start",
            "2026-05-05T08:00:00Z",
            "--end",
            "2026-05-05T10:00:00Z",
            "--title",
            "E-post",
        ],
    );
    // Inside the primary window (third Tuesday of October, 18:00–22:00): planned, no incident.
    binary(
        &rig,
        &[
            "incident",
            "add",
            "--municipality",
            "Ulricehamn",
            "--start",
            "2026-10-20T16:00:00Z",
            "--end",
            "2026-10-20T18:00:00Z",
            "--title",
            "Byte av telefonväxel",
        ],
    );
    let r = binary_report(&rig, "2026", now);
    let epost = r["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "epost")
        .unwrap();
    assert_eq!(epost["unplanned_downtime_s"], 7_200.0, "{epost}");
    assert_eq!(epost["outages"], 1);
    let after = ulricehamn(&r);
    assert_eq!(after["own_time"]["planned_downtime_s"], 7_200.0, "{after}");
    assert_eq!(after["own_time"]["unplanned_downtime_s"], duration);
    let u = |r: &serde_json::Value| {
        r["incidents"]["by_municipality"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["municipality"] == "Ulricehamn")
            .unwrap()["year_to_date"]
            .clone()
    };
    assert_eq!(u(&r), 1, "the planned one is no incident");
    assert_eq!(r["incidents"]["year_to_date"], 2);
}

/// The cells of the first HTML table row that starts with `head` (`<tr><td>Tranemo</td>`).
fn html_row(html: &str, head: &str) -> Vec<String> {
    let start = html
        .find(head)
        .unwrap_or_else(|| panic!("no row {head} in {html}"));
    let row = &html[start..start + html[start..].find("</tr>").unwrap()];
    row.split("<td")
        .skip(1)
        .map(|c| {
            let c = &c[c.find('>').unwrap() + 1..];
            c.trim_end_matches("</td>").replace("&nbsp;%", "")
        })
        .collect()
}

#[tokio::test]
async fn the_report_mail_attaches_one_csv_per_table_with_units_and_the_figures_of_the_html() {
    use driftvakt_collector::alerting::AppReports;
    use driftvakt_collector::notify::config::{ReportPeriod, ReportSchedule};

    // The switch-and-printer outage in Tranemo, a registered telephony outage in Ulricehamn.
    let (down_from, down_to) = (utc("2026-03-13T08:00:00Z"), utc("2026-03-16T08:00:00Z"));
    let rig = Rig::start("2026-03-13T06:00:00Z");
    history(
        &rig,
        &["sw-kommunhuset", "skrivare-kommunhuset", "ap-stadshuset"],
        utc("2026-03-13T07:00:00Z"),
        utc("2026-03-16T10:00:00Z"),
        Duration::minutes(10),
        |d, t| d != "ap-stadshuset" && t >= down_from && t < down_to,
    )
    .await;
    binary(
        &rig,
        &[
            "incident",
            "add",
            "--municipality",
            "Ulricehamn",
            "--start",
            "2026-03-14T06:00:00Z",
            "--end",
            "2026-03-15T07:48:00Z",
            "--title",
            "Fast telefoni",
        ],
    );

    // The tertial report, mailed on the first working day of May (1 May is a holiday).
    let mut config = rig.app.inventory.notify.clone().unwrap();
    config.reports.push(ReportSchedule {
        name: "tertial".into(),
        cron: "0 0 7 1-7 1,5,9 *".into(),
        period: ReportPeriod::PreviousTertial,
        working_days_only: true,
        to: vec!["namnden@tranemo.example.se".into()],
    });
    let transport = SmtpTransport::from_config(config.smtp.as_ref().unwrap()).unwrap();
    let reports = AppReports {
        app: rig.app.clone(),
        calendar: rig.calendar.clone(),
        oncall: rig.stores.notify.clone(),
        registered: rig.stores.oncall_cases.clone(),
    };
    let notifier = Notifier::new(
        config,
        rig.calendar.clone(),
        rig.clock.clone(),
        rig.stores.notify.clone(),
        Arc::new(transport),
    )
    .with_reports(Arc::new(reports));
    rig.clock.set("2026-04-30T12:00:00+02:00");
    notifier.tick().unwrap();
    rig.clock.set("2026-05-04T07:00:05+02:00");
    assert_eq!(notifier.tick().unwrap().reports.len(), 1);
    let mail = loop {
        notifier.deliver_due().await;
        if let Some(m) = rig
            .peer
            .messages()
            .into_iter()
            .find(|m| m.to() == "namnden@tranemo.example.se")
        {
            break m;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    let files: Vec<&str> = mail.attachments.iter().map(|a| a.1.as_str()).collect();
    assert_eq!(
        files,
        [
            "tillganglighet-2026-T1-tjanster.csv",
            "tillganglighet-2026-T1-kommuner.csv",
            "tillganglighet-2026-T1-platser.csv",
            "tillganglighet-2026-T1-incidenter-per-kommun.csv",
            "tillganglighet-2026-T1-incidenter.csv",
            "tillganglighet-2026-T1-intefunktion-per-kommun.csv",
            "tillganglighet-2026-T1-intefunktion.csv",
            "tillganglighet-2026-T1-beredskap-per-kommun.csv",
            "tillganglighet-2026-T1-beredskap-per-verksamhet.csv",
            "tillganglighet-2026-T1-beredskap.csv",
            "tillganglighet-2026-T1-enheter.csv",
        ]
    );
    let csv = |name: &str| -> Vec<Vec<String>> {
        let body = &mail
            .attachments
            .iter()
            .find(|a| a.1.ends_with(&format!("-{name}.csv")))
            .unwrap()
            .2;
        body.lines()
            .map(|l| l.split(',').map(str::to_string).collect())
            .collect()
    };
    let html = &mail.html;

    // Municipalities: own time and device-hours apart, units in the header, the HTML's figures.
    let kommuner = csv("kommuner");
    assert_eq!(
        kommuner[0],
        [
            "kommun",
            "enheter",
            "tillganglighet_procent",
            "avbrott_egen_tid_h",
            "varav_planerat_egen_tid_h",
            "oplanerat_egen_tid_h",
            "okant_egen_tid_h",
            "antal_avbrott",
            "nar_malet",
            "felbudget_kvar_i_ar_egen_tid_h",
            "avbrott_enhetstimmar",
            "okant_enhetstimmar"
        ]
    );
    assert!(html.contains("<th>Felbudget kvar i år (h)</th>"));
    let numeric = |csv_row: &[String], html_row: &[String], columns: &[usize]| {
        for &c in columns {
            // No figure: empty in the CSV, a dash in the HTML.
            let value = match csv_row[c].as_str() {
                "" => "–".to_string(),
                v => v.replace('.', ","),
            };
            assert_eq!(
                value, html_row[c],
                "column {c}: {csv_row:?} against the HTML's {html_row:?}"
            );
        }
    };
    for row in &kommuner[1..] {
        let cells = html_row(html, &format!("<tr><td>{}</td>", row[0]));
        numeric(row, &cells, &[1, 2, 3, 4, 5, 6, 7, 9, 10, 11]);
    }
    let tranemo = kommuner.iter().find(|r| r[0] == "Tranemo").unwrap();
    // Tranemo's year: 78.84 h of budget in its own time, not the device-hours' sum.
    let left: f64 = tranemo[9].parse().unwrap();
    assert!(left < 78.84 && left > 0.0, "{tranemo:?}");
    let ulricehamn = kommuner.iter().find(|r| r[0] == "Ulricehamn").unwrap();
    assert_eq!(ulricehamn[5], "25.80", "the registered telephony outage");

    // Services, sites.
    let tjanster = csv("tjanster");
    assert_eq!(tjanster[0][2], "tillganglighet_procent");
    assert_eq!(tjanster[0][9], "felbudget_kvar_i_ar_h");
    for row in &tjanster[1..] {
        let cells = html_row(html, &format!("<tr><td>{}</td>", row[1]));
        let cells: Vec<String> = std::iter::once(row[0].clone()).chain(cells).collect();
        numeric(row, &cells, &[2, 3, 4, 5, 6, 7, 9]);
    }
    // Incidents against the goal: the same counts as the HTML, the total too.
    let per_kommun = csv("incidenter-per-kommun");
    assert_eq!(
        per_kommun[0][..4],
        [
            "kommun",
            "antal_under_perioden",
            "antal_hittills_i_ar",
            "mal_hogst_antal_per_ar"
        ]
    );
    for row in &per_kommun[1..] {
        let head = if row[0] == "Totalt" {
            "<tr><td><strong>Totalt</strong></td>".to_string()
        } else {
            format!("<tr class=municipality-incidents><td>{}</td>", row[0])
        };
        let cells = html_row(html, &head);
        assert_eq!(row[1], cells[1], "{row:?} {cells:?}");
        assert_eq!(row[2], cells[2], "{row:?} {cells:?}");
        assert_eq!(format!("högst {}", row[3]), cells[3]);
    }
    let total = per_kommun.iter().find(|r| r[0] == "Totalt").unwrap();
    assert_eq!(total[1], "2", "one incident in Tranemo, one in Ulricehamn");
    let incidents = csv("incidenter");
    assert_eq!(incidents.len(), 3, "{incidents:?}");
    assert_eq!(incidents[0][5], "langd_h");
    assert!(incidents
        .iter()
        .any(|r| r[2] == "natverk-kommunhuset utskrift-kommunhuset" && r[5] == "72.00"));
    // On-call: the header names its unit.
    assert_eq!(
        csv("beredskap-per-kommun")[0],
        ["kommun", "antal_arenden", "debiterbart_h"]
    );
}
