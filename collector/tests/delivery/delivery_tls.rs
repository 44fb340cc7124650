//! TLS between the real agent and the real collector (`collector.tls`, `agent.collector.ca`,
//! client certificates), with certificates made by the `openssl` CLI at test time in a temp
//! folder: a CA, the collector's certificate (127.0.0.1), agents' client certificates, a
//! certificate that expires while the collector serves it, and a second, unrelated CA.
//!
//! Shown: the agent pushes over TLS with a client certificate naming it and its results are
//! stored; HTTP/2 and HTTP/1.1 are negotiated by ALPN; a wrong CA, an expired server
//! certificate and a client certificate of another agent are each refused, with a clear line in
//! the agent's log and in the collector's; a renewed certificate is served to the next
//! connection after SIGHUP and after the files change, while an open connection keeps working;
//! `driftvakt_collector_tls_cert_days_left` follows the certificate served.

use chrono::{DateTime, Duration as Span, Utc};
use driftvakt_collector_testkit::files::owner_only;
use driftvakt_collector_testkit::inventory::Inventory;
use driftvakt_collector_testkit::ports::{accepting_port, free_port};
use driftvakt_collector_testkit::process::*;
use driftvakt_collector_testkit::results_db::stored_count;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Certificates made with the `openssl` CLI in one folder; `NAME.pem` and `NAME.key` each.
struct Pki {
    dir: PathBuf,
}

impl Pki {
    /// An agent's `ca`, `cert` and `key` lines: trusting CA `ca`, showing certificate `client`.
    fn agent_keys(&self, ca: &str, client: &str) -> Vec<String> {
        vec![
            key_line("ca", self.pem(ca)),
            key_line("cert", self.pem(client)),
            key_line("key", self.key(client)),
        ]
    }

    fn new(dir: &Path) -> Pki {
        let dir = dir.join("pki");
        std::fs::create_dir_all(&dir).unwrap();
        Pki { dir }
    }

    fn pem(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.pem"))
    }

    fn key(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.key"))
    }

    /// A self-signed CA `name` (and the files `openssl ca` keeps for it).
    fn ca(&self, name: &str) {
        openssl(
            Command::new("openssl")
                .args(["req", "-x509", "-nodes", "-newkey", "ec"])
                .args(["-pkeyopt", "ec_paramgen_curve:prime256v1", "-days", "30"])
                .args(["-subj", &format!("/CN=Driftvakt test {name}")])
                .arg("-keyout")
                .arg(self.key(name))
                .arg("-out")
                .arg(self.pem(name)),
        );
        let db = self.dir.join(format!("{name}-db"));
        std::fs::create_dir_all(&db).unwrap();
        std::fs::write(db.join("index.txt"), "").unwrap();
        std::fs::write(db.join("serial"), "1000\n").unwrap();
        let config = format!(
            "[ca]\ndefault_ca = dv\n[dv]\ndatabase = {db}/index.txt\nnew_certs_dir = {db}\n\
             serial = {db}/serial\ndefault_md = sha256\npolicy = any\nunique_subject = no\n\
             [any]\ncommonName = supplied\n",
            db = db.display()
        );
        std::fs::write(db.join("ca.cnf"), config).unwrap();
    }

    /// A certificate `name` for `cn` (also its DNS name; servers get 127.0.0.1 too) signed by
    /// `ca`, valid from `from` to `until`; its key owner-only.
    fn issue(&self, ca: &str, name: &str, cn: &str, from: DateTime<Utc>, until: DateTime<Utc>) {
        let san = format!("DNS:{cn}, IP:127.0.0.1");
        self.issue_for(ca, name, cn, &san, from, until);
    }

    /// As [`Pki::issue`], with the subject alternative names `san` (`DNS:…, IP:…`).
    fn issue_for(
        &self,
        ca: &str,
        name: &str,
        cn: &str,
        san: &str,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
    ) {
        let csr = self.dir.join(format!("{name}.csr"));
        openssl(
            Command::new("openssl")
                .args(["req", "-new", "-nodes", "-newkey", "ec"])
                .args(["-pkeyopt", "ec_paramgen_curve:prime256v1"])
                .args(["-subj", &format!("/CN={cn}")])
                .arg("-keyout")
                .arg(self.key(name))
                .arg("-out")
                .arg(&csr),
        );
        let ext = self.dir.join(format!("{name}.ext"));
        std::fs::write(
            &ext,
            format!(
                "basicConstraints = CA:FALSE\nextendedKeyUsage = serverAuth, clientAuth\n\
                 subjectAltName = {san}\n"
            ),
        )
        .unwrap();
        let db = self.dir.join(format!("{ca}-db"));
        let date = |t: DateTime<Utc>| t.format("%Y%m%d%H%M%SZ").to_string();
        openssl(
            Command::new("openssl")
                .args(["ca", "-batch", "-notext", "-config"])
                .arg(db.join("ca.cnf"))
                .arg("-cert")
                .arg(self.pem(ca))
                .arg("-keyfile")
                .arg(self.key(ca))
                .arg("-in")
                .arg(&csr)
                .arg("-out")
                .arg(self.pem(name))
                .arg("-extfile")
                .arg(&ext)
                .args(["-startdate", &date(from), "-enddate", &date(until)]),
        );
        use std::os::unix::fs::PermissionsExt;
        let owner = std::fs::Permissions::from_mode(0o600);
        std::fs::set_permissions(self.key(name), owner).unwrap();
    }

    /// A certificate valid from a day ago for `days`.
    fn issue_for_days(&self, ca: &str, name: &str, cn: &str, days: i64) {
        let now = Utc::now();
        self.issue(ca, name, cn, now - Span::days(1), now + Span::days(days));
    }

    /// Puts `name`'s pair in place of `served`'s (each file renamed over the old one).
    fn replace(&self, served: &str, name: &str) {
        std::fs::rename(self.key(name), self.key(served)).unwrap();
        std::fs::rename(self.pem(name), self.pem(served)).unwrap();
    }

    fn der(&self, name: &str) -> CertificateDer<'static> {
        CertificateDer::from_pem_file(self.pem(name)).unwrap()
    }
}

fn openssl(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| {
        panic!("cannot run openssl ({e}): install Debian's `openssl` package (scripts/test does)")
    });
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Agents `a` and `b`, both probing the printer of site s1; the collector serves `server`
/// (with `client_ca: ca.pem` when `client_ca`).
fn inventory(dir: &Path, pki: &Pki, db: &Path, client_ca: bool) -> PathBuf {
    let ca = if client_ca {
        format!(", client_ca: {}", pki.pem("ca").display())
    } else {
        String::new()
    };
    let tls = format!(
        "{{ cert: {}, key: {}{ca} }}",
        pki.pem("server").display(),
        pki.key("server").display()
    );
    Inventory::new()
        .collector("database", db.display())
        .collector("tls", tls)
        .site("s1", "Stadshuset", "Ulricehamn")
        .tcp_device("prn1", "printer", "s1", accepting_port(), "1s")
        .agent(dir, "a", TOKEN_A, "sites: [s1]")
        .agent(dir, "b", TOKEN_B, "sites: [s1]")
        .write(dir)
}

/// An HTTPS client trusting `ca` (any certificate when `None`), showing `identity`'s pair.
fn client(pki: &Pki, ca: Option<&str>, identity: Option<&str>) -> reqwest::Client {
    let mut b = reqwest::Client::builder()
        .use_rustls_tls()
        .timeout(Duration::from_secs(5))
        .tls_built_in_root_certs(false);
    b = match ca {
        Some(ca) => b.add_root_certificate(
            reqwest::Certificate::from_pem(&std::fs::read(pki.pem(ca)).unwrap()).unwrap(),
        ),
        None => b.danger_accept_invalid_certs(true),
    };
    if let Some(name) = identity {
        let mut pem = std::fs::read(pki.pem(name)).unwrap();
        pem.extend(std::fs::read(pki.key(name)).unwrap());
        b = b.identity(reqwest::Identity::from_pem(&pem).unwrap());
    }
    b.build().unwrap()
}

/// A collector serving HTTPS with the test's PKI, on its own database.
struct TlsCollector {
    proc: Proc,
    port: u16,
    db: PathBuf,
    config: PathBuf,
}

impl TlsCollector {
    /// Writes the inventory (`client_ca`: agents must also show a certificate) and starts the
    /// collector on a free port; `probe` asks its `/healthz` until it answers.
    async fn start(dir: &Path, pki: &Pki, client_ca: bool, probe: &reqwest::Client) -> Self {
        let db = dir.join("dv.db");
        let port = free_port();
        let config = inventory(dir, pki, &db, client_ca);
        let proc = start_tls_collector(&config, port, &dir.join("collector.log"), probe).await;
        TlsCollector {
            proc,
            port,
            db,
            config,
        }
    }
}

/// Starts `driftvakt-collector run` with HTTPS on 127.0.0.1:`port`; waits for /healthz.
async fn start_tls_collector(
    config: &Path,
    port: u16,
    log: &Path,
    probe: &reqwest::Client,
) -> Proc {
    let mut cmd = Command::new(collector_bin());
    cmd.args(["run", "--config"])
        .arg(config)
        .args(["--listen", &format!("127.0.0.1:{port}")]);
    let mut p = Proc::spawn("collector", &mut cmd, log);
    let url = format!("https://127.0.0.1:{port}/healthz");
    let start = Instant::now();
    loop {
        if let Ok(r) = probe.get(&url).send().await {
            if r.status().is_success() {
                return p;
            }
        }
        p.assert_running();
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "collector did not come up with HTTPS on port {port}: {}",
            p.describe()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// An agent `id` in central mode pushing to `https://127.0.0.1:port`, with a local device of
/// its own (so it has results to push even when it gets no assignment); `tls` is the rest of
/// its `agent.collector` (`ca: …`, `cert: …`, `key: …`), one key per line.
fn write_tls_agent(dir: &Path, id: &str, token: &str, port: u16, tls: &[String]) -> PathBuf {
    let dir = dir.join(id);
    std::fs::create_dir_all(&dir).unwrap();
    owner_only(&dir.join("token"), &format!("{token}\n"));
    let tls: String = tls.iter().map(|l| format!("    {l}\n")).collect();
    let yaml = format!(
        "agent:\n  id: {id}\n  collector:\n    url: https://127.0.0.1:{port}\n    token: {{ file: token }}\n{tls}    batch_size: 5\n    push_interval: 200ms\n    assignment_refresh: 1s\n  spool:\n    dir: spool\ndevices:\n  - {{ id: local-{id}, class: printer, address: 127.0.0.1, checks: [{{ kind: tcp, port: {target}, interval: 200ms, timeout: 150ms }}] }}\n",
        target = accepting_port()
    );
    let path = dir.join("agent.yaml");
    std::fs::write(&path, yaml).unwrap();
    path
}

fn key_line(key: &str, path: PathBuf) -> String {
    format!("{key}: {}", path.display())
}

/// Waits until `proc`'s log has a line containing every one of `parts`; returns that line.
async fn log_line(proc: &mut Proc, parts: &[&str], limit: Duration) -> String {
    let start = Instant::now();
    loop {
        let log = read_log(&proc.log);
        if let Some(line) = log.lines().find(|l| parts.iter().all(|p| l.contains(p))) {
            return line.to_string();
        }
        assert!(
            start.elapsed() < limit,
            "no line with {parts:?} within {limit:?} in {}",
            proc.describe()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `driftvakt_collector_tls_cert_days_left` from the collector's `/metrics`.
async fn days_left(client: &reqwest::Client, port: u16) -> f64 {
    let text = client
        .get(format!("https://127.0.0.1:{port}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("driftvakt_collector_tls_cert_days_left "))
        .unwrap_or_else(|| panic!("no driftvakt_collector_tls_cert_days_left in {text}"))
        .trim()
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_agent_with_a_client_certificate_pushes_over_tls_and_http2_is_negotiated() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path());
    pki.ca("ca");
    pki.issue_for_days("ca", "server", "localhost", 10);
    pki.issue_for_days("ca", "client-a", "a", 10);
    let trusted = client(&pki, Some("ca"), None);
    let TlsCollector {
        proc: mut collector,
        port,
        db,
        ..
    } = TlsCollector::start(dir.path(), &pki, true, &trusted).await;
    let agent_config = write_tls_agent(
        dir.path(),
        "a",
        TOKEN_A,
        port,
        &pki.agent_keys("ca", "client-a"),
    );
    let mut agent = start_agent(&agent_config, &dir.path().join("agent-a.log"));
    wait_until(
        "agent a's results stored",
        Duration::from_secs(20),
        || async { stored_count(&db, "a") >= 3 },
    )
    .await;

    // ALPN: HTTP/2 when the client offers it, HTTP/1.1 otherwise.
    let url = format!("https://127.0.0.1:{port}/healthz");
    let h2 = trusted.get(&url).send().await.unwrap();
    assert_eq!(h2.version(), reqwest::Version::HTTP_2);
    assert_eq!(h2.text().await.unwrap().trim(), "ok");
    let h1 = reqwest::Client::builder()
        .use_rustls_tls()
        .http1_only()
        .tls_built_in_root_certs(false)
        .add_root_certificate(
            reqwest::Certificate::from_pem(&std::fs::read(pki.pem("ca")).unwrap()).unwrap(),
        )
        .build()
        .unwrap();
    let h1 = h1.get(&url).send().await.unwrap();
    assert_eq!(h1.version(), reqwest::Version::HTTP_11);

    // The token alone, without a client certificate, is refused; with agent a's it is taken.
    let post = |c: &reqwest::Client| {
        c.post(format!("https://127.0.0.1:{port}/api/v1/results"))
            .bearer_auth(TOKEN_A)
            .header("content-type", "application/json")
            .body(r#"{"agent":"a","batch_id":"tls-manual-1","results":[]}"#)
            .send()
    };
    let bare = post(&trusted).await.unwrap();
    assert_eq!(bare.status(), 401);
    let why = bare.text().await.unwrap();
    assert!(why.contains("no client certificate"), "{why}");
    let with_cert = post(&client(&pki, Some("ca"), Some("client-a")))
        .await
        .unwrap();
    assert_ne!(
        with_cert.status(),
        401,
        "{}",
        with_cert.text().await.unwrap()
    );

    let days = days_left(&trusted, port).await;
    assert!((9.9..10.0).contains(&days), "days left {days}");
    let log = read_log(&collector.log);
    assert!(log.contains("serving HTTPS (HTTP/2 and HTTP/1.1)"), "{log}");
    assert!(!log.contains("plain HTTP"), "{log}");
    agent.assert_running();
    collector.assert_running();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_ca_and_a_certificate_of_another_agent_are_refused_on_both_sides() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path());
    pki.ca("ca");
    pki.ca("other-ca");
    pki.issue_for_days("ca", "server", "localhost", 10);
    pki.issue_for_days("ca", "client-a", "a", 10);
    let trusted = client(&pki, Some("ca"), None);
    let TlsCollector {
        proc: mut collector,
        port,
        db,
        ..
    } = TlsCollector::start(dir.path(), &pki, true, &trusted).await;

    // Agent a trusts another CA than the one that signed the collector's certificate.
    let wrong_ca = write_tls_agent(
        dir.path(),
        "a",
        TOKEN_A,
        port,
        &pki.agent_keys("other-ca", "client-a"),
    );
    let mut agent_a = start_agent(&wrong_ca, &dir.path().join("agent-a.log"));
    let line = log_line(
        &mut agent_a,
        &[
            "push to the collector failed",
            "invalid peer certificate",
            "UnknownIssuer",
        ],
        Duration::from_secs(20),
    )
    .await;
    eprintln!("agent a: {line}");
    let line = log_line(
        &mut collector,
        &["TLS handshake with 127.0.0.1:", "failed", "UnknownCA"],
        Duration::from_secs(5),
    )
    .await;
    eprintln!("collector: {line}");

    // Agent b shows agent a's certificate with its own token.
    let borrowed = write_tls_agent(
        dir.path(),
        "b",
        TOKEN_B,
        port,
        &pki.agent_keys("ca", "client-a"),
    );
    let mut agent_b = start_agent(&borrowed, &dir.path().join("agent-b.log"));
    let line = log_line(
        &mut agent_b,
        &["the collector refused the agent (401: agent b: the client certificate names a instead)"],
        Duration::from_secs(20),
    )
    .await;
    eprintln!("agent b: {line}");
    let line = log_line(
        &mut collector,
        &[
            "failed agent authentication from 127.0.0.1:",
            "agent b: the client certificate names a instead",
        ],
        Duration::from_secs(5),
    )
    .await;
    eprintln!("collector: {line}");
    assert_eq!(stored_count(&db, "a"), 0);
    assert_eq!(stored_count(&db, "b"), 0);
    agent_a.assert_running();
    agent_b.assert_running();
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expired_server_certificate_is_refused_on_both_sides() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path());
    pki.ca("ca");
    // Valid for the collector's start, expired 20 s later.
    let until = Utc::now() + Span::seconds(20);
    pki.issue(
        "ca",
        "server",
        "localhost",
        Utc::now() - Span::days(1),
        until,
    );
    let any = client(&pki, None, None);
    let TlsCollector {
        proc: mut collector,
        port,
        db,
        config,
    } = TlsCollector::start(dir.path(), &pki, false, &any).await;
    let log = read_log(&collector.log);
    assert!(
        log.contains("expires in 0 days"),
        "a warning at start: {log}"
    );
    let wait = (until - Utc::now()).to_std().unwrap_or_default() + Duration::from_secs(1);
    tokio::time::sleep(wait).await;

    let agent_config = write_tls_agent(
        dir.path(),
        "a",
        TOKEN_A,
        port,
        &[key_line("ca", pki.pem("ca"))],
    );
    let mut agent = start_agent(&agent_config, &dir.path().join("agent-a.log"));
    let line = log_line(
        &mut agent,
        &[
            "push to the collector failed",
            "invalid peer certificate",
            "expired",
        ],
        Duration::from_secs(20),
    )
    .await;
    eprintln!("agent: {line}");
    let line = log_line(
        &mut collector,
        &[
            "TLS handshake with 127.0.0.1:",
            "failed",
            "CertificateExpired",
        ],
        Duration::from_secs(5),
    )
    .await;
    eprintln!("collector: {line}");
    assert_eq!(stored_count(&db, "a"), 0);
    // The metric says so (it is updated every reload poll).
    wait_until("days left negative", Duration::from_secs(10), || async {
        days_left(&any, port).await < 0.0
    })
    .await;

    // Started now, the collector refuses it: `run` and `check-config` alike.
    collector.terminate(Duration::from_secs(10));
    for command in ["check-config", "run"] {
        let out = Command::new(collector_bin())
            .args([command, "--config"])
            .arg(&config)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{command}: {err}");
        assert!(
            err.contains("collector.yaml:")
                && err.contains(": collector.tls.cert: the certificate")
                && err.contains("expired at"),
            "{command}: {err}"
        );
    }
}

/// A TLS connection of the test's own (HTTP/1.1), to see which certificate is served and to
/// keep one connection open across a reload.
struct Conn {
    stream: tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
}

impl Conn {
    async fn open(pki: &Pki, port: u16) -> Conn {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(pki.der("ca")).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        let name = ServerName::try_from("localhost").unwrap();
        let stream = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
            .unwrap();
        Conn { stream }
    }

    fn served(&self) -> CertificateDer<'static> {
        self.stream.get_ref().1.peer_certificates().unwrap()[0]
            .clone()
            .into_owned()
    }

    /// `GET /healthz` on this connection: the status line and body.
    async fn healthz(&mut self) -> String {
        self.stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .await
            .unwrap();
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            let n = tokio::time::timeout(Duration::from_secs(5), self.stream.read(&mut chunk))
                .await
                .expect("an answer within 5 s")
                .unwrap();
            assert!(n > 0, "the connection was closed");
            buf.extend_from_slice(&chunk[..n]);
            let text = String::from_utf8_lossy(&buf).to_string();
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let len: usize = head
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().to_string())
                    })
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                if body.len() >= len {
                    let status = head.lines().next().unwrap_or_default();
                    return format!("{status} {}", body.trim());
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_renewed_certificate_is_served_to_new_connections_while_open_ones_keep_working() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path());
    pki.ca("ca");
    pki.issue_for_days("ca", "server", "localhost", 10);
    let first = pki.der("server");
    let trusted = client(&pki, Some("ca"), None);
    let TlsCollector {
        proc: mut collector,
        port,
        ..
    } = TlsCollector::start(dir.path(), &pki, false, &trusted).await;
    let mut open = Conn::open(&pki, port).await;
    assert_eq!(open.served(), first);
    assert_eq!(open.healthz().await, "HTTP/1.1 200 OK ok");

    // Renewed (20 days now), then SIGHUP.
    pki.issue_for_days("ca", "renewed", "localhost", 20);
    let renewed = pki.der("renewed");
    pki.replace("server", "renewed");
    signal(&collector, "-HUP");
    log_line(
        &mut collector,
        &["TLS: certificate", "reloaded (SIGHUP)"],
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(Conn::open(&pki, port).await.served(), renewed);
    assert_eq!(
        open.healthz().await,
        "HTTP/1.1 200 OK ok",
        "the open connection"
    );
    assert_eq!(
        open.served(),
        first,
        "the open connection keeps its handshake"
    );
    let days = days_left(&trusted, port).await;
    assert!((19.9..20.0).contains(&days), "days left {days}");

    // Renewed again, no signal: the changed files are noticed.
    pki.issue_for_days("ca", "again", "localhost", 30);
    let again = pki.der("again");
    pki.replace("server", "again");
    log_line(
        &mut collector,
        &["reloaded (the files changed)"],
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(Conn::open(&pki, port).await.served(), again);
    assert_eq!(
        open.healthz().await,
        "HTTP/1.1 200 OK ok",
        "the open connection"
    );

    // A key that does not belong to the certificate is not taken: the last pair stays.
    pki.issue_for_days("ca", "stray", "localhost", 40);
    std::fs::rename(pki.key("stray"), pki.key("server")).unwrap();
    signal(&collector, "-HUP");
    let line = log_line(
        &mut collector,
        &["was not reloaded (SIGHUP)", "does not belong"],
        Duration::from_secs(5),
    )
    .await;
    eprintln!("collector: {line}");
    assert_eq!(Conn::open(&pki, port).await.served(), again);
    assert_eq!(
        open.healthz().await,
        "HTTP/1.1 200 OK ok",
        "the open connection"
    );
    collector.assert_running();
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_ca_the_agent_trusts_the_system_store_only() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path());
    pki.ca("ca");
    pki.issue_for_days("ca", "server", "localhost", 10);
    let trusted = client(&pki, Some("ca"), None);
    let TlsCollector {
        proc: _collector,
        port,
        db,
        ..
    } = TlsCollector::start(dir.path(), &pki, false, &trusted).await;

    // The system store (rustls-native-certs: SSL_CERT_FILE, else /etc/ssl/certs) has the test
    // CA: agent a trusts the collector. Agent b uses the real store, which does not.
    let start = |id: &str, token: &str, env: Option<PathBuf>| {
        let config = write_tls_agent(dir.path(), id, token, port, &[]);
        let mut cmd = Command::new(agent_bin());
        cmd.args(["run", "--config"]).arg(config);
        cmd.env_remove("SSL_CERT_FILE").env_remove("SSL_CERT_DIR");
        if let Some(file) = env {
            cmd.env("SSL_CERT_FILE", file);
        }
        Proc::spawn(
            "agent",
            &mut cmd,
            &dir.path().join(format!("agent-{id}.log")),
        )
    };
    let _a = start("a", TOKEN_A, Some(pki.pem("ca")));
    let mut b = start("b", TOKEN_B, None);
    wait_until(
        "agent a's results stored",
        Duration::from_secs(20),
        || async { stored_count(&db, "a") >= 3 },
    )
    .await;
    let line = log_line(
        &mut b,
        &[
            "push to the collector failed",
            "invalid peer certificate",
            "UnknownIssuer",
        ],
        Duration::from_secs(20),
    )
    .await;
    eprintln!("agent b: {line}");
    assert_eq!(stored_count(&db, "b"), 0);
}

/// `check-config` of the collector (`config`) or an agent (`agent`): exit status and stderr.
fn check_config(program: PathBuf, config: &Path) -> (bool, String) {
    let out = Command::new(program)
        .arg("check-config")
        .arg(config)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    (out.status.success(), err)
}

#[tokio::test(flavor = "multi_thread")]
async fn check_config_checks_the_certificate_files_of_collector_and_agent() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path());
    pki.ca("ca");
    pki.issue_for_days("ca", "server", "localhost", 10);
    pki.issue_for_days("ca", "client-a", "a", 100);
    pki.issue_for_days("ca", "stray", "stray", 100);
    let now = Utc::now();
    pki.issue(
        "ca",
        "expired",
        "a",
        now - Span::days(40),
        now - Span::days(1),
    );
    let db = dir.path().join("dv.db");
    let config = inventory(dir.path(), &pki, &db, true);

    // Expiring in 10 days: a warning, not an error.
    let (ok, err) = check_config(collector_bin(), &config);
    assert!(ok, "{err}");
    assert!(
        err.contains("warning: collector.tls.cert: the certificate")
            && err.contains("expires in 9 days"),
        "{err}"
    );
    // A key that is not the certificate's: an error at collector.tls.key, with file and line.
    std::fs::copy(pki.key("stray"), pki.key("server")).unwrap();
    let (ok, err) = check_config(collector_bin(), &config);
    assert!(!ok, "{err}");
    assert!(
        err.contains("collector.yaml:3:")
            && err.contains(": collector.tls.key: the key")
            && err.contains("does not belong to the certificate"),
        "{err}"
    );

    // The agent: its client certificate and key, and its CA file.
    let agent = |cert: &str, key: &str, ca: PathBuf| {
        write_tls_agent(
            dir.path(),
            "a",
            TOKEN_A,
            free_port(),
            &[
                key_line("ca", ca),
                key_line("cert", pki.pem(cert)),
                key_line("key", pki.key(key)),
            ],
        )
    };
    let (ok, err) = check_config(agent_bin(), &agent("client-a", "client-a", pki.pem("ca")));
    assert!(ok && !err.contains("warning"), "{err}");
    let (ok, err) = check_config(agent_bin(), &agent("expired", "expired", pki.pem("ca")));
    assert!(!ok, "{err}");
    assert!(
        err.contains("agent.yaml:7:5: agent.collector.cert: the certificate")
            && err.contains("expired at"),
        "{err}"
    );
    let (ok, err) = check_config(agent_bin(), &agent("client-a", "stray", pki.pem("ca")));
    assert!(!ok, "{err}");
    assert!(
        err.contains("agent.yaml:8:5: agent.collector.key: the key"),
        "{err}"
    );
    let (ok, err) = check_config(agent_bin(), &agent("client-a", "client-a", pki.key("ca")));
    assert!(!ok, "{err}");
    assert!(
        err.contains("agent.yaml:6:5: agent.collector.ca:")
            && err.contains("holds no PEM certificate"),
        "{err}"
    );
    pki.issue_for_days("ca", "soon", "a", 5);
    let (ok, err) = check_config(agent_bin(), &agent("soon", "soon", pki.pem("ca")));
    assert!(ok, "{err}");
    assert!(
        err.contains("warning: agent.collector.cert: the certificate"),
        "{err}"
    );
}

/// `driftvakt-collector db stats` against `url`: exit status and stderr.
fn db_stats(dir: &Path, url: &str) -> (bool, String) {
    let config = dir.join("pg.yaml");
    std::fs::write(
        &config,
        "sites:\n  - { id: s1, name: Stadshuset, municipality: Ulricehamn }\n",
    )
    .unwrap();
    let out = Command::new(collector_bin())
        .args(["db", "stats", "--config"])
        .arg(&config)
        .args(["--database", url, "--format", "json"])
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[test]
fn postgresql_over_tls_with_verify_full_verify_ca_and_require() {
    use driftvakt_collector_testkit::pg::PgCluster;
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path());
    pki.ca("ca");
    pki.ca("other-ca");
    pki.issue_for_days("ca", "pg", "localhost", 10);
    let now = Utc::now();
    let (from, until) = (now - Span::days(1), now + Span::days(10));
    pki.issue_for(
        "ca",
        "pg-named",
        "db.kommun.example",
        "DNS:db.kommun.example",
        from,
        until,
    );
    let url = |cluster: &PgCluster, db: &str, query: &str| format!("{}{query}", cluster.url(db));
    let root = |ca: &str| format!("&sslrootcert={}", pki.pem(ca).display());

    // A server whose certificate names 127.0.0.1; clear-text TCP connections are refused.
    let pg = PgCluster::start_with_tls(&pki.pem("pg"), &pki.key("pg"));
    let db = pg.create_database();
    let verified = url(&pg, &db, &format!("?sslmode=verify-full{}", root("ca")));
    let (ok, err) = db_stats(dir.path(), &verified);
    assert!(ok, "verify-full: {err}");
    let tables = "SELECT count(*) > 0 FROM information_schema.tables WHERE table_name = 'dv_names'";
    assert_eq!(pg.psql(&db, tables), "t", "the schema was made over TLS");
    let (ok, err) = db_stats(dir.path(), &url(&pg, &db, ""));
    assert!(
        !ok && err.contains("no encryption"),
        "clear text is refused: {err}"
    );
    let (ok, err) = db_stats(
        dir.path(),
        &url(
            &pg,
            &db,
            &format!("?sslmode=verify-full{}", root("other-ca")),
        ),
    );
    assert!(!ok && err.contains("UnknownIssuer"), "another CA: {err}");
    let (ok, err) = db_stats(dir.path(), &url(&pg, &db, "?sslmode=require"));
    assert!(ok, "require without a root certificate: {err}");
    // check-config reads the root certificate.
    let config = dir.path().join("pg-check.yaml");
    let missing = dir.path().join("missing-ca.pem");
    std::fs::write(
        &config,
        format!(
            "collector:\n  database: {}\nsites:\n  - {{ id: s1, name: S, municipality: U }}\n",
            url(
                &pg,
                &db,
                &format!("?sslmode=verify-full&sslrootcert={}", missing.display())
            )
        ),
    )
    .unwrap();
    let (ok, err) = check_config(collector_bin(), &config);
    assert!(
        !ok && err.contains("pg-check.yaml:2:")
            && err.contains("collector.database: sslrootcert: cannot read"),
        "{err}"
    );

    // A server whose certificate names another host: verify-full refuses, verify-ca accepts.
    let named = PgCluster::start_with_tls(&pki.pem("pg-named"), &pki.key("pg-named"));
    let db = named.create_database();
    let (ok, err) = db_stats(
        dir.path(),
        &url(&named, &db, &format!("?sslmode=verify-full{}", root("ca"))),
    );
    assert!(
        !ok && err.contains("certificate not valid for name \"127.0.0.1\""),
        "verify-full, another name: {err}"
    );
    let (ok, err) = db_stats(
        dir.path(),
        &url(&named, &db, &format!("?sslmode=verify-ca{}", root("ca"))),
    );
    assert!(ok, "verify-ca: {err}");
    let (ok, err) = db_stats(
        dir.path(),
        &url(
            &named,
            &db,
            &format!("?sslmode=verify-ca{}", root("other-ca")),
        ),
    );
    assert!(
        !ok && err.contains("UnknownIssuer"),
        "verify-ca, another CA: {err}"
    );
}
