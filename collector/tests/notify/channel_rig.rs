//! Shared rig for the channel tests: a real HTTP receiver on loopback (axum in its own thread)
//! that records every request and answers from a script (e.g. 500 three times, then 200), the
//! notify configuration parsed from YAML like the collector's, and a notifier with its channels.

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, Uri};
use driftvakt_collector::notify::{
    Channels, FileTransport, Notifier, NotifyConfig, NotifyFile, SqliteNotifyStore,
};
use std::collections::VecDeque;
use std::path::Path;
use std::sync::{Arc, Mutex};

pub use driftvakt_collector_testkit::files::secret_file;
pub use driftvakt_collector_testkit::notify::*;
pub use driftvakt_collector_testkit::ports::free_port;

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Got {
    pub path: String,
    pub headers: HeaderMap,
    pub body: String,
    /// The status it was answered with.
    pub status: u16,
}

impl Got {
    pub fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default()
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

#[derive(Default)]
struct Shared {
    got: Vec<Got>,
    script: VecDeque<u16>,
}

/// A loopback HTTP receiver recording what it gets.
pub struct Receiver {
    pub port: u16,
    shared: Arc<Mutex<Shared>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Receiver {
    pub fn start() -> Receiver {
        Self::start_on(free_port())
    }

    pub fn start_on(port: u16) -> Receiver {
        let shared = Arc::new(Mutex::new(Shared::default()));
        let s = shared.clone();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
                    .await
                    .unwrap_or_else(|e| panic!("receiver cannot listen on {port}: {e}"));
                let app = axum::Router::new().fallback(
                    move |uri: Uri, headers: HeaderMap, body: Bytes| {
                        let s = s.clone();
                        async move {
                            let mut g = s.lock().unwrap();
                            let status = g.script.pop_front().unwrap_or(200);
                            g.got.push(Got {
                                path: uri.path().to_string(),
                                headers,
                                body: String::from_utf8_lossy(&body).into_owned(),
                                status,
                            });
                            (StatusCode::from_u16(status).unwrap(), "ok")
                        }
                    },
                );
                ready_tx.send(()).unwrap();
                axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = rx.await;
                    })
                    .await
                    .unwrap();
            });
        });
        ready_rx
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("the HTTP receiver did not start");
        Receiver {
            port,
            shared,
            stop: Some(tx),
            thread: Some(thread),
        }
    }

    /// Answers the next requests with these statuses, then 200.
    pub fn answer(&self, statuses: &[u16]) {
        self.shared.lock().unwrap().script.extend(statuses);
    }

    /// Every request so far.
    pub fn all(&self) -> Vec<Got> {
        self.shared.lock().unwrap().got.clone()
    }

    /// The requests to `path` answered with 2xx.
    pub fn accepted(&self, path: &str) -> Vec<Got> {
        self.all()
            .into_iter()
            .filter(|g| g.path == path && (200..300).contains(&g.status))
            .collect()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

pub const WEBHOOK_SECRET: &str = "webhook-secret-0123456789";
pub const SMS_PASSWORD: &str = "sms-password-0123456789";
pub const ACK_KEY: &str = "ack-key-0123456789abcdef";

/// The notify section used by the channel tests: Tranemo's on-call list Anna, then Bengt, then
/// Cecilia; every channel on `rx`; `on_call` and `service_desk` are the routes' channel lists.
pub fn channel_yaml(dir: &Path, rx: &Receiver, on_call: &str, service_desk: &str) -> String {
    let hook = secret_file(dir, "webhook.key", WEBHOOK_SECRET);
    let pw = secret_file(dir, "sms.pw", SMS_PASSWORD);
    let teams = secret_file(dir, "teams.url", &rx.url("/teams"));
    let ack = secret_file(dir, "ack.key", ACK_KEY);
    format!(
        r#"notify:
  outbox_dir: {outbox}
  retry: {{ initial_backoff: 10s, max_backoff: 60s, max_attempts: 3, lease: 5m }}
  escalate_after: 15m
  ack: {{ public_url: "https://driftvakt.example.se", key: {{ file: {ack} }}, valid_for: 2h }}
  channels:
    hook:
      webhook: {{ url: "{hook_url}", secret: {{ file: {hook} }}, timeout: 5s }}
    jour-sms:
      sms:
        url: "{sms_url}"
        username: driftvakt
        password: {{ file: {pw} }}
        body: "from=Driftvakt&to={{{{ to|urlencode }}}}&message={{{{ text|urlencode }}}}"
        timeout: 5s
    it-teams:
      teams: {{ url: {{ file: {teams} }}, timeout: 5s }}
    am:
      alertmanager: {{ url: "{am_url}", timeout: 5s }}
  routes:
    - municipalities: [Tranemo]
      on_call: [{on_call}]
      service_desk: [{service_desk}]
  municipalities:
    Tranemo:
      editors: [intranat@tranemo.example.se]
      service_desk: [servicedesk@kommun.example.se]
      on_call:
        - {{ name: Anna Åström, mail: anna@kommun.example.se, phone: "+46701111111" }}
        - {{ name: Bengt Öberg, phone: "+46702222222" }}
        - {{ name: Cecilia Ek, phone: "+46703333333" }}
"#,
        outbox = dir.join("outbox").display(),
        hook_url = rx.url("/hook"),
        sms_url = rx.url("/sms"),
        am_url = rx.url("/am"),
    )
}

pub type ChannelNotifier = Notifier<SqliteNotifyStore>;

/// Parses `yaml` (strictly, like the collector) and builds the notifier with its channels.
pub fn channel_notifier(yaml: &str, dir: &Path, clock: Arc<ManualClock>) -> ChannelNotifier {
    let file =
        NotifyFile::parse(yaml, Path::new("notify.yaml")).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
    channel_notifier_from(file.notify, dir, clock)
}

pub fn channel_notifier_from(
    config: NotifyConfig,
    dir: &Path,
    clock: Arc<ManualClock>,
) -> ChannelNotifier {
    let channels = Channels::from_config(&config, dir).unwrap();
    let transport = FileTransport::new(&config.outbox_dir).unwrap();
    notifier(config, &dir.join("c.db"), clock, transport).with_channels(channels)
}

/// The Tranemo device alert `ap-1` down since `since`.
pub fn down(since: &str) -> driftvakt_collector::notify::Event {
    device_alert("ap-1", driftvakt_collector::notify::AlertKind::Down, since)
}

/// Delivery rounds, each after moving the clock `step`, until `rx` accepted `n` requests on
/// `path` (panics after 60 rounds).
pub async fn deliver_until_http(
    n: &ChannelNotifier,
    clock: &ManualClock,
    rx: &Receiver,
    path: &str,
    count: usize,
) -> Vec<Got> {
    for _ in 0..60 {
        n.deliver_due().await;
        let got = rx.accepted(path);
        if got.len() >= count {
            return got;
        }
        clock.advance(chrono::Duration::seconds(61));
    }
    panic!(
        "expected {count} accepted requests on {path}, got {:?}",
        rx.all()
    );
}

/// HMAC-SHA256 in hex, as a receiver checks the signature.
pub fn hmac_hex(key: &str, body: &[u8]) -> String {
    use hmac::{Hmac, KeyInit, Mac};
    let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(body);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Decodes one `application/x-www-form-urlencoded` field.
pub fn form_field(body: &str, name: &str) -> String {
    let raw = body
        .split('&')
        .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} in {body}"));
    let mut bytes = Vec::new();
    let mut it = raw.bytes();
    while let Some(b) = it.next() {
        match b {
            b'+' => bytes.push(b' '),
            b'%' => {
                let h: String = [it.next().unwrap() as char, it.next().unwrap() as char]
                    .iter()
                    .collect();
                bytes.push(u8::from_str_radix(&h, 16).unwrap());
            }
            b => bytes.push(b),
        }
    }
    String::from_utf8(bytes).unwrap()
}
