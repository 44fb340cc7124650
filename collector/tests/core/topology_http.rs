//! `GET /api/v1/topology` over real HTTP after ingest: the recorded campus's walks (as the
//! agent sends them, `agent/tests/snmp/snmp_lldp.rs`) posted as results; the parents found
//! with their source, the hand-kept one winning and its differing proposal listed for
//! review, nothing guessed behind the port with two neighbours, and the operator token.

use driftvakt_collector::app::App;
use driftvakt_collector::cli::topology::{self, TopologyArgs, TopologyCommand};
use driftvakt_collector::cli::GlobalConfigArgs;
use driftvakt_collector::http::{serve, ApiState};
use driftvakt_collector::inventory::Inventory;
use driftvakt_collector::store::Database;
use driftvakt_collector::windows::CalendarService;
use driftvakt_collector_testkit::fixtures::{clock, minute, result, TOKEN};
use driftvakt_common::schema::Secret;
use driftvakt_common::wire::{Batch, ProbeResult, Sample, Value};
use reqwest::StatusCode;
use std::sync::Arc;

const OPERATOR_TOKEN: &str = "operator-token-0123456789";

const INVENTORY: &str = r#"
collector:
  target: 0.991
  operator_token: { file: operator.token }
topology: { parents: auto }
sites:
  - { id: nod, name: Noden, municipality: Ulricehamn, node: true }
  - { id: skola, name: Skolan, municipality: Ulricehamn }
devices:
  - { id: core-1, class: switch, site: nod, address: 10.0.1.1, checks: [icmp] }
  - { id: dist-1, class: switch, site: skola, address: 10.0.1.2, checks: [icmp] }
  - { id: dist-2, class: switch, site: skola, address: 10.0.1.4, checks: [icmp] }
  - { id: access-1, class: switch, site: skola, address: access-1.kommun.example, parent: core-1, checks: [icmp] }
  - { id: hp-1, class: switch, site: skola, address: 10.0.1.9, register: { serial: SG12AB345C }, checks: [icmp] }
  - { id: ap-1, class: access_point, site: skola, address: 10.0.3.5, checks: [icmp] }
  - { id: ap-2, class: access_point, site: skola, address: 10.0.3.6, checks: [icmp] }
  - { id: ap-3, class: access_point, site: skola, address: 10.0.3.7, checks: [icmp] }
agents:
  - id: a1
    token_file: a1.token
    municipalities: [Ulricehamn]
"#;

fn state(dir: &std::path::Path) -> ApiState {
    use std::os::unix::fs::PermissionsExt;
    let token = dir.join("a1.token");
    std::fs::write(&token, format!("{TOKEN}\n")).unwrap();
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o600)).unwrap();
    let operator = dir.join("operator.token");
    std::fs::write(&operator, format!("{OPERATOR_TOKEN}\n")).unwrap();
    std::fs::set_permissions(&operator, std::fs::Permissions::from_mode(0o600)).unwrap();
    let path = dir.join("collector.yaml");
    std::fs::write(&path, INVENTORY).unwrap();
    let inv = Inventory::load(&path).unwrap();
    let stores = Database::open(&dir.join("dv.db").into())
        .unwrap()
        .stores()
        .unwrap();
    let (now, _) = clock(minute(24 * 60));
    ApiState {
        cluster: None,
        alerts: None,
        app: App::new(inv, stores.results.clone(), now.clone()).unwrap(),
        calendar: Arc::new(CalendarService::new(
            Default::default(),
            stores.windows.clone(),
            now,
        )),
        stores,
        operator_token: Some(Secret::new(OPERATOR_TOKEN)),
        exposition: Default::default(),
        pages: Default::default(),
    }
}

/// A neighbour as the agent labels it: local port, chassis id, sysName, addresses.
fn nb(protocol: &str, port: &str, chassis: &str, sys_name: &str, addresses: &str) -> Sample {
    let labels = [
        ("protocol", protocol),
        ("ifIndex", port),
        ("ifName", port),
        ("chassis_id", chassis),
        ("sys_name", sys_name),
        ("port", ""),
        ("addresses", addresses),
    ];
    Sample {
        labels: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        value: 1.0,
    }
}

fn walk(device: &str, chassis: &str, neighbours: Vec<Sample>) -> ProbeResult {
    let mut r = result(device, "icmp", 60, true);
    r.values
        .insert("lldp_chassis_id".into(), Value::Text(chassis.into()));
    r.values
        .insert("sys_name".into(), Value::Text(device.into()));
    r.values
        .insert("neighbors".into(), Value::Series(neighbours));
    r
}

fn campus() -> Vec<ProbeResult> {
    vec![
        walk(
            "core-1",
            "00:1b:54:00:00:01",
            vec![
                nb(
                    "lldp",
                    "1",
                    "00:1b:54:00:00:02",
                    "dist-1.kommun.example",
                    "10.0.1.2",
                ),
                nb("cdp", "2", "", "dist-2", "10.0.1.4"),
            ],
        ),
        walk(
            "dist-1",
            "00:1b:54:00:00:02",
            vec![
                nb("lldp", "10101", "00:1b:54:00:00:01", "core-1", "10.0.1.1"),
                nb("lldp", "10102", "00:1b:54:00:00:03", "access-1", ""),
                nb("lldp", "10103", "SG12AB345C", "", ""),
            ],
        ),
        walk(
            "access-1",
            "00:1b:54:00:00:03",
            vec![
                nb(
                    "lldp",
                    "1",
                    "00:1b:54:00:00:02",
                    "dist-1.kommun.example",
                    "10.0.1.2",
                ),
                nb("lldp", "5", "24:a4:3c:00:00:05", "ap-1", "10.0.3.5"),
                nb("lldp", "10", "24:a4:3c:00:00:06", "ap-2", "10.0.3.6"),
                nb("lldp", "10", "24:a4:3c:00:00:07", "ap-3", "10.0.3.7"),
            ],
        ),
    ]
}

#[tokio::test]
async fn topology_after_ingest_with_sources_review_and_the_operator_token() {
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(serve(state(dir.path()), listener, async {
        let _ = rx.await;
    }));
    let client = reqwest::Client::new();
    let batch = Batch {
        agent: "a1".into(),
        batch_id: "walks-1".into(),
        results: campus(),
    };
    let posted = client
        .post(format!("{base}/api/v1/results"))
        .bearer_auth(TOKEN)
        .json(&batch)
        .send()
        .await
        .unwrap();
    assert_eq!(
        posted.status(),
        StatusCode::OK,
        "{}",
        posted.text().await.unwrap()
    );
    let url = format!("{base}/api/v1/topology");
    let refused = client.get(&url).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let answer = client
        .get(&url)
        .bearer_auth(OPERATOR_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    let view: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(view["roots"], serde_json::json!(["core-1"]), "{view:#}");
    let parents: Vec<String> = view["parents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| format!("{} {} {}", p["device"], p["parent"], p["source"]).replace('"', ""))
        .collect();
    assert_eq!(
        parents,
        [
            "dist-1 core-1 lldp",
            "dist-2 core-1 cdp",
            // Hand-kept: wins over dist-1, which is listed for review below.
            "access-1 core-1 inventory",
            "hp-1 dist-1 lldp",
            "ap-1 access-1 lldp",
        ],
        "{view:#}"
    );
    assert_eq!(
        view["proposals"],
        serde_json::json!([{"device": "access-1", "kept": "core-1", "proposed": "dist-1"}])
    );
    let ambiguous: Vec<&serde_json::Value> = view["links"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["ambiguous_port"] == true)
        .map(|l| &l["neighbor"])
        .collect();
    assert_eq!(
        ambiguous,
        [&serde_json::json!("ap-2"), &serde_json::json!("ap-3")]
    );
    accepting(&client, &base, dir.path()).await;
    stop.send(()).unwrap();
}

/// Accepting: the operator token, one device's proposal over the API and the command line,
/// stored; it then wins over the `parent:` line.
async fn accepting(client: &reqwest::Client, base: &str, dir: &std::path::Path) {
    let accept = |body: serde_json::Value, token: Option<&str>| {
        let mut req = client
            .post(format!("{base}/api/v1/topology/accept"))
            .json(&body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        async move {
            let r = req.send().await.unwrap();
            (r.status(), r.json::<serde_json::Value>().await.unwrap())
        }
    };
    let (status, _) = accept(serde_json::json!({"device": "access-1"}), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, answer) =
        accept(serde_json::json!({"device": "ap-1"}), Some(OPERATOR_TOKEN)).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{answer}");
    let (status, answer) = accept(serde_json::json!({}), Some(OPERATOR_TOKEN)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    // The command line asks the same API (`--url` here: the server is on a free port).
    let cli = |command: TopologyCommand| {
        let args = TopologyArgs {
            config: GlobalConfigArgs {
                config: Some(dir.join("collector.yaml")),
                database: None,
            },
            url: Some(base.to_string()),
            command,
        };
        tokio::task::spawn_blocking(move || topology::run(&args).unwrap())
    };
    let printed = cli(TopologyCommand::Proposals).await.unwrap();
    assert!(
        printed.contains("access-1: kept core-1, found dist-1"),
        "{printed}"
    );
    let accept_one = TopologyCommand::Accept {
        device: Some("access-1".into()),
        all: false,
    };
    let printed = cli(accept_one).await.unwrap();
    assert_eq!(printed, "accepted: access-1 -> dist-1\n");
    let store = Database::open(&dir.join("dv.db").into())
        .unwrap()
        .topology()
        .unwrap();
    let stored: Vec<(String, String)> = (store.accepted().unwrap().into_iter())
        .map(|a| (a.device, a.parent))
        .collect();
    assert_eq!(stored, [("access-1".to_string(), "dist-1".to_string())]);
    let view: serde_json::Value = client
        .get(format!("{base}/api/v1/topology"))
        .bearer_auth(OPERATOR_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(view["proposals"], serde_json::json!([]), "{view:#}");
    let access = view["parents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["device"] == "access-1")
        .unwrap();
    assert_eq!(
        access,
        &serde_json::json!({"device": "access-1", "parent": "dist-1", "source": "accepted"})
    );
}
