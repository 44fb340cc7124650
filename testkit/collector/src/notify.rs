//! A notifier as the notify tests build it: a settable clock, the default calendar, a
//! configuration with recipients in Tranemo and Ulricehamn sending to an SMTP sink
//! (`driftvakt_testkit::smtp`), events, and delivery rounds until the sink has the messages.

use chrono::{DateTime, Utc};
use driftvakt_collector::calendar::{Calendar, CalendarFile};
use driftvakt_collector::clock::Clock;
use driftvakt_collector::notify::config::{Recipients, SmtpConfig, TlsMode};
use driftvakt_collector::notify::{
    Event, MailTransport, Notifier, NotifyConfig, SmtpTransport, SqliteNotifyStore,
};
use driftvakt_common::config::Duration;
use driftvakt_testkit::smtp::{Eml, SmtpPeer};
use std::path::Path;
use std::sync::{Arc, Mutex};

pub fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// A clock the test moves by hand.
#[derive(Debug)]
pub struct ManualClock(Mutex<DateTime<Utc>>);

impl ManualClock {
    pub fn at(s: &str) -> Arc<Self> {
        Arc::new(ManualClock(Mutex::new(utc(s))))
    }
    pub fn set(&self, s: &str) {
        *self.0.lock().unwrap() = utc(s);
    }
    pub fn advance(&self, d: chrono::Duration) {
        *self.0.lock().unwrap() += d;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

pub fn mins(n: i64) -> chrono::Duration {
    chrono::Duration::minutes(n)
}

/// A calendar with the default rules (third Tuesday 18–22, office hours Mon–Thu 07:30–16:30,
/// Fri 07:30–16:00, Europe/Stockholm).
pub fn default_calendar() -> Calendar {
    Calendar::from_config(
        CalendarFile::parse("{}", Path::new("t.yaml"))
            .unwrap()
            .calendar,
    )
}

/// Recipients in Tranemo and Ulricehamn, SMTP on `port` (plain), short retry delays.
pub fn config(port: u16) -> NotifyConfig {
    let mut c = NotifyConfig {
        smtp: Some(SmtpConfig {
            host: "127.0.0.1".into(),
            port,
            tls: TlsMode::None,
            username: None,
            password_env: None,
            password_file: None,
            timeout: Duration::from_secs(5),
        }),
        ..NotifyConfig::default()
    };
    c.from.default = "Driftvakt <driftvakt@kommun.example.se>".into();
    c.from.municipalities.insert(
        "Tranemo".into(),
        "IT Tranemo <it@tranemo.example.se>".into(),
    );
    for m in ["Tranemo", "Ulricehamn"] {
        let l = m.to_lowercase();
        c.municipalities.insert(
            m.into(),
            Recipients {
                editors: vec![format!("intranat@{l}.example.se")],
                service_desk: vec!["servicedesk@kommun.example.se".into()],
                on_call: vec!["beredskap@kommun.example.se".into()],
            },
        );
    }
    c.retry.initial_backoff = Duration::from_secs(10);
    c.retry.max_backoff = Duration::from_secs(60);
    c
}

pub type SmtpNotifier = Notifier<SqliteNotifyStore>;

/// A notifier on the database `db`, sending to `config`'s SMTP relay.
pub fn smtp_notifier(config: NotifyConfig, db: &Path, clock: Arc<ManualClock>) -> SmtpNotifier {
    let transport = SmtpTransport::from_config(config.smtp.as_ref().unwrap()).unwrap();
    notifier(config, db, clock, transport)
}

/// A notifier on the database `db`, its mail through `transport`.
pub fn notifier<T: MailTransport + 'static>(
    config: NotifyConfig,
    db: &Path,
    clock: Arc<ManualClock>,
    transport: T,
) -> Notifier<SqliteNotifyStore> {
    Notifier::new(
        config,
        Arc::new(default_calendar()),
        clock,
        SqliteNotifyStore::open(db).unwrap(),
        Arc::new(transport),
    )
}

pub fn service_down(service: &str, site: &str, since: &str) -> Event {
    Event::ServiceDown {
        service_id: service.into(),
        service_name: "Trådlöst nätverk".into(),
        municipality: "Tranemo".into(),
        site_ids: vec![site.into()],
        site_names: vec!["Stadshuset".into()],
        since: utc(since),
        cause_device: None,
        function: None,
        case_title: None,
    }
}

pub fn service_up(service: &str, since: &str, until: &str) -> Event {
    Event::ServiceUp {
        service_id: service.into(),
        service_name: "Trådlöst nätverk".into(),
        municipality: "Tranemo".into(),
        since: utc(since),
        until: utc(until),
    }
}

pub fn device_alert(
    device: &str,
    kind: driftvakt_collector::notify::AlertKind,
    since: &str,
) -> Event {
    Event::DeviceAlert {
        device_id: device.into(),
        device_name: format!("Enhet {device}"),
        class: "access_point".into(),
        site_id: "stadshuset".into(),
        site_name: "Stadshuset".into(),
        municipality: "Tranemo".into(),
        kind,
        since: utc(since),
        detail: "Svarar inte på ping".into(),
    }
}

/// Runs delivery rounds until `n` messages arrived at `peer` (or panics after 10 s).
pub async fn deliver_until(
    notifier: &Notifier<SqliteNotifyStore>,
    peer: &SmtpPeer,
    n: usize,
) -> Vec<Eml> {
    for _ in 0..100 {
        notifier.deliver_due().await;
        let got = peer.messages();
        if got.len() >= n {
            return got;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("expected {n} messages, got {}", peer.messages().len());
}
