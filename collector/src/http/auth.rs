//! Who may call: agents by their bearer token (compared in constant time against every agent's),
//! operators by the operator token for changes to service windows. Both are checked from the
//! headers alone, before any body is read, and every refusal is logged with the peer, the route
//! and the reason (never the token), at most one line per peer address per
//! [`LOG_EVERY`](super::server::LOG_EVERY).
//!
//! With client certificates on (`collector.tls.client_ca`), an agent's token is accepted only
//! over a connection whose client certificate names that agent (its subject's common name or a
//! DNS name of its SAN): a stolen token alone, or a certificate of another agent, is refused.

use super::error;
use super::server::{suppressed, RateLimited, LOG_EVERY};
use super::tls::ClientCertificate;
use crate::inventory::{Agent, Inventory};
use axum::extract::ConnectInfo;
use axum::http::{header, request::Parts, HeaderMap, StatusCode};
use axum::response::Response;
use driftvakt_common::schema::Secret;
use std::net::{IpAddr, SocketAddr};
use std::sync::OnceLock;

/// The bearer token of a request, if it has one (the scheme is case-insensitive).
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The agent whose token this is (constant-time comparison against every agent).
pub fn authenticate<'a>(inv: &'a Inventory, token: &str) -> Option<&'a Agent> {
    let mut found = None;
    for a in &inv.agents {
        if constant_time_eq(a.token.expose().as_bytes(), token.as_bytes()) {
            found = Some(a);
        }
    }
    found
}

/// Compares two byte strings in time that depends only on their lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The peer of a request, when the accept loop recorded it.
pub fn peer(parts: &Parts) -> Option<SocketAddr> {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0)
}

/// The agent a request's bearer token names, or the `401` to answer (logged): `missing bearer
/// token` or `invalid token`. `embedded` agents are accepted only when `allow_embedded`.
#[allow(clippy::result_large_err)] // the error is the answer, returned at once
pub fn agent<'a>(
    inv: &'a Inventory,
    parts: &Parts,
    allow_embedded: bool,
) -> Result<&'a Agent, Response> {
    let Some(token) = bearer(&parts.headers) else {
        return Err(refuse(parts, "agent", "missing bearer token"));
    };
    let Some(agent) = authenticate(inv, token).filter(|a| allow_embedded || !a.embedded) else {
        return Err(refuse(parts, "agent", "invalid token"));
    };
    match parts.extensions.get::<ClientCertificate>() {
        None => Ok(agent),
        Some(ClientCertificate(None)) => Err(refuse_certificate(
            parts,
            format!(
                "agent {}: no client certificate (collector.tls.client_ca is set)",
                agent.id
            ),
        )),
        Some(ClientCertificate(Some(names))) if !names.contains(&agent.id) => {
            Err(refuse_certificate(
                parts,
                format!(
                    "agent {}: the client certificate names {} instead",
                    agent.id,
                    names.join(", ")
                ),
            ))
        }
        Some(_) => Ok(agent),
    }
}

/// A token whose connection's client certificate does not name its agent: `401` (the agent
/// keeps its results and says why), logged.
fn refuse_certificate(parts: &Parts, reason: String) -> Response {
    log_refusal(parts, "agent", &reason);
    error(StatusCode::UNAUTHORIZED, reason)
}

/// Checks the operator token (`Bearer`, any case, constant-time): `Err(answer)` refuses the
/// change. Without a configured token, changes are refused (`403`).
#[allow(clippy::result_large_err)] // the error is the answer, returned at once
pub fn operator(expected: Option<&Secret>, parts: &Parts) -> Result<(), Response> {
    let Some(expected) = expected else {
        return Err(error(
            StatusCode::FORBIDDEN,
            "no operator token is configured (collector.operator_token); use the CLI on the collector host",
        ));
    };
    match bearer(&parts.headers) {
        Some(t) if constant_time_eq(t.as_bytes(), expected.expose().as_bytes()) => Ok(()),
        given => {
            let why = if given.is_some() {
                "wrong operator token"
            } else {
                "missing bearer token"
            };
            log_refusal(parts, "operator", why);
            Err(error(
                StatusCode::UNAUTHORIZED,
                "missing or wrong operator token",
            ))
        }
    }
}

/// Logs a failed authentication and returns its `401` with `reason` as the message.
fn refuse(parts: &Parts, who: &str, reason: &'static str) -> Response {
    log_refusal(parts, who, reason);
    error(StatusCode::UNAUTHORIZED, reason)
}

/// One warning per peer address per interval, the next one counting those suppressed.
fn log_refusal(parts: &Parts, who: &str, reason: &str) {
    static LIMIT: OnceLock<RateLimited<Option<IpAddr>>> = OnceLock::new();
    let peer = peer(parts);
    let limit = LIMIT.get_or_init(|| RateLimited::new(LOG_EVERY));
    if let Some(more) = limit.hit(peer.map(|p| p.ip())) {
        let from = peer.map_or_else(|| "an unknown peer".to_string(), |p| p.to_string());
        tracing::warn!(
            "failed {who} authentication from {from}: {} {}: {reason}{}",
            parts.method,
            parts.uri.path(),
            suppressed(more)
        );
    }
}
