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
//!   parents it knows, and does not use them for probing).
//!
//! `snmp_credentials` holds the credentials those checks name, as *references* (`{env: NAME}` or
//! `{file: PATH}`, resolved on the agent host), never secret values. The inventory has no
//! per-class defaults, so `defaults` is empty.
//!
//! # Why the JSON is built here
//! `DeviceConfig` and the check types are deserialize-only, and their `Duration` (in
//! `driftvakt-common`) has no `Serialize`, so deriving it would need more than derive lines.
//! Re-reading the inventory's raw YAML would lose the typed scalars (a device id `1001` would
//! become a number the agent refuses). So each type is destructured *exhaustively* below: a new
//! field in the agent's schema fails to compile here until it is carried over. A test parses the
//! output with the agent's own parser.

use crate::api::{error, ApiState};
use crate::inventory::{Agent, Inventory};
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use driftvakt_agent::config::{
    class_timing, CheckSpec, DeviceConfig, HttpCheck, IcmpCheck, SecretRef, SnmpCheck,
    SnmpCredentials, TcpCheck,
};
use driftvakt_common::config::Duration;
use driftvakt_common::hash::fnv1a_128;
use serde_json::{json, Map, Value};
use std::collections::HashSet;

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
        let body = serde_json::to_vec(&assignment_json(inventory, agent))
            .expect("a JSON value always serializes");
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
pub async fn get_assignment(State(state): State<ApiState>, headers: HeaderMap) -> Response {
    let Some(token) = bearer(&headers) else {
        return error(StatusCode::UNAUTHORIZED, "missing bearer token");
    };
    let Some(agent) = state.app.authenticate(token).filter(|a| !a.embedded) else {
        return error(StatusCode::UNAUTHORIZED, "invalid token");
    };
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

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The body of the assignment of `agent`.
pub fn assignment_json(inventory: &Inventory, agent: &Agent) -> Value {
    let devices: Vec<&DeviceConfig> = inventory
        .devices
        .iter()
        .filter(|d| agent.devices.contains(&d.id))
        .map(|d| &d.config)
        .collect();
    let assigned: HashSet<&str> = devices.iter().map(|d| d.id.value.as_str()).collect();
    let only_credentials = match inventory.snmp_credentials.as_slice() {
        [one] => Some(one.id.value.as_str()),
        _ => None,
    };
    let devices: Vec<Value> = devices
        .iter()
        .map(|d| device_json(d, &assigned, only_credentials))
        .collect();
    let named = credentials_named(&devices);
    let credentials: Vec<Value> = inventory
        .snmp_credentials
        .iter()
        .filter(|c| named.contains(c.id.value.as_str()))
        .map(credentials_json)
        .collect();
    json!({
        "agent": agent.id,
        "devices": devices,
        "snmp_credentials": credentials,
        "defaults": {},
    })
}

/// The credential ids the SNMP checks of `devices` (as JSON) name.
fn credentials_named(devices: &[Value]) -> HashSet<&str> {
    devices
        .iter()
        .filter_map(|d| d["checks"].as_array())
        .flatten()
        .filter_map(|c| c["credentials"].as_str())
        .collect()
}

fn put(map: &mut Map<String, Value>, key: &str, value: Option<Value>) {
    if let Some(v) = value {
        map.insert(key.to_string(), v);
    }
}

fn duration(d: Duration) -> Value {
    Value::String(d.to_string())
}

fn device_json(d: &DeviceConfig, assigned: &HashSet<&str>, only_creds: Option<&str>) -> Value {
    let DeviceConfig {
        id,
        class,
        site,
        address,
        parent,
        interval,
        timeout,
        min_runtime_minutes,
        checks: _, // written out resolved, from `d.checks()`
        description,
    } = d;
    let interval = interval.unwrap_or(Duration(class_timing(*class).0));
    let checks: Vec<Value> = d
        .checks()
        .iter()
        .map(|c| check_json(c, only_creds))
        .collect();
    let mut m = Map::new();
    m.insert("id".into(), json!(id.value));
    m.insert("class".into(), json!(class));
    put(&mut m, "site", site.as_ref().map(|s| json!(s.value)));
    m.insert("address".into(), json!(address.value));
    let parent = parent
        .as_ref()
        .filter(|p| assigned.contains(p.value.as_str()));
    put(&mut m, "parent", parent.map(|p| json!(p.value)));
    m.insert("interval".into(), duration(interval));
    put(&mut m, "timeout", timeout.map(duration));
    put(
        &mut m,
        "min_runtime_minutes",
        min_runtime_minutes.map(Value::from),
    );
    m.insert("checks".into(), Value::Array(checks));
    put(
        &mut m,
        "description",
        description.as_ref().map(|s| json!(s)),
    );
    Value::Object(m)
}

/// Name, interval and timeout, which every check kind has.
fn common(
    m: &mut Map<String, Value>,
    name: &Option<String>,
    interval: &Option<Duration>,
    timeout: &Option<Duration>,
) {
    put(m, "name", name.as_ref().map(|n| json!(n)));
    put(m, "interval", interval.map(duration));
    put(m, "timeout", timeout.map(duration));
}

fn check_json(check: &CheckSpec, only_creds: Option<&str>) -> Value {
    let mut m = Map::new();
    m.insert("kind".into(), json!(check.kind()));
    match check {
        CheckSpec::Icmp(c) => icmp_json(&mut m, c),
        CheckSpec::Snmp(c) => snmp_json(&mut m, c, only_creds),
        CheckSpec::Http(c) => http_json(&mut m, c),
        CheckSpec::Tcp(c) => tcp_json(&mut m, c),
    }
    Value::Object(m)
}

fn icmp_json(m: &mut Map<String, Value>, c: &IcmpCheck) {
    let IcmpCheck {
        name,
        interval,
        timeout,
        count,
        spacing,
        fail_loss_ratio,
    } = c;
    common(m, name, interval, timeout);
    put(m, "count", count.map(Value::from));
    put(m, "spacing", spacing.map(duration));
    put(m, "fail_loss_ratio", fail_loss_ratio.map(Value::from));
}

fn snmp_json(m: &mut Map<String, Value>, c: &SnmpCheck, only_creds: Option<&str>) {
    let SnmpCheck {
        name,
        interval,
        timeout,
        port,
        credentials,
        profile,
        uplinks,
        supply_low_ratio,
        retries,
    } = c;
    common(m, name, interval, timeout);
    put(m, "port", port.map(Value::from));
    let credentials = credentials.as_deref().or(only_creds);
    put(m, "credentials", credentials.map(Value::from));
    put(m, "profile", profile.as_ref().map(|p| json!(p)));
    put(m, "uplinks", (!uplinks.is_empty()).then(|| json!(uplinks)));
    put(m, "supply_low_ratio", supply_low_ratio.map(Value::from));
    put(m, "retries", retries.map(Value::from));
}

fn http_json(m: &mut Map<String, Value>, c: &HttpCheck) {
    let HttpCheck {
        name,
        interval,
        timeout,
        url,
        expect_status,
        body_contains,
        follow_redirects,
        insecure_skip_verify,
        ca_file,
        cert_min_days,
    } = c;
    common(m, name, interval, timeout);
    put(m, "url", url.as_ref().map(|u| json!(u)));
    let statuses = (!expect_status.is_empty()).then(|| json!(expect_status));
    put(m, "expect_status", statuses);
    put(m, "body_contains", body_contains.as_ref().map(|b| json!(b)));
    put(m, "follow_redirects", follow_redirects.map(Value::from));
    put(
        m,
        "insecure_skip_verify",
        insecure_skip_verify.map(Value::from),
    );
    let ca_file = ca_file.as_ref().map(|p| json!(p.to_string_lossy()));
    put(m, "ca_file", ca_file);
    put(m, "cert_min_days", cert_min_days.map(Value::from));
}

fn tcp_json(m: &mut Map<String, Value>, c: &TcpCheck) {
    let TcpCheck {
        name,
        interval,
        timeout,
        port,
    } = c;
    common(m, name, interval, timeout);
    put(m, "port", port.map(Value::from));
}

fn credentials_json(c: &SnmpCredentials) -> Value {
    let SnmpCredentials {
        id,
        version,
        community,
        user,
        auth_protocol,
        auth_password,
        priv_protocol,
        priv_password,
    } = c;
    let mut m = Map::new();
    m.insert("id".into(), json!(id.value));
    m.insert("version".into(), json!(version));
    put(&mut m, "community", community.as_ref().map(secret_ref_json));
    put(&mut m, "user", user.as_ref().map(|u| json!(u)));
    put(&mut m, "auth_protocol", auth_protocol.map(|p| json!(p)));
    put(
        &mut m,
        "auth_password",
        auth_password.as_ref().map(secret_ref_json),
    );
    put(&mut m, "priv_protocol", priv_protocol.map(|p| json!(p)));
    put(
        &mut m,
        "priv_password",
        priv_password.as_ref().map(secret_ref_json),
    );
    Value::Object(m)
}

/// Where the secret is (`{env: NAME}` or `{file: PATH}`); never its value.
fn secret_ref_json(r: &SecretRef) -> Value {
    let SecretRef { env, file } = r;
    let mut m = Map::new();
    put(&mut m, "env", env.as_ref().map(|e| json!(e)));
    put(
        &mut m,
        "file",
        file.as_ref().map(|f| json!(f.to_string_lossy())),
    );
    Value::Object(m)
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
