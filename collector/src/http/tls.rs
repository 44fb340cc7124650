//! HTTPS for the collector's server (`collector.tls`, rustls): the certificate served, reloaded
//! without a restart, and the client certificates agents may be required to show.
//!
//! - **Protocols:** TLS 1.2 and 1.3; HTTP/2 and HTTP/1.1 by ALPN ([`super::server`] drives
//!   either under the same limits; the handshake must finish within the request-head timeout).
//! - **Reloading:** the certificate and key are read again on SIGHUP and when either file
//!   changes (checked every [`RELOAD_POLL`]); the new pair is served to the next handshake, open
//!   connections keep theirs. A pair that cannot be used (unreadable, key not matching,
//!   expired) is refused with a warning, and the old one stays in service.
//! - **Client certificates:** with `client_ca`, a client may show a certificate signed by that
//!   CA (one signed by another, or expired, fails the handshake); the names it gives its
//!   subject go with each request ([`ClientCertificate`]), and the agent routes accept a token
//!   only together with a certificate naming that agent (`auth::agent`). Browsers and
//!   Prometheus need none.
//! - **Metric:** `driftvakt_collector_tls_cert_days_left`, the days until the served certificate
//!   expires, by the process's clock.

use crate::clock::Clock;
use crate::inventory::tls::{
    read_certificates, subject_names, CertPair, TlsFileError, TlsSettings,
};
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{RootCertStore, ServerConfig, ServerConnection};
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};
use tokio::task::JoinHandle;

/// How often the certificate and key files are checked for changes.
pub const RELOAD_POLL: Duration = Duration::from_secs(2);

/// The names of the client certificate a request came with; present on every request of a
/// TLS connection when `client_ca` is set (`None`: the client showed none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCertificate(pub Option<Vec<String>>);

/// The TLS side of the server: its rustls configuration and the certificate in service.
pub struct TlsServer {
    acceptor: tokio_rustls::TlsAcceptor,
    served: Arc<Served>,
    client_auth: bool,
}

/// The certificate in service and the files it came from.
#[derive(Debug)]
struct Served {
    files: TlsSettings,
    pair: RwLock<CertPair>,
    /// The files' (modified, length) when last read.
    stamp: Mutex<Option<Stamp>>,
}

type Stamp = [(Option<SystemTime>, u64); 2];

impl ResolvesServerCert for Served {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current().key)
    }
}

impl Served {
    fn current(&self) -> CertPair {
        self.pair.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn stamp(&self) -> Stamp {
        let one = |p: &PathBuf| match std::fs::metadata(p) {
            Ok(m) => (m.modified().ok(), m.len()),
            Err(_) => (None, 0),
        };
        [one(&self.files.cert), one(&self.files.key)]
    }

    /// Reads the pair again and serves it when usable at `now`.
    fn reload(&self, now: chrono::DateTime<chrono::Utc>, why: &str) {
        *self.stamp.lock().unwrap_or_else(|e| e.into_inner()) = Some(self.stamp());
        let loaded = CertPair::load(&self.files.cert, &self.files.key)
            .and_then(|p| p.check_validity(&self.files.cert, now).map(|()| p));
        match loaded {
            Ok(pair) => {
                tracing::info!(
                    "TLS: certificate {} reloaded ({why}); valid until {}",
                    self.files.cert.display(),
                    pair.not_after
                );
                *self.pair.write().unwrap_or_else(|e| e.into_inner()) = pair;
            }
            Err(e) => tracing::warn!(
                "TLS: the certificate was not reloaded ({why}): {e}; the previous one stays in \
                 service"
            ),
        }
    }

    /// Whether the files changed since they were last read.
    fn changed(&self) -> bool {
        let now = self.stamp();
        let mut last = self.stamp.lock().unwrap_or_else(|e| e.into_inner());
        last.replace(now).is_some_and(|before| before != now)
    }
}

/// `driftvakt_collector_tls_cert_days_left`.
#[derive(Debug, Clone, Default)]
pub struct TlsMetrics {
    pub days_left: Gauge<f64, AtomicU64>,
}

impl TlsMetrics {
    /// Creates the gauge and registers it in `registry`.
    pub fn register(registry: &mut Registry) -> TlsMetrics {
        let m = TlsMetrics::default();
        registry.register(
            "driftvakt_collector_tls_cert_days_left",
            "Days until the collector's own TLS certificate expires (negative once it has).",
            m.days_left.clone(),
        );
        m
    }
}

impl TlsServer {
    /// The server for `files` (resolved paths), checked usable at `now`.
    pub fn new(
        files: TlsSettings,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Arc<TlsServer>, TlsFileError> {
        let pair = CertPair::load(&files.cert, &files.key)?;
        pair.check_validity(&files.cert, now)?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| invalid(&files.cert, e))?;
        let client_auth = files.client_ca.is_some();
        let builder = match &files.client_ca {
            Some(ca) => {
                let mut roots = RootCertStore::empty();
                for cert in read_certificates(ca)? {
                    roots.add(cert).map_err(|e| invalid(ca, e))?;
                }
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                        .allow_unauthenticated()
                        .build()
                        .map_err(|e| invalid(ca, e))?;
                builder.with_client_cert_verifier(verifier)
            }
            None => builder.with_no_client_auth(),
        };
        let served = Arc::new(Served {
            files,
            pair: RwLock::new(pair),
            stamp: Mutex::new(None),
        });
        served.changed(); // the stamp of what was read
        let mut config = builder.with_cert_resolver(served.clone());
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Arc::new(TlsServer {
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
            served,
            client_auth,
        }))
    }

    pub fn acceptor(&self) -> &tokio_rustls::TlsAcceptor {
        &self.acceptor
    }

    /// What goes with each request of a handshaken connection: its client certificate's names
    /// when client certificates are on.
    pub fn client_certificate(&self, conn: &ServerConnection) -> Option<ClientCertificate> {
        self.client_auth.then(|| {
            ClientCertificate(
                conn.peer_certificates()
                    .and_then(|c| c.first())
                    .map(subject_names),
            )
        })
    }

    /// Reloads the certificate on SIGHUP and when its files change, and keeps `metrics` up to
    /// date by `clock` (abort to stop).
    pub fn spawn_reloader(
        self: &Arc<Self>,
        clock: Arc<dyn Clock>,
        metrics: TlsMetrics,
    ) -> std::io::Result<JoinHandle<()>> {
        use tokio::signal::unix::{signal, SignalKind};
        let mut hup = signal(SignalKind::hangup())?;
        let served = self.served.clone();
        Ok(tokio::spawn(async move {
            let mut tick = tokio::time::interval(RELOAD_POLL);
            loop {
                tokio::select! {
                    _ = hup.recv() => served.reload(clock.now(), "SIGHUP"),
                    _ = tick.tick() => {
                        if served.changed() {
                            served.reload(clock.now(), "the files changed");
                        }
                    }
                }
                metrics
                    .days_left
                    .set(served.current().days_left(clock.now()));
            }
        }))
    }
}

fn invalid(path: &std::path::Path, e: impl std::fmt::Display) -> TlsFileError {
    TlsFileError::Invalid {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}
