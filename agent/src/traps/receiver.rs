//! The UDP receiver: async-snmp's `NotificationReceiver` on `agent.traps.listen`, with the
//! configured communities (v1/v2c) and SNMPv3 users. v2c and v3 informs are acknowledged by
//! the library before they are handed over; v3 traps are accepted from any sender whose
//! messages authenticate as a configured user (the sender's engine id comes with each trap and
//! keys are localized to it; no engine ids to configure). Unauthenticated v3 and v1/v2c
//! without a matching community are dropped, as are malformed datagrams (the library logs
//! them at debug/warn level).

use super::engine::{self, EngineError};
use super::handle::{Handler, Incoming};
use crate::config::{
    parse_engine_id, AuthProtocol, PrivProtocol, SecretRef, SnmpCredentials, TrapSettings,
};
use crate::probe::snmp::client::{auth_protocol, priv_protocol};
use async_snmp::{
    Notification, NotificationAcceptance, NotificationEnvelope, NotificationReceiver, SecurityLevel,
};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::task::JoinHandle;

#[derive(Debug, thiserror::Error)]
pub enum ReceiverError {
    #[error("agent.traps: {0}")]
    Secret(String),
    #[error("agent.traps.users: {0}")]
    User(String),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("cannot receive traps on {addr}: {why}")]
    Bind { addr: SocketAddr, why: String },
}

/// What the receiver is built from, resolved against the configuration's folder.
pub struct ReceiverSetup<'a> {
    pub settings: &'a TrapSettings,
    pub credentials: &'a [SnmpCredentials],
    pub agent_id: &'a str,
    /// The configuration's folder (secret files).
    pub base: &'a Path,
    /// Where the engine's id and boots are kept (none: in memory).
    pub engine_file: Option<PathBuf>,
}

/// Binds the receiver; returns it and the address it listens on.
pub async fn bind(setup: &ReceiverSetup<'_>) -> Result<NotificationReceiver, ReceiverError> {
    let s = setup.settings;
    let mut communities = Vec::new();
    for c in &s.communities {
        communities.push(resolve(c, setup.base)?);
    }
    let has_communities = !communities.is_empty();
    let mut b = NotificationReceiver::builder()
        .bind(s.listen.to_string())
        .communities(communities);
    if !s.users.is_empty() {
        let id = match &s.engine_id {
            Some(hex) => parse_engine_id(hex).map_err(|e| EngineError::from_text(&e))?,
            None => engine::default_engine_id(setup.agent_id),
        };
        b = b.authoritative_engine(engine::open(id, setup.engine_file.clone())?);
        for id in &s.users {
            let (name, configure) = usm_user(id, setup.credentials, setup.base)?;
            b = b
                .usm_user(name, configure)
                .map_err(|e| ReceiverError::User(format!("`{id}`: {e}")))?;
        }
    }
    let b = b.acceptance_policy(move |n: &NotificationEnvelope<'_>| accept(n, has_communities));
    b.build().await.map_err(|e| ReceiverError::Bind {
        addr: s.listen,
        why: e.to_string(),
    })
}

/// v1/v2c only with a configured community (the library checks which); v3 only authenticated.
fn accept(n: &NotificationEnvelope<'_>, has_communities: bool) -> NotificationAcceptance {
    let ok = match n.security_level {
        None => has_communities,
        Some(level) => level >= SecurityLevel::AuthNoPriv,
    };
    if ok {
        NotificationAcceptance::Accept
    } else {
        NotificationAcceptance::Reject
    }
}

type Configure =
    Box<dyn FnOnce(async_snmp::UsmUser) -> async_snmp::CryptoResult<async_snmp::UsmUser>>;

fn usm_user(
    id: &str,
    creds: &[SnmpCredentials],
    base: &Path,
) -> Result<(String, Configure), ReceiverError> {
    let c = creds
        .iter()
        .find(|c| c.id.value == id)
        .ok_or_else(|| ReceiverError::User(format!("unknown snmp_credentials `{id}`")))?;
    let (Some(user), Some(auth), Some(pass)) = (&c.user, c.auth_protocol, &c.auth_password) else {
        return Err(ReceiverError::User(format!(
            "`{id}` is not an SNMPv3 user with authentication"
        )));
    };
    let auth_pass = resolve(pass, base)?;
    let privacy = match (c.priv_protocol, &c.priv_password) {
        (Some(p), Some(pass)) => Some((p, resolve(pass, base)?)),
        _ => None,
    };
    Ok((user.clone(), configure(auth, auth_pass, privacy)))
}

fn configure(
    auth: AuthProtocol,
    auth_pass: String,
    privacy: Option<(PrivProtocol, String)>,
) -> Configure {
    Box::new(move |u| match privacy {
        Some((p, priv_pass)) => u.auth_priv(
            auth_protocol(auth),
            auth_pass.as_bytes(),
            priv_protocol(p),
            priv_pass.as_bytes(),
        ),
        None => u.auth(auth_protocol(auth), auth_pass.as_bytes()),
    })
}

fn resolve(r: &SecretRef, base: &Path) -> Result<String, ReceiverError> {
    r.resolve(base)
        .map(|s| s.expose().to_string())
        .map_err(|e| ReceiverError::Secret(e.to_string()))
}

/// Receives until the task is aborted, handing each notification to `handler`.
pub fn spawn(receiver: NotificationReceiver, handler: Arc<Handler>) -> JoinHandle<()> {
    tokio::spawn(async move {
        handler.ready().await;
        loop {
            match receiver.recv().await {
                Ok(received) => {
                    if let Some(incoming) = incoming(&received.notification, received.source) {
                        handler.handle(incoming);
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "trap receiver");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            }
        }
    })
}

/// The parts matching needs; `None` for a v1 trap whose OID cannot be formed.
pub fn incoming(n: &Notification, source: SocketAddr) -> Option<Incoming> {
    let oid = n.trap_oid().ok()?.arcs().to_vec();
    let agent_addr = match n {
        Notification::TrapV1 { trap, .. } => {
            let a = Ipv4Addr::from(trap.agent_addr());
            (!a.is_unspecified()).then_some(IpAddr::V4(a))
        }
        _ => None,
    };
    Some(Incoming {
        source: source.ip().to_canonical(),
        agent_addr,
        oid,
    })
}
