//! What the login probes (`ldap`, `imap`, `smtp`, `smb`) share besides TLS: the folder their
//! password files are read from, the clock certificates' days left are counted from, their TLS
//! client configurations (built once per CA setting), reading a password at probe time (a file
//! that changed is read anew; a missing one fails the probe with `config_error`, naming the
//! file, never the value), and the timeout around a whole session ([`within`]).

use super::{FailureReason, Outcome};
use crate::config::{Secret, SecretRef};
use chrono::{DateTime, Utc};
use driftvakt_common::clock::Clock;
use std::path::PathBuf;
use std::sync::Arc;

/// Where a login probe reads its secrets and its time.
#[derive(Clone)]
pub struct Account {
    /// The folder relative secret files are read from (the configuration file's).
    pub base: PathBuf,
    pub clock: Arc<dyn Clock>,
    /// TLS client configurations, shared by the login probers.
    pub tls: Arc<super::tls::Configs>,
}

impl Account {
    /// The secret `what` (`password`, `bind_password`) refers to.
    pub fn secret(&self, r: Option<&SecretRef>, what: &str) -> Result<Secret, Outcome> {
        let r = r.ok_or_else(|| {
            Outcome::failure(FailureReason::ConfigError, format!("no `{what}:` set"))
        })?;
        r.resolve(&self.base)
            .map_err(|e| Outcome::failure(FailureReason::ConfigError, format!("{what}: {e}")))
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }
}

/// Seconds since `started`, for a step's value.
pub fn seconds(started: std::time::Instant) -> f64 {
    started.elapsed().as_secs_f64()
}

/// Runs a login probe's `session` within `timeout`: its outcome whether it passed (`Ok`) or
/// failed at a step (`Err`), or `timeout` naming the kind when the server did not answer in time.
pub async fn within(
    kind: &str,
    timeout: std::time::Duration,
    session: impl std::future::Future<Output = Result<Outcome, Outcome>>,
) -> Outcome {
    match tokio::time::timeout(timeout, session).await {
        Ok(Ok(out)) | Ok(Err(out)) => out,
        Err(_) => Outcome::failure(
            FailureReason::Timeout,
            format!("{kind}: no answer within {timeout:?}"),
        ),
    }
}
