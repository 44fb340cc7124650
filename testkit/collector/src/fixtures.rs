//! The collector's core fixtures: a small inventory in a temp dir (two sites, six devices, two
//! services, two agents), an app and the API state over a database there with a settable
//! clock, and generated minute-by-minute histories from Tuesday 2026-03-10.

use chrono::{DateTime, Duration, Utc};
use driftvakt_collector::app::App;
use driftvakt_collector::availability::{PlannedWindows, Subject};
use driftvakt_collector::clock::{Clock, SystemClock};
use driftvakt_collector::http::ApiState;
use driftvakt_collector::inventory::Inventory;
use driftvakt_collector::store::{Database, Location};
use driftvakt_collector::windows::CalendarService;
use driftvakt_common::schema::Secret;
use driftvakt_common::wire::{Batch, ProbeResult};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

pub const TOKEN: &str = "test-token-0123456789abcdef";
pub const TOKEN2: &str = "other-token-0123456789abcdef";

/// Tuesday 2026-03-10 00:00 UTC: every history starts here.
pub fn t0() -> DateTime<Utc> {
    "2026-03-10T00:00:00Z".parse().unwrap()
}

pub fn minute(m: i64) -> DateTime<Utc> {
    t0() + Duration::minutes(m)
}

pub const INVENTORY: &str = r#"
collector:
  target: 0.991
  confirm_failures: 3
sites:
  - id: s1
    name: Stadshuset
    municipality: Ulricehamn
  - id: s2
    name: Kommunhuset
    municipality: Tranemo
devices:
  - { id: sw, class: switch, site: s1, address: 10.0.0.1, interval: 60s, checks: [icmp] }
  - { id: ap1, class: access_point, site: s1, address: 10.0.0.11, parent: sw, interval: 60s, checks: [icmp] }
  - { id: ap2, class: access_point, site: s1, address: 10.0.0.12, parent: sw, interval: 60s, checks: [icmp] }
  - { id: ap3, class: access_point, site: s1, address: 10.0.0.13, parent: sw, interval: 60s, checks: [icmp] }
  - { id: prn, class: printer, site: s1, address: 10.0.0.21, interval: 60s, checks: [icmp, { kind: tcp, port: 9100 }] }
  - { id: sw-t, class: switch, site: s2, address: 10.1.0.1, interval: 60s, checks: [icmp] }
services:
  - id: wifi
    name: Trådlöst nätverk
    members: [sw, ap1, ap2, ap3]
    rule: all
  - id: print
    name: Nätverksutskrift
    members: [prn]
agents:
  - id: a1
    token_file: a1.token
    sites: [s1]
  - id: a2
    token_file: a2.token
    municipalities: [Tranemo]
    devices: [prn]
"#;

/// Writes the inventory and token into `dir`; returns the config path.
pub fn write_inventory(dir: &Path, database: Option<&Path>) -> PathBuf {
    std::fs::write(dir.join("a1.token"), format!("{TOKEN}\n")).unwrap();
    std::fs::set_permissions(
        dir.join("a1.token"),
        <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o600),
    )
    .unwrap(); // token files: owner only
    std::fs::write(dir.join("a2.token"), TOKEN2).unwrap();
    std::fs::set_permissions(
        dir.join("a2.token"),
        <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o600),
    )
    .unwrap(); // token files: owner only
    let mut text = INVENTORY.to_string();
    if let Some(db) = database {
        text = text.replace(
            "  confirm_failures: 3\n",
            &format!("  confirm_failures: 3\n  database: {}\n", db.display()),
        );
    }
    let path = dir.join("collector.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

/// A settable clock.
pub fn clock(at: DateTime<Utc>) -> (Arc<dyn Clock>, Arc<Mutex<DateTime<Utc>>>) {
    let cell = Arc::new(Mutex::new(at));
    let c = cell.clone();
    (Arc::new(move || *c.lock().unwrap()), cell)
}

/// An app over a database file in `dir`, with the clock at the end of the test day.
pub fn open_app(dir: &Path) -> App {
    open_app_at(dir, &dir.join("dv.db").into())
}

/// An app over the database at `location` (the inventory in `dir`), with the clock at the end
/// of the test day.
pub fn open_app_at(dir: &Path, location: &Location) -> App {
    let cfg = write_inventory(dir, None);
    let inv = Inventory::load(&cfg).unwrap();
    let store = Database::open(location).unwrap().store().unwrap();
    let (now, _) = clock(minute(24 * 60));
    App::new(inv, store, now).unwrap()
}

pub fn result(target: &str, check: &str, m: i64, ok: bool) -> ProbeResult {
    ProbeResult {
        target: target.into(),
        check: check.into(),
        time: minute(m),
        ok,
        duration_ms: 1.0,
        error: (!ok).then(|| "timeout".to_string()),
        detail: None,
        findings: Vec::new(),
        values: Default::default(),
    }
}

/// One icmp result a minute for `target` over `[from, to)` minutes, failing where `fails`.
pub fn history(target: &str, from: i64, to: i64, fails: impl Fn(i64) -> bool) -> Vec<ProbeResult> {
    (from..to)
        .map(|m| result(target, "icmp", m, !fails(m)))
        .collect()
}

/// Cuts results into batches of `size` with ids `prefix-N`.
pub fn batches(prefix: &str, results: Vec<ProbeResult>, size: usize) -> Vec<Batch> {
    results
        .chunks(size)
        .enumerate()
        .map(|(i, c)| Batch {
            agent: "a1".into(),
            batch_id: format!("{prefix}-{i}"),
            results: c.to_vec(),
        })
        .collect()
}

/// Fixed service windows applying to every subject.
pub struct FixedWindows(pub Vec<(DateTime<Utc>, DateTime<Utc>)>);

impl PlannedWindows for FixedWindows {
    fn planned(
        &self,
        _: &Subject,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
        self.0
            .iter()
            .copied()
            .filter(|(a, b)| *a < to && *b > from)
            .collect()
    }
}

/// What the API serves over `dir`'s database, opened once as `run` opens it: the app of
/// [`open_app`] (its clock at the end of the test day), the stores, the calendar with the
/// default rules and `operator_token`.
pub fn api_state(dir: &Path, operator_token: Option<&str>) -> ApiState {
    let inv = Inventory::load(&write_inventory(dir, None)).unwrap();
    let stores = Database::open(&dir.join("dv.db").into())
        .unwrap()
        .stores()
        .unwrap();
    let (now, _) = clock(minute(24 * 60));
    ApiState {
        cluster: None,
        alerts: None,
        app: App::new(inv, stores.results.clone(), now).unwrap(),
        calendar: Arc::new(CalendarService::new(
            Default::default(),
            stores.windows.clone(),
            Arc::new(SystemClock),
        )),
        stores,
        operator_token: operator_token.map(Secret::new),
        exposition: Default::default(),
        pages: Default::default(),
    }
}
