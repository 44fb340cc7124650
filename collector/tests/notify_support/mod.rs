//! Shared rig for the notifier tests: a real SMTP server (aiosmtpd, started per test on a free
//! port and killed on Drop), a settable clock, a minimal .eml reader (headers, RFC 2047
//! subjects, multipart, base64 and quoted-printable), and a notifier on a temporary database.

#![allow(dead_code)]

use chrono::{DateTime, Utc};
use driftvakt_collector::calendar::{Calendar, CalendarFile};
use driftvakt_collector::clock::Clock;
use driftvakt_collector::notify::config::{Recipients, SmtpConfig, TlsMode};
use driftvakt_collector::notify::{
    Event, MailTransport, Notifier, NotifyConfig, SmtpTransport, SqliteNotifyStore,
};
use driftvakt_common::config::Duration;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

pub const PYTHON: &str = "/usr/bin/python3";

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

/// A real SMTP server: `tests/smtp/smtp_sink.py` under Debian's Python with aiosmtpd.
pub struct SmtpPeer {
    child: Child,
    pub port: u16,
    pub dir: PathBuf,
    /// Write 451, 550 or nothing here to switch refusing on and off.
    pub refuse_file: PathBuf,
}

impl SmtpPeer {
    /// Starts a server on a free port writing into `dir`.
    pub fn start(dir: &Path) -> SmtpPeer {
        Self::start_on(dir, free_port())
    }

    pub fn start_on(dir: &Path, port: u16) -> SmtpPeer {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/smtp/smtp_sink.py");
        assert!(
            Path::new(PYTHON).exists(),
            "{PYTHON} is missing: these tests need Debian's Python with python3-aiosmtpd"
        );
        let refuse_file = dir.with_extension("refuse");
        let mut child = Command::new(PYTHON)
            .arg(&script)
            .args(["--port", &port.to_string()])
            .arg("--dir")
            .arg(dir)
            .arg("--refuse-file")
            .arg(&refuse_file)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {PYTHON} {}: {e}", script.display()));
        let mut line = String::new();
        let stdout = child.stdout.take().unwrap();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        if !line.starts_with("READY") {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "the SMTP test server did not start (is python3-aiosmtpd installed? \
                 `apt-get install python3-aiosmtpd`): {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        SmtpPeer {
            child,
            port,
            dir: dir.to_path_buf(),
            refuse_file,
        }
    }

    pub fn refuse(&self, code: &str) {
        std::fs::write(&self.refuse_file, code).unwrap();
    }

    /// The messages received so far, in arrival order.
    pub fn messages(&self) -> Vec<Eml> {
        read_eml_dir(&self.dir)
    }
}

impl Drop for SmtpPeer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Every `.eml` in `dir`, sorted by file name.
pub fn read_eml_dir(dir: &Path) -> Vec<Eml> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| Eml::parse(&std::fs::read_to_string(p).unwrap()))
        .collect()
}

/// A parsed message: headers, decoded subject, and decoded leaf parts.
#[derive(Debug, Clone)]
pub struct Eml {
    pub headers: Vec<(String, String)>,
    pub subject: String,
    pub text: String,
    pub html: String,
    /// (content type, filename, decoded body) of attachments.
    pub attachments: Vec<(String, String, String)>,
}

impl Eml {
    pub fn parse(raw: &str) -> Eml {
        let raw = raw.replace("\r\n", "\n");
        let (headers, body) = split_headers(&raw);
        let mut eml = Eml {
            subject: decode_words(&header(&headers, "subject").unwrap_or_default()),
            headers: headers.clone(),
            text: String::new(),
            html: String::new(),
            attachments: Vec::new(),
        };
        eml.walk(&headers, body);
        eml
    }

    pub fn header(&self, name: &str) -> Option<String> {
        header(&self.headers, name)
    }

    /// The SMTP recipients (the sink's `X-Envelope-To`) or else `To`.
    pub fn to(&self) -> String {
        self.header("x-envelope-to")
            .or_else(|| self.header("to"))
            .unwrap_or_default()
    }

    fn walk(&mut self, headers: &[(String, String)], body: &str) {
        let ct = header(headers, "content-type").unwrap_or_else(|| "text/plain".into());
        let lower = ct.to_ascii_lowercase();
        if lower.starts_with("multipart/") {
            let boundary = param(&ct, "boundary").expect("multipart without boundary");
            for part in body.split(&format!("--{boundary}")).skip(1) {
                if part.starts_with("--") {
                    break;
                }
                let part = part.strip_prefix('\n').unwrap_or(part);
                let (h, b) = split_headers(part);
                self.walk(&h, b);
            }
            return;
        }
        let cte = header(headers, "content-transfer-encoding").unwrap_or_default();
        let decoded = decode_body(body, &cte.to_ascii_lowercase());
        let disposition = header(headers, "content-disposition").unwrap_or_default();
        if disposition.starts_with("attachment") {
            let name = param(&disposition, "filename").unwrap_or_default();
            self.attachments.push((lower, name, decoded));
        } else if lower.starts_with("text/html") {
            self.html = decoded;
        } else {
            self.text = decoded;
        }
    }
}

fn split_headers(raw: &str) -> (Vec<(String, String)>, &str) {
    let (head, body) = raw.split_once("\n\n").unwrap_or((raw, ""));
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in head.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some(last) = headers.last_mut() {
                last.1.push(' ');
                last.1.push_str(line.trim());
            }
        } else if let Some((k, v)) = line.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    (headers, body)
}

fn header(headers: &[(String, String)], name: &str) -> Option<String> {
    headers
        .iter()
        .find(|(k, _)| k == &name.to_ascii_lowercase())
        .map(|(_, v)| v.clone())
}

/// A header parameter, also when it is split into RFC 2231 continuations (`name*0=`,
/// `name*1=`, ...; percent-encoded after `charset''` where the key ends in `*`), as long file
/// names are.
fn param(value: &str, name: &str) -> Option<String> {
    let pairs: Vec<(String, String)> = value
        .split(';')
        .filter_map(|p| {
            let (k, v) = p.trim().split_once('=')?;
            Some((
                k.trim().to_ascii_lowercase(),
                v.trim().trim_matches('"').to_string(),
            ))
        })
        .collect();
    let name = name.to_ascii_lowercase();
    if let Some((_, v)) = pairs.iter().find(|(k, _)| *k == name) {
        return Some(v.clone());
    }
    let mut out = String::new();
    for n in 0.. {
        let plain = format!("{name}*{n}");
        let Some((k, v)) = pairs
            .iter()
            .find(|(k, _)| *k == plain || *k == format!("{plain}*"))
        else {
            break;
        };
        if k.ends_with('*') {
            let v = if n == 0 {
                v.splitn(3, '\'').nth(2).unwrap_or(v)
            } else {
                v
            };
            out.push_str(&percent_decode(v));
        } else {
            out.push_str(v);
        }
    }
    (!out.is_empty()).then_some(out)
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(x) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(x);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn decode_body(body: &str, cte: &str) -> String {
    let body = body.trim_end_matches('\n');
    match cte {
        "base64" => String::from_utf8(base64(&body.replace(['\n', ' '], ""))).unwrap(),
        "quoted-printable" => String::from_utf8(quoted_printable(body, false)).unwrap(),
        _ => body.to_string(),
    }
}

/// Decodes RFC 2047 encoded words (adjacent words join without the space between them).
pub fn decode_words(s: &str) -> String {
    let mut out = String::new();
    let mut last_was_word = false;
    for token in s.split(' ') {
        if let Some(inner) = token.strip_prefix("=?").and_then(|t| t.strip_suffix("?=")) {
            let mut it = inner.splitn(3, '?');
            let (_charset, enc, text) =
                (it.next().unwrap(), it.next().unwrap(), it.next().unwrap());
            let bytes = if enc.eq_ignore_ascii_case("b") {
                base64(text)
            } else {
                quoted_printable(text, true)
            };
            if !out.is_empty() && !last_was_word {
                out.push(' ');
            }
            out.push_str(&String::from_utf8(bytes).unwrap());
            last_was_word = true;
        } else {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(token);
            last_was_word = false;
        }
    }
    out
}

fn base64(s: &str) -> Vec<u8> {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let (mut buf, mut bits) = (0u32, 0);
    for c in s.bytes().filter(|&c| c != b'=') {
        let v = A.iter().position(|&a| a == c).expect("base64 character") as u32;
        buf = buf << 6 | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buf >> bits) as u8);
        }
    }
    out
}

fn quoted_printable(s: &str, header: bool) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'=' if b.get(i + 1) == Some(&b'\n') => i += 2,
            b'=' => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
                i += 3;
            }
            b'_' if header => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
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

pub type SmtpNotifier = Notifier<SqliteNotifyStore, SmtpTransport>;

/// A notifier on the database `db`, sending to `config`'s SMTP relay.
pub fn smtp_notifier(config: NotifyConfig, db: &Path, clock: Arc<ManualClock>) -> SmtpNotifier {
    let transport = SmtpTransport::from_config(config.smtp.as_ref().unwrap()).unwrap();
    notifier(config, db, clock, transport)
}

pub fn notifier<T: MailTransport>(
    config: NotifyConfig,
    db: &Path,
    clock: Arc<ManualClock>,
    transport: T,
) -> Notifier<SqliteNotifyStore, T> {
    Notifier::new(
        config,
        Arc::new(default_calendar()),
        clock,
        SqliteNotifyStore::open(db).unwrap(),
        transport,
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
pub async fn deliver_until<T: MailTransport>(
    notifier: &Notifier<SqliteNotifyStore, T>,
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
