//! TLS for the login probes (`ldap`, `imap`, `smtp`): the rustls client configuration a check
//! asks for (the system's CAs, a CA file, or any certificate), the handshake over a stream
//! already open (implicit TLS or after STARTTLS), and the certificate's days left with the
//! findings `http` gives for it.

use super::{FailureReason, Outcome};
use chrono::{DateTime, Utc};
use driftvakt_common::readings;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::client::TlsStream;

/// The client configurations built so far, one per distinct (`ca_file`, `insecure`): the system's
/// CA store and a CA file are read once per process (as the `http` probe's clients are), not at
/// every probe.
#[derive(Default)]
pub struct Configs(Mutex<HashMap<ConfigKey, Arc<ClientConfig>>>);

/// A check's `ca_file` and `insecure_skip_verify`.
type ConfigKey = (Option<PathBuf>, bool);

impl Configs {
    /// The configuration for a check's `ca_file` and `insecure_skip_verify`; one that cannot be
    /// built (an unreadable CA file) is not kept, so a fixed file is read at the next probe.
    pub fn get(
        &self,
        ca_file: Option<&Path>,
        insecure: bool,
    ) -> Result<Arc<ClientConfig>, Outcome> {
        let key = (ca_file.map(Path::to_path_buf), insecure);
        if let Some(c) = self.0.lock().expect("tls configs poisoned").get(&key) {
            return Ok(c.clone());
        }
        let config = client_config(ca_file, insecure)?;
        self.0
            .lock()
            .expect("tls configs poisoned")
            .insert(key, config.clone());
        Ok(config)
    }
}

/// The rustls configuration for a check: trusting `ca_file`'s certificates (else the system's),
/// or any certificate when `insecure`.
fn client_config(ca_file: Option<&Path>, insecure: bool) -> Result<Arc<ClientConfig>, Outcome> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Outcome::failure(FailureReason::AgentError, e.to_string()))?;
    if insecure {
        let config = builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
            .with_no_client_auth();
        return Ok(Arc::new(config));
    }
    let mut roots = RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let pem = std::fs::read(path).map_err(|e| {
                Outcome::failure(
                    FailureReason::ConfigError,
                    format!("cannot read ca_file {}: {e}", path.display()),
                )
            })?;
            let (added, _) =
                roots.add_parsable_certificates(rustls_pemfile_certs(&pem).map_err(|e| {
                    Outcome::failure(
                        FailureReason::ConfigError,
                        format!("ca_file {}: {e}", path.display()),
                    )
                })?);
            if added == 0 {
                return Err(Outcome::failure(
                    FailureReason::ConfigError,
                    format!("ca_file {} holds no certificate", path.display()),
                ));
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(found.certs);
        }
    }
    Ok(Arc::new(
        builder.with_root_certificates(roots).with_no_client_auth(),
    ))
}

/// The certificates of a PEM file.
fn rustls_pemfile_certs(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    use rustls::pki_types::pem::PemObject;
    CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())
}

/// The TLS handshake as `host` (a name or an IP literal) over `stream`; a failure is
/// `tls_error` (an expired or untrusted certificate among them) or the socket's error.
pub async fn handshake<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    host: &str,
    config: Arc<ClientConfig>,
) -> Result<TlsStream<S>, Outcome> {
    let name = ServerName::try_from(host.to_string()).map_err(|e| {
        Outcome::failure(
            FailureReason::ConfigError,
            format!("`{host}` is no TLS server name: {e}"),
        )
    })?;
    tokio_rustls::TlsConnector::from(config)
        .connect(name, stream)
        .await
        .map_err(|e| classify_io(&e, "TLS handshake"))
}

/// An I/O error of a TLS stream: `tls_error` when rustls refused, else the socket's reason.
pub fn classify_io(e: &std::io::Error, step: &str) -> Outcome {
    let tls = e
        .get_ref()
        .is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some());
    let reason = if tls {
        FailureReason::TlsError
    } else {
        FailureReason::from_io(e)
    };
    Outcome::failure(reason, format!("{step}: {e}"))
}

/// The leaf certificate's days left from `now` (negative once expired).
pub fn days_left(der: &[u8], now: DateTime<Utc>) -> Option<f64> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let not_after = cert.validity().not_after.timestamp();
    Some((not_after - now.timestamp()) as f64 / 86_400.0)
}

/// The days left of the stream's server certificate as a value, and a finding under
/// `min_days` (default 14).
pub fn judge_certificate(
    out: &mut Outcome,
    der: Option<&[u8]>,
    now: DateTime<Utc>,
    min_days: Option<u32>,
) {
    let Some(days) = der.and_then(|d| days_left(d, now)) else {
        return;
    };
    out.number(readings::TLS_CERT_DAYS_LEFT, days);
    let min = f64::from(min_days.unwrap_or(14));
    if days < 0.0 {
        out.finding("tls_certificate_expired", "the TLS certificate has expired");
    } else if days < min {
        out.finding(
            readings::TLS_CERTIFICATE_EXPIRING,
            format!("the TLS certificate expires in {days:.0} days (minimum {min:.0})"),
        );
    }
}

/// The server certificate of a client stream.
pub fn peer_certificate<S>(stream: &TlsStream<S>) -> Option<&[u8]> {
    stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| c.as_ref())
}

/// `insecure_skip_verify`: any certificate is accepted (signatures are still checked).
#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
