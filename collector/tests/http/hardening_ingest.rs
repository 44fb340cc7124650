//! Careless and hostile input at ingest, over real HTTP against a server on 127.0.0.1:0: a
//! batch id reused with other content (a lost spool) is a 409 naming the batch and applies
//! nothing; every string is bounded (a batch's own fields: 400 naming the field, nothing
//! stored; a result's: that result rejected alone, the others stored); a result that
//! differs from one stored for the same time is rejected with both outcomes, an identical one
//! is a duplicate result, never "accepted"; results from year 1, 1969 or months before a
//! device's first are rejected one by one; years out of range are 400s, not panics.

use driftvakt_collector::app::App;
use driftvakt_collector::http::serve;
use driftvakt_collector::ingest::IngestResponse;
use driftvakt_collector_testkit::fixtures::*;
use driftvakt_common::wire::{Batch, ProbeResult};
use reqwest::StatusCode;

struct Server {
    base: String,
    app: App,
    _stop: tokio::sync::oneshot::Sender<()>,
    _dir: tempfile::TempDir,
}

impl Server {
    async fn start() -> Server {
        let dir = tempfile::tempdir().unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let state = api_state(dir.path(), None);
        let state_app = state.app.clone();
        tokio::spawn(serve(state, listener, async {
            let _ = rx.await;
        }));
        Server {
            base,
            app: state_app,
            _stop: tx,
            _dir: dir,
        }
    }

    async fn post(&self, id: &str, results: Vec<ProbeResult>) -> (StatusCode, serde_json::Value) {
        let body = serde_json::to_string(&Batch {
            agent: "a1".into(),
            batch_id: id.into(),
            results,
        })
        .unwrap();
        let resp = reqwest::Client::new()
            .post(format!("{}/api/v1/results", self.base))
            .header("content-type", "application/json")
            .bearer_auth(TOKEN)
            .body(body)
            .send()
            .await
            .unwrap();
        let status = resp.status();
        (status, resp.json().await.unwrap())
    }

    async fn get(&self, path: &str) -> (StatusCode, serde_json::Value) {
        let resp = reqwest::get(format!("{}{path}", self.base)).await.unwrap();
        let status = resp.status();
        (status, resp.json().await.unwrap())
    }

    fn stored(&self, device: &str) -> usize {
        self.app.store.results(device, i64::MIN).unwrap().len()
    }
}

fn reply(v: serde_json::Value) -> IngestResponse {
    serde_json::from_value(v).unwrap()
}

#[tokio::test]
async fn a_batch_id_reused_with_other_content_is_a_409_and_applies_nothing() {
    let s = Server::start().await;
    let first = history("sw", 0, 5, |_| false);
    let (status, _) = s.post("a1-0000000000000001-1-5", first.clone()).await;
    assert_eq!(status, StatusCode::OK);
    // The agent lost its spool and counts from 1 again under the same id: new results.
    let after_reset = history("sw", 100, 105, |_| true);
    let (status, body) = s.post("a1-0000000000000001-1-5", after_reset).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["batch_id"], "a1-0000000000000001-1-5");
    let message = body["error"].as_str().unwrap();
    assert!(
        message.contains("stored before with other content"),
        "{message}"
    );
    assert_eq!(
        s.stored("sw"),
        5,
        "nothing of the conflicting batch is stored"
    );
    // A true re-send is still an idempotent duplicate.
    let (status, body) = s.post("a1-0000000000000001-1-5", first).await;
    assert_eq!(status, StatusCode::OK);
    assert!(reply(body).duplicate);
}

#[tokio::test]
async fn every_string_is_bounded_and_one_bad_result_is_refused_alone() {
    let s = Server::start().await;
    let long_id = "x".repeat(300_000);
    let (status, body) = s.post(&long_id, history("sw", 0, 2, |_| false)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body["error"],
        "invalid batch: batch_id: 300000 characters, at most 200"
    );
    let (status, body) = s.post("", history("sw", 0, 2, |_| false)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid batch: batch_id: must not be empty");
    assert_eq!(s.stored("sw"), 0, "a refused batch stores nothing");
    // A result whose own field breaks a bound is rejected alone; its batch-mates are stored.
    let mut wordy = history("sw", 0, 3, |_| true);
    wordy[1].detail = Some("ä".repeat(5_000));
    wordy[2].target = "y".repeat(200);
    let (status, body) = s.post("b-detail", wordy).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let r = reply(body);
    assert_eq!(r.accepted, 1);
    let reasons: Vec<(usize, &str)> = r
        .rejected
        .iter()
        .map(|x| (x.index, x.reason.as_str()))
        .collect();
    assert_eq!(
        reasons,
        [
            (
                1,
                "invalid result: results[1].detail: 5000 characters, at most 2048"
            ),
            (
                2,
                "invalid result: results[2].target: 200 characters, at most 128"
            ),
        ]
    );
    assert_eq!(s.stored("sw"), 1);
    // Control, bidirectional formatting characters and `/` in ids, the same way.
    let mut odd = history("sw", 10, 14, |_| false);
    odd[0].target = "sw\u{0}".into();
    odd[1].check = "icmp\u{202E}".into();
    odd[2].target = "s1/sw".into();
    let (status, body) = s.post("b-odd", odd).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let r = reply(body);
    let reasons: Vec<&str> = r.rejected.iter().map(|x| x.reason.as_str()).collect();
    assert_eq!(
        reasons,
        [
            "invalid result: results[0].target: must not contain control characters",
            "invalid result: results[1].check: must not contain bidirectional formatting characters",
            "invalid result: results[2].target: must not contain `/`",
        ]
    );
    assert_eq!(r.accepted, 1);
    assert_eq!(s.stored("sw"), 2);
}

#[tokio::test]
async fn a_result_at_a_stored_time_is_a_duplicate_or_a_reported_conflict() {
    let s = Server::start().await;
    let ok = history("sw", 0, 3, |_| false);
    let (status, body) = s.post("b1", ok.clone()).await;
    assert_eq!((status, reply(body).accepted), (StatusCode::OK, 3));

    // The same results under another id (a batch cut differently): nothing accepted.
    let (_, body) = s.post("b2", ok).await;
    let r = reply(body);
    assert_eq!(
        (r.accepted, r.duplicate_results, r.rejected.len()),
        (0, 3, 0)
    );

    // A failed result for minute 1, where an ok one is stored: refused, with both outcomes.
    let (_, body) = s.post("b3", history("sw", 1, 2, |_| true)).await;
    let r = reply(body);
    assert_eq!((r.accepted, r.duplicate_results), (0, 0));
    assert_eq!(r.rejected.len(), 1);
    assert!(
        r.rejected[0]
            .reason
            .contains("stored: ok, this one: failed (timeout)"),
        "{}",
        r.rejected[0].reason
    );
    let kept = s.app.store.results("sw", i64::MIN).unwrap();
    assert!(kept.iter().all(|r| r.ok), "the stored result is kept");
}

#[tokio::test]
async fn results_from_long_ago_are_rejected_one_by_one() {
    let s = Server::start().await;
    let at = |text: &str| -> ProbeResult {
        let mut r = result("sw", "icmp", 0, true);
        r.time = text.parse().unwrap();
        r
    };
    let results = vec![
        at("0001-01-01T00:00:00Z"),
        at("1969-12-31T23:59:59Z"),
        at("2026-01-20T00:00:00Z"), // 50 days before the collector's now (2026-03-11)
        at("2026-03-01T00:00:00Z"), // 10 days before: fine
    ];
    let (status, body) = s.post("old", results).await;
    assert_eq!(status, StatusCode::OK);
    let r = reply(body);
    assert_eq!(r.accepted, 1);
    let refused: Vec<usize> = r.rejected.iter().map(|x| x.index).collect();
    assert_eq!(refused, [0, 1, 2]);
    assert!(
        r.rejected[0]
            .reason
            .contains("older than the collector accepts"),
        "{}",
        r.rejected[0].reason
    );
    // Nothing reaches back to year 1: the device's history starts at the accepted result.
    let outages = s
        .app
        .store
        .outages(
            driftvakt_collector::store::EntityKind::Device,
            Some("sw"),
            i64::MIN,
            i64::MAX,
        )
        .unwrap();
    let first = "2026-03-01T00:00:00Z"
        .parse::<chrono::DateTime<chrono::Utc>>()
        .unwrap()
        .timestamp_millis();
    assert!(
        outages.iter().all(|o| o.start >= first - 3 * 60_000),
        "{outages:?}"
    );
}

#[tokio::test]
async fn years_out_of_range_are_400s_not_panics() {
    let s = Server::start().await;
    for path in [
        "/api/v1/windows?from=-0001-01-01&to=-0001-01-31",
        "/api/v1/windows?from=2026-01-01&to=2126-01-01",
        "/api/v1/report?from=-0001-01-01T00:00:00Z",
        "/api/v1/report?period=0001",
    ] {
        let (status, body) = s.get(path).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
        assert!(body["error"].is_string(), "{path}: {body}");
    }
    let ok = reqwest::get(format!("{}/healthz", s.base)).await.unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
}
