//! Shared rig for the alerting tests: an inventory with a `notify:` section pointing at a real
//! SMTP server (aiosmtpd, from the test kit's `smtp`), the real ingest path (`App::ingest_batch`),
//! the calendar service on the same database, and one settable clock for all of them. Each
//! "round" ingests one minute of results and runs the alerting check, as the run loop does
//! after every ingest.

use driftvakt_collector_testkit::files::owner_only;
pub use driftvakt_collector_testkit::notify::ManualClock;
pub use driftvakt_collector_testkit::smtp::{Eml, SmtpPeer};

use chrono::{DateTime, Duration, Utc};
use driftvakt_collector::alerting::{Alerting, CheckReport};
use driftvakt_collector::app::App;
use driftvakt_collector::clock::Clock;
use driftvakt_collector::inventory::Inventory;
use driftvakt_collector::notify::{Notifier, SmtpTransport};
use driftvakt_collector::store::{Database, NotifyStore, WindowStore};
use driftvakt_collector::windows::CalendarService;
use driftvakt_common::wire::{Batch, Finding, ProbeResult, Value};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

pub const TOKEN: &str = "alerting-test-token-0123456789";

pub const EDITORS: &str = "intranat@ulricehamn.example.se";
pub const SERVICE_DESK: &str = "servicedesk@ulricehamn.example.se";
pub const ON_CALL: &str = "beredskap@ulricehamn.example.se";

/// Stadshuset is a network node: a switch with three access points behind it and a UPS.
/// Biblioteket has one access point that is the whole wireless service there.
const INVENTORY: &str = r#"
collector:
  confirm_failures: 3
  database: DATABASE
sites:
  - { id: stadshuset, name: Stadshuset, municipality: Ulricehamn, node: true }
  - { id: biblioteket, name: Biblioteket, municipality: Ulricehamn }
devices:
  - { id: sw-stadshuset, class: switch, site: stadshuset, address: 10.0.0.1, interval: 60s, checks: [icmp] }
  - { id: ap-1, class: access_point, site: stadshuset, address: 10.0.0.11, parent: sw-stadshuset, interval: 60s, checks: [icmp] }
  - { id: ap-2, class: access_point, site: stadshuset, address: 10.0.0.12, parent: sw-stadshuset, interval: 60s, checks: [icmp] }
  - { id: ap-3, class: access_point, site: stadshuset, address: 10.0.0.13, parent: sw-stadshuset, interval: 60s, checks: [icmp] }
  - { id: ups-stadshuset, class: ups, site: stadshuset, address: 10.0.0.5, interval: 60s, min_runtime_minutes: 240, checks: [icmp, { kind: snmp, credentials: ups-v2c }], description: "UPS Stadshuset" }
  - { id: ap-bibl, class: access_point, site: biblioteket, address: 10.1.0.11, interval: 60s, checks: [icmp], description: "Accesspunkt entré" }
snmp_credentials:
  - { id: ups-v2c, version: v2c, community: { file: community.txt } }
services:
  - { id: wifi-biblioteket, name: Trådlöst nätverk, members: [ap-bibl] }
agents:
  - { id: a1, token_file: a1.token, municipalities: [Ulricehamn] }
notify:
  smtp: { host: 127.0.0.1, port: PORT, tls: none, timeout: 5s }
  from:
    default: "IT Ulricehamn <it@ulricehamn.example.se>"
  municipalities:
    Ulricehamn:
      editors: [intranat@ulricehamn.example.se]
      service_desk: [servicedesk@ulricehamn.example.se]
      on_call: [beredskap@ulricehamn.example.se]
  hold_down: 10m
  retry: { initial_backoff: 10s, max_backoff: 60s }
"#;

/// Every icmp device of the inventory.
pub const ICMP_DEVICES: [&str; 6] = [
    "sw-stadshuset",
    "ap-1",
    "ap-2",
    "ap-3",
    "ups-stadshuset",
    "ap-bibl",
];

pub type TestAlerting = Alerting<Arc<dyn NotifyStore>>;

/// The collector's parts on one database, as `run` wires them.
pub struct Rig {
    pub tmp: tempfile::TempDir,
    pub peer: SmtpPeer,
    pub clock: Arc<ManualClock>,
    pub base: DateTime<Utc>,
    pub app: App,
    pub calendar: Arc<CalendarService<Arc<dyn WindowStore>>>,
    pub alerting: TestAlerting,
    batches: AtomicU64,
}

impl Rig {
    /// A fresh rig; minute 0 is `base` (RFC 3339).
    pub fn start(base: &str) -> Rig {
        Rig::start_with(base, INVENTORY)
    }

    /// A fresh rig on another inventory (`DATABASE` and `PORT` replaced as in [`INVENTORY`];
    /// [`notify_section`] gives its `notify:` section).
    pub fn start_with(base: &str, inventory: &str) -> Rig {
        let tmp = tempfile::tempdir().unwrap();
        let peer = SmtpPeer::start(&tmp.path().join("mail"));
        let clock = ManualClock::at(base);
        let base = clock.now();
        write_inventory(tmp.path(), peer.port, inventory);
        let (app, calendar, alerting) = open(tmp.path(), clock.clone());
        Rig {
            tmp,
            peer,
            clock,
            base,
            app,
            calendar,
            alerting,
            batches: AtomicU64::new(0),
        }
    }

    /// Drops the app, the notifier and alerting (as a stopped process does) and opens them
    /// again on the same database.
    pub fn restart(self) -> Rig {
        let Rig {
            tmp,
            peer,
            clock,
            base,
            app,
            calendar,
            alerting,
            batches,
        } = self;
        drop(alerting);
        drop(calendar);
        drop(app);
        let (app, calendar, alerting) = open(tmp.path(), clock.clone());
        Rig {
            tmp,
            peer,
            clock,
            base,
            app,
            calendar,
            alerting,
            batches,
        }
    }

    pub fn db(&self) -> PathBuf {
        self.tmp.path().join("collector.db")
    }

    pub fn notifier(&self) -> &Notifier<Arc<dyn NotifyStore>> {
        self.alerting.notifier()
    }

    pub fn clock_now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    pub fn at(&self, minute: i64) -> DateTime<Utc> {
        self.base + Duration::minutes(minute)
    }

    /// Moves the clock to `minute` (plus 30 s, so that minute's results are in the past),
    /// ingests `results` through the real ingest path and runs the alerting check.
    pub async fn ingest(&self, minute: i64, results: Vec<ProbeResult>) -> CheckReport {
        self.clock
            .set(&(self.at(minute) + Duration::seconds(30)).to_rfc3339());
        if !results.is_empty() {
            let n = self.batches.fetch_add(1, Ordering::SeqCst);
            let batch = Batch {
                agent: "a1".into(),
                batch_id: format!("rig-{minute}-{n}"),
                results,
            };
            let resp = self.app.ingest_batch("a1", batch).await.unwrap();
            assert!(resp.rejected.is_empty(), "{:?}", resp.rejected);
        }
        self.alerting.check().unwrap()
    }

    /// One icmp result per device at `minute`, failing for the devices in `failing`.
    pub async fn round(&self, minute: i64, failing: &[&str]) -> CheckReport {
        let results = ICMP_DEVICES
            .iter()
            .map(|d| icmp(d, self.at(minute), !failing.contains(d)))
            .collect();
        self.ingest(minute, results).await
    }

    /// Rounds for minutes `from..to`; returns the keys opened and closed, in order.
    pub async fn rounds(&self, from: i64, to: i64, failing: &[&str]) -> (Vec<String>, Vec<String>) {
        let (mut opened, mut closed) = (Vec::new(), Vec::new());
        for m in from..to {
            let r = self.round(m, failing).await;
            opened.extend(r.opened);
            closed.extend(r.closed);
        }
        (opened, closed)
    }

    /// Delivers until `n` messages arrived (panics after 10 s with what did arrive).
    pub async fn deliver_until(&self, n: usize) -> Vec<Eml> {
        for _ in 0..100 {
            self.notifier().deliver_due().await;
            let got = self.peer.messages();
            if got.len() >= n {
                return got;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let subjects: Vec<String> = self
            .peer
            .messages()
            .into_iter()
            .map(|m| m.subject)
            .collect();
        panic!("expected {n} messages, got {subjects:?}");
    }

    /// Moves the clock two hours on, runs the tick, the check and delivery; returns every
    /// message received (to show that nothing more was sent).
    pub async fn settle(&self) -> Vec<Eml> {
        self.clock.advance(Duration::hours(2));
        self.notifier().tick().unwrap();
        self.alerting.check().unwrap();
        self.notifier().deliver_due().await;
        self.peer.messages()
    }
}

/// The `notify:` section of the rig's inventory (to the end of the file).
pub fn notify_section() -> &'static str {
    &INVENTORY[INVENTORY.find("notify:\n").expect("notify section")..]
}

fn write_inventory(dir: &Path, port: u16, inventory: &str) {
    owner_only(&dir.join("a1.token"), TOKEN);
    owner_only(&dir.join("community.txt"), "public");
    let text = inventory
        .replace("DATABASE", &dir.join("collector.db").display().to_string())
        .replace("PORT", &port.to_string());
    std::fs::write(dir.join("collector.yaml"), text).unwrap();
}

/// The app, the calendar and alerting on `dir`'s database, as `run` builds them.
fn open(
    dir: &Path,
    clock: Arc<ManualClock>,
) -> (
    App,
    Arc<CalendarService<Arc<dyn WindowStore>>>,
    TestAlerting,
) {
    let inv = Inventory::load(&dir.join("collector.yaml")).unwrap();
    let db = inv.settings.database.clone();
    let stores = Database::open(&db).unwrap().stores().unwrap();
    let config = inv.notify.clone().expect("the inventory has notify:");
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
        clock,
        stores.notify.clone(),
        Arc::new(transport),
    );
    let alerting = Alerting::new(
        app.clone(),
        Arc::new(notifier),
        stores.announced,
        stores.service_updates,
    );
    (app, calendar, alerting)
}

pub fn icmp(target: &str, time: DateTime<Utc>, ok: bool) -> ProbeResult {
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

/// An SNMP result of the UPS: on battery or not, with `minutes` of runtime left and the
/// findings the agent's UPS profile raises for a 240-minute minimum.
pub fn ups(time: DateTime<Utc>, on_battery: bool, minutes: u32) -> ProbeResult {
    let mut findings = Vec::new();
    if on_battery {
        findings.push(finding("ups_on_battery", "the UPS runs on battery"));
    }
    if minutes < 240 {
        findings.push(finding(
            "ups_runtime_below_minimum",
            "estimated runtime is below the 4-hour/240-minute requirement",
        ));
    }
    let mut r = icmp("ups-stadshuset", time, true);
    r.check = "snmp".into();
    r.findings = findings;
    r.values
        .insert("ups_on_battery".into(), Value::Bool(on_battery));
    r.values.insert(
        "ups_runtime_minutes".into(),
        Value::Number(f64::from(minutes)),
    );
    r
}

pub fn finding(code: &str, message: &str) -> Finding {
    Finding {
        code: code.into(),
        message: message.into(),
    }
}

/// The messages sent to `to`.
pub fn to<'a>(mails: &'a [Eml], to: &str) -> Vec<&'a Eml> {
    mails.iter().filter(|m| m.to() == to).collect()
}

/// Subjects, sorted.
pub fn subjects(mails: &[Eml]) -> Vec<String> {
    let mut s: Vec<String> = mails.iter().map(|m| m.subject.clone()).collect();
    s.sort();
    s
}
