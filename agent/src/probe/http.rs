//! HTTP(S) probe with reqwest over rustls: expected status codes, an optional body substring,
//! a redirect policy, and the TLS certificate's days remaining as a value (a finding under the
//! configured minimum).
//!
//! Clients are shared: one per distinct TLS/redirect setting, built on first use.

use super::{resolve, FailureReason, Outcome, Prober, SetupError, Target};
use crate::config::HttpCheck;
use chrono::{DateTime, Utc};
use driftvakt_common::clock::Clock;
use driftvakt_common::readings;
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
        let response = match client.get(&url).timeout(timeout).send().await {
            Ok(r) => r,
            Err(e) => return classify(&e, &url),
        };
        let mut out = Outcome::success();
        let status = response.status().as_u16();
        out.number("http_status_code", f64::from(status));
        let days_left = cert_days_left(&response, self.clock.now());
        if let Some(days) = days_left {
            out.number(readings::TLS_CERT_DAYS_LEFT, days);
        }
        let body = if spec.body_contains.is_some() {
            match response.text().await {
                Ok(b) => Some(b),
                Err(e) => return classify(&e, &url),
            }
        } else {
            None
        };
        out.number("http_duration_seconds", started.elapsed().as_secs_f64());
        judge(out, spec, status, body.as_deref(), days_left)
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
