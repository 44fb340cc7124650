//! Every query of every panel of every dashboard in `dashboards/`, evaluated by Debian's real
//! Prometheus scraping a real collector that holds a simulated history of this year.
//!
//! The collector runs in-process on 127.0.0.1:0 (built as `cli_run` builds it: store, calendar
//! service, embedded agent, metrics registry and availability task). Its history: two
//! municipalities, a network node with a UPS on battery (35 minutes left), a switch with access
//! points, a printer with supplies, a screen with a certificate, services; an unplanned outage
//! three days ago, a planned one inside an ad-hoc service window, and an access point down now.
//! A remote agent (the agent library's spool and pusher, over HTTP with its token) delivers the
//! latest readings and serves its own `/metrics` (spool gauges); the embedded agent pings
//! 127.0.0.1 every second (scheduler histogram). Prometheus scrapes both every second; each
//! panel query must return data, and a handful of values are checked against the history.

use chrono::{DateTime, Datelike, Duration as Span, Utc};
use driftvakt_agent::exposition::Exposition;
use driftvakt_agent::metrics::SpoolMetrics;
use driftvakt_agent::push::{CollectorClient, Pusher, PusherOptions};
use driftvakt_agent::spool::{Spool, SpoolOptions};
use driftvakt_collector::app::App;
use driftvakt_collector::calendar::WindowScope;
use driftvakt_collector::cli::calendar_service;
use driftvakt_collector::cli::run::start_notifier;
use driftvakt_collector::clock::SystemClock;
use driftvakt_collector::http::ApiState;
use driftvakt_collector::inventory::Inventory;
use driftvakt_collector::store::{Database, Stores};
use driftvakt_collector_testkit::prometheus::Prometheus;
use driftvakt_common::schema::Secret;
use driftvakt_common::wire::{Batch, Finding, ProbeResult, Sample, Value};
use prometheus_client::registry::Registry;
use serde_json::Value as Json;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Series the notifier integration (another branch) adds to the collector. Until it is merged,
/// panels reading them are checked for valid PromQL only, and listed on stderr; once one of
/// these series is scraped, its panels must return data like every other. Remove at merge.
const TOKEN: &str = "remote-agent-token-0123456789abcdef";
const INTERVAL_MIN: i64 = 5;

const INVENTORY: &str = r#"
collector:
  target: 0.991
  database: DATABASE
sites:
  - { id: stadshuset, name: Stadshuset, municipality: Ulricehamn, node: true }
  - { id: kommunhuset, name: Kommunhuset, municipality: Tranemo }
devices:
  - { id: sw-core, class: switch, site: stadshuset, address: 10.20.0.2, interval: 300s, checks: [icmp], register: { purchased: 2021-03-01, owner: IT-enheten } }
  - { id: ap-1, class: access_point, site: stadshuset, address: 10.20.1.11, parent: sw-core, interval: 300s, checks: [icmp] }
  - { id: ap-2, class: access_point, site: stadshuset, address: 10.20.1.12, parent: sw-core, interval: 300s, checks: [icmp] }
  - { id: ups-1, class: ups, site: stadshuset, address: 10.20.0.5, parent: sw-core, interval: 300s, checks: [icmp, snmp] }
  - { id: prn-1, class: printer, site: stadshuset, address: 10.20.2.21, parent: sw-core, interval: 300s, checks: [icmp, snmp] }
  - { id: scr-1, class: screen, site: kommunhuset, address: 10.30.3.31, interval: 300s, checks: [icmp, http] }
  - { id: sw-t, class: switch, site: kommunhuset, address: 10.30.0.2, interval: 300s, checks: [icmp] }
  - { id: ap-t, class: access_point, site: kommunhuset, address: 10.30.1.11, interval: 300s, checks: [icmp] }
  - { id: loopback, class: switch, site: stadshuset, address: 127.0.0.1, interval: 1s, checks: [icmp] }
services:
  - { id: wifi-ulricehamn, name: Trådlöst Stadshuset, members: [sw-core, ap-1, ap-2] }
  - { id: print, name: Utskrift, members: [prn-1] }
  - { id: net-tranemo, name: Nätverk Tranemo, members: [sw-t, ap-t] }
  - { id: screens, name: Skärmar, members: [scr-1] }
snmp_credentials:
  - { id: infra, version: v2c, community: { env: DV_LIVE_COMMUNITY } }
notify:
  from: { default: "IT <it@kommun.example.se>" }
  municipalities:
    Ulricehamn: { editors: [intranat@ulricehamn.example.se], service_desk: [sd@kommun.example.se], on_call: [jour@kommun.example.se] }
    Tranemo: { editors: [intranat@tranemo.example.se], service_desk: [sd@kommun.example.se], on_call: [jour@kommun.example.se] }
agents:
  - { id: remote, token_env: DV_LIVE_TOKEN, devices: [sw-core, ap-1, ap-2, ups-1, prn-1, scr-1, sw-t, ap-t] }
  - { id: embedded, embedded: true, devices: [loopback] }
"#;

fn result(target: &str, check: &str, time: DateTime<Utc>, ok: bool) -> ProbeResult {
    ProbeResult {
        target: target.into(),
        check: check.into(),
        time,
        ok,
        duration_ms: 2.0,
        error: (!ok).then(|| "timeout".to_string()),
        detail: None,
        findings: Vec::new(),
        values: BTreeMap::new(),
    }
}

/// When each simulated device fails: `(device, from, to)`.
fn outages(now: DateTime<Utc>) -> Vec<(&'static str, DateTime<Utc>, DateTime<Utc>)> {
    vec![
        // Unplanned: the core switch for an hour three days ago (access points unreachable).
        (
            "sw-core",
            now - Span::days(3),
            now - Span::days(3) + Span::hours(1),
        ),
        // Planned: Tranemo's switch inside the ad-hoc window (see `ad_hoc_window`).
        ("sw-t", now - Span::hours(2), now - Span::hours(1)),
        // Down now: an access point in Tranemo for the last 40 minutes.
        ("ap-t", now - Span::minutes(40), now + Span::hours(1)),
    ]
}

/// ICMP every five minutes for every simulated device since the later of 14 days ago and the
/// start of the year.
fn history(now: DateTime<Utc>) -> Vec<ProbeResult> {
    let year_start =
        driftvakt_collector::availability::Period::parse(&now.format("%Y").to_string())
            .unwrap()
            .from;
    let start = (now - Span::days(14)).max(year_start);
    let down = outages(now);
    let devices = [
        "sw-core", "ap-1", "ap-2", "ups-1", "prn-1", "scr-1", "sw-t", "ap-t",
    ];
    let mut out = Vec::new();
    let mut t = start;
    while t < now - Span::minutes(1) {
        for d in devices {
            let failing = down.iter().any(|(id, a, b)| *id == d && *a <= t && t < *b);
            out.push(result(d, "icmp", t, !failing));
        }
        t += Span::minutes(INTERVAL_MIN);
    }
    out
}

/// The readings the remote agent delivers now: UPS on battery with 35 minutes left, printer
/// supplies (toner low: degraded), the screen's certificate, and pings with round-trip times.
fn readings(now: DateTime<Utc>) -> Vec<ProbeResult> {
    let mut ups = result("ups-1", "snmp", now, true);
    ups.values
        .insert("ups_runtime_minutes".into(), Value::Number(35.0));
    ups.values
        .insert("ups_on_battery".into(), Value::Bool(true));
    ups.findings.push(Finding {
        code: "ups_on_battery".into(),
        message: "UPS runs on battery".into(),
    });
    let mut prn = result("prn-1", "snmp", now, true);
    let supply = |name: &str, value| Sample {
        labels: [("supply".to_string(), name.to_string())].into(),
        value,
    };
    prn.values.insert(
        "printer_supply_ratio".into(),
        Value::Series(vec![supply("black toner", 0.04), supply("drum", 0.9)]),
    );
    prn.findings.push(Finding {
        code: "printer_supply_low".into(),
        message: "black toner is at 4 % (under 10 %)".into(),
    });
    let mut scr = result("scr-1", "http", now, true);
    scr.values
        .insert("tls_cert_days_left".into(), Value::Number(42.0));
    let mut out = vec![ups, prn, scr];
    for d in ["sw-core", "ap-1", "ap-2", "ups-1", "prn-1", "scr-1", "sw-t"] {
        let mut ping = result(d, "icmp", now, true);
        ping.values
            .insert("icmp_rtt_avg_seconds".into(), Value::Number(0.0015));
        out.push(ping);
    }
    out.push(result("ap-t", "icmp", now, false));
    out
}

/// The collector and the remote agent, running; their scrape targets.
struct Running {
    collector: String,
    agent: String,
    _tasks: Vec<tokio::task::JoinHandle<()>>,
}

fn load_inventory(dir: &Path) -> Inventory {
    std::env::set_var("DV_LIVE_TOKEN", TOKEN);
    std::env::set_var("DV_LIVE_COMMUNITY", "public");
    let db = dir.join("driftvakt.db");
    let text = INVENTORY.replace("DATABASE", &db.display().to_string());
    let path = dir.join("collector.yaml");
    std::fs::write(&path, text).unwrap();
    Inventory::load(&path).unwrap_or_else(|e| panic!("test inventory: {e}"))
}

/// Stores the history (in batches, as an agent replaying its spool would) and adds the
/// ad-hoc service window around the planned outage.
fn simulate(app: &App, stores: &Stores, now: DateTime<Utc>) {
    let calendar = calendar_service(&app.inventory, stores.windows.clone(), app.clock.clone());
    calendar
        .add_window(
            now - Span::hours(3),
            now + Span::hours(1),
            WindowScope::Service("net-tranemo".into()),
            "byte av kärnswitch",
            "testriggen",
        )
        .unwrap();
    for (i, chunk) in history(now).chunks(2000).enumerate() {
        let batch = Batch {
            agent: "remote".into(),
            batch_id: format!("history-{i}"),
            results: chunk.to_vec(),
        };
        let r = app.ingest_blocking("remote", &batch).unwrap();
        assert!(r.rejected.is_empty(), "history rejected: {:?}", r.rejected);
    }
}

async fn start_collector(dir: &Path) -> (String, Vec<tokio::task::JoinHandle<()>>) {
    let inv = load_inventory(dir);
    let stores = Database::open(&inv.settings.database)
        .unwrap()
        .stores()
        .unwrap();
    let app = App::new(inv, stores.results.clone(), Arc::new(SystemClock)).unwrap();
    let now = Utc::now();
    let (sim, sim_stores) = (app.clone(), stores.clone());
    tokio::task::spawn_blocking(move || simulate(&sim, &sim_stores, now))
        .await
        .unwrap();
    let mut exposition = Exposition::default();
    let mut tasks = driftvakt_collector::embedded::start_all(&app, &mut exposition).unwrap();
    let registry = exposition.registry_mut();
    let calendar = Arc::new(calendar_service(
        &app.inventory,
        stores.windows.clone(),
        app.clock.clone(),
    ));
    let every = Duration::from_secs(1);
    tasks.push(driftvakt_collector::metrics::start(
        registry,
        &driftvakt_collector::metrics::Sources {
            inventory: app.inventory.clone(),
            store: app.store.clone(),
            clock: app.clock.clone(),
            metrics: app.metrics.clone(),
        },
        calendar.clone(),
        every,
    ));
    // The notifier (file transport into the test's folder) and its metrics.
    let (notifier_tasks, alerts) =
        start_notifier(&app, &stores, calendar.clone(), registry).unwrap();
    tasks.extend(notifier_tasks);
    let state = ApiState {
        cluster: None,
        alerts,
        app,
        stores,
        calendar,
        operator_token: None,
        exposition: Arc::new(exposition),
        pages: Default::default(),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tasks.push(tokio::spawn(async move {
        let _ = driftvakt_collector::http::serve(state, listener, std::future::pending()).await;
    }));
    (addr, tasks)
}

/// The agent library's spool and pusher delivering [`readings`] to the collector over HTTP,
/// and its `/metrics` (spool gauges) on a port of its own.
async fn start_remote_agent(
    dir: &Path,
    collector: &str,
) -> (String, Vec<tokio::task::JoinHandle<()>>) {
    let mut registry = Registry::default();
    let metrics = SpoolMetrics::register(&mut registry);
    let spool_dir = dir.join("spool");
    let spool = Spool::open(&spool_dir, SpoolOptions::new(1 << 20, 100), metrics.clone()).unwrap();
    let spool = Arc::new(spool);
    spool.append(&readings(Utc::now())).unwrap();
    let client =
        CollectorClient::plain(&format!("http://{collector}"), Secret::new(TOKEN)).unwrap();
    let pusher = Pusher::new(
        client,
        spool,
        "remote",
        spool_dir.join("quarantine"),
        PusherOptions::new(Duration::from_millis(500)),
        metrics,
        Arc::new(SystemClock),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let exposition = Arc::new(Exposition::new(registry));
    let tasks = vec![
        tokio::spawn(pusher.run()),
        tokio::spawn(async move {
            let _ = driftvakt_agent::server::serve(listener, exposition).await;
        }),
    ];
    (addr, tasks)
}

async fn start(dir: &Path) -> Running {
    let (collector, mut tasks) = start_collector(dir).await;
    let (agent, more) = start_remote_agent(dir, &collector).await;
    tasks.extend(more);
    Running {
        collector,
        agent,
        _tasks: tasks,
    }
}

/// One panel query of one dashboard.
struct PanelQuery {
    file: String,
    panel: String,
    expr: String,
}

impl PanelQuery {
    fn describe(&self) -> String {
        format!("{} / \"{}\": {}", self.file, self.panel, self.expr)
    }

    /// The dashboard's query as Prometheus gets it: every municipality selected.
    fn promql(&self) -> String {
        self.expr
            .replace("${municipality}", ".*")
            .replace("$municipality", ".*")
    }
}

fn panel_queries() -> Vec<PanelQuery> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../dashboards");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        let d: Json = serde_json::from_str(&std::fs::read_to_string(&f).unwrap()).unwrap();
        collect_panels(&name, d["panels"].as_array().unwrap(), &mut out);
    }
    out
}

fn collect_panels(file: &str, panels: &[Json], out: &mut Vec<PanelQuery>) {
    for p in panels {
        for t in p["targets"].as_array().into_iter().flatten() {
            out.push(PanelQuery {
                file: file.to_string(),
                panel: p["title"].as_str().unwrap_or("").to_string(),
                expr: t["expr"].as_str().unwrap_or("").to_string(),
            });
        }
        if let Some(nested) = p["panels"].as_array() {
            collect_panels(file, nested, out);
        }
    }
}

/// What one query gave: `Ok(true)` data, `Ok(false)` no data, `Err` invalid PromQL.
async fn evaluate(prom: &Prometheus, q: &PanelQuery) -> Result<bool, String> {
    prom.query(&q.promql()).await.map(|n| n > 0)
}

/// Waits (bounded) until `expr` has data; panics naming `what` otherwise.
async fn wait_for(prom: &Prometheus, expr: &str, within: Duration, what: &str) {
    assert!(
        prom.wait_for(expr, within).await,
        "{what}: `{expr}` returned no data within {within:?}"
    );
}

async fn value(prom: &Prometheus, expr: &str) -> f64 {
    let rows = prom
        .samples(expr)
        .await
        .unwrap_or_else(|e| panic!("{expr}: {e}"));
    assert_eq!(rows.len(), 1, "{expr}: expected one series, got {rows:?}");
    rows[0].1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_dashboard_query_returns_data_from_a_real_prometheus() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path()).await;
    let prom = Prometheus::start(&[running.collector.clone(), running.agent.clone()]);
    let first = Duration::from_secs(20);
    wait_for(&prom, "driftvakt_device_state", first, "first scrape").await;
    wait_for(
        &prom,
        "driftvakt_agent_spool_results",
        first,
        "agent scrape",
    )
    .await;
    // Rates need two samples; the agent's delivery and the availability task need a moment.
    let more = Duration::from_secs(15);
    wait_for(
        &prom,
        "rate(driftvakt_results_ingested_total[5m])",
        more,
        "rates",
    )
    .await;
    wait_for(
        &prom,
        "driftvakt_ups_runtime_minutes",
        more,
        "delivered readings",
    )
    .await;
    wait_for(
        &prom,
        "driftvakt_service_availability_ratio",
        more,
        "availability",
    )
    .await;
    wait_for(
        &prom,
        "sum(rate(driftvakt_agent_scheduler_lag_seconds_bucket[5m])) > 0",
        more,
        "embedded agent's probes",
    )
    .await;

    let mut failures = Vec::new();
    let queries = panel_queries();
    assert!(
        queries.len() >= 30,
        "only {} panel queries found",
        queries.len()
    );
    for q in &queries {
        match evaluate(&prom, q).await {
            Err(e) => failures.push(format!("{}\n    Prometheus: {e}", q.describe())),
            Ok(true) => {}
            Ok(false) => failures.push(format!("{}\n    no data", q.describe())),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} dashboard queries failed:\n  {}",
        failures.len(),
        queries.len(),
        failures.join("\n  ")
    );

    check_values(&prom).await;
    eprintln!(
        "{} queries checked in {:.1?}",
        queries.len(),
        started.elapsed()
    );
}

/// The figures the dashboards show agree with the simulated history.
async fn check_values(prom: &Prometheus) {
    let municipalities = prom
        .label_values("municipality", "driftvakt_device_state")
        .await
        .unwrap();
    assert_eq!(
        municipalities,
        ["Tranemo", "Ulricehamn"],
        "$municipality values"
    );
    let down = r#"driftvakt_device_state{device="ap-t"}"#;
    assert_eq!(value(prom, down).await, 2.0, "ap-t is down now");
    let ups = r#"driftvakt_ups_runtime_minutes{device="ups-1"}"#;
    assert_eq!(value(prom, ups).await, 35.0);
    let below = "count(driftvakt_ups_runtime_minutes < driftvakt_ups_runtime_minimum_minutes)";
    assert_eq!(
        value(prom, below).await,
        1.0,
        "the UPS is below the four hours"
    );
    assert_eq!(value(prom, "sum(driftvakt_ups_on_battery)").await, 1.0);
    let printer = r#"driftvakt_device_state{device="prn-1"}"#;
    assert_eq!(value(prom, printer).await, 1.0, "toner low: degraded");
    assert_eq!(
        value(prom, "max(driftvakt_service_window_active)").await,
        1.0
    );
    let planned = r#"sum(driftvakt_service_downtime_seconds{service="net-tranemo",kind="planned",period="year"})"#;
    assert!(
        value(prom, planned).await > 0.0,
        "planned downtime in the window"
    );
    let unplanned = r#"driftvakt_service_downtime_seconds{service="wifi-ulricehamn",kind="unplanned",period="year"}"#;
    if Utc::now().ordinal() > 4 {
        // The switch's hour three days ago is in this year.
        assert!(value(prom, unplanned).await >= 3000.0, "the switch's hour");
    }
    let ingested = r#"driftvakt_results_ingested_total{agent="remote"}"#;
    assert!(value(prom, ingested).await > 1000.0);
}
