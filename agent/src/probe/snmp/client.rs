//! Our own narrow SNMP client: GET many OIDs and walk a subtree, nothing else.
//!
//! The probe and the profiles only see [`SnmpClient`], [`Oid`], [`SnmpValue`] and [`ClientError`];
//! everything that names the `async-snmp` crate lives in this file, so another library (for
//! example `snmp2`) can replace it by reimplementing [`SnmpSession`] and [`SnmpClient`] here.
//!
//! One [`SnmpSession`] owns one UDP socket shared by every target (async-snmp correlates the
//! answers by request and message id) and one SNMPv3 engine cache; per target it hands out a
//! cheap client bound to that socket.

use crate::config::{AuthProtocol, PrivProtocol, Secret, SnmpVersion};
use async_snmp::transport::{UdpHandle, UdpTransport};
use async_snmp::{
    Auth, Client, DesSaltState, EngineCache, MasterKeys, PersistedDesSaltState, Retry, UsmConfig,
};
use chrono::{DateTime, Utc};
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::OnceCell;

/// GETBULK max-repetitions for walks: enough for a 48-port switch column in two round trips.
const MAX_REPETITIONS: u32 = 25;

/// A numeric object identifier, e.g. `1.3.6.1.2.1.1.3.0`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Oid(pub Vec<u32>);

impl Oid {
    /// Parses a dotted numeric OID; panics on a malformed literal (profiles use constants).
    pub fn of(s: &str) -> Oid {
        s.parse().unwrap_or_else(|_| panic!("bad OID literal {s}"))
    }

    /// The arcs after `prefix` when this OID lies under it (a table row index).
    pub fn suffix_after(&self, prefix: &Oid) -> Option<&[u32]> {
        self.0.strip_prefix(prefix.0.as_slice())
    }
}

impl FromStr for Oid {
    type Err = std::num::ParseIntError;
    fn from_str(s: &str) -> Result<Oid, Self::Err> {
        let arcs = s.trim_start_matches('.').split('.').map(str::parse);
        Ok(Oid(arcs.collect::<Result<_, _>>()?))
    }
}

impl fmt::Display for Oid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.0.iter().map(u32::to_string).collect();
        f.write_str(&parts.join("."))
    }
}

/// A value as the profiles read it; the SNMP types that matter here, plus the exceptions.
#[derive(Debug, Clone, PartialEq)]
pub enum SnmpValue {
    /// INTEGER (enumerations, UPS-MIB readings, printer levels).
    Integer(i64),
    /// Counter32, Gauge32, Unsigned32 and Counter64.
    Unsigned(u64),
    /// TimeTicks: hundredths of a second, unsigned 32-bit (wraps after 497 days).
    TimeTicks(u32),
    /// OCTET STRING (text or binary).
    Bytes(Vec<u8>),
    /// OBJECT IDENTIFIER (sysObjectID, alarm descriptions).
    ObjectId(Oid),
    /// Any other type (OID, IP address, opaque, null).
    Other(String),
    /// The agent does not implement the object.
    NoSuchObject,
    /// The object exists but this instance does not.
    NoSuchInstance,
    /// The walk or GET ran past the agent's last object.
    EndOfMibView,
}

impl SnmpValue {
    /// True for noSuchObject, noSuchInstance and endOfMibView.
    pub fn is_missing(&self) -> bool {
        matches!(
            self,
            SnmpValue::NoSuchObject | SnmpValue::NoSuchInstance | SnmpValue::EndOfMibView
        )
    }

    /// The value as a number, if it is one.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            SnmpValue::Integer(i) => Some(*i as f64),
            SnmpValue::Unsigned(u) => Some(*u as f64),
            SnmpValue::TimeTicks(t) => Some(f64::from(*t)),
            _ => None,
        }
    }

    /// The value as an integer, if it is one.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            SnmpValue::Integer(i) => Some(*i),
            SnmpValue::Unsigned(u) => i64::try_from(*u).ok(),
            SnmpValue::TimeTicks(t) => Some(i64::from(*t)),
            _ => None,
        }
    }

    /// The value as text (octet strings lossily decoded as UTF-8, trailing NULs dropped).
    pub fn as_text(&self) -> Option<String> {
        match self {
            SnmpValue::Bytes(b) => Some(
                String::from_utf8_lossy(b)
                    .trim_end_matches('\0')
                    .trim()
                    .to_string(),
            ),
            _ => None,
        }
    }

    /// The value as an OID, if it is one.
    pub fn as_oid(&self) -> Option<&Oid> {
        match self {
            SnmpValue::ObjectId(o) => Some(o),
            _ => None,
        }
    }
}

/// What went wrong talking to an agent, classified for the probe's failure reasons.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// No answer within the request timeout, retries included.
    #[error("{0}")]
    Timeout(String),
    /// SNMPv3 authentication or decryption failed, or the user is unknown.
    #[error("{0}")]
    Auth(String),
    /// A socket error (refused, unreachable, ...).
    #[error("{message}")]
    Io {
        kind: std::io::ErrorKind,
        /// The OS error number, when there was one (EMFILE is the agent's fault, not the device's).
        errno: Option<i32>,
        message: String,
    },
    /// Any other protocol error (error status, malformed answer, aborted walk).
    #[error("{0}")]
    Protocol(String),
    /// Bad local settings (credentials, address family).
    #[error("{0}")]
    Config(String),
}

/// What a GET or a walk returns: `(oid, value)` pairs in the agent's order, or an error.
pub type Answer = Result<Vec<(Oid, SnmpValue)>, ClientError>;

/// How one target is asked: request timeout and retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestOptions {
    /// Time to wait for one answer before retrying.
    pub request_timeout: Duration,
    /// Retries after a timeout.
    pub retries: u32,
}

/// The two operations the profiles need from an SNMP library.
pub trait SnmpClient: Send + Sync {
    /// GETs `oids`; the answer has one `(oid, value)` per OID, missing objects as
    /// [`SnmpValue::NoSuchObject`] / [`SnmpValue::NoSuchInstance`].
    fn get(&self, oids: &[Oid]) -> impl Future<Output = Answer> + Send;

    /// Walks the subtree under `root` (GETBULK on v2c/v3, GETNEXT on v1); an absent subtree is
    /// an empty list.
    fn walk(&self, root: &Oid) -> impl Future<Output = Answer> + Send;
}

/// Credentials resolved once at start-up, in the library's form (password-to-key derivation
/// for SNMPv3 done here, once). Debug shows the version and user, never a secret.
#[derive(Clone)]
pub struct ClientCredentials {
    auth: Auth,
    label: String,
    /// DES privacy: the salt counter shared by every client using these credentials.
    des_salt: Option<DesSaltState>,
}

impl fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("kind", &self.label)
            .finish_non_exhaustive()
    }
}

impl ClientCredentials {
    /// v1 or v2c with a community.
    pub fn community(version: SnmpVersion, community: &Secret) -> ClientCredentials {
        let text = community.expose().to_string();
        let (auth, label) = match version {
            SnmpVersion::V1 => (Auth::v1(text), "v1"),
            _ => (Auth::v2c(text), "v2c"),
        };
        ClientCredentials {
            auth,
            label: label.to_string(),
            des_salt: None,
        }
    }

    /// SNMPv3 USM: noAuthNoPriv, authNoPriv or authPriv. `started` (now, on the agent's clock)
    /// seeds the DES salt.
    pub fn usm(
        user: &str,
        auth: Option<(AuthProtocol, &Secret)>,
        privacy: Option<(PrivProtocol, &Secret)>,
        context_name: Option<&str>,
        started: DateTime<Utc>,
    ) -> Result<ClientCredentials, ClientError> {
        let mut config = UsmConfig::new(user.as_bytes().to_vec());
        if let Some(context) = context_name {
            config = config.context_name(context.as_bytes().to_vec());
        }
        let config = match auth {
            None => config,
            Some((proto, pass)) => {
                let keys = master_keys(proto, pass, privacy)?;
                config.with_master_keys(keys).map_err(crypto_error)?
            }
        };
        let des_salt = match privacy {
            Some((PrivProtocol::Des, _)) => Some(des_salt_state(started)?),
            _ => None,
        };
        Ok(ClientCredentials {
            auth: Auth::Usm(config),
            label: match context_name {
                Some(c) => format!("v3 user {user} (context `{c}`)"),
                None => format!("v3 user {user}"),
            },
            des_salt,
        })
    }

    /// "v2c community" or "v3 user NAME" (context included), for messages; never a secret.
    pub fn describe(&self) -> String {
        match self.label.as_str() {
            "v1" | "v2c" => format!("the {} community", self.label),
            other => other.to_string(),
        }
    }

    /// Whether these are SNMPv3 (USM) credentials.
    pub fn is_v3(&self) -> bool {
        matches!(self.auth, Auth::Usm(_))
    }

    /// Whether walks may use GETBULK (v2c and v3).
    fn bulk(&self) -> bool {
        !matches!(self.auth.version(), async_snmp::Version::V1)
    }
}

fn master_keys(
    auth: AuthProtocol,
    pass: &Secret,
    privacy: Option<(PrivProtocol, &Secret)>,
) -> Result<MasterKeys, ClientError> {
    let keys =
        MasterKeys::new(auth_protocol(auth), pass.expose().as_bytes()).map_err(crypto_error)?;
    match privacy {
        None => Ok(keys),
        Some((proto, pass)) => keys
            .with_privacy(priv_protocol(proto), pass.expose().as_bytes())
            .map_err(crypto_error),
    }
}

/// DES needs a salt that never repeats for a key. The agent keeps no state on disk, so each
/// start takes the Unix time in seconds it started at as its generating-engine boots epoch:
/// distinct per start as long as starts are more than a second apart and the clock is not set
/// back.
fn des_salt_state(started: DateTime<Utc>) -> Result<DesSaltState, ClientError> {
    let now = u64::try_from(started.timestamp()).unwrap_or(1);
    let previous = u32::try_from(now.min(i32::MAX as u64 - 1)).unwrap_or(1);
    let previous = PersistedDesSaltState::new(previous).map_err(crypto_error)?;
    DesSaltState::restart(previous, |_| Ok::<(), std::io::Error>(())).map_err(crypto_error)
}

fn crypto_error(e: impl fmt::Display) -> ClientError {
    ClientError::Config(format!("SNMPv3 key setup: {e}"))
}

pub fn auth_protocol(p: AuthProtocol) -> async_snmp::AuthProtocol {
    use async_snmp::AuthProtocol as A;
    match p {
        AuthProtocol::Md5 => A::Md5,
        AuthProtocol::Sha => A::Sha1,
        AuthProtocol::Sha224 => A::Sha224,
        AuthProtocol::Sha256 => A::Sha256,
        AuthProtocol::Sha384 => A::Sha384,
        AuthProtocol::Sha512 => A::Sha512,
    }
}

/// AES-192/256 use the Blumenthal key extension, as net-snmp's `AES192`/`AES256` do.
pub fn priv_protocol(p: PrivProtocol) -> async_snmp::PrivProtocol {
    use async_snmp::PrivProtocol as P;
    match p {
        PrivProtocol::Des => P::Des,
        PrivProtocol::Aes => P::Aes128,
        PrivProtocol::Aes192 => P::Aes192Blumenthal,
        PrivProtocol::Aes256 => P::Aes256Blumenthal,
    }
}

/// One shared UDP socket (bound on first use, dual-stack where the host allows) and one
/// SNMPv3 engine cache for all targets.
#[derive(Default)]
pub struct SnmpSession {
    transport: OnceCell<UdpTransport>,
    engines: Arc<EngineCache>,
}

impl SnmpSession {
    pub fn new() -> SnmpSession {
        SnmpSession::default()
    }

    async fn transport(&self) -> Result<&UdpTransport, ClientError> {
        self.transport
            .get_or_try_init(|| async {
                match UdpTransport::bind("[::]:0").await {
                    Ok(t) => Ok(t),
                    Err(_) => UdpTransport::bind("0.0.0.0:0").await,
                }
            })
            .await
            .map_err(|e| map_error(&e))
    }

    /// The shared socket's local address, once a probe has bound it.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.transport.get().map(UdpTransport::local_addr)
    }

    /// A client for one target on the shared socket.
    pub async fn client(
        &self,
        peer: SocketAddr,
        credentials: &ClientCredentials,
        options: RequestOptions,
    ) -> Result<AsyncSnmpClient, ClientError> {
        let transport = self.transport().await?;
        let retry = Retry::fixed(options.retries, Duration::ZERO)
            .map_err(|e| ClientError::Config(format!("retries: {e}")))?;
        let mut builder = Client::builder(peer, credentials.auth.clone())
            .request_timeout(options.request_timeout)
            .retry(retry)
            .engine_cache(self.engines.clone());
        if credentials.is_v3() {
            // Agents answer a wrong password or an unknown user with an unauthenticated Report
            // (net-snmp does). async-snmp drops those by default, which turns a credentials
            // problem into a timeout; accepting them, from the target's own address only,
            // reports it as what it is. Data is still only taken from authenticated answers.
            builder = builder
                .allow_unauthenticated_v3_time_correction(true)
                .strict_source(true);
        }
        if let Some(salt) = &credentials.des_salt {
            builder = builder.des_salt_state(salt.clone());
        }
        let client = builder
            .build_with(transport)
            .await
            .map_err(|e| map_error(&e))?;
        Ok(AsyncSnmpClient {
            client,
            bulk: credentials.bulk(),
        })
    }
}

/// [`SnmpClient`] over async-snmp.
pub struct AsyncSnmpClient {
    client: Client<UdpHandle>,
    bulk: bool,
}

impl SnmpClient for AsyncSnmpClient {
    async fn get(&self, oids: &[Oid]) -> Answer {
        let lib: Vec<async_snmp::Oid> = oids.iter().map(to_lib_oid).collect();
        match self.client.get_many(&lib).await {
            Ok(r) => Ok(r.varbinds.iter().map(from_varbind).collect()),
            // SNMPv1 fails a whole GET on one missing object: ask one by one.
            Err(e) if is_no_such_name(&e) && oids.len() > 1 => self.get_one_by_one(oids).await,
            Err(e) if is_no_such_name(&e) => Ok(vec![(oids[0].clone(), SnmpValue::NoSuchObject)]),
            Err(e) => Err(map_error(&e)),
        }
    }

    async fn walk(&self, root: &Oid) -> Answer {
        let root = to_lib_oid(root);
        let stream = if self.bulk {
            self.client.bulk_walk(root, MAX_REPETITIONS)
        } else {
            self.client.walk_getnext(root)
        };
        let varbinds = stream
            .map_err(|e| map_error(&e))?
            .collect()
            .await
            .map_err(|e| map_error(&e))?;
        Ok(varbinds.iter().map(from_varbind).collect())
    }
}

impl AsyncSnmpClient {
    async fn get_one_by_one(&self, oids: &[Oid]) -> Answer {
        let mut out = Vec::with_capacity(oids.len());
        for oid in oids {
            match self.client.get(&to_lib_oid(oid)).await {
                Ok(r) => out.extend(r.varbinds.iter().map(from_varbind)),
                Err(e) if is_no_such_name(&e) => out.push((oid.clone(), SnmpValue::NoSuchObject)),
                Err(e) => return Err(map_error(&e)),
            }
        }
        Ok(out)
    }
}

fn to_lib_oid(oid: &Oid) -> async_snmp::Oid {
    async_snmp::Oid::from_slice(&oid.0)
}

fn from_varbind(vb: &async_snmp::VarBind) -> (Oid, SnmpValue) {
    (Oid(vb.oid.arcs().to_vec()), from_value(&vb.value))
}

fn from_value(v: &async_snmp::Value) -> SnmpValue {
    use async_snmp::Value as V;
    match v {
        V::Integer(i) => SnmpValue::Integer(i64::from(*i)),
        V::Counter32(u) | V::Gauge32(u) | V::UInteger32(u) => SnmpValue::Unsigned(u64::from(*u)),
        V::Counter64(u) => SnmpValue::Unsigned(*u),
        V::TimeTicks(t) => SnmpValue::TimeTicks(*t),
        V::OctetString(b) => SnmpValue::Bytes(b.to_vec()),
        V::ObjectIdentifier(o) => SnmpValue::ObjectId(Oid(o.arcs().to_vec())),
        V::NoSuchObject => SnmpValue::NoSuchObject,
        V::NoSuchInstance => SnmpValue::NoSuchInstance,
        V::EndOfMibView => SnmpValue::EndOfMibView,
        other => SnmpValue::Other(format!("{other:?}")),
    }
}

fn is_no_such_name(e: &async_snmp::Error) -> bool {
    matches!(
        e.exchange_source(),
        async_snmp::Error::Snmp {
            status: async_snmp::ErrorStatus::NoSuchName,
            ..
        }
    )
}

/// Classifies a library error; the message is the library's (it never carries secrets).
fn map_error(e: &async_snmp::Error) -> ClientError {
    use async_snmp::v3::ReportStatus as R;
    use async_snmp::Error as E;
    let source = e.exchange_source();
    match source {
        E::Timeout {
            elapsed, retries, ..
        } => ClientError::Timeout(format!("no answer within {elapsed:?} ({retries} retries)")),
        E::Auth { .. } => ClientError::Auth(
            "SNMPv3 authentication failed: the answer did not verify (check user, auth and \
             privacy passwords and protocols)"
                .to_string(),
        ),
        E::Report { status, .. } => match status.as_ref() {
            R::UnknownUserName { .. } => ClientError::Auth(
                "the agent does not know the SNMPv3 user (usmStatsUnknownUserNames)".to_string(),
            ),
            R::WrongDigest { .. } => ClientError::Auth(
                "the agent rejected the SNMPv3 authentication: wrong auth password or protocol \
                 (usmStatsWrongDigests)"
                    .to_string(),
            ),
            R::DecryptionError { .. } => ClientError::Auth(
                "the agent could not decrypt the request: wrong privacy password or protocol \
                 (usmStatsDecryptionErrors)"
                    .to_string(),
            ),
            R::UnsupportedSecurityLevel { .. } => ClientError::Auth(
                "the agent does not allow this SNMPv3 security level for the user \
                 (usmStatsUnsupportedSecLevels)"
                    .to_string(),
            ),
            other => ClientError::Protocol(format!("SNMPv3 report: {other}")),
        },
        E::Snmp { status, oid, .. } => {
            let at = oid.as_ref().map(|o| format!(" at {o}")).unwrap_or_default();
            let text = format!("the agent answered with error status {status}{at}");
            match status {
                async_snmp::ErrorStatus::AuthorizationError => ClientError::Auth(text),
                _ => ClientError::Protocol(text),
            }
        }
        E::Network { source, .. } => ClientError::Io {
            kind: source.kind(),
            errno: source.raw_os_error(),
            message: format!("network error: {source}"),
        },
        E::Config(_) | E::InvalidOid(_) => ClientError::Config(source.to_string()),
        other => ClientError::Protocol(other.to_string()),
    }
}
