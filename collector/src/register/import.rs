//! `inventory import --csv`: a CSV with the documented header ([`COLUMNS`]; `id`, `class` and
//! `address` required, the others optional and in any order) becomes an include file of the
//! inventory: `devices:` sorted by id, one key a line, always the same text for the same
//! devices (diff-friendly). Devices get their class's default checks. Rows that cannot be
//! imported are skipped and listed with their line and why; the monitoring columns `inventory
//! list --format csv` adds (`municipality`, `state`, `last_seen`, `availability_year`) are
//! ignored, so a list imports back to the same file.

use super::csv;
use chrono::NaiveDate;
use driftvakt_common::schema::{validate_address, Status};
use driftvakt_common::DeviceClass;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;

/// The columns the import reads, in the order the list writes them.
pub const COLUMNS: [&str; 17] = [
    "id",
    "class",
    "site",
    "address",
    "parent",
    "description",
    "status",
    "serial",
    "model",
    "asset_tag",
    "owner",
    "purchased",
    "price",
    "depreciation_months",
    "warranty_until",
    "insurance",
    "renew_after_months",
];

/// Columns of the list that the import ignores.
pub const IGNORED: [&str; 4] = ["municipality", "state", "last_seen", "availability_year"];

/// The register keys (`register:`), in the order they are written: the columns after `status`.
const REGISTER: &[&str] = COLUMNS.split_at(7).1;

/// An import's result: the YAML and what was skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imported {
    pub yaml: String,
    pub devices: usize,
    /// `line N: why` per skipped row, and unknown columns.
    pub skipped: Vec<String>,
}

/// One device as imported: its keys' values, checked.
pub type Row = BTreeMap<&'static str, String>;

/// Imports `text` (see the module doc).
pub fn from_csv(text: &str) -> Result<Imported, String> {
    let rows = csv::parse(text)?;
    let Some(((_, header), body)) = rows.split_first() else {
        return Err("the CSV is empty: expected a header line (id,class,address,...)".into());
    };
    let mut skipped = Vec::new();
    let mut at: HashMap<&'static str, usize> = HashMap::new();
    for (i, name) in header.iter().enumerate() {
        let name = name.trim();
        match COLUMNS.iter().find(|c| **c == name) {
            Some(c) => {
                at.insert(c, i);
            }
            None if IGNORED.contains(&name) => {}
            None => skipped.push(format!("column `{name}`: not a register column, ignored")),
        }
    }
    for required in ["id", "class", "address"] {
        if !at.contains_key(required) {
            return Err(format!("the header has no `{required}` column"));
        }
    }
    let mut devices: BTreeMap<String, Row> = BTreeMap::new();
    for (line, fields) in body {
        let mut row = Row::new();
        for (col, i) in &at {
            let v = fields.get(*i).map(|s| s.trim()).unwrap_or_default();
            if !v.is_empty() {
                row.insert(col, v.to_string());
            }
        }
        match check(&row) {
            Err(why) => skipped.push(format!("line {line}: {why}")),
            Ok(()) if devices.contains_key(&row["id"]) => {
                skipped.push(format!("line {line}: duplicate id `{}`", row["id"]))
            }
            Ok(()) => {
                devices.insert(row["id"].clone(), row);
            }
        }
    }
    Ok(Imported {
        yaml: yaml(&devices),
        devices: devices.len(),
        skipped,
    })
}

/// What would make the row's device refuse to load.
pub fn check(row: &Row) -> Result<(), String> {
    let id = row.get("id").ok_or("no id")?;
    let class = row
        .get("class")
        .ok_or_else(|| format!("`{id}`: no class"))?;
    parse_class(class).ok_or_else(|| format!("`{id}`: unknown class `{class}`"))?;
    let address = row
        .get("address")
        .ok_or_else(|| format!("`{id}`: no address"))?;
    validate_address(address).map_err(|e| format!("`{id}`: {e}"))?;
    if let Some(s) = row.get("status") {
        Status::parse(s).ok_or_else(|| format!("`{id}`: unknown status `{s}`"))?;
    }
    for key in ["purchased", "warranty_until"] {
        if let Some(d) = row.get(key) {
            d.parse::<NaiveDate>()
                .map_err(|e| format!("`{id}`: {key} `{d}`: {e}"))?;
        }
    }
    for key in ["depreciation_months", "renew_after_months"] {
        if let Some(m) = row.get(key) {
            match m.parse::<u32>() {
                Ok(1..=600) => {}
                _ => return Err(format!("`{id}`: {key} `{m}` is not 1..=600")),
            }
        }
    }
    if let Some(p) = row.get("price") {
        match p.parse::<f64>() {
            Ok(v) if v.is_finite() && v >= 0.0 => {}
            _ => return Err(format!("`{id}`: price `{p}` is not an amount in SEK")),
        }
    }
    if let (Some(p), Some(w)) = (row.get("purchased"), row.get("warranty_until")) {
        if w < p {
            return Err(format!(
                "`{id}`: warranty_until {w} is before purchased {p}"
            ));
        }
    }
    Ok(())
}

fn parse_class(s: &str) -> Option<DeviceClass> {
    DeviceClass::ALL.into_iter().find(|c| c.as_str() == s)
}

/// A YAML double-quoted string (JSON's escapes are YAML's).
fn quoted(s: &str) -> String {
    serde_json::to_string(s).expect("a string")
}

/// The value as written: strings quoted, numbers, dates, classes and statuses as they are.
fn value(key: &str, v: &str) -> String {
    match key {
        "class"
        | "status"
        | "purchased"
        | "warranty_until"
        | "depreciation_months"
        | "renew_after_months" => v.to_string(),
        "price" => {
            let p: f64 = v.parse().expect("checked");
            format!("{p}")
        }
        _ => quoted(v),
    }
}

/// The include file for `devices`.
pub fn yaml(devices: &BTreeMap<String, Row>) -> String {
    let mut out = String::from(
        "# Written by `driftvakt-collector inventory import`; one device per entry, by id.\n",
    );
    if devices.is_empty() {
        out.push_str("devices: []\n");
        return out;
    }
    out.push_str("devices:\n");
    for row in devices.values() {
        let mut first = true;
        for key in [
            "id",
            "class",
            "site",
            "address",
            "parent",
            "description",
            "status",
        ] {
            // `active` is the default: left out, so a listed register imports back the same.
            if let Some(v) = row
                .get(key)
                .filter(|v| !(key == "status" && *v == "active"))
            {
                let lead = if first { "  - " } else { "    " };
                first = false;
                let _ = writeln!(out, "{lead}{key}: {}", value(key, v));
            }
        }
        if REGISTER.iter().any(|k| row.contains_key(k)) {
            out.push_str("    register:\n");
            for key in REGISTER {
                if let Some(v) = row.get(key) {
                    let _ = writeln!(out, "      {key}: {}", value(key, v));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_become_sorted_devices_and_bad_rows_are_listed() {
        let csv = "id,class,address,owner,purchased,price,extra\n\
                   b,screen,10.0.0.2,\"Barn och utbildning\",2024-02-29,4990.50,x\n\
                   a,access_point,10.0.0.1,,,,\n\
                   c,toaster,10.0.0.3,,,,\n\
                   d,screen,10.0.0.4,,2024-02-30,,\n";
        let imported = from_csv(csv).unwrap();
        assert_eq!(
            imported.yaml,
            "# Written by `driftvakt-collector inventory import`; one device per entry, by id.\n\
             devices:\n  - id: \"a\"\n    class: access_point\n    address: \"10.0.0.1\"\n  \
             - id: \"b\"\n    class: screen\n    address: \"10.0.0.2\"\n    register:\n      \
             owner: \"Barn och utbildning\"\n      purchased: 2024-02-29\n      price: 4990.5\n"
        );
        assert_eq!(imported.devices, 2);
        assert_eq!(imported.skipped.len(), 3, "{:?}", imported.skipped);
        assert!(imported.skipped[0].contains("column `extra`"));
        assert!(imported.skipped[1].starts_with("line 4: `c`: unknown class"));
        assert!(imported.skipped[2].starts_with("line 5: `d`: purchased"));
    }
}
