//! SNMP probe: GETs and bulk walks by device-class profile, v1/v2c and v3 (USM).
//!
//! - [`client`]: our narrow [`SnmpClient`] trait (GET many, walk a subtree) and its async-snmp
//!   implementation; one UDP socket shared by all targets.
//! - [`profiles`]: what each profile asks for and the shared reading helpers; [`switch`],
//!   [`ups`] and [`printer`] hold the profiles with real logic.
//!
//! - [`diagnose`]: after a timeout, one engine-discovery request tells a closed port
//!   (`connection_refused`) from an agent that ignores our credentials and from silence, and
//!   the failure's detail says what to check.
//!
//! Credentials are resolved once in [`SnmpProber::new`] (secrets from environment variables or
//! files); a missing secret is a setup error naming the credentials id and where it looked. The
//! time the prober is built at (from the agent's clock) seeds SNMPv3 DES salts.
//! Secrets never reach Debug output, logs, errors or results. The prober remembers the last
//! sysUpTime per target and adds the finding `rebooted` when it goes backwards (not on a 32-bit
//! wrap; a sysUpTime of 0 is no reading). For UPSes it also remembers the MIB each device
//! speaks (see [`ups`]) and logs the unknown-MIB warning once per device. Beside any profile
//! it walks LLDP and CDP neighbours ([`lldp`]) when they are due: first probe, every
//! `lldp_interval` (1 h) after, and after a restart; a walk that fails or runs out of the
//! probe's time is left for the next probe and does not fail this one.

pub mod client;
pub mod diagnose;
pub mod lldp;
pub mod printer;
pub mod profiles;
pub mod registry;
pub mod switch;
pub mod ups;

use super::{resolve, FailureReason, Outcome, Prober, SetupError, Target};
use crate::config::{SnmpCheck, SnmpCredentials, SnmpVersion, UpsMib};
use chrono::{DateTime, Utc};
use client::{ClientCredentials, ClientError, Oid, RequestOptions, SnmpClient, SnmpSession};
use diagnose::Silence;
use futures::future::join_all;
use profiles::{uptime_went_backwards, Context, Object, Profile, Readings};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

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
    /// UPS: the MIB detected per target and agent address.
    ups_mibs: Mutex<HashMap<String, UpsMib>>,
    /// UPS: targets whose unknown-MIB warning has been logged.
    warned: Mutex<HashSet<String>>,
    /// When neighbours were last walked per target and agent address, and its uptime then.
    neighbors_walked: Mutex<HashMap<String, (Instant, Option<u32>)>>,
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
    /// `started` is now on the agent's clock: the boots epoch of DES salts (see
    /// [`ClientCredentials::usm`]).
    pub fn new(
        creds: &[SnmpCredentials],
        base: &Path,
        started: DateTime<Utc>,
    ) -> Result<SnmpProber, SetupError> {
        let mut credentials = BTreeMap::new();
        for c in creds {
            let id = c.id.value.clone();
            credentials.insert(id, resolve_credentials(c, base, started)?);
        }
        Ok(SnmpProber {
            credentials,
            session: SnmpSession::new(),
            uptimes: Mutex::new(HashMap::new()),
            ups_mibs: Mutex::new(HashMap::new()),
            warned: Mutex::new(HashSet::new()),
            neighbors_walked: Mutex::new(HashMap::new()),
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

    fn remembered_mib(&self, key: &str) -> Option<UpsMib> {
        let map = self.ups_mibs.lock().unwrap_or_else(|e| e.into_inner());
        map.get(key).copied()
    }

    fn remember_mib(&self, key: &str, mib: Option<UpsMib>) {
        let mut map = self.ups_mibs.lock().unwrap_or_else(|e| e.into_inner());
        match mib {
            Some(m) => map.insert(key.to_string(), m),
            None => map.remove(key),
        };
    }

    /// True the first time for `key`: the unknown-MIB warning is logged once per device.
    fn first_warning(&self, key: &str) -> bool {
        let mut set = self.warned.lock().unwrap_or_else(|e| e.into_inner());
        set.insert(key.to_string())
    }

    /// Claims the neighbour walk of `key` when it is due (see [`lldp::due`]): marked as walked
    /// now, so concurrent probes of the device do not walk too. Returns what was marked before
    /// (to put back should the walk not finish), `None` when not due.
    fn claim_neighbors(
        &self,
        key: &str,
        spec: &SnmpCheck,
        uptime: Option<u32>,
    ) -> Option<Option<(Instant, Option<u32>)>> {
        let mut map = self
            .neighbors_walked
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let last = map.get(key).map(|(at, ticks)| lldp::Walked {
            elapsed: at.elapsed(),
            uptime_ticks: *ticks,
        });
        let interval = spec.lldp_interval.map_or(lldp::DEFAULT_INTERVAL, |d| d.0);
        if !lldp::due(last, interval, uptime) {
            return None;
        }
        Some(map.insert(key.to_string(), (Instant::now(), uptime)))
    }

    /// Puts back what was marked before a claimed walk that did not finish.
    fn unclaim_neighbors(&self, key: &str, before: Option<(Instant, Option<u32>)>) {
        let mut map = self
            .neighbors_walked
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        match before {
            Some(b) => map.insert(key.to_string(), b),
            None => map.remove(key),
        };
    }

    /// Walks LLDP/CDP within what is left of the probe's time; `None` when it did not finish.
    async fn walk_neighbors<C: SnmpClient>(
        &self,
        client: &C,
        profile: &Profile,
        left: Duration,
    ) -> Option<Readings> {
        let mut columns: Vec<Object> = lldp::COLUMNS.to_vec();
        let named = |o: &Object| profile.columns.iter().any(|c| c.key == o.key);
        columns.extend(lldp::INTERFACE_NAMES.iter().filter(|o| !named(o)));
        let read = read_objects(client, lldp::SCALARS, &columns);
        match tokio::time::timeout(left, read).await {
            Ok(Ok(r)) => Some(r),
            Ok(Err(ClientError::Protocol(_))) => Some(Readings::default()),
            Ok(Err(e)) => {
                tracing::debug!("neighbour walk left for the next probe: {e}");
                None
            }
            Err(_) => None,
        }
    }

    /// Remembers this uptime (per target and agent address); returns the previous one when
    /// the uptime went backwards since the last probe.
    fn note_uptime(&self, key: &str, ticks: u32) -> Option<u32> {
        let mut map = self.uptimes.lock().unwrap_or_else(|e| e.into_inner());
        let previous = map.insert(key.to_string(), ticks)?;
        uptime_went_backwards(previous, ticks).then_some(previous)
    }
}

fn resolve_credentials(
    c: &SnmpCredentials,
    base: &Path,
    started: DateTime<Utc>,
) -> Result<ClientCredentials, SetupError> {
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
            ClientCredentials::usm(user, auth, privacy, c.context_name.as_deref(), started)
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
        // Part of the timeout is kept for asking why, should the agent not answer.
        let wait = diagnose_wait(timeout);
        let timeout = timeout.saturating_sub(wait);
        let options = request_options(spec, timeout);
        let client = self
            .session
            .client(peer, creds, options)
            .await
            .map_err(|e| failure(&e, peer))?;
        let key = format!("{}@{peer}", target.id());
        let is_ups = profile.name == ups::PROFILE.name;
        // Boxed: keeps the probe's future shallow for the callers' layout computation.
        type Read<'a> = std::pin::Pin<
            Box<
                dyn std::future::Future<Output = Result<(Readings, Option<UpsMib>), ClientError>>
                    + Send
                    + 'a,
            >,
        >;
        let read: Read<'_> = if is_ups {
            let remembered = self.remembered_mib(&key);
            Box::pin(ups::read::read(&client, spec.mib, remembered))
        } else {
            Box::pin(async { read_profile(&client, &profile).await.map(|r| (r, None)) })
        };
        let started = Instant::now();
        let (mut readings, mib) = match tokio::time::timeout(timeout, read).await {
            Ok(Ok(read)) => read,
            Ok(Err(e @ ClientError::Timeout(_))) | Ok(Err(e @ ClientError::Io { .. })) => {
                return Err(unanswered(peer, creds, spec, Some(&e), timeout, wait).await)
            }
            Ok(Err(e)) => return Err(failure(&e, peer)),
            Err(_) => return Err(unanswered(peer, creds, spec, None, timeout, wait).await),
        };
        if is_ups && spec.mib.is_none() {
            self.remember_mib(&key, mib);
        }
        // A configured MIB that did not answer is still passed on: the warning names it.
        // Evaluated (and the uptime noted) before the neighbour walk, so concurrent probes of
        // one device note their uptimes in the order they read them.
        let mut out = self.evaluate(target, &key, spec, &profile, &readings, mib.or(spec.mib));
        let uptime = readings.uptime_ticks();
        if let Some(before) = self.claim_neighbors(&key, spec, uptime) {
            let left = timeout.saturating_sub(started.elapsed());
            match self.walk_neighbors(&client, &profile, left).await {
                Some(more) => {
                    readings.scalars.extend(more.scalars);
                    readings.columns.extend(more.columns);
                    lldp::read(&readings, &mut out);
                }
                None => self.unclaim_neighbors(&key, before),
            }
        }
        if is_ups && mib.is_none() && self.first_warning(&key) {
            if let Some(w) = &out.detail {
                tracing::warn!(device = %target.id(), "{w}");
            }
        }
        Ok(out)
    }

    fn evaluate(
        &self,
        target: &Target<'_>,
        key: &str,
        spec: &SnmpCheck,
        profile: &Profile,
        readings: &Readings,
        ups_mib: Option<UpsMib>,
    ) -> Outcome {
        let ctx = Context {
            min_runtime_minutes: target.min_runtime_minutes(),
            uplinks: spec.uplinks.clone(),
            supply_low_ratio: spec.supply_low_ratio.unwrap_or(DEFAULT_SUPPLY_LOW_RATIO),
            ups_mib,
        };
        let mut out = Outcome::success();
        (profile.read)(readings, &ctx, &mut out);
        if let Some(ticks) = readings.uptime_ticks() {
            if let Some(previous) = self.note_uptime(key, ticks) {
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

/// The part of a probe's timeout kept for [`diagnose`]: a fifth, 100 ms to 1 s, at most half.
fn diagnose_wait(timeout: Duration) -> Duration {
    (timeout / 5)
        .clamp(Duration::from_millis(100), Duration::from_secs(1))
        .min(timeout / 2)
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

/// GETs the profile's scalars and walks its columns, concurrently; then its fallback columns
/// if the profile needs them.
///
/// A part the agent answers with a protocol error (an error status, a walk it breaks off) is
/// left out and the rest is read; only when nothing at all could be read is that error returned.
/// Timeouts, authentication and socket errors fail the whole read.
pub async fn read_profile<C: SnmpClient>(
    client: &C,
    profile: &Profile,
) -> Result<Readings, ClientError> {
    let mut readings = read_objects(client, profile.scalars, profile.columns).await?;
    if !profile.fallback.is_empty() && (profile.needs_fallback)(&readings) {
        match read_objects(client, &[], profile.fallback).await {
            Ok(more) => readings.columns.extend(more.columns),
            Err(ClientError::Protocol(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(readings)
}

/// [`read_profile`] for any list of scalars and columns.
pub async fn read_objects<C: SnmpClient>(
    client: &C,
    scalars: &[Object],
    columns: &[Object],
) -> Result<Readings, ClientError> {
    let scalar_oids: Vec<Oid> = scalars.iter().map(|o| Oid::of(o.oid)).collect();
    let scalars_read = async {
        if scalar_oids.is_empty() {
            Ok(Vec::new())
        } else {
            client.get(&scalar_oids).await
        }
    };
    let walks = join_all(columns.iter().map(|c| client.walk_oid(c.oid)));
    let (got, walks) = futures::join!(scalars_read, walks);
    let mut readings = Readings::default();
    let mut skipped = None;
    for (oid, value) in tolerate(got, &mut skipped)?.unwrap_or_default() {
        readings.put_scalar(scalars, &oid, value);
    }
    for (column, rows) in columns.iter().zip(walks) {
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

/// The failure for an agent that did not answer in time (or a socket error): asks
/// [`diagnose`] once and says what to check.
async fn unanswered(
    peer: SocketAddr,
    creds: &ClientCredentials,
    spec: &SnmpCheck,
    error: Option<&ClientError>,
    timeout: Duration,
    wait: Duration,
) -> Outcome {
    if let Some(e @ ClientError::Io { .. }) = error {
        return failure(e, peer);
    }
    let port = peer.port();
    let who = creds.describe();
    let port_hint = if spec.port.is_some() {
        format!("port ({port}, as configured)")
    } else {
        format!("port ({port}, the default; set `port:` if the device uses another)")
    };
    match diagnose::diagnose(peer, wait).await {
        Silence::Refused => Outcome::failure(
            FailureReason::ConnectionRefused,
            format!(
                "snmp {peer}: nothing listens on UDP port {port} (the host answered ICMP port \
                 unreachable): check the {port_hint} and that SNMP is enabled on the device"
            ),
        ),
        Silence::IgnoresUs => Outcome::failure(
            FailureReason::Timeout,
            format!(
                "snmp {peer}: no answer within {timeout:?} to {who}, although an SNMP agent \
                 answers there (SNMPv3 discovery): check the {}, and that the device's access \
                 list lets this agent's address in",
                if creds.is_v3() {
                    "v3 user, its passwords and `context_name`"
                } else {
                    "community"
                }
            ),
        ),
        Silence::Nothing => Outcome::failure(
            FailureReason::Timeout,
            format!(
                "snmp {peer}: no answer within {timeout:?} to {who}, and no ICMP port \
                 unreachable either: check that the device is up and reachable, the \
                 {port_hint}, the {} (agents drop a wrong one silently), and the device's \
                 access list",
                if creds.is_v3() {
                    "v3 user"
                } else {
                    "community"
                }
            ),
        ),
    }
}

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
