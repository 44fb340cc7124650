//! `inventory list`: every device with its register and the monitoring facts its caller hands
//! in (state, last seen, availability this year), as JSON or CSV. The CSV's first columns are
//! the import's ([`super::import::COLUMNS`]), so a list imports back to the same file.

use super::import::{COLUMNS, IGNORED};
use crate::inventory::{Device, Inventory};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use std::collections::BTreeMap;

/// What monitoring knows of a device.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Facts {
    /// `up`, `down`, … (`unknown` before the first result).
    pub state: Option<String>,
    pub last_seen: Option<DateTime<Utc>>,
    /// This year's availability (0..1), `None` before anything was observed.
    pub availability_year: Option<f64>,
}

/// One device of the list: the register's columns by name, and the facts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    pub id: String,
    pub municipality: String,
    /// The register's columns ([`COLUMNS`]) that have a value.
    pub register: BTreeMap<&'static str, String>,
    #[serde(flatten)]
    pub facts: Facts,
}

/// The device's value of each column of [`COLUMNS`] (empty when unset).
pub fn columns(d: &Device) -> [String; 17] {
    let c = &d.config;
    let r = c.register.clone().unwrap_or_default();
    let opt = |v: Option<String>| v.unwrap_or_default();
    [
        d.id.clone(),
        d.class.to_string(),
        d.site.clone(),
        c.address.value.clone(),
        opt(d.parent.clone()),
        opt(c.description.clone()),
        c.status().to_string(),
        opt(r.serial.clone()),
        opt(r.model.clone()),
        opt(r.asset_tag.clone()),
        opt(r.owner().map(str::to_string)),
        opt(r.purchased().map(|p| p.to_string())),
        opt(r.price().map(|p| format!("{p}"))),
        opt(r.depreciation_months().map(|m| m.to_string())),
        opt(r.warranty_until().map(|w| w.to_string())),
        opt(r.insurance.clone()),
        opt(r.renew_after_months.as_ref().map(|m| m.value.to_string())),
    ]
}

/// Every device, in inventory order, with its facts (none when `facts` has none).
pub fn rows(inv: &Inventory, facts: &BTreeMap<String, Facts>) -> Vec<Row> {
    inv.devices
        .iter()
        .map(|d| Row {
            id: d.id.clone(),
            municipality: d.municipality.clone(),
            register: COLUMNS
                .into_iter()
                .zip(columns(d))
                .filter(|(k, v)| *k != "id" && !v.is_empty())
                .collect(),
            facts: facts.get(&d.id).cloned().unwrap_or_default(),
        })
        .collect()
}

/// The list as CSV: [`COLUMNS`], then `municipality`, `state`, `last_seen`,
/// `availability_year`.
pub fn to_csv(rows: &[Row]) -> String {
    let header: Vec<&str> = COLUMNS.iter().chain(IGNORED.iter()).copied().collect();
    let mut out = super::csv::row(&header);
    for r in rows {
        let mut fields: Vec<String> = COLUMNS
            .iter()
            .map(|k| match *k {
                "id" => r.id.clone(),
                k => r.register.get(k).cloned().unwrap_or_default(),
            })
            .collect();
        fields.push(r.municipality.clone());
        fields.push(r.facts.state.clone().unwrap_or_default());
        fields.push(
            r.facts
                .last_seen
                .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
                .unwrap_or_default(),
        );
        fields.push(
            r.facts
                .availability_year
                .map(|a| format!("{:.5}", a))
                .unwrap_or_default(),
        );
        let refs: Vec<&str> = fields.iter().map(String::as_str).collect();
        out += &super::csv::row(&refs);
    }
    out
}
