//! `GET /api/v1/assignment`: the devices the inventory assigns to an agent (central mode).
//!
//! # Contract (the agent side is `driftvakt_agent::assignment`)
//! - `Authorization: Bearer <agent token>`; a missing or unknown token is `401`. Embedded agents
//!   (their token is random and never leaves the collector) are never served.
//! - `200` with `ETag: "<hash of the body>"` and the JSON body
//!   `{"agent": ID, "devices": [...], "snmp_credentials": [...], "defaults": {}}`, exactly what
//!   the agent's `Assignment` deserializes: the agent YAML's own sections, as JSON.
//! - `304` (same `ETag`, no body) when `If-None-Match` names the current ETag (or `*`).
//!
//! # What the body holds
//! The devices the inventory assigns to the agent (by site, municipality or device list), in
//! inventory order, as the collector *resolved* them, so the agent probes exactly what the
//! collector's state machine expects whatever the agent's version or local `defaults` are:
//! - `checks` is always written out (a device without `checks:` gets its class's defaults), with
//!   every SNMP check naming its credentials (an omitted `credentials:` means the inventory's
//!   only credentials);
//! - `interval` is always written out (the class's built-in interval when the device has none:
//!   the interval the collector derives staleness from); `timeout` only when set;
//! - `parent` only when the parent is assigned to the same agent too (the agent only accepts
//!   parents it knows, and does not use them for probing);
//! - only active devices (`status: active`, the default) are assigned, without their `status`
//!   and `register:` (the register is the collector's; an older agent would refuse the keys).
//!
//! `snmp_credentials` holds the credentials those checks name, as *references* (`{env: NAME}` or
//! `{file: PATH}`, resolved on the agent host), never secret values. The inventory has no
//! per-class defaults, so `defaults` is empty.
//!
//! # How the JSON is built
//! The body is the agent's own [`Assignment`], serialized: the shared schema types
//! (`driftvakt_common::schema`) derive `Serialize` to what they deserialize from, with durations
//! in the humane form (`30s`, `1h30m`). Only the resolution above is done here, on clones of the
//! inventory's devices. A test parses the output with the agent's own parser.

use super::auth;
use super::ApiState;
use crate::inventory::{Agent, Inventory};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use driftvakt_agent::assignment::Assignment;
use driftvakt_common::config::{Duration, Location, Spanned};
use driftvakt_common::hash::fnv1a_128;
use driftvakt_common::schema::{class_timing, CheckEntry, CheckSpec, DeviceConfig};
use std::collections::{BTreeMap, HashSet};

/// One agent's assignment, serialized, with its ETag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Served {
    pub body: Vec<u8>,
    /// Quoted, as sent in the `ETag` header.
    pub etag: String,
}

impl Served {
    /// The assignment of `agent` from `inventory`.
    pub fn build(inventory: &Inventory, agent: &Agent) -> Served {
        let body = serde_json::to_vec(&assignment(inventory, agent))
            .expect("the schema types serialize to JSON (paths and text come from UTF-8 YAML)");
        let etag = format!("\"{:032x}\"", fnv1a_128(&body));
        Served { body, etag }
    }

    /// Whether an `If-None-Match` header value names this assignment.
    pub fn matches(&self, if_none_match: &str) -> bool {
        if_none_match
            .split(',')
            .map(str::trim)
            .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == self.etag.as_str())
    }
}

/// The handler of `GET /api/v1/assignment`.
pub async fn get_assignment(State(state): State<ApiState>, request: Request) -> Response {
    let (parts, _body) = request.into_parts();
    let agent = match auth::agent(&state.app.inventory, &parts, false) {
        Ok(a) => a,
        Err(refusal) => return refusal,
    };
    let headers = &parts.headers;
    let served = Served::build(&state.app.inventory, agent);
    let etag = HeaderValue::from_str(&served.etag).expect("hex digits in quotes");
    let unchanged = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| served.matches(v));
    if unchanged {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response();
    }
    let json = HeaderValue::from_static("application/json");
    (
        [(header::ETAG, etag), (header::CONTENT_TYPE, json)],
        served.body,
    )
        .into_response()
}

/// The assignment of `agent`: its devices resolved, and the credentials their checks name.
pub fn assignment(inventory: &Inventory, agent: &Agent) -> Assignment {
    let devices: Vec<&DeviceConfig> = inventory
        .devices
        .iter()
        .filter(|d| agent.devices.contains(&d.id) && d.config.is_active())
        .map(|d| &d.config)
        .collect();
    let assigned: HashSet<&str> = devices.iter().map(|d| d.id.value.as_str()).collect();
    let only_credentials = match inventory.snmp_credentials.as_slice() {
        [one] => Some(one.id.value.as_str()),
        _ => None,
    };
    let devices: Vec<DeviceConfig> = devices
        .iter()
        .map(|d| resolve_device(d, &assigned, only_credentials))
        .collect();
    let named = credentials_named(&devices);
    let snmp_credentials = inventory
        .snmp_credentials
        .iter()
        .filter(|c| named.contains(c.id.value.as_str()))
        .cloned()
        .collect();
    Assignment {
        agent: agent.id.clone(),
        devices,
        snmp_credentials,
        defaults: BTreeMap::new(),
    }
}

/// The credential ids the SNMP checks of (resolved) `devices` name.
fn credentials_named(devices: &[DeviceConfig]) -> HashSet<String> {
    devices
        .iter()
        .flat_map(DeviceConfig::checks)
        .filter_map(|c| match c {
            CheckSpec::Snmp(s) => s.credentials,
            _ => None,
        })
        .collect()
}

/// `d` as the agent gets it: checks and interval written out, SNMP credentials named, the parent
/// only when it is assigned too.
fn resolve_device(
    d: &DeviceConfig,
    assigned: &HashSet<&str>,
    only_credentials: Option<&str>,
) -> DeviceConfig {
    let checks: Vec<CheckEntry> = d
        .checks()
        .into_iter()
        .map(|mut c| {
            if let CheckSpec::Snmp(s) = &mut c {
                if s.credentials.is_none() {
                    s.credentials = only_credentials.map(str::to_string);
                }
            }
            CheckEntry(c)
        })
        .collect();
    let checks = match &d.checks {
        Some(s) => Spanned::new(checks, s.referenced, s.defined),
        None => Spanned::new(checks, Location::UNKNOWN, Location::UNKNOWN),
    };
    DeviceConfig {
        interval: Some(d.interval.unwrap_or(Duration(class_timing(d.class).0))),
        parent: d
            .parent
            .clone()
            .filter(|p| assigned.contains(p.value.as_str())),
        checks: Some(checks),
        // The register is the collector's: an agent (of any release) needs none of it.
        status: None,
        register: None,
        ..d.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_none_match_accepts_lists_weak_tags_and_star() {
        let s = Served {
            body: Vec::new(),
            etag: "\"abc\"".into(),
        };
        assert!(s.matches("\"abc\""));
        assert!(s.matches("\"x\", W/\"abc\""));
        assert!(s.matches("*"));
        assert!(!s.matches("\"abd\""));
        assert!(!s.matches("abc"));
    }

    #[test]
    fn the_hash_is_fnv1a_128() {
        // Reference values of FNV-1a 128.
        assert_eq!(fnv1a_128(b""), 0x6c62272e07bb014262b821756295c58d);
        assert_eq!(fnv1a_128(b"a"), 0xd228cb696f1a8caf78912b704e4a8964);
    }
}
