//! `collector.tls`: the collector's own certificate and key (PEM files), and the CA whose client
//! certificates it accepts; how those files are read and checked. The HTTP server serves them
//! (`http::tls`), `check-config` and `run` check them first ([`TlsSettings::check`]), the
//! metrics count the certificate's days left ([`CertPair::days_left`]).
//!
//! A certificate pair is usable when both files can be read by the process, the certificate
//! file holds at least one certificate (the server's first, then its chain), the key file one
//! private key (PKCS#8, PKCS#1 or SEC1), the key belongs to the first certificate, and that
//! certificate is not expired (nor valid only in the future). One that expires within
//! [`EXPIRY_WARNING_DAYS`] is allowed, with a warning. The file checks are shared with the
//! agent (`driftvakt_common::tls`).

use chrono::{DateTime, Utc};
pub use driftvakt_common::tls::{
    check_pair, read_certificates, subject_names, CertPair, TlsFileError, EXPIRY_WARNING_DAYS,
};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// `collector.tls`: serve HTTPS (HTTP/1.1 and HTTP/2) instead of plain HTTP.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSettings {
    /// The certificate (PEM; the collector's first, then the intermediates), relative to the
    /// inventory's folder.
    pub cert: PathBuf,
    /// Its private key (PEM).
    pub key: PathBuf,
    /// Client certificates: agents must present one signed by this CA (PEM) naming their id
    /// (the subject's common name or a DNS name), checked as well as their token; other
    /// clients (browsers, Prometheus) need none.
    #[serde(default)]
    pub client_ca: Option<PathBuf>,
}

impl TlsSettings {
    /// The files resolved against the inventory's folder `base`.
    pub fn resolved(&self, base: &Path) -> TlsSettings {
        TlsSettings {
            cert: base.join(&self.cert),
            key: base.join(&self.key),
            client_ca: self.client_ca.as_ref().map(|c| base.join(c)),
        }
    }

    /// What `check-config` and `run` check (the paths resolved): the pair is usable at `now`
    /// and the client CA file holds certificates. `Err((key, message))` per problem; `Ok`
    /// the warnings (expiry within [`EXPIRY_WARNING_DAYS`], a key others may read).
    pub fn check(&self, now: DateTime<Utc>) -> Result<Vec<String>, Vec<(String, String)>> {
        let mut found = check_pair(
            &self.cert,
            &self.key,
            now,
            "collector.tls.cert",
            "collector.tls.key",
        );
        if let Some(ca) = &self.client_ca {
            if let Err(e) = read_certificates(ca) {
                found
                    .errors
                    .push(("collector.tls.client_ca".to_string(), e.to_string()));
            }
        }
        if found.errors.is_empty() {
            Ok(found.warnings)
        } else {
            Err(found.errors)
        }
    }
}
