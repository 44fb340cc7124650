//! SNMP probe: GETs and bulk walks by device-class profile, v1/v2c and v3 (USM).
//!
//! - [`client`]: our narrow [`SnmpClient`] trait (GET many, walk a subtree) and its async-snmp
//!   implementation; one UDP socket shared by all targets.
//! - [`profiles`]: what each profile asks for and the shared reading helpers; [`switch`],
//!   [`ups`] and [`printer`] hold the profiles with real logic.
//!
//! Credentials are resolved once in [`SnmpProber::new`] (secrets from environment variables or
//! files); a missing secret is a setup error naming the credentials id and where it looked.
//! Secrets never reach Debug output, logs, errors or results. The prober remembers the last
//! sysUpTime per target and adds the finding `rebooted` when it goes backwards (not on a 32-bit
//! wrap).

pub mod client;
pub mod printer;
pub mod profiles;
pub mod switch;
pub mod ups;

use super::{resolve, FailureReason, Outcome, Prober, SetupError, Target};
use crate::config::{SnmpCheck, SnmpCredentials, SnmpVersion};
use client::{ClientCredentials, ClientError, Oid, RequestOptions, SnmpClient, SnmpSession};
use futures::future::join_all;
use profiles::{uptime_went_backwards, Context, Profile, Readings};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

/// Default UDP port.
const SNMP_PORT: u16 = 161;
/// Default retries after a timeout.
const DEFAULT_RETRIES: u32 = 1;
/// Default printer supply ratio under which a printer is degraded.
const DEFAULT_SUPPLY_LOW_RATIO: f64 = 0.1;

/// The SNMP prober: resolved credentials, the shared session, and the last uptime per target.
pub struct SnmpProber {
    credentials: BTreeMap<String, ClientCredentials>,
    session: SnmpSession,
    uptimes: Mutex<HashMap<String, u32>>,
}

impl fmt::Debug for SnmpProber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SnmpProber")
            .field("credentials", &self.credentials)
            .finish_non_exhaustive()
    }
}

impl SnmpProber {
    /// Resolves every credential's secrets (relative files against `base`, the config's folder).
    pub fn new(creds: &[SnmpCredentials], base: &Path) -> Result<SnmpProber, SetupError> {
        let mut credentials = BTreeMap::new();
        for c in creds {
            let id = c.id.value.clone();
            credentials.insert(id, resolve_credentials(c, base)?);
        }
        Ok(SnmpProber {
            credentials,
            session: SnmpSession::new(),
            uptimes: Mutex::new(HashMap::new()),
        })
    }

    /// The one UDP socket all SNMP probes use, once the first probe has bound it.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.session.local_addr()
    }

    fn credentials_for(&self, spec: &SnmpCheck) -> Result<&ClientCredentials, Outcome> {
        let found = match &spec.credentials {
            Some(id) => self.credentials.get(id),
            None if self.credentials.len() == 1 => self.credentials.values().next(),
            None => None,
        };
        found.ok_or_else(|| {
            let wanted = spec.credentials.as_deref().unwrap_or("(none named)");
            Outcome::failure(
                FailureReason::ConfigError,
                format!(
                    "snmp check: credentials `{wanted}` are not defined under snmp_credentials"
                ),
            )
        })
    }

    /// Remembers this uptime (per target and agent address); returns the previous one when
    /// the uptime went backwards since the last probe.
    fn note_uptime(&self, key: &str, ticks: u32) -> Option<u32> {
        let mut map = self.uptimes.lock().unwrap_or_else(|e| e.into_inner());
        let previous = map.insert(key.to_string(), ticks)?;
        uptime_went_backwards(previous, ticks).then_some(previous)
    }
}

fn resolve_credentials(c: &SnmpCredentials, base: &Path) -> Result<ClientCredentials, SetupError> {
    let id = &c.id.value;
    let secret = |what: &str, r: &Option<crate::config::SecretRef>| match r {
        Some(r) => r
            .resolve(base)
            .map(Some)
            .map_err(|e| SetupError::Snmp(format!("snmp_credentials `{id}`: {what}: {e}"))),
        None => Ok(None),
    };
    match c.version {
        SnmpVersion::V1 | SnmpVersion::V2c => {
            let community = secret("community", &c.community)?.ok_or_else(|| {
                SetupError::Snmp(format!("snmp_credentials `{id}`: no community given"))
            })?;
            Ok(ClientCredentials::community(c.version, &community))
        }
        SnmpVersion::V3 => {
            let user = c.user.as_deref().ok_or_else(|| {
                SetupError::Snmp(format!("snmp_credentials `{id}`: v3 needs `user:`"))
            })?;
            let auth = secret("auth_password", &c.auth_password)?;
            let privacy = secret("priv_password", &c.priv_password)?;
            let auth = c.auth_protocol.zip(auth.as_ref());
            let privacy = c.priv_protocol.zip(privacy.as_ref());
            ClientCredentials::usm(user, auth, privacy)
                .map_err(|e| SetupError::Snmp(format!("snmp_credentials `{id}`: {e}")))
        }
    }
}

impl Prober for SnmpProber {
    type Spec = SnmpCheck;

    async fn probe(&self, target: &Target<'_>, spec: &SnmpCheck, timeout: Duration) -> Outcome {
        match self.try_probe(target, spec, timeout).await {
            Ok(o) | Err(o) => o,
        }
    }
}

impl SnmpProber {
    async fn try_probe(
        &self,
        target: &Target<'_>,
        spec: &SnmpCheck,
        timeout: Duration,
    ) -> Result<Outcome, Outcome> {
        let creds = self.credentials_for(spec)?;
        let profile = choose_profile(target, spec)?;
        let ip = resolve(target).await?;
        let peer = SocketAddr::new(ip, spec.port.unwrap_or(SNMP_PORT));
        let options = request_options(spec, timeout);
        let client = self
            .session
            .client(peer, creds, options)
            .await
            .map_err(|e| failure(&e, peer))?;
        let readings = tokio::time::timeout(timeout, read_profile(&client, &profile))
            .await
            .map_err(|_| {
                Outcome::failure(
                    FailureReason::Timeout,
                    format!(
                        "snmp {peer}: profile `{}` not read within {timeout:?}",
                        profile.name
                    ),
                )
            })?
            .map_err(|e| failure(&e, peer))?;
        if readings.is_empty() {
            return Err(Outcome::failure(
                FailureReason::NoSuchObject,
                format!(
                    "snmp {peer}: the agent answered but has none of the objects of profile `{}` \
                     (all noSuchObject/noSuchInstance)",
                    profile.name
                ),
            ));
        }
        Ok(self.evaluate(target, peer, spec, &profile, &readings))
    }

    fn evaluate(
        &self,
        target: &Target<'_>,
        peer: SocketAddr,
        spec: &SnmpCheck,
        profile: &Profile,
        readings: &Readings,
    ) -> Outcome {
        let ctx = Context {
            min_runtime_minutes: target.min_runtime_minutes(),
            uplinks: spec.uplinks.clone(),
            supply_low_ratio: spec.supply_low_ratio.unwrap_or(DEFAULT_SUPPLY_LOW_RATIO),
        };
        let mut out = Outcome::success();
        (profile.read)(readings, &ctx, &mut out);
        if let Some(ticks) = readings.uptime_ticks() {
            let key = format!("{}@{peer}", target.id());
            if let Some(previous) = self.note_uptime(&key, ticks) {
                out.finding(
                    "rebooted",
                    format!(
                        "sysUpTime went back from {} s to {} s: the device restarted",
                        previous / 100,
                        ticks / 100
                    ),
                );
            }
        }
        out
    }
}

fn choose_profile(target: &Target<'_>, spec: &SnmpCheck) -> Result<Profile, Outcome> {
    match &spec.profile {
        None => Ok(Profile::for_class(target.class())),
        Some(name) => Profile::by_name(name).ok_or_else(|| {
            Outcome::failure(
                FailureReason::ConfigError,
                format!(
                    "unknown snmp profile `{name}`; built-in profiles: {}",
                    Profile::names().join(", ")
                ),
            )
        }),
    }
}

/// Each request gets an equal share of the probe's timeout, so retries fit inside it.
fn request_options(spec: &SnmpCheck, timeout: Duration) -> RequestOptions {
    let retries = spec.retries.unwrap_or(DEFAULT_RETRIES);
    let share = timeout / (retries.saturating_add(1));
    RequestOptions {
        request_timeout: share.max(Duration::from_millis(50)),
        retries,
    }
}

/// GETs the profile's scalars and walks its columns, concurrently.
///
/// A part the agent answers with a protocol error (an error status, a walk it breaks off) is
/// left out and the rest is read; only when nothing at all could be read is that error returned.
/// Timeouts, authentication and socket errors fail the whole read.
pub async fn read_profile<C: SnmpClient>(
    client: &C,
    profile: &Profile,
) -> Result<Readings, ClientError> {
    let scalar_oids: Vec<Oid> = profile.scalars.iter().map(|o| Oid::of(o.oid)).collect();
    let scalars = async {
        if scalar_oids.is_empty() {
            Ok(Vec::new())
        } else {
            client.get(&scalar_oids).await
        }
    };
    let walks = join_all(profile.columns.iter().map(|c| client.walk_oid(c.oid)));
    let (scalars, columns) = futures::join!(scalars, walks);
    let mut readings = Readings::default();
    let mut skipped = None;
    for (oid, value) in tolerate(scalars, &mut skipped)?.unwrap_or_default() {
        readings.put_scalar(profile.scalars, &oid, value);
    }
    for (column, rows) in profile.columns.iter().zip(columns) {
        if let Some(rows) = tolerate(rows, &mut skipped)? {
            readings.put_column(column, rows);
        }
    }
    match skipped {
        Some(e) if readings.is_empty() => Err(e),
        _ => Ok(readings),
    }
}

/// Passes a protocol error by (remembering the first), fails on any other.
fn tolerate<T>(
    result: Result<T, ClientError>,
    skipped: &mut Option<ClientError>,
) -> Result<Option<T>, ClientError> {
    match result {
        Ok(v) => Ok(Some(v)),
        Err(e @ ClientError::Protocol(_)) => {
            skipped.get_or_insert(e);
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Walk by a dotted OID literal.
trait WalkOid: SnmpClient {
    async fn walk_oid(&self, oid: &str) -> client::Answer {
        self.walk(&Oid::of(oid)).await
    }
}

impl<C: SnmpClient> WalkOid for C {}

/// Maps a client error to the probe's failure reason, with a detail for a technician.
fn failure(e: &ClientError, peer: SocketAddr) -> Outcome {
    let reason = match e {
        ClientError::Timeout(_) => FailureReason::Timeout,
        ClientError::Auth(_) => FailureReason::SnmpAuth,
        ClientError::Io { kind, errno, .. } => FailureReason::from_io(&errno.map_or_else(
            || std::io::Error::from(*kind),
            std::io::Error::from_raw_os_error,
        )),
        ClientError::Protocol(_) => FailureReason::SnmpError,
        ClientError::Config(_) => FailureReason::ConfigError,
    };
    Outcome::failure(reason, format!("snmp {peer}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::client::{Answer, SnmpValue};
    use super::*;

    /// A scripted agent: answers GETs with sysUpTime, and walks by a per-subtree script.
    struct Scripted {
        walk: fn(&Oid) -> Answer,
    }

    impl SnmpClient for Scripted {
        async fn get(&self, oids: &[Oid]) -> Answer {
            Ok(oids
                .iter()
                .map(|o| (o.clone(), SnmpValue::NoSuchObject))
                .collect())
        }
        async fn walk(&self, root: &Oid) -> Answer {
            (self.walk)(root)
        }
    }

    fn refuse_ifxtable(root: &Oid) -> Answer {
        if root.0.starts_with(&[1, 3, 6, 1, 2, 1, 31]) {
            return Err(ClientError::Protocol("genErr".into()));
        }
        let mut row = root.clone();
        row.0.push(7);
        Ok(vec![(row, SnmpValue::Integer(1))])
    }

    #[tokio::test]
    async fn a_refused_column_is_left_out_and_the_rest_read() {
        let client = Scripted {
            walk: refuse_ifxtable,
        };
        let r = read_profile(&client, &switch::PROFILE).await.unwrap();
        assert!(r.column("if_name").is_empty());
        assert_eq!(r.column("if_oper_status").len(), 1);
    }

    #[tokio::test]
    async fn nothing_readable_returns_the_protocol_error_and_timeouts_fail() {
        let client = Scripted {
            walk: |_| Err(ClientError::Protocol("genErr".into())),
        };
        let e = read_profile(&client, &printer::PROFILE).await.unwrap_err();
        assert_eq!(e, ClientError::Protocol("genErr".into()));
        let client = Scripted {
            walk: |_| Err(ClientError::Timeout("no answer".into())),
        };
        let e = read_profile(&client, &switch::PROFILE).await.unwrap_err();
        assert!(matches!(e, ClientError::Timeout(_)));
    }
}
