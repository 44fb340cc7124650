//! The API over real HTTP, against a server bound on 127.0.0.1:0: good and bad batches, auth,
//! size limit, report and status.

use driftvakt_collector::http::serve;
use driftvakt_collector::ingest::IngestResponse;
use driftvakt_collector::state::Status;
use driftvakt_collector_testkit::fixtures::*;
use driftvakt_common::wire::Batch;
use reqwest::StatusCode;

const OPERATOR_TOKEN: &str = "operator-token-0123456789";

struct Server {
    base: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    _dir: tempfile::TempDir,
}

impl Server {
    async fn start() -> Server {
        let dir = tempfile::tempdir().unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let state = api_state(dir.path(), Some(OPERATOR_TOKEN));
        let task = tokio::spawn(serve(state, listener, async {
            let _ = rx.await;
        }));
        Server {
            base,
            stop: Some(tx),
            task,
            _dir: dir,
        }
    }

    async fn post(
        &self,
        token: Option<&str>,
        body: impl Into<reqwest::Body>,
    ) -> (StatusCode, String) {
        let mut req = reqwest::Client::new()
            .post(format!("{}/api/v1/results", self.base))
            .header("content-type", "application/json")
            .body(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.unwrap();
        (resp.status(), resp.text().await.unwrap())
    }

    async fn get(&self, path: &str) -> (StatusCode, String) {
        let resp = reqwest::get(format!("{}{path}", self.base)).await.unwrap();
        (resp.status(), resp.text().await.unwrap())
    }

    async fn stop(mut self) {
        self.stop.take().unwrap().send(()).unwrap();
        self.task.await.unwrap().unwrap();
    }
}

fn batch_json(id: &str, results: Vec<driftvakt_common::wire::ProbeResult>) -> String {
    serde_json::to_string(&Batch {
        agent: "a1".into(),
        batch_id: id.into(),
        results,
    })
    .unwrap()
}

#[tokio::test]
async fn malformed_bodies_are_400_with_the_place() {
    let s = Server::start().await;
    let cases = [
        ("<html>not json</html>", "expected value at line 1 column 1"),
        (
            r#"{"agent": 5, "batch_id": "b", "results": []}"#,
            "invalid batch: at `agent`: invalid type: integer `5`, expected a string at line 1 column 11",
        ),
        (r#"{"agent": "a1", "results": []}"#, "missing field `batch_id`"),
        (
            r#"{"agent": "a1", "batch_id": "b", "results": [], "extra": 1}"#,
            "unknown field `extra`",
        ),
        (
            "{\"agent\": \"a1\", \"batch_id\": \"b\",\n \"results\": [{\"target\": \"sw\", \"check\": \"icmp\", \"time\": \"yesterday\", \"ok\": true, \"duration_ms\": 1}]}",
            "at `results[0].time`: input contains invalid characters at line 2 column",
        ),
        (
            r#"{"agent": "a1", "batch_id": "b", "results": [{"target": "sw", "check": "icmp", "time": "2026-03-10T00:00:00Z", "ok": "yes", "duration_ms": 1}]}"#,
            "at `results[0].ok`: invalid type: string \"yes\", expected a boolean at line 1 column 122",
        ),
        (
            r#"{"agent": "a1", "batch_id": "b", "results": [{"target": "sw", "check": "icmp"}]}"#,
            "at `results[0]`: missing field `time`",
        ),
        (
            r#"{"agent": "a1", "batch_id": "b", "results": [{"target": "sw", "colour": 1}]}"#,
            "at `results[0]`: unknown field `colour`",
        ),
        (r#"{"agent": "a1", "batch_id": "b", "results": [{"target": "sw""#, "EOF while parsing"),
        ("", "EOF while parsing a value at line 1 column 0"),
    ];
    for (body, expect) in cases {
        let (status, text) = s.post(Some(TOKEN), body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {text}");
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let msg = v["error"].as_str().unwrap();
        assert!(msg.starts_with("invalid batch: "), "{msg}");
        assert!(msg.contains(expect), "{body}: {msg}");
    }
    s.stop().await;
}

#[tokio::test]
async fn tokens_are_required_and_checked() {
    let s = Server::start().await;
    let body = batch_json("b1", vec![result("sw", "icmp", 0, true)]);
    let (status, text) = s.post(None, body.clone()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{text}");
    assert!(text.contains("missing bearer token"));
    let (status, text) = s
        .post(Some("not-the-token-at-all-xxxx"), body.clone())
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{text}");
    assert!(text.contains("invalid token"));
    // A valid token of another agent: the batch names a1.
    let (status, text) = s.post(Some(TOKEN2), body.clone()).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{text}");
    let (status, _) = s.post(Some(TOKEN), body).await;
    assert_eq!(status, StatusCode::OK);
    s.stop().await;
}

#[tokio::test]
async fn huge_body_is_413() {
    let s = Server::start().await;
    let mut body = String::from(r#"{"agent": "a1", "batch_id": "big", "results": ["#);
    let one = serde_json::to_string(&result("sw", "icmp", 0, true)).unwrap();
    while body.len() < 9 << 20 {
        body.push_str(&one);
        body.push(',');
    }
    body.push_str(&one);
    body.push_str("]}");
    let (status, _) = s.post(Some(TOKEN), body).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    s.stop().await;
}

#[tokio::test]
async fn bad_results_are_rejected_one_by_one_and_duplicates_acknowledged() {
    let s = Server::start().await;
    let mut future = result("sw", "icmp", 24 * 60 + 6, true);
    future.target = "sw".into();
    let results = vec![
        result("sw", "icmp", 0, true),
        result("nope", "icmp", 0, true),
        result("sw-t", "icmp", 0, true),
        result("sw", "snmp", 0, true),
        future,
        result("sw", "icmp", 24 * 60 + 4, true),
    ];
    let body = batch_json("b1", results);
    let (status, text) = s.post(Some(TOKEN), body.clone()).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let r: IngestResponse = serde_json::from_str(&text).unwrap();
    assert_eq!(r.accepted, 2);
    assert!(!r.duplicate);
    let reasons: Vec<(usize, &str)> = r
        .rejected
        .iter()
        .map(|x| (x.index, x.reason.as_str()))
        .collect();
    assert_eq!(reasons[0], (1, "unknown device"));
    assert_eq!(reasons[1], (2, "device not assigned to this agent"));
    assert_eq!(reasons[2].0, 3);
    assert!(
        reasons[2].1.starts_with("unknown check `snmp`"),
        "{reasons:?}"
    );
    assert_eq!(reasons[3].0, 4);
    assert!(reasons[3].1.contains("ahead of the collector's clock"));
    assert_eq!(r.rejected[1].target, "sw-t");
    let (status, text) = s.post(Some(TOKEN), body).await;
    assert_eq!(status, StatusCode::OK);
    let again: IngestResponse = serde_json::from_str(&text).unwrap();
    assert!(again.duplicate);
    assert_eq!(again.accepted, 0);
    s.stop().await;
}

#[tokio::test]
async fn report_status_and_health_over_http() {
    let s = Server::start().await;
    let results = history("prn", 0, 24 * 60, |m| (600..660).contains(&m));
    for (i, chunk) in results.chunks(200).enumerate() {
        let (status, text) = s
            .post(Some(TOKEN), batch_json(&format!("h{i}"), chunk.to_vec()))
            .await;
        assert_eq!(status, StatusCode::OK, "{text}");
    }
    let (status, text) = s.get("/healthz").await;
    assert_eq!((status, text.trim()), (StatusCode::OK, "ok"));
    let (status, text) = s
        .get("/api/v1/report?from=2026-03-10T00:00:00Z&to=2026-03-11T00:00:00Z")
        .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    for key in [
        "period",
        "from",
        "to",
        "target",
        "devices",
        "services",
        "sites",
        "municipalities",
        "incidents",
    ] {
        assert!(v.get(key).is_some(), "missing {key}");
    }
    let prn = v["devices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["id"] == "prn")
        .unwrap();
    assert_eq!(prn["downtime_s"], 3600.0);
    assert_eq!(prn["availability"], 1.0 - 3600.0 / 86_400.0);
    assert_eq!(prn["meets_target"], false);
    assert_eq!(v["incidents"]["period"], 1);
    assert_eq!(v["incidents"]["goal"], 5);
    assert_eq!(v["incidents"]["meets_goal"], true);
    // A month still running is computed up to now (the clock is at 2026-03-11 00:00).
    let (status, text) = s.get("/api/v1/report?period=2026-03").await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["to"], "2026-03-11T00:00:00Z");
    let (status, text) = s.get("/api/v1/report?period=2026-T4").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
    let (status, text) = s.get("/api/v1/status").await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let st: Status = serde_json::from_str(&text).unwrap();
    let prn = st.devices.iter().find(|d| d.id == "prn").unwrap();
    assert_eq!(prn.state, driftvakt_collector::state::Health::Up);
    let never = st.devices.iter().find(|d| d.id == "sw-t").unwrap();
    assert_eq!(never.state, driftvakt_collector::state::Health::Unknown);
    s.stop().await;
}

#[tokio::test]
async fn operators_activate_a_secondary_window_with_their_token() {
    let server = Server::start().await;
    let client = reqwest::Client::new();
    let url = format!("{}/api/v1/windows/secondary", server.base);
    let body = serde_json::json!({"date": "2027-03-23", "by": "anna"});
    let anonymous = client.post(&url).json(&body).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let wrong_day = client
        .post(&url)
        .bearer_auth(OPERATOR_TOKEN)
        .json(&serde_json::json!({"date": "2027-03-24", "by": "anna"}))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_day.status(), StatusCode::CONFLICT);
    let ok = client
        .post(&url)
        .bearer_auth(OPERATOR_TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK, "{}", ok.text().await.unwrap());
    let list: serde_json::Value = client
        .get(format!(
            "{}/api/v1/windows?from=2027-03-01&to=2027-03-31",
            server.base
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let secondary = list
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["kind"] == "secondary")
        .unwrap();
    assert_eq!(secondary["start"], "2027-03-23T18:00:00+01:00");
    assert_eq!(secondary["active"], true);
    let withdrawn = client
        .delete(format!("{url}/2027-03-23"))
        .bearer_auth(OPERATOR_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(withdrawn.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_inventory_register_needs_the_operator_token() {
    let s = Server::start().await;
    let get = |path: &str, token: Option<&str>| {
        let mut req = reqwest::Client::new().get(format!("{}{path}", s.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        async move {
            let resp = req.send().await.unwrap();
            (resp.status(), resp.text().await.unwrap())
        }
    };
    for path in [
        "/api/v1/inventory",
        "/api/v1/inventory/renewals",
        "/api/v1/inventory/billing?period=2026-T1",
    ] {
        let (status, text) = get(path, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}: {text}");
    }
    let token = Some(OPERATOR_TOKEN);
    let (status, text) = get("/api/v1/inventory", token).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let rows: serde_json::Value = serde_json::from_str(&text).unwrap();
    let sw = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "sw")
        .unwrap_or_else(|| panic!("{text}"));
    assert_eq!(sw["register"]["status"], "active", "{text}");
    assert!(sw["state"].is_string(), "{text}");
    let (status, text) = get("/api/v1/inventory?format=csv", token).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert!(text.starts_with("id,class,site,address,"), "{text}");
    let (status, text) = get("/api/v1/inventory/billing?period=2026-T1&format=csv", token).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert!(
        text.starts_with("record,period,municipality,owner,device,days"),
        "{text}"
    );
    let (status, text) = get("/api/v1/inventory/billing?period=2026-T4", token).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
    assert!(text.contains("2026-T3"), "{text}");
    let (status, text) = get("/api/v1/inventory/renewals?within=soon", token).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
    s.stop().await;
}
