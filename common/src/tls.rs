//! Certificate files (PEM) as the agent and the collector use them for TLS: reading a
//! certificate chain, a private key and a CA file, and the checks `check-config` and `run` make
//! on them ([`check_pair`]): both files readable by the process, the key belonging to the first
//! certificate, that certificate not expired (nor valid only in the future), and a warning when
//! it expires within [`EXPIRY_WARNING_DAYS`] or when everyone may read the key. Also the names a
//! client certificate gives its subject ([`subject_names`]), which the collector compares with
//! an agent's id.

use chrono::{DateTime, Utc};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A certificate expiring within this many days is a warning of `check-config` and `run`.
pub const EXPIRY_WARNING_DAYS: i64 = 30;

/// A certificate file, key file or CA file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsFileError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} holds no PEM certificate")]
    NoCertificate { path: PathBuf },
    #[error("{path} holds no PEM private key")]
    NoKey { path: PathBuf },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("the key {key} does not belong to the certificate {cert}")]
    Mismatch { cert: PathBuf, key: PathBuf },
    #[error("the certificate {path} expired at {at} (renew it)")]
    Expired { path: PathBuf, at: DateTime<Utc> },
    #[error("the certificate {path} is valid only from {at}")]
    NotYetValid { path: PathBuf, at: DateTime<Utc> },
}

/// A certificate chain with its key, checked to belong together, and its validity.
#[derive(Debug, Clone)]
pub struct CertPair {
    pub key: Arc<CertifiedKey>,
    pub not_before: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
}

impl CertPair {
    /// Reads and checks `cert` and `key` (see the module doc; the validity against `now` is
    /// [`CertPair::check_validity`]'s).
    pub fn load(cert: &Path, key: &Path) -> Result<CertPair, TlsFileError> {
        let chain = read_certificates(cert)?;
        let key_pem = read(key)?;
        let der = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| match e {
            rustls::pki_types::pem::Error::NoItemsFound => TlsFileError::NoKey {
                path: key.to_path_buf(),
            },
            e => invalid(key, e),
        })?;
        let signer =
            rustls::crypto::ring::sign::any_supported_type(&der).map_err(|e| invalid(key, e))?;
        let (not_before, not_after) = validity(cert, &chain[0])?;
        let certified = CertifiedKey::new(chain, signer);
        certified.keys_match().map_err(|_| TlsFileError::Mismatch {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
        })?;
        Ok(CertPair {
            key: Arc::new(certified),
            not_before,
            not_after,
        })
    }

    /// An error when the certificate is expired or not yet valid at `now`.
    pub fn check_validity(&self, path: &Path, now: DateTime<Utc>) -> Result<(), TlsFileError> {
        if now >= self.not_after {
            return Err(TlsFileError::Expired {
                path: path.to_path_buf(),
                at: self.not_after,
            });
        }
        if now < self.not_before {
            return Err(TlsFileError::NotYetValid {
                path: path.to_path_buf(),
                at: self.not_before,
            });
        }
        Ok(())
    }

    /// Days until the certificate expires (negative once it has), at `now`.
    pub fn days_left(&self, now: DateTime<Utc>) -> f64 {
        (self.not_after - now).num_seconds() as f64 / 86_400.0
    }
}

/// What [`check_pair`] found: errors by configuration key, and warnings.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PairCheck {
    pub errors: Vec<(String, String)>,
    pub warnings: Vec<String>,
}

/// Checks the pair `cert`/`key` at `now`; problems are reported under the configuration keys
/// `cert_key` and `key_key` (e.g. `collector.tls.cert`, `collector.tls.key`).
pub fn check_pair(
    cert: &Path,
    key: &Path,
    now: DateTime<Utc>,
    cert_key: &str,
    key_key: &str,
) -> PairCheck {
    let mut found = PairCheck::default();
    let mut error = |k: &str, e: TlsFileError| found.errors.push((k.to_string(), e.to_string()));
    match CertPair::load(cert, key) {
        Ok(pair) => match pair.check_validity(cert, now) {
            Ok(()) => {
                let days = pair.days_left(now);
                if days < EXPIRY_WARNING_DAYS as f64 {
                    found.warnings.push(format!(
                        "{cert_key}: the certificate {} expires in {:.0} days ({}): renew it",
                        cert.display(),
                        days.floor(),
                        pair.not_after.format("%Y-%m-%d %H:%M UTC")
                    ));
                }
            }
            Err(e) => error(cert_key, e),
        },
        Err(e @ (TlsFileError::Mismatch { .. } | TlsFileError::NoKey { .. })) => error(key_key, e),
        Err(e) if error_path(&e) == Some(key) => error(key_key, e),
        Err(e) => error(cert_key, e),
    }
    if let Some(w) = readable_by_others(key, key_key) {
        found.warnings.push(w);
    }
    found
}

/// Every certificate of a PEM file, at least one.
pub fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsFileError> {
    let pem = read(path)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(path, e))?;
    if certs.is_empty() {
        return Err(TlsFileError::NoCertificate {
            path: path.to_path_buf(),
        });
    }
    Ok(certs)
}

/// The names a certificate gives its subject: the common name, then the DNS names (each once).
pub fn subject_names(der: &CertificateDer<'_>) -> Vec<String> {
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(der) else {
        return Vec::new();
    };
    let mut names: Vec<String> = cert
        .subject()
        .iter_common_name()
        .filter_map(|cn| cn.as_str().ok().map(str::to_string))
        .collect();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                x509_parser::extensions::GeneralName::DNSName(dns)
                    if !names.iter().any(|n| n == dns) =>
                {
                    names.push(dns.to_string())
                }
                _ => {}
            }
        }
    }
    names
}

fn validity(
    path: &Path,
    der: &CertificateDer<'_>,
) -> Result<(DateTime<Utc>, DateTime<Utc>), TlsFileError> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).map_err(|e| invalid(path, e))?;
    let at = |t: x509_parser::time::ASN1Time| {
        DateTime::from_timestamp(t.timestamp(), 0).ok_or_else(|| {
            invalid(
                path,
                format!("validity date out of range: {}", t.timestamp()),
            )
        })
    };
    Ok((
        at(cert.validity().not_before)?,
        at(cert.validity().not_after)?,
    ))
}

fn read(path: &Path) -> Result<Vec<u8>, TlsFileError> {
    std::fs::read(path).map_err(|source| TlsFileError::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn invalid(path: &Path, e: impl std::fmt::Display) -> TlsFileError {
    TlsFileError::Invalid {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

fn error_path(e: &TlsFileError) -> Option<&Path> {
    match e {
        TlsFileError::Read { path, .. }
        | TlsFileError::NoCertificate { path }
        | TlsFileError::NoKey { path }
        | TlsFileError::Invalid { path, .. } => Some(path),
        _ => None,
    }
}

/// A warning when others than the owner and group may read the key file.
fn readable_by_others(key: &Path, key_key: &str) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(key).ok()?.permissions().mode();
    (mode & 0o004 != 0).then(|| {
        format!(
            "{key_key}: {} is readable by everyone (mode {:o}): make it 0600 or 0640",
            key.display(),
            mode & 0o777
        )
    })
}
