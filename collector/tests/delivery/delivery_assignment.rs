//! `GET /api/v1/assignment` over real HTTP (the collector's router on 127.0.0.1:0): tokens,
//! ETag and 304, and the body parsed and validated by the agent's own code
//! (`driftvakt_agent::assignment`), which is what a central-mode agent runs.

use driftvakt_agent::assignment::{Assignment, AssignmentFetcher, Fetched};
use driftvakt_agent::config::AgentConfig;
use driftvakt_agent::push::CollectorClient;
use driftvakt_collector::app::App;
use driftvakt_collector::clock::SystemClock;
use driftvakt_collector::http::assignment::Served;
use driftvakt_collector::http::serve;
use driftvakt_collector::http::ApiState;
use driftvakt_collector::inventory::Inventory;
use driftvakt_collector::store::Database;
use driftvakt_collector::windows::CalendarService;
use driftvakt_collector_testkit::process::*;
use driftvakt_common::schema::{default_checks, CheckSpec, Secret};
use driftvakt_common::DeviceClass;
use reqwest::StatusCode;
use std::path::{Path, PathBuf};
use std::sync::Arc;

const AUTH_SECRET: &str = "auth-secret-value-never-sent";

const INVENTORY: &str = r#"
sites:
  - { id: hus1, name: Stadshuset, municipality: Ulricehamn }
  - { id: hus2, name: Kommunhuset, municipality: Tranemo }
snmp_credentials:
  - { id: v2, version: v2c, community: { env: DV_TEST_COMMUNITY } }
  - id: v3
    version: v3
    user: drift
    auth_protocol: sha256
    auth_password: { file: secrets/auth }
    priv_protocol: aes
    priv_password: { env: DV_TEST_PRIV }
devices:
  - { id: sw1, class: switch, site: hus1, address: 127.0.0.1, checks: [icmp, { kind: snmp, credentials: v3, uplinks: [ge-0/0/1], retries: 2 }] }
  - { id: ap1, class: access_point, site: hus1, address: 127.0.0.1, parent: sw1, description: Foajén }
  - { id: prn1, class: printer, site: hus2, address: 127.0.0.1, parent: sw2, interval: 30s, checks: [{ kind: icmp, count: 2, spacing: 250ms }, { kind: tcp, port: 9100, timeout: 2s }] }
  - { id: sw2, class: switch, site: hus2, address: 127.0.0.2, checks: [icmp, { kind: snmp, credentials: v2 }] }
  - { id: "1001", class: screen, site: hus2, address: skarm.example.org, checks: [{ kind: http, url: "https://skarm.example.org/", expect_status: [200, 204], insecure_skip_verify: true, body_contains: Välkommen }] }
agents:
  - { id: a, token_file: a.token, sites: [hus1], devices: [prn1] }
  - { id: b, token_file: b.token, municipalities: [Tranemo] }
  - { id: emb, embedded: true, devices: [sw2] }
"#;

fn write_inventory(dir: &Path, text: &str) -> PathBuf {
    std::fs::write(dir.join("a.token"), TOKEN_A).unwrap();
    std::fs::set_permissions(
        dir.join("a.token"),
        <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o600),
    )
    .unwrap(); // token files: owner only
    std::fs::write(dir.join("b.token"), TOKEN_B).unwrap();
    std::fs::set_permissions(
        dir.join("b.token"),
        <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o600),
    )
    .unwrap(); // token files: owner only
    std::fs::create_dir_all(dir.join("secrets")).unwrap();
    std::fs::write(dir.join("secrets/auth"), AUTH_SECRET).unwrap();
    let path = dir.join("collector.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

struct Server {
    base: String,
    app: App,
    _stop: tokio::sync::oneshot::Sender<()>,
}

async fn start(dir: &Path) -> Server {
    let inv = Inventory::load(&write_inventory(dir, INVENTORY)).unwrap();
    let stores = Database::open(&dir.join("dv.db").into())
        .unwrap()
        .stores()
        .unwrap();
    let app = App::new(inv, stores.results.clone(), Arc::new(SystemClock)).unwrap();
    let state = ApiState {
        cluster: None,
        alerts: None,
        app: app.clone(),
        calendar: Arc::new(CalendarService::new(
            Default::default(),
            stores.windows.clone(),
            Arc::new(SystemClock),
        )),
        stores,
        operator_token: None,
        exposition: Default::default(),
        pages: Default::default(),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(serve(state, listener, async {
        let _ = rx.await;
    }));
    Server {
        base,
        app,
        _stop: tx,
    }
}

async fn get(
    base: &str,
    token: Option<&str>,
    if_none_match: Option<&str>,
) -> (StatusCode, Option<String>, String) {
    let mut req = reqwest::Client::new().get(format!("{base}/api/v1/assignment"));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(e) = if_none_match {
        req = req.header("if-none-match", e);
    }
    let resp = req.send().await.unwrap();
    let etag = resp
        .headers()
        .get("etag")
        .map(|v| v.to_str().unwrap().to_string());
    (resp.status(), etag, resp.text().await.unwrap())
}

fn ids(a: &Assignment) -> Vec<&str> {
    a.devices.iter().map(|d| d.id.value.as_str()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_body_is_what_the_agent_parses_resolved_and_without_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path()).await;
    let (status, etag, body) = get(&s.base, Some(TOKEN_A), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let etag = etag.expect("an ETag header");
    assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");
    assert!(!body.contains(AUTH_SECRET), "secret values never leave");

    let a: Assignment = serde_json::from_str(&body).expect("the agent's parser takes it");
    assert_eq!(a.agent, "a");
    assert_eq!(
        ids(&a),
        ["sw1", "ap1", "prn1"],
        "site hus1 plus the listed prn1"
    );
    let inv = &s.app.inventory;
    for d in &a.devices {
        let want = &inv.device(&d.id.value).unwrap().config;
        assert_eq!(d.checks(), want.checks(), "checks of {}", d.id.value);
        assert_eq!(d.address.value, want.address.value);
        assert_eq!(d.class, want.class);
    }
    let ap1 = &a.devices[1];
    assert_eq!(ap1.checks(), default_checks(DeviceClass::AccessPoint));
    assert!(ap1.checks.is_some(), "class defaults are written out");
    assert_eq!(ap1.interval.unwrap().std().as_secs(), 60, "class interval");
    assert_eq!(ap1.parent.as_ref().unwrap().value, "sw1");
    assert_eq!(ap1.description.as_deref(), Some("Foajén"));
    let prn1 = &a.devices[2];
    assert!(prn1.parent.is_none(), "parent sw2 is not this agent's");
    assert_eq!(prn1.interval.unwrap().std().as_secs(), 30);
    // Only the credentials a's checks name, as references.
    assert_eq!(a.snmp_credentials.len(), 1);
    let v3 = &a.snmp_credentials[0];
    assert_eq!(v3.id.value, "v3");
    assert_eq!(
        v3.auth_password.as_ref().unwrap().file.as_deref(),
        Some(Path::new("secrets/auth"))
    );
    assert_eq!(
        v3.priv_password.as_ref().unwrap().env.as_deref(),
        Some("DV_TEST_PRIV")
    );
    assert!(a.defaults.is_empty());

    let (_, _, body_b) = get(&s.base, Some(TOKEN_B), None).await;
    let b: Assignment = serde_json::from_str(&body_b).unwrap();
    assert_eq!(ids(&b), ["prn1", "sw2", "1001"]);
    assert_eq!(b.devices[0].parent.as_ref().unwrap().value, "sw2");
    let CheckSpec::Http(http) = &b.devices[2].checks()[0] else {
        panic!("http check expected");
    };
    assert_eq!(http.expect_status, [200, 204]);
    assert_eq!(http.body_contains.as_deref(), Some("Välkommen"));
    assert_eq!(b.snmp_credentials[0].id.value, "v2");
}

#[tokio::test(flavor = "multi_thread")]
async fn tokens_etag_and_304() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path()).await;
    let (status, _, _) = get(&s.base, None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, _) = get(&s.base, Some("wrong-token-0123456789abc"), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let embedded = s
        .app
        .inventory
        .agent("emb")
        .unwrap()
        .token
        .expose()
        .to_string();
    let (status, _, _) = get(&s.base, Some(&embedded), None).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "embedded agents are never served"
    );

    let (_, etag, body) = get(&s.base, Some(TOKEN_A), None).await;
    let etag = etag.unwrap();
    let (status, again, empty) = get(&s.base, Some(TOKEN_A), Some(&etag)).await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);
    assert_eq!(again.as_deref(), Some(etag.as_str()));
    assert!(empty.is_empty());
    let (status, _, body2) = get(&s.base, Some(TOKEN_A), Some("\"stale\"")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, body2, "the body is deterministic");
    let (_, etag_b, _) = get(&s.base, Some(TOKEN_B), None).await;
    assert_ne!(etag_b.unwrap(), etag, "each agent has its own assignment");
}

#[test]
fn the_etag_is_stable_across_loads_and_changes_with_the_inventory() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_inventory(dir.path(), INVENTORY);
    let one = Inventory::load(&path).unwrap();
    let two = Inventory::load(&path).unwrap();
    let served = |inv: &Inventory| Served::build(inv, inv.agent("a").unwrap());
    assert_eq!(served(&one), served(&two));
    let changed = INVENTORY.replace("interval: 30s", "interval: 20s");
    let three = Inventory::load(&write_inventory(dir.path(), &changed)).unwrap();
    assert_ne!(served(&one).etag, served(&three).etag);
}

#[test]
fn an_omitted_credentials_reference_is_resolved_to_the_only_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let text = "sites: [{ id: s, municipality: M }]\nsnmp_credentials: [{ id: only, version: v2c, community: { env: C } }]\ndevices:\n  - { id: ups1, class: ups, site: s, address: 127.0.0.1 }\nagents: [{ id: a, token_file: a.token, sites: [s] }]\n";
    let inv = Inventory::load(&write_inventory(dir.path(), text)).unwrap();
    let served = Served::build(&inv, inv.agent("a").unwrap());
    let a: Assignment = serde_json::from_slice(&served.body).unwrap();
    let CheckSpec::Snmp(snmp) = &a.devices[0].checks()[1] else {
        panic!("ups defaults are icmp and snmp");
    };
    assert_eq!(snmp.credentials.as_deref(), Some("only"));
    assert_eq!(a.snmp_credentials.len(), 1);
}

#[test]
fn only_active_devices_are_assigned_and_without_their_register() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from("sites: [{ id: s, municipality: M }]\ndevices:\n");
    for (i, status) in ["active", "planned", "in_stock", "decommissioned"]
        .iter()
        .enumerate()
    {
        text += &format!(
            "  - {{ id: d{i}, class: screen, site: s, address: 127.0.0.{}, status: {status}, \
             register: {{ owner: Barn och utbildning, purchased: 2024-02-29 }} }}\n",
            i + 1
        );
    }
    text += "  - { id: plain, class: screen, site: s, address: 127.0.0.9 }\n";
    text += "agents: [{ id: a, token_file: a.token, sites: [s] }]\n";
    let inv = Inventory::load(&write_inventory(dir.path(), &text)).unwrap();
    let served = Served::build(&inv, inv.agent("a").unwrap());
    let body = String::from_utf8(served.body.clone()).unwrap();
    assert!(
        !body.contains("register") && !body.contains("status"),
        "{body}"
    );
    let a: Assignment = serde_json::from_slice(&served.body).unwrap();
    let ids: Vec<&str> = a.devices.iter().map(|d| d.id.value.as_str()).collect();
    assert_eq!(ids, ["d0", "plain"]);
}

/// The agent's fetcher against the real endpoint: first a new assignment, then 304, and the
/// merged configuration validates (parents, credentials) with a local device of its own.
#[tokio::test(flavor = "multi_thread")]
async fn the_agents_fetcher_takes_it_and_then_gets_304() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path()).await;
    let agent_dir = dir.path().join("agent");
    let config = write_agent(
        &agent_dir,
        &AgentSetup {
            id: "a",
            token: TOKEN_A,
            collector_port: 1,
            metrics_port: 1,
            batch_size: 10,
            refresh: "1s",
            devices: "  - { id: local-ap, class: access_point, address: 127.0.0.9 }",
        },
    );
    let local = AgentConfig::load(&config).unwrap();
    let client = CollectorClient::plain(&s.base, Secret::new(TOKEN_A)).unwrap();
    let mut fetcher = AssignmentFetcher::new(client, local, &agent_dir);
    assert_eq!(fetcher.fetch().await.unwrap(), Fetched::Changed);
    assert_eq!(fetcher.fetch().await.unwrap(), Fetched::Unchanged);
    let merged = fetcher.config();
    let ids: Vec<&str> = merged
        .file
        .devices
        .iter()
        .map(|d| d.id.value.as_str())
        .collect();
    assert_eq!(ids, ["local-ap", "sw1", "ap1", "prn1"]);
    driftvakt_agent::assignment::validate(&merged).unwrap();
}
