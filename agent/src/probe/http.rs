//! HTTP(S) probe with reqwest over rustls: expected status codes, an optional body substring,
//! a redirect policy, and the TLS certificate's days remaining as a value (a finding under the
//! configured minimum). For the agreement's functions it can also expect a block (the web
//! filter refuses a listed test URL or answers its block page; else `not_blocked`), check that
//! a time in a JSON body is recent (antivirus definitions, the last backup; else
//! `value_too_old`), and log in with a form first (else `login_failed`).
//!
//! Clients are shared: one per distinct TLS/redirect setting, built on first use.

use super::{resolve, FailureReason, Outcome, Prober, SetupError, Target};
use crate::config::HttpCheck;
use chrono::{DateTime, Utc};
use driftvakt_common::clock::Clock;
use driftvakt_common::readings;
use driftvakt_common::schema::{ExpectBlock, JsonValue, LoginForm};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Settings that need a client of their own.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct ClientKey {
    follow_redirects: bool,
    insecure: bool,
    ca_file: Option<PathBuf>,
}

pub struct HttpProber {
    clients: Mutex<HashMap<ClientKey, reqwest::Client>>,
    /// What certificates' days left are counted from.
    clock: Arc<dyn Clock>,
}

impl HttpProber {
    pub fn new(clock: Arc<dyn Clock>) -> Result<HttpProber, SetupError> {
        let prober = HttpProber {
            clients: Mutex::new(HashMap::new()),
            clock,
        };
        // Build the default client now so a broken TLS setup shows at start, not at first probe.
        prober.client(&ClientKey {
            follow_redirects: true,
            insecure: false,
            ca_file: None,
        })?;
        Ok(prober)
    }

    fn client(&self, key: &ClientKey) -> Result<reqwest::Client, SetupError> {
        let mut clients = self.clients.lock().expect("http client map poisoned");
        if let Some(c) = clients.get(key) {
            return Ok(c.clone());
        }
        let redirect = if key.follow_redirects {
            reqwest::redirect::Policy::limited(5)
        } else {
            reqwest::redirect::Policy::none()
        };
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .tls_info(true)
            .redirect(redirect)
            .user_agent(concat!("driftvakt-agent/", env!("CARGO_PKG_VERSION")))
            .danger_accept_invalid_certs(key.insecure)
            .no_proxy();
        if let Some(path) = &key.ca_file {
            let pem = std::fs::read(path)
                .map_err(|e| SetupError::Http(format!("cannot read {}: {e}", path.display())))?;
            for cert in reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| SetupError::Http(format!("{}: {e}", path.display())))?
            {
                builder = builder.add_root_certificate(cert);
            }
        }
        let client = builder
            .build()
            .map_err(|e| SetupError::Http(e.to_string()))?;
        clients.insert(key.clone(), client.clone());
        Ok(client)
    }
}

impl Prober for HttpProber {
    type Spec = HttpCheck;

    async fn probe(&self, target: &Target<'_>, spec: &HttpCheck, timeout: Duration) -> Outcome {
        let url = match &spec.url {
            Some(u) => u.clone(),
            None => match resolve(target).await {
                Ok(std::net::IpAddr::V6(ip)) => format!("http://[{ip}]/"),
                Ok(ip) => format!("http://{ip}/"),
                Err(o) => return o,
            },
        };
        let key = ClientKey {
            follow_redirects: spec.follow_redirects.unwrap_or(true),
            insecure: spec.insecure_skip_verify.unwrap_or(false),
            ca_file: spec.ca_file.clone(),
        };
        let client = match self.client(&key) {
            Ok(c) => c,
            Err(e) => return Outcome::failure(FailureReason::ConfigError, e.to_string()),
        };
        let started = Instant::now();
        let mut request = client.get(&url).timeout(timeout);
        if let Some(form) = &spec.login {
            let login_key = ClientKey {
                follow_redirects: false,
                ..key.clone()
            };
            let login_client = match self.client(&login_key) {
                Ok(c) => c,
                Err(e) => return Outcome::failure(FailureReason::ConfigError, e.to_string()),
            };
            match login(&login_client, form, timeout).await {
                Ok(cookie) => request = request.header(reqwest::header::COOKIE, cookie),
                Err(o) => return o,
            }
        }
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) if spec.expect_block.is_some() => return refused_is_blocked(&e, &url),
            Err(e) => return classify(&e, &url),
        };
        let mut out = Outcome::success();
        let status = response.status().as_u16();
        out.number("http_status_code", f64::from(status));
        let days_left = cert_days_left(&response, self.clock.now());
        if let Some(days) = days_left {
            out.number(readings::TLS_CERT_DAYS_LEFT, days);
        }
        let wants_body = spec.body_contains.is_some()
            || spec.expect_block.is_some()
            || spec.json_value.is_some();
        let body = if wants_body {
            match response.text().await {
                Ok(b) => Some(b),
                Err(e) => return classify(&e, &url),
            }
        } else {
            None
        };
        out.number("http_duration_seconds", started.elapsed().as_secs_f64());
        if let Some(block) = &spec.expect_block {
            return judge_block(out, block, status, body.as_deref().unwrap_or(""));
        }
        let out = judge(out, spec, status, body.as_deref(), days_left);
        match (&spec.json_value, out.ok) {
            (Some(j), true) => judge_age(out, j, body.as_deref().unwrap_or(""), self.clock.now()),
            _ => out,
        }
    }
}

/// Posts the login form; the session's cookies (`name=value; …`) or a `login_failed` outcome.
async fn login(
    client: &reqwest::Client,
    form: &LoginForm,
    timeout: Duration,
) -> Result<String, Outcome> {
    let password = match tokio::fs::read_to_string(&form.password_file).await {
        Ok(p) => p.trim_end_matches(['\r', '\n']).to_string(),
        Err(e) => {
            let detail = format!("cannot read {}: {e}", form.password_file.display());
            return Err(Outcome::failure(FailureReason::ConfigError, detail));
        }
    };
    let fields = [
        (
            form.username_field.as_deref().unwrap_or("username"),
            form.username.as_str(),
        ),
        (
            form.password_field.as_deref().unwrap_or("password"),
            password.as_str(),
        ),
    ];
    let response = client
        .post(&form.url)
        .timeout(timeout)
        .form(&fields)
        .send()
        .await
        .map_err(|e| classify(&e, &form.url))?;
    let status = response.status().as_u16();
    if status >= 400 {
        return Err(Outcome::failure(
            FailureReason::LoginFailed,
            format!("login at {} answered status {status}", form.url),
        ));
    }
    let cookies: Vec<&str> = response
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .map(str::trim)
        .filter(|c| c.contains('='))
        .collect();
    if cookies.is_empty() {
        return Err(Outcome::failure(
            FailureReason::LoginFailed,
            format!(
                "login at {} (status {status}) set no session cookie",
                form.url
            ),
        ));
    }
    Ok(cookies.join("; "))
}

/// A test URL the filter refused (connection refused or reset, a failed handshake) is blocked;
/// a timeout or a name that does not resolve says nothing about the filter and fails as usual.
fn refused_is_blocked(e: &reqwest::Error, url: &str) -> Outcome {
    let failed = classify(e, url);
    match failed.error {
        Some(FailureReason::ConnectionRefused | FailureReason::TlsError)
        | Some(FailureReason::IoError) => {
            let mut out = Outcome::success();
            out.number("http_blocked", 1.0);
            out.detail = Some(format!("blocked: {}", failed.detail.unwrap_or_default()));
            out
        }
        _ => failed,
    }
}

/// The filter answered: blocked when the status is a block status (default 403 and 451) or the
/// body is its block page.
fn judge_block(mut out: Outcome, block: &ExpectBlock, status: u16, body: &str) -> Outcome {
    let statuses: &[u16] = if block.status.is_empty() {
        &[403, 451]
    } else {
        &block.status
    };
    let page = block
        .body_contains
        .as_deref()
        .is_some_and(|needle| body.contains(needle));
    if statuses.contains(&status) || page {
        out.number("http_blocked", 1.0);
        return out;
    }
    out.number("http_blocked", 0.0);
    out.ok = false;
    out.error = Some(FailureReason::NotBlocked);
    out.detail = Some(format!(
        "the test URL was not blocked (status {status}, no block page)"
    ));
    out
}

/// The time at `j.pointer` in the JSON `body`, at most `j.max_age` old as of `now`.
fn judge_age(mut out: Outcome, j: &JsonValue, body: &str, now: DateTime<Utc>) -> Outcome {
    let parsed: Result<serde_json::Value, _> = serde_json::from_str(body);
    let at = parsed
        .ok()
        .and_then(|v| v.pointer(&j.pointer).and_then(time_of));
    let Some(at) = at else {
        out.ok = false;
        out.error = Some(FailureReason::BodyMismatch);
        out.detail = Some(format!(
            "no time (RFC 3339 or Unix seconds) at {} in the JSON body",
            j.pointer
        ));
        return out;
    };
    let age = (now - at).num_milliseconds() as f64 / 1000.0;
    out.number("http_json_value_age_seconds", age);
    let max = j.max_age.std().as_secs_f64();
    if age > max {
        out.ok = false;
        out.error = Some(FailureReason::ValueTooOld);
        out.detail = Some(format!(
            "{} is {:.1} h old ({}), more than {:.1} h",
            j.pointer,
            age / 3600.0,
            at.to_rfc3339(),
            max / 3600.0
        ));
    }
    out
}

/// A JSON value as a time: RFC 3339 text or Unix seconds.
fn time_of(v: &serde_json::Value) -> Option<DateTime<Utc>> {
    match v {
        serde_json::Value::String(s) => DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|t| t.with_timezone(&Utc)),
        serde_json::Value::Number(n) => {
            let ms = (n.as_f64()? * 1000.0) as i64;
            DateTime::from_timestamp_millis(ms)
        }
        _ => None,
    }
}

/// Applies the expected status, body text and certificate minimum.
fn judge(
    mut out: Outcome,
    spec: &HttpCheck,
    status: u16,
    body: Option<&str>,
    days_left: Option<f64>,
) -> Outcome {
    let status_ok = if spec.expect_status.is_empty() {
        (200..300).contains(&status)
    } else {
        spec.expect_status.contains(&status)
    };
    if !status_ok {
        out.ok = false;
        out.error = Some(FailureReason::HttpStatus);
        out.detail = Some(format!("status {status} is not among the expected"));
        return out;
    }
    if let (Some(needle), Some(body)) = (&spec.body_contains, body) {
        if !body.contains(needle.as_str()) {
            out.ok = false;
            out.error = Some(FailureReason::BodyMismatch);
            out.detail = Some(format!("body does not contain {needle:?}"));
            return out;
        }
    }
    if let Some(days) = days_left {
        let min = f64::from(spec.cert_min_days.unwrap_or(14));
        if days < 0.0 {
            out.finding("tls_certificate_expired", "the TLS certificate has expired");
        } else if days < min {
            out.finding(
                readings::TLS_CERTIFICATE_EXPIRING,
                format!("the TLS certificate expires in {days:.0} days (minimum {min:.0})"),
            );
        }
    }
    out
}

/// Days from `now` until the server certificate's notAfter, from the TLS info reqwest keeps.
fn cert_days_left(response: &reqwest::Response, now: DateTime<Utc>) -> Option<f64> {
    let info = response.extensions().get::<reqwest::tls::TlsInfo>()?;
    let der = info.peer_certificate()?;
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let not_after = cert.validity().not_after.timestamp();
    Some((not_after - now.timestamp()) as f64 / 86_400.0)
}

/// Turns a reqwest error into a failure reason by walking its sources.
fn classify(e: &reqwest::Error, url: &str) -> Outcome {
    let mut reason = if e.is_timeout() {
        FailureReason::Timeout
    } else {
        FailureReason::IoError
    };
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if s.downcast_ref::<rustls::Error>().is_some() {
            reason = FailureReason::TlsError;
            break;
        }
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            if io
                .get_ref()
                .is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some())
            {
                reason = FailureReason::TlsError;
                break;
            }
            if reason != FailureReason::Timeout {
                reason = FailureReason::from_io(io);
            }
        }
        source = s.source();
    }
    let mut detail = format!("GET {url}: {e}");
    let mut s = std::error::Error::source(e);
    while let Some(inner) = s {
        detail.push_str(&format!(": {inner}"));
        s = inner.source();
    }
    // rustls errors can reach us wrapped in types we cannot downcast through; their text is
    // stable enough to recognise a failed handshake.
    let tls_words = ["invalid peer certificate", "tls handshake", "certificate"];
    if reason == FailureReason::IoError
        && tls_words.iter().any(|w| detail.to_lowercase().contains(w))
    {
        reason = FailureReason::TlsError;
    }
    Outcome::failure(reason, detail)
}
