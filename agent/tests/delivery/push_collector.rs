//! The pusher and the assignment fetcher against a small collector started in the test: it
//! implements the HTTP contract of `driftvakt_agent::push`, records batch ids, dedups them like
//! the real collector, and can be told to answer 503, 400 or 401.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use driftvakt_agent::assignment::{AssignmentFetcher, Fetched, ASSIGNMENT_FILE};
use driftvakt_agent::config::{AgentConfig, Secret};
use driftvakt_agent::metrics::{ReasonLabel, SpoolMetrics};
use driftvakt_agent::push::{CollectorClient, Pusher, PusherOptions};
use driftvakt_agent::spool::{Spool, SpoolOptions};
use driftvakt_common::clock::{Clock, FixedClock};
use driftvakt_common::wire::{Batch, ProbeResult};
use serde_json::json;
use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const TOKEN: &str = "s3cret-agent-token";
const AGENT: &str = "ulricehamn-1";

/// What the test collector does and has seen.
#[derive(Default)]
struct Collector {
    /// Answer every push with this status instead of handling it.
    fail_with: Mutex<Option<u16>>,
    /// Batch ids answered with 400.
    malformed: Mutex<HashSet<String>>,
    /// Batch ids answered with 409 (the collector has a different batch under that id).
    conflicting: Mutex<HashSet<String>>,
    seen: Mutex<HashSet<String>>,
    /// Every batch id pushed, in arrival order (retries and duplicates included).
    requests: Mutex<Vec<String>>,
    /// Batches applied (each id once).
    applied: Mutex<Vec<Batch>>,
    assignment: Mutex<(String, serde_json::Value)>,
    /// (If-None-Match sent, status answered) per assignment request.
    assignment_requests: Mutex<Vec<(Option<String>, u16)>>,
}

type Shared = Arc<Collector>;

fn authorized(headers: &HeaderMap) -> bool {
    headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(&format!("Bearer {TOKEN}"))
}

async fn push(State(c): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(status) = *c.fail_with.lock().unwrap() {
        return StatusCode::from_u16(status).unwrap().into_response();
    }
    if !authorized(&headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let json_type = headers
        .get("content-type")
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    let Ok(batch) = serde_json::from_slice::<Batch>(&body) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    c.requests.lock().unwrap().push(batch.batch_id.clone());
    if !json_type || c.malformed.lock().unwrap().contains(&batch.batch_id) {
        return (StatusCode::BAD_REQUEST, "malformed batch").into_response();
    }
    if c.conflicting.lock().unwrap().contains(&batch.batch_id) {
        return (
            StatusCode::CONFLICT,
            Json(json!({"error": "batch id already used for different content", "batch_id": batch.batch_id})),
        )
            .into_response();
    }
    if !c.seen.lock().unwrap().insert(batch.batch_id.clone()) {
        return Json(json!({"accepted": 0, "rejected": [], "duplicate": true})).into_response();
    }
    let n = batch.results.len();
    c.applied.lock().unwrap().push(batch);
    Json(json!({"accepted": n, "rejected": [], "duplicate": false})).into_response()
}

async fn assignment(State(c): State<Shared>, headers: HeaderMap) -> Response {
    if !authorized(&headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let inm = headers
        .get("if-none-match")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let (etag, body) = c.assignment.lock().unwrap().clone();
    let status = if inm.as_deref() == Some(etag.as_str()) {
        304
    } else {
        200
    };
    c.assignment_requests.lock().unwrap().push((inm, status));
    if status == 304 {
        return StatusCode::NOT_MODIFIED.into_response();
    }
    ([("etag", etag)], Json(body)).into_response()
}

/// Serves the test collector on `listener`.
fn serve(listener: std::net::TcpListener) -> Shared {
    let c = Shared::default();
    *c.assignment.lock().unwrap() = ("\"v1\"".to_string(), assignment_body(&["ap-assigned-1"]));
    let app = Router::new()
        .route("/api/v1/results", post(push))
        .route("/api/v1/assignment", get(assignment))
        .with_state(c.clone());
    listener.set_nonblocking(true).unwrap();
    let listener = tokio::net::TcpListener::from_std(listener).unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    c
}

fn start() -> (Shared, String) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    (serve(listener), url)
}

/// An address nothing listens on (until a test binds it).
fn free_addr() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

fn assignment_body(devices: &[&str]) -> serde_json::Value {
    let devices: Vec<_> = devices
        .iter()
        .enumerate()
        .map(|(i, id)| {
            json!({"id": id, "class": "access_point", "site": "stadshuset", "address": format!("10.20.1.{}", i + 10), "checks": ["icmp", {"kind": "tcp", "port": 22, "interval": "60s"}]})
        })
        .collect();
    json!({
        "agent": AGENT,
        "devices": devices,
        "snmp_credentials": [{"id": "central-v2c", "version": "v2c", "community": {"env": "DRIFTVAKT_TEST_COMMUNITY"}}],
        "defaults": {"access_point": {"interval": "2m", "timeout": "5s"}}
    })
}

fn results(n: u64, t0: DateTime<Utc>, step: ChronoDuration) -> Vec<ProbeResult> {
    (0..n)
        .map(|i| ProbeResult {
            target: format!("sw-{}", i % 3),
            check: "icmp".into(),
            time: t0 + step * i as i32,
            ok: true,
            duration_ms: 1.0,
            error: None,
            detail: None,
            findings: vec![],
            values: Default::default(),
        })
        .collect()
}

fn t0() -> DateTime<Utc> {
    "2026-03-17T06:00:00Z".parse().unwrap()
}

/// What the pushers' clock says: two hours after [`t0`].
fn later() -> DateTime<Utc> {
    t0() + ChronoDuration::hours(2)
}

fn clock() -> Arc<dyn Clock> {
    Arc::new(FixedClock(later()))
}

fn spool(dir: &Path, metrics: &SpoolMetrics) -> Arc<Spool> {
    Arc::new(Spool::open(dir, SpoolOptions::new(64 << 20, 10), metrics.clone()).unwrap())
}

fn fast() -> PusherOptions {
    PusherOptions {
        push_interval: Duration::from_millis(20),
        backoff_initial: Duration::from_millis(10),
        backoff_max: Duration::from_millis(100),
    }
}

fn pusher(url: &str, token: &str, spool: Arc<Spool>, dir: &Path, m: &SpoolMetrics) -> Pusher {
    let client = CollectorClient::plain(url, Secret::new(token)).unwrap();
    Pusher::new(
        client,
        spool,
        AGENT,
        dir.join("quarantine"),
        fast(),
        m.clone(),
        clock(),
    )
}

fn failures(m: &SpoolMetrics, reason: &str) -> u64 {
    m.push_failures
        .get_or_create(&ReasonLabel {
            reason: reason.into(),
        })
        .get()
}

/// Polls `done` every 10 ms; fails the test after `limit`.
async fn wait_until(what: &str, limit: Duration, done: impl Fn() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn applied_results(c: &Collector) -> Vec<ProbeResult> {
    c.applied
        .lock()
        .unwrap()
        .iter()
        .flat_map(|b| b.results.clone())
        .collect()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        if p.is_file() {
            std::fs::copy(&p, to.join(p.file_name().unwrap())).unwrap();
        }
    }
}

#[tokio::test]
async fn results_arrive_in_order_and_a_replay_is_acknowledged_as_duplicate() {
    let (collector, url) = start();
    let dir = tempfile::tempdir().unwrap();
    let m = SpoolMetrics::default();
    let input = results(95, t0(), ChronoDuration::seconds(30));
    let s = spool(&dir.path().join("spool"), &m);
    s.append(&input).unwrap();
    // The state before anything was confirmed, as after a crash that lost the cursor update.
    copy_dir(&dir.path().join("spool"), &dir.path().join("before"));

    let n = pusher(&url, TOKEN, s.clone(), dir.path(), &m)
        .pass()
        .await
        .unwrap();
    assert_eq!(n, 10);
    assert_eq!(applied_results(&collector), input);
    assert_eq!(s.depth(), 0);
    assert_eq!(
        m.last_successful_push_timestamp_seconds.get(),
        later().timestamp() as f64,
        "the last push's time is the pusher's clock's"
    );
    let ids = collector.requests.lock().unwrap().clone();
    let inc = s.incarnation();
    assert_eq!(ids[0], format!("ulricehamn-1-{inc}-1-9"));
    assert_eq!(ids[9], format!("ulricehamn-1-{inc}-90-95"));

    // Replay of the same spool: the same ids, acknowledged as duplicates, applied once.
    let m2 = SpoolMetrics::default();
    let again = spool(&dir.path().join("before"), &m2);
    pusher(&url, TOKEN, again.clone(), dir.path(), &m2)
        .pass()
        .await
        .unwrap();
    assert_eq!(again.depth(), 0, "duplicates are confirmations too");
    let all = collector.requests.lock().unwrap().clone();
    assert_eq!(all[10..], ids[..]);
    assert_eq!(applied_results(&collector), input, "applied exactly once");
}

#[tokio::test]
async fn a_refused_batch_is_quarantined_and_the_next_ones_flow() {
    let (collector, url) = start();
    let dir = tempfile::tempdir().unwrap();
    let m = SpoolMetrics::default();
    let s = spool(&dir.path().join("spool"), &m);
    let input = results(30, t0(), ChronoDuration::seconds(30));
    s.append(&input).unwrap();
    collector
        .malformed
        .lock()
        .unwrap()
        .insert(format!("ulricehamn-1-{}-10-19", s.incarnation()));
    let p = pusher(&url, TOKEN, s.clone(), dir.path(), &m);
    assert_eq!(p.pass().await.unwrap(), 4);
    assert_eq!(m.batches_quarantined.get(), 1);
    assert_eq!(failures(&m, "rejected"), 1);
    assert_eq!(s.depth(), 0);
    let q = dir.path().join(format!(
        "quarantine/ulricehamn-1-{}-10-19.json",
        s.incarnation()
    ));
    let kept: Batch = serde_json::from_slice(&std::fs::read(&q).unwrap()).unwrap();
    assert_eq!(kept.results, input[9..19]);
    let applied = applied_results(&collector);
    assert_eq!(applied.len(), 20);
    assert_eq!(applied[..9], input[..9]);
    assert_eq!(applied[9..], input[19..]);
}

/// Log lines written while the guard lives (on this thread), as text.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    fn capture(&self) -> tracing::subscriber::DefaultGuard {
        let logs = self.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || logs.clone())
            .finish();
        tracing::subscriber::set_default(subscriber)
    }
    fn lines(&self) -> Vec<String> {
        String::from_utf8_lossy(&self.0.lock().unwrap())
            .lines()
            .map(str::to_string)
            .collect()
    }
}

#[tokio::test]
async fn a_conflict_is_an_error_and_the_batch_is_kept_in_quarantine_never_confirmed() {
    let (collector, url) = start();
    let dir = tempfile::tempdir().unwrap();
    let m = SpoolMetrics::default();
    let s = spool(&dir.path().join("spool"), &m);
    let input = results(30, t0(), ChronoDuration::seconds(30));
    s.append(&input).unwrap();
    let conflicting = format!("{AGENT}-{}-10-19", s.incarnation());
    collector
        .conflicting
        .lock()
        .unwrap()
        .insert(conflicting.clone());
    copy_dir(&dir.path().join("spool"), &dir.path().join("before"));
    let logs = Logs::default();
    let guard = logs.capture();
    let p = pusher(&url, TOKEN, s.clone(), dir.path(), &m);
    assert_eq!(
        p.pass().await.unwrap(),
        4,
        "the spool flows on past the conflict"
    );
    drop(guard);

    let errors: Vec<String> = logs
        .lines()
        .into_iter()
        .filter(|l| l.contains("ERROR"))
        .collect();
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert!(errors[0].contains(&conflicting), "{}", errors[0]);
    assert!(errors[0].contains("409"), "{}", errors[0]);
    assert_eq!(failures(&m, "conflict"), 1);
    assert_eq!(m.batches_quarantined.get(), 1);
    assert_eq!(s.depth(), 0);
    let q = dir.path().join(format!("quarantine/{conflicting}.json"));
    let kept: Batch = serde_json::from_slice(&std::fs::read(&q).unwrap()).unwrap();
    assert_eq!(kept.batch_id, conflicting);
    assert_eq!(kept.agent, AGENT);
    assert_eq!(kept.results, input[9..19], "the whole batch is kept");
    let applied = applied_results(&collector);
    assert_eq!(applied.len(), 20);
    assert!(
        !collector.seen.lock().unwrap().contains(&conflicting),
        "the conflicting batch was never taken as delivered"
    );

    // The same spool replayed (as after a crash before the cursor moved): the conflict is
    // quarantined again beside the first copy, never over it.
    let m2 = SpoolMetrics::default();
    let replay = spool(&dir.path().join("before"), &m2);
    pusher(&url, TOKEN, replay, dir.path(), &m2)
        .pass()
        .await
        .unwrap();
    assert_eq!(m2.batches_quarantined.get(), 1);
    let second = dir.path().join(format!("quarantine/{conflicting}.1.json"));
    let kept2: Batch = serde_json::from_slice(&std::fs::read(&second).unwrap()).unwrap();
    assert_eq!(kept2.results, input[9..19]);
    let first: Batch = serde_json::from_slice(&std::fs::read(&q).unwrap()).unwrap();
    assert_eq!(first, kept);
}

#[tokio::test]
async fn a_bad_token_keeps_the_data_and_is_counted() {
    let (collector, url) = start();
    let dir = tempfile::tempdir().unwrap();
    let m = SpoolMetrics::default();
    let s = spool(&dir.path().join("spool"), &m);
    s.append(&results(12, t0(), ChronoDuration::seconds(30)))
        .unwrap();
    let err = pusher(&url, "wrong", s.clone(), dir.path(), &m)
        .pass()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("unauthorized"), "{err}");
    assert_eq!(failures(&m, "unauthorized"), 1);
    assert_eq!(s.depth(), 12);
    assert!(collector.applied.lock().unwrap().is_empty());
    // With the right token the same data goes through.
    pusher(&url, TOKEN, s.clone(), dir.path(), &m)
        .pass()
        .await
        .unwrap();
    assert_eq!(applied_results(&collector).len(), 12);
}

#[tokio::test]
async fn a_503_spell_backs_off_and_then_everything_is_delivered() {
    let (collector, url) = start();
    *collector.fail_with.lock().unwrap() = Some(503);
    let dir = tempfile::tempdir().unwrap();
    let m = SpoolMetrics::default();
    let s = spool(&dir.path().join("spool"), &m);
    let input = results(57, t0(), ChronoDuration::seconds(30));
    s.append(&input).unwrap();
    let task = tokio::spawn(pusher(&url, TOKEN, s.clone(), dir.path(), &m).run());
    wait_until("three failed pushes", Duration::from_secs(10), || {
        failures(&m, "server_error") >= 3
    })
    .await;
    assert_eq!(s.depth(), 57, "nothing is lost while the collector fails");
    *collector.fail_with.lock().unwrap() = None;
    wait_until("the spool to drain", Duration::from_secs(10), || {
        s.depth() == 0
    })
    .await;
    task.abort();
    assert_eq!(applied_results(&collector), input);
    assert_eq!(m.results.get(), 0);
}

#[tokio::test]
async fn two_hours_without_collector_then_everything_arrives_in_order_with_its_time() {
    let dir = tempfile::tempdir().unwrap();
    let m = SpoolMetrics::default();
    let s = spool(&dir.path().join("spool"), &m);
    let addr = free_addr();
    let url = format!("http://{addr}");
    let task = tokio::spawn(pusher(&url, TOKEN, s.clone(), dir.path(), &m).run());
    // Two hours of results every 30 s for three devices; sw-1 is down from 06:30 to 07:30.
    let mut input = Vec::new();
    for step in 0..240 {
        let time = t0() + ChronoDuration::seconds(30 * step);
        for dev in ["sw-0", "sw-1", "ups-0"] {
            let down = dev == "sw-1" && (60..180).contains(&step);
            input.push(ProbeResult {
                target: dev.into(),
                check: "icmp".into(),
                time,
                ok: !down,
                duration_ms: if down { 5000.0 } else { 0.4 },
                error: down.then(|| "timeout".to_string()),
                detail: None,
                findings: vec![],
                values: Default::default(),
            });
        }
        if step % 40 == 39 {
            let from = input.len() - 120;
            s.append(&input[from..]).unwrap();
        }
    }
    wait_until("connection failures", Duration::from_secs(10), || {
        failures(&m, "connect") >= 3
    })
    .await;
    assert_eq!(s.depth(), 720);
    s.refresh_age_metric(later()).unwrap();
    assert_eq!(m.oldest_unsent_age_seconds.get(), 7200.0);
    // The collector comes back on the same address.
    let collector = serve(std::net::TcpListener::bind(addr).unwrap());
    wait_until("the spool to drain", Duration::from_secs(20), || {
        s.depth() == 0
    })
    .await;
    task.abort();
    let got = applied_results(&collector);
    assert_eq!(
        got, input,
        "all results, in order, with their original timestamps"
    );
    let down: Vec<_> = got.iter().filter(|r| !r.ok).collect();
    assert_eq!(down.len(), 120);
    assert_eq!(down[0].time, t0() + ChronoDuration::minutes(30));
    assert_eq!(
        down.last().unwrap().time,
        t0() + ChronoDuration::seconds(30 * 179)
    );
}

fn local_config(dir: &Path) -> AgentConfig {
    let path = dir.join("agent.yaml");
    std::fs::write(
        &path,
        format!(
            "agent:\n  id: {AGENT}\n  collector:\n    url: http://127.0.0.1:1\n    token: {{ env: DRIFTVAKT_TEST_TOKEN }}\ndevices:\n  - id: sw-local\n    class: switch\n    address: 127.0.0.1\n    checks: [icmp]\n"
        ),
    )
    .unwrap();
    AgentConfig::load(&path).unwrap()
}

fn device_ids(c: &AgentConfig) -> Vec<String> {
    c.file.devices.iter().map(|d| d.id.value.clone()).collect()
}

#[tokio::test]
async fn the_assignment_is_fetched_with_etag_stored_and_used_when_the_collector_is_gone() {
    let (collector, url) = start();
    let dir = tempfile::tempdir().unwrap();
    let local = local_config(dir.path());
    let client = CollectorClient::plain(&url, Secret::new(TOKEN)).unwrap();
    let mut f = AssignmentFetcher::new(client, local.clone(), dir.path());
    assert!(!f.load_stored().unwrap());
    assert_eq!(f.fetch().await.unwrap(), Fetched::Changed);
    assert_eq!(device_ids(&f.config()), ["sw-local", "ap-assigned-1"]);
    assert_eq!(f.etag(), Some("\"v1\""));
    assert!(dir.path().join(ASSIGNMENT_FILE).exists());
    // Unchanged: the ETag is sent back and the collector answers 304.
    assert_eq!(f.fetch().await.unwrap(), Fetched::Unchanged);
    assert_eq!(
        collector.assignment_requests.lock().unwrap().clone(),
        [(None, 200), (Some("\"v1\"".to_string()), 304)]
    );
    // A new assignment replaces the old one.
    *collector.assignment.lock().unwrap() = (
        "\"v2\"".into(),
        assignment_body(&["ap-assigned-1", "ap-assigned-2"]),
    );
    assert_eq!(f.fetch().await.unwrap(), Fetched::Changed);
    let merged = f.config();
    assert_eq!(
        device_ids(&merged),
        ["sw-local", "ap-assigned-1", "ap-assigned-2"]
    );
    assert_eq!(merged.file.snmp_credentials.len(), 1);

    // Restarted while the collector is unreachable: the stored assignment is used.
    let gone = format!("http://{}", free_addr());
    let client = CollectorClient::plain(&gone, Secret::new(TOKEN)).unwrap();
    let mut f = AssignmentFetcher::new(client, local, dir.path());
    assert!(f.load_stored().unwrap());
    assert!(f.fetch().await.is_err());
    assert_eq!(f.etag(), Some("\"v2\""));
    assert_eq!(
        device_ids(&f.config()),
        ["sw-local", "ap-assigned-1", "ap-assigned-2"]
    );
}

#[tokio::test]
async fn an_invalid_or_foreign_assignment_is_refused_and_the_old_one_kept() {
    let (collector, url) = start();
    let dir = tempfile::tempdir().unwrap();
    let client = CollectorClient::plain(&url, Secret::new(TOKEN)).unwrap();
    let mut f = AssignmentFetcher::new(client, local_config(dir.path()), dir.path());
    f.fetch().await.unwrap();
    let mut bad = assignment_body(&["ap-x"]);
    bad["devices"][0]["address"] = json!("10.0.0.999");
    *collector.assignment.lock().unwrap() = ("\"bad\"".into(), bad);
    let err = f.fetch().await.unwrap_err();
    assert!(err.to_string().contains("invalid address"), "{err}");
    let mut foreign = assignment_body(&["ap-y"]);
    foreign["agent"] = json!("falkoping-1");
    *collector.assignment.lock().unwrap() = ("\"other\"".into(), foreign);
    assert!(f
        .fetch()
        .await
        .unwrap_err()
        .to_string()
        .contains("falkoping-1"));
    assert_eq!(device_ids(&f.config()), ["sw-local", "ap-assigned-1"]);
    assert_eq!(f.etag(), Some("\"v1\""));
}

fn pusher_to(urls: &[String], spool: Arc<Spool>, dir: &Path, m: &SpoolMetrics) -> Pusher {
    let client = CollectorClient::plain_urls(urls, Secret::new(TOKEN))
        .unwrap()
        .with_metrics(m.clone());
    Pusher::new(
        client,
        spool,
        AGENT,
        dir.join("quarantine"),
        fast(),
        m.clone(),
        clock(),
    )
}

fn in_use(m: &SpoolMetrics, url: &str) -> i64 {
    m.collector_in_use
        .get_or_create(&driftvakt_agent::metrics::UrlLabel { url: url.into() })
        .get()
}

#[tokio::test]
async fn the_agent_moves_on_from_a_dead_port_and_a_failing_collector_and_loses_nothing() {
    let dead = format!("http://{}", free_addr());
    let (a, url_a) = start();
    let (b, url_b) = start();
    *a.fail_with.lock().unwrap() = Some(503);
    let dir = tempfile::tempdir().unwrap();
    let m = SpoolMetrics::default();
    let s = spool(&dir.path().join("spool"), &m);
    let first = results(45, t0(), ChronoDuration::seconds(30));
    s.append(&first).unwrap();
    let urls = vec![dead.clone(), url_a.clone(), url_b.clone()];
    let p = pusher_to(&urls, s.clone(), dir.path(), &m);
    assert_eq!(in_use(&m, &dead), 1);
    // Dead port: connection refused, moves on; A answers 503, moves on; B takes everything.
    assert!(p.pass().await.is_err());
    assert_eq!(in_use(&m, &url_a), 1);
    assert!(p.pass().await.is_err());
    assert_eq!(in_use(&m, &url_b), 1);
    assert_eq!(p.pass().await.unwrap(), 5);
    assert_eq!(applied_results(&b), first);
    assert_eq!(m.collector_switches.get(), 2);
    // B fails now, A is back: round robin goes past the dead port to A; the spool kept the rest.
    *b.fail_with.lock().unwrap() = Some(502);
    *a.fail_with.lock().unwrap() = None;
    let more = results(
        30,
        t0() + ChronoDuration::hours(1),
        ChronoDuration::seconds(30),
    );
    s.append(&more).unwrap();
    let task = tokio::spawn(pusher_to(&urls, s.clone(), dir.path(), &m).run());
    wait_until("everything confirmed", Duration::from_secs(10), || {
        s.depth() == 0
    })
    .await;
    task.abort();
    let mut stored = applied_results(&a);
    stored.extend(applied_results(&b));
    let mut spooled = first.clone();
    spooled.extend(more);
    assert_eq!(stored.len(), spooled.len(), "nothing lost, nothing doubled");
    assert_eq!(applied_results(&a), spooled[45..]);
}

#[tokio::test]
async fn a_refusal_that_is_the_agents_fault_does_not_move_it_on() {
    let (a, url_a) = start();
    let (_b, url_b) = start();
    let dir = tempfile::tempdir().unwrap();
    let m = SpoolMetrics::default();
    let s = spool(&dir.path().join("spool"), &m);
    s.append(&results(5, t0(), ChronoDuration::seconds(30)))
        .unwrap();
    let urls = vec![url_a.clone(), url_b];
    let client = CollectorClient::plain_urls(&urls, Secret::new("wrong-token-0123456789"))
        .unwrap()
        .with_metrics(m.clone());
    let p = Pusher::new(
        client,
        s.clone(),
        AGENT,
        dir.path().join("q"),
        fast(),
        m.clone(),
        clock(),
    );
    assert!(p.pass().await.is_err());
    assert_eq!(in_use(&m, &url_a), 1, "401 is the agent's own fault");
    *a.fail_with.lock().unwrap() = Some(429);
    assert!(p.pass().await.is_err());
    assert_eq!(in_use(&m, &url_a), 1, "throttling does not move it on");
    assert_eq!(m.collector_switches.get(), 0);
    assert_eq!(s.depth(), 5);
}
