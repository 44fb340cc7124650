//! The real binary: killed with SIGKILL mid-history and restarted, results posted over HTTP
//! (as an agent pushes them); then the `report` subcommand in every format. The same on SQLite
//! and, with `--database postgres://…`, on a throwaway PostgreSQL.

use driftvakt_collector_testkit::pg;

use driftvakt_collector_testkit::fixtures::*;
use driftvakt_collector_testkit::ports::free_port;
use driftvakt_common::wire::ProbeResult;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_driftvakt-collector");

/// Kills the collector when dropped, so a failing test leaves no process behind.
struct Collector(Child);

impl Drop for Collector {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `--database URL` for the PostgreSQL runs, nothing for SQLite.
fn db_args(url: &Option<String>) -> Vec<&str> {
    url.as_deref()
        .map(|u| vec!["--database", u])
        .unwrap_or_default()
}

async fn start(config: &Path, port: u16, db: &[&str]) -> Collector {
    let child = Command::new(BIN)
        .args(["run", "--config"])
        .arg(config)
        .args(db)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let c = Collector(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    let url = format!("http://127.0.0.1:{port}/healthz");
    while Instant::now() < deadline {
        if let Ok(r) = reqwest::get(&url).await {
            if r.status().is_success() {
                return c;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("collector did not come up on port {port}");
}

async fn post(port: u16, id: &str, results: Vec<ProbeResult>) -> serde_json::Value {
    let batch = driftvakt_common::wire::Batch {
        agent: "a1".into(),
        batch_id: id.into(),
        results,
    };
    let resp = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/api/v1/results"))
        .bearer_auth(TOKEN)
        .json(&batch)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.status());
    resp.json().await.unwrap()
}

fn report(config: &Path, args: &[&str]) -> String {
    let out = Command::new(BIN)
        .args(["report", "--config"])
        .arg(config)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_mid_history_then_restart_keeps_the_outage() {
    sigkill_then_restart(None).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_sigkill_mid_history_then_restart_keeps_the_outage() {
    let db = pg::database();
    sigkill_then_restart(Some(db.url())).await;
    // Single rows count one, runs (the pruner compacts this old history) their `count`.
    let obs = db
        .cluster
        .psql(&db.name, "SELECT sum(coalesce(count, 1)) FROM dv_obs");
    assert_eq!(obs, (24 * 60).to_string(), "every result is in PostgreSQL");
}

async fn sigkill_then_restart(url: Option<String>) {
    let db = db_args(&url);
    let dir = tempfile::tempdir().unwrap();
    let config = write_inventory(dir.path(), Some(&dir.path().join("db/dv.db")));
    // The history is of March 2026 and this collector runs on the real clock: importing months
    // old history needs `max_past` raised (its default refuses results 30 days before a new
    // device's first).
    let text = std::fs::read_to_string(&config).unwrap();
    let text = text.replace(
        "  confirm_failures: 3\n",
        "  confirm_failures: 3\n  max_past: 3650d\n",
    );
    std::fs::write(&config, text).unwrap();
    let all = history("prn", 0, 24 * 60, |m| (600..660).contains(&m));
    let (first, second): (Vec<_>, Vec<_>) = all.into_iter().partition(|r| r.time < minute(630));

    let port = free_port();
    let mut c = start(&config, port, &db).await;
    for (i, chunk) in first.chunks(100).enumerate() {
        post(port, &format!("first-{i}"), chunk.to_vec()).await;
    }
    c.0.kill().unwrap(); // SIGKILL: no graceful shutdown
    c.0.wait().unwrap();
    drop(c);

    let port = free_port();
    let c = start(&config, port, &db).await;
    // A batch replayed after the crash is recognised.
    let again = post(port, "first-0", first[..100].to_vec()).await;
    assert_eq!(again["duplicate"], true);
    for (i, chunk) in second.chunks(100).enumerate() {
        let r = post(port, &format!("second-{i}"), chunk.to_vec()).await;
        assert_eq!(r["accepted"], chunk.len(), "{r}");
    }
    let url = format!(
        "http://127.0.0.1:{port}/api/v1/report?from=2026-03-10T00:00:00Z&to=2026-03-11T00:00:00Z"
    );
    let v: serde_json::Value = reqwest::get(&url).await.unwrap().json().await.unwrap();
    let prn = v["devices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["id"] == "prn")
        .unwrap()
        .clone();
    assert_eq!(prn["downtime_s"], 3600.0);
    assert_eq!(prn["unknown_s"], 0.0);
    assert_eq!(prn["outages"], 1);
    assert_eq!(prn["availability"], 1.0 - 3600.0 / 86_400.0);
    drop(c);

    // The report subcommand reads the same database.
    let json = report(
        &config,
        &[
            &db[..],
            &[
                "--from",
                "2026-03-10T00:00:00Z",
                "--to",
                "2026-03-11T00:00:00Z",
                "--format",
                "json",
            ],
        ]
        .concat(),
    );
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let cli_prn = v["devices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["id"] == "prn")
        .unwrap();
    assert_eq!(cli_prn, &prn);
    assert_eq!(v["incidents"]["list"][0]["start"], "2026-03-10T10:00:00Z");
    assert_eq!(v["incidents"]["list"][0]["end"], "2026-03-10T11:00:00Z");

    // The tertial in every format, as of 2026-03-11.
    let now = [
        &db[..],
        &["--period", "2026-T1", "--now", "2026-03-11T00:00:00Z"],
    ]
    .concat();
    let html = report(&config, &[&now[..], &["--format", "html"]].concat());
    assert!(
        html.contains("<h1>Uppföljning tertial 1 2026</h1>"),
        "{html}"
    );
    assert!(html.contains("Mål 99,1&nbsp;%"));
    assert!(html.contains("<svg"));
    assert!(html.contains("Nätverksutskrift"));
    assert!(
        html.contains("2026-03-10 11:00"),
        "local time of the incident start"
    );
    let csv = report(&config, &[&now[..], &["--format", "csv"]].concat());
    // One table after the other; the devices' table gives the printer its hour down.
    assert!(csv.starts_with("# tabell: "), "{csv}");
    assert!(
        csv.contains("# tabell: enheter\nenhet,typ,plats,kommun,tillganglighet_procent,avbrott_h,"),
        "{csv}"
    );
    assert!(
        csv.lines()
            .any(|l| l.starts_with("prn,") && l.split(',').nth(5) == Some("1.00")),
        "{csv}"
    );
    let table = report(&config, &[&now[..], &["--format", "table"]].concat());
    assert!(table.contains("Availability 2026-T1"));
    assert!(table.contains("Incidents: 1 in period, 1 this year (goal at most 5)"));
}

#[test]
fn report_refuses_a_missing_database_and_a_bad_period() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_inventory(dir.path(), None);
    let missing = dir.path().join("nope.db");
    let out = Command::new(BIN)
        .args(["report", "--period", "2026-T1", "--config"])
        .arg(&config)
        .arg("--database")
        .arg(&missing)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("nope.db does not exist"), "{err}");
    assert!(!missing.exists());
    let out = Command::new(BIN)
        .args(["report", "--period", "2026-T5", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("invalid period `2026-T5`"), "{err}");
}
