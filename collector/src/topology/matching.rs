//! Which inventory device a reported neighbour is, by (in this order) management address,
//! chassis id (a MAC the device reported as its own, or a serial in its register entry), and
//! system name, full and then short (`dist-1` for `dist-1.kommun.example`), against the
//! device's id, its address as a host name and the sysName it reported. The first of these
//! that names any device decides: exactly one is a match, more is ambiguous (never guessed).

use super::links::{Known, Neighbor, Report};
use std::collections::{BTreeMap, BTreeSet};

/// The answer for one neighbour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Match {
    Device(String),
    /// Several devices fit the first key that fitted any.
    Ambiguous(Vec<String>),
    /// Not in the inventory (a phone, a host, an unmanaged device).
    Unknown,
}

/// Indexes of the inventory by every key a neighbour may be named by (lower-case).
#[derive(Debug, Default)]
pub struct Directory {
    addresses: BTreeMap<String, BTreeSet<String>>,
    chassis: BTreeMap<String, BTreeSet<String>>,
    names: BTreeMap<String, BTreeSet<String>>,
    short_names: BTreeMap<String, BTreeSet<String>>,
}

impl Directory {
    /// From the inventory's devices and what each reported of itself.
    pub fn new(known: &[Known], reports: &BTreeMap<String, Report>) -> Directory {
        let mut d = Directory::default();
        for k in known {
            let report = reports.get(&k.id);
            let mut names = vec![k.id.clone()];
            if k.address.parse::<std::net::IpAddr>().is_ok() {
                add(&mut d.addresses, &k.address, &k.id);
            } else {
                names.push(k.address.clone());
            }
            names.extend(report.and_then(|r| r.sys_name.clone()));
            for n in names {
                add(&mut d.names, &n, &k.id);
                add(&mut d.short_names, short(&n), &k.id);
            }
            let chassis = report.and_then(|r| r.chassis_id.clone());
            for c in chassis.iter().chain(&k.serial) {
                add(&mut d.chassis, c, &k.id);
            }
        }
        d
    }

    /// Which device `n` is.
    pub fn find(&self, n: &Neighbor) -> Match {
        let by_address: BTreeSet<&String> = n
            .addresses
            .iter()
            .flat_map(|a| lookup(&self.addresses, a))
            .collect();
        let keys = [
            by_address,
            lookup(&self.chassis, &n.chassis_id).collect(),
            lookup(&self.names, &n.sys_name).collect(),
            lookup(&self.short_names, short(&n.sys_name)).collect(),
        ];
        match keys.into_iter().find(|k| !k.is_empty()) {
            None => Match::Unknown,
            Some(k) if k.len() == 1 => {
                Match::Device(k.into_iter().next().cloned().unwrap_or_default())
            }
            Some(k) => Match::Ambiguous(k.into_iter().cloned().collect()),
        }
    }
}

fn add(index: &mut BTreeMap<String, BTreeSet<String>>, key: &str, id: &str) {
    if !key.is_empty() {
        index
            .entry(key.to_lowercase())
            .or_default()
            .insert(id.to_string());
    }
}

fn lookup<'a>(
    index: &'a BTreeMap<String, BTreeSet<String>>,
    key: &str,
) -> impl Iterator<Item = &'a String> {
    let found = if key.is_empty() {
        None
    } else {
        index.get(&key.to_lowercase())
    };
    found.into_iter().flatten()
}

/// A name up to its first dot; CDP's `name(SERIAL)` form up to the parenthesis.
fn short(name: &str) -> &str {
    let name = name.split('(').next().unwrap_or(name);
    name.split('.').next().unwrap_or(name)
}
