//! What devices report of their neighbours (the agent's [`readings::NEIGHBORS`] series) and
//! what the collector knows of each inventory device to recognise it as someone's neighbour.

use crate::inventory::Device;
use driftvakt_common::readings;
use driftvakt_common::wire::Value;

/// How a link was learnt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    Lldp,
    Cdp,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Lldp => "lldp",
            Protocol::Cdp => "cdp",
        }
    }
}

/// One neighbour as a device reported it on one of its ports.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Neighbor {
    pub protocol: Option<Protocol>,
    /// The reporting device's port: ifName (or the LLDP port id), and ifIndex when mapped.
    pub if_name: String,
    pub if_index: String,
    pub chassis_id: String,
    pub sys_name: String,
    /// The neighbour's own port.
    pub port: String,
    pub addresses: Vec<String>,
}

/// What a device last reported: its own LLDP chassis id and system name, and its neighbours.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Report {
    pub chassis_id: Option<String>,
    pub sys_name: Option<String>,
    pub neighbors: Vec<Neighbor>,
}

impl Report {
    /// From a result's values; `None` when the result carries no neighbour walk.
    pub fn from_values(values: &std::collections::BTreeMap<String, Value>) -> Option<Report> {
        let Some(Value::Series(samples)) = values.get(readings::NEIGHBORS) else {
            return None;
        };
        let text = |key: &str| match values.get(key) {
            Some(Value::Text(t)) if !t.is_empty() => Some(t.clone()),
            _ => None,
        };
        let neighbors = samples
            .iter()
            .map(|s| {
                let l = |k: &str| s.labels.get(k).cloned().unwrap_or_default();
                Neighbor {
                    protocol: match l(readings::NEIGHBOR_PROTOCOL).as_str() {
                        "lldp" => Some(Protocol::Lldp),
                        "cdp" => Some(Protocol::Cdp),
                        _ => None,
                    },
                    if_name: l(readings::NEIGHBOR_IF_NAME),
                    if_index: l(readings::NEIGHBOR_IF_INDEX),
                    chassis_id: l(readings::NEIGHBOR_CHASSIS_ID),
                    sys_name: l(readings::NEIGHBOR_SYS_NAME),
                    port: l(readings::NEIGHBOR_PORT),
                    addresses: l(readings::NEIGHBOR_ADDRESSES)
                        .split(',')
                        .filter(|a| !a.is_empty())
                        .map(str::to_string)
                        .collect(),
                }
            })
            .collect();
        Some(Report {
            chassis_id: text(readings::LLDP_CHASSIS_ID),
            sys_name: text("sys_name"),
            neighbors,
        })
    }
}

/// An inventory device as neighbours may name it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Known {
    pub id: String,
    /// `address:` (an IP address or a host name).
    pub address: String,
    /// `register.serial`, which HP/Aruba switches advertise as their chassis id.
    pub serial: Option<String>,
}

impl Known {
    pub fn from_device(d: &Device) -> Known {
        Known {
            id: d.id.clone(),
            address: d.config.address.value.clone(),
            serial: d.config.register.as_ref().and_then(|r| r.serial.clone()),
        }
    }
}

/// One reported neighbour, matched (or not) to an inventory device.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct Link {
    /// The reporting device.
    pub device: String,
    pub if_name: String,
    pub if_index: String,
    pub protocol: Option<Protocol>,
    /// The inventory device the neighbour is; `None` when unknown or ambiguous.
    pub neighbor: Option<String>,
    /// The devices it could be, when the match was ambiguous.
    pub candidates: Vec<String>,
    /// The neighbour as reported (its sysName, or its chassis id when it sent none).
    pub reported: String,
    pub remote_port: String,
    /// The reporting port has more than one neighbour.
    pub ambiguous_port: bool,
}
