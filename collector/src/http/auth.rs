//! Who may call: agents by their bearer token (compared in constant time against every agent's),
//! operators by the operator token for changes to service windows.

use crate::inventory::{Agent, Inventory};
use axum::http::{header, HeaderMap};

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
