//! `inventory import --netbox URL --token-file F [--filter K=V]…`: NetBox's devices
//! (`/api/dcim/devices/`, every page) as an include file, mapped as netbox-zabbix-sync maps
//! NetBox to monitoring: status `active` is probed; `planned` and `staged` are kept as
//! `planned`, `offline` and `failed` as `in_stock` (kept, not probed); `decommissioning` and
//! `inventory` are dropped. Name → `id`, `site.slug` → `site`, `role.slug` → `class`, the
//! primary IP without its prefix length → `address`, `tenant.name` → `owner`, `serial`,
//! `asset_tag`, `device_type.model`, and the custom fields named as the register's keys. What
//! is dropped or cannot be mapped is listed with why.

use super::import::{check, yaml, Imported, Row};
use serde_json::Value;
use std::collections::BTreeMap;

/// Register keys NetBox keeps as custom fields.
const CUSTOM: [&str; 6] = [
    "purchased",
    "price",
    "depreciation_months",
    "warranty_until",
    "insurance",
    "renew_after_months",
];

/// Every device of the API at `base` (all pages), with `filter` as query parameters.
pub async fn fetch(base: &str, token: &str, filter: &[String]) -> Result<Vec<Value>, String> {
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(60))
        .build()
        .map_err(|e| e.to_string())?;
    let mut url = format!("{}/api/dcim/devices/?limit=500", base.trim_end_matches('/'));
    for f in filter {
        url.push('&');
        url.push_str(f);
    }
    let mut out = Vec::new();
    for _ in 0..10_000 {
        let resp = client
            .get(&url)
            .header("Authorization", format!("Token {token}"))
            .header("Accept", "application/json")
            .send()
            .await
            .map_err(|e| format!("{url}: {e}"))?;
        if !resp.status().is_success() {
            return Err(format!("{url}: {}", resp.status()));
        }
        let page: Value = resp.json().await.map_err(|e| format!("{url}: {e}"))?;
        let results = page["results"]
            .as_array()
            .ok_or_else(|| format!("{url}: no `results` list"))?;
        out.extend(results.iter().cloned());
        match page["next"].as_str() {
            Some(next) => url = next.to_string(),
            None => return Ok(out),
        }
    }
    Err("more than 10,000 pages".into())
}

/// The include file of `devices` (NetBox device objects).
pub fn import(devices: &[Value]) -> Imported {
    let mut rows: BTreeMap<String, Row> = BTreeMap::new();
    let mut skipped = Vec::new();
    for d in devices {
        match row(d).and_then(|r| check(&r).map(|()| r)) {
            Ok(r) if rows.contains_key(&r["id"]) => {
                skipped.push(format!("`{}`: duplicate name", r["id"]))
            }
            Ok(r) => {
                rows.insert(r["id"].clone(), r);
            }
            Err(why) => skipped.push(why),
        }
    }
    Imported {
        yaml: yaml(&rows),
        devices: rows.len(),
        skipped,
    }
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// NetBox's status to ours; `None`: dropped.
fn status(s: &str) -> Option<&'static str> {
    match s {
        "active" => Some("active"),
        "planned" | "staged" => Some("planned"),
        "offline" | "failed" => Some("in_stock"),
        _ => None,
    }
}

/// A role's slug to a class (`access-point` and `access_point` alike).
fn class(role: &str) -> Option<&'static str> {
    let role = role.replace('-', "_");
    driftvakt_common::DeviceClass::ALL
        .into_iter()
        .map(|c| c.as_str())
        .find(|c| *c == role)
}

/// One device's row, or why it is skipped.
fn row(d: &Value) -> Result<Row, String> {
    let id = text(&d["name"]).ok_or_else(|| format!("device #{}: no name", d["id"]))?;
    let nb_status = d["status"]["value"].as_str().unwrap_or("active");
    let status = status(nb_status)
        .ok_or_else(|| format!("`{id}`: status `{nb_status}` is dropped (not monitored)"))?;
    let role = d["role"]["slug"]
        .as_str()
        .or(d["device_role"]["slug"].as_str())
        .unwrap_or_default();
    let class = class(role).ok_or_else(|| format!("`{id}`: role `{role}` is not a class"))?;
    let address = d["primary_ip"]["address"]
        .as_str()
        .map(|a| a.split('/').next().unwrap_or(a).to_string())
        .ok_or_else(|| format!("`{id}`: no primary IP"))?;
    let mut r = Row::new();
    r.insert("id", id);
    r.insert("class", class.to_string());
    r.insert("address", address);
    r.insert("status", status.to_string());
    let fields = [
        ("site", &d["site"]["slug"]),
        ("owner", &d["tenant"]["name"]),
        ("serial", &d["serial"]),
        ("asset_tag", &d["asset_tag"]),
        ("model", &d["device_type"]["model"]),
    ];
    for (key, v) in fields {
        if let Some(t) = text(v) {
            r.insert(key, t);
        }
    }
    for key in CUSTOM {
        if let Some(t) = text(&d["custom_fields"][key]) {
            r.insert(key, t);
        }
    }
    Ok(r)
}
