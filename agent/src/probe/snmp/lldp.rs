//! Neighbours from LLDP-MIB (IEEE 802.1AB, `1.0.8802.1.1.2`) and CISCO-CDP-MIB's cdpCacheTable,
//! walked beside any profile at their own slower interval (see [`due`]).
//!
//! Reads lldpLocChassisId, lldpLocSysName, lldpLocPortTable, lldpRemTable and
//! lldpRemManAddrTable (whose addresses are in the row index), cdpCacheTable, and
//! BRIDGE-MIB's dot1dBasePortIfIndex with ifName/ifDescr to name the local interface. An LLDP
//! local port number is mapped to an interface by, in order: its lldpLocPortId when that is
//! an interface's ifName or ifDescr, BRIDGE-MIB (the port number as a bridge port), the port
//! number as an ifIndex. CDP rows are indexed by ifIndex already.
//!
//! The result is [`readings::NEIGHBORS`], one sample per neighbour (see its labels), and the
//! device's own chassis id ([`readings::LLDP_CHASSIS_ID`]), which other devices' neighbours
//! are matched against by the collector. Reading is pure.

use super::profiles::{sample, Object, Readings};
use super::switch::{interfaces, Interface};
use crate::probe::Outcome;
use driftvakt_common::readings;
use driftvakt_common::wire::{Sample, Value};
use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;

/// How often neighbours are walked when the check does not say (`lldp_interval`).
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(3600);

/// lldpLocChassisIdSubtype, lldpLocChassisId, lldpLocSysName.
pub const SCALARS: &[Object] = &[
    Object::new("lldp_loc_chassis_subtype", "1.0.8802.1.1.2.1.3.1.0"),
    Object::new("lldp_loc_chassis_id", "1.0.8802.1.1.2.1.3.2.0"),
    Object::new("lldp_loc_sys_name", "1.0.8802.1.1.2.1.3.3.0"),
];

/// LLDP, CDP and BRIDGE-MIB columns.
pub const COLUMNS: &[Object] = &[
    Object::new("lldp_loc_port_subtype", "1.0.8802.1.1.2.1.3.7.1.2"),
    Object::new("lldp_loc_port_id", "1.0.8802.1.1.2.1.3.7.1.3"),
    Object::new("lldp_rem_chassis_subtype", "1.0.8802.1.1.2.1.4.1.1.4"),
    Object::new("lldp_rem_chassis_id", "1.0.8802.1.1.2.1.4.1.1.5"),
    Object::new("lldp_rem_port_subtype", "1.0.8802.1.1.2.1.4.1.1.6"),
    Object::new("lldp_rem_port_id", "1.0.8802.1.1.2.1.4.1.1.7"),
    Object::new("lldp_rem_sys_name", "1.0.8802.1.1.2.1.4.1.1.9"),
    Object::new("lldp_rem_man_addr_if_subtype", "1.0.8802.1.1.2.1.4.2.1.3"),
    Object::new("cdp_address_type", "1.3.6.1.4.1.9.9.23.1.2.1.1.3"),
    Object::new("cdp_address", "1.3.6.1.4.1.9.9.23.1.2.1.1.4"),
    Object::new("cdp_device_id", "1.3.6.1.4.1.9.9.23.1.2.1.1.6"),
    Object::new("cdp_device_port", "1.3.6.1.4.1.9.9.23.1.2.1.1.7"),
    Object::new("bridge_port_if_index", "1.3.6.1.2.1.17.1.4.1.2"),
];

/// ifDescr and ifName, walked with [`COLUMNS`] when the profile does not walk them itself.
pub const INTERFACE_NAMES: &[Object] = &[
    Object::new("if_descr", "1.3.6.1.2.1.2.2.1.2"),
    Object::new("if_name", "1.3.6.1.2.1.31.1.1.1.1"),
];

/// When neighbours were last walked on a device, and its sysUpTime then.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Walked {
    pub elapsed: Duration,
    pub uptime_ticks: Option<u32>,
}

/// Whether to walk neighbours now: never walked, `interval` passed, or the device restarted
/// since (its sysUpTime went back: links may have changed while it was down).
pub fn due(last: Option<Walked>, interval: Duration, uptime_ticks: Option<u32>) -> bool {
    let Some(last) = last else { return true };
    let restarted = match (last.uptime_ticks, uptime_ticks) {
        (Some(before), Some(now)) => super::profiles::uptime_went_backwards(before, now),
        _ => false,
    };
    last.elapsed >= interval || restarted
}

/// Whether the walk found anything of LLDP or CDP (an agent without either gets no values).
fn answered(r: &Readings) -> bool {
    SCALARS.iter().any(|o| r.scalar(o.key).is_some())
        || COLUMNS
            .iter()
            .filter(|o| o.key != "bridge_port_if_index")
            .any(|o| !r.column(o.key).is_empty())
}

/// Adds [`readings::NEIGHBORS`] and [`readings::LLDP_CHASSIS_ID`] from a walk's readings.
pub fn read(r: &Readings, out: &mut Outcome) {
    if !answered(r) {
        return;
    }
    if let Some(id) = r.scalar("lldp_loc_chassis_id") {
        let subtype = r.int("lldp_loc_chassis_subtype").unwrap_or(0);
        out.values.insert(
            readings::LLDP_CHASSIS_ID.into(),
            Value::Text(chassis_id(subtype, id)),
        );
    }
    let ifs = interfaces(r);
    let mut samples = lldp_neighbors(r, &ifs);
    samples.extend(cdp_neighbors(r, &ifs));
    out.number("neighbor_count", samples.len() as f64);
    out.values
        .insert(readings::NEIGHBORS.into(), Value::Series(samples));
}

/// One neighbour as read, before it becomes a sample.
#[derive(Debug, Default)]
struct Neighbor {
    protocol: &'static str,
    if_index: String,
    if_name: String,
    chassis_id: String,
    sys_name: String,
    port: String,
    addresses: Vec<String>,
}

impl Neighbor {
    fn sample(&self) -> Sample {
        let addresses = self.addresses.join(",");
        sample(
            &[
                (readings::NEIGHBOR_PROTOCOL, self.protocol),
                (readings::NEIGHBOR_IF_INDEX, &self.if_index),
                (readings::NEIGHBOR_IF_NAME, &self.if_name),
                (readings::NEIGHBOR_CHASSIS_ID, &self.chassis_id),
                (readings::NEIGHBOR_SYS_NAME, &self.sys_name),
                (readings::NEIGHBOR_PORT, &self.port),
                (readings::NEIGHBOR_ADDRESSES, &addresses),
            ],
            1.0,
        )
    }
}

/// lldpRemTable rows by (local port, remote index); the time mark (first index part) is
/// dropped, the latest row kept.
fn lldp_neighbors(r: &Readings, ifs: &[Interface]) -> Vec<Sample> {
    let mut rows: BTreeMap<(u32, u32), Vec<u32>> = BTreeMap::new();
    for index in r.column("lldp_rem_chassis_id").keys() {
        if let [_, port, rem] = index[..] {
            rows.insert((port, rem), index.clone());
        }
    }
    let addresses = management_addresses(r);
    rows.into_iter()
        .map(|((port, rem), index)| {
            let (if_index, if_name) = local_interface(r, ifs, port);
            let text = |key: &str| column_text(r, key, &index);
            let int = |key: &str| r.column(key).get(&index).and_then(|v| v.as_i64());
            let chassis = r.column("lldp_rem_chassis_id").get(&index);
            let port_id = r.column("lldp_rem_port_id").get(&index);
            Neighbor {
                protocol: "lldp",
                if_index,
                if_name,
                chassis_id: chassis
                    .map(|v| chassis_id(int("lldp_rem_chassis_subtype").unwrap_or(0), v))
                    .unwrap_or_default(),
                sys_name: text("lldp_rem_sys_name"),
                port: port_id
                    .map(|v| port_id_text(int("lldp_rem_port_subtype").unwrap_or(0), v))
                    .unwrap_or_default(),
                addresses: addresses.get(&(port, rem)).cloned().unwrap_or_default(),
            }
            .sample()
        })
        .collect()
}

fn column_text(r: &Readings, key: &str, index: &[u32]) -> String {
    r.column(key)
        .get(index)
        .and_then(|v| v.as_text())
        .unwrap_or_default()
}

/// lldpRemManAddrTable: the addresses are in the index (time mark, local port, remote index,
/// address subtype, length, the address's bytes); IPv4 (1) and IPv6 (2) are read.
fn management_addresses(r: &Readings) -> BTreeMap<(u32, u32), Vec<String>> {
    let mut out: BTreeMap<(u32, u32), Vec<String>> = BTreeMap::new();
    for index in r.column("lldp_rem_man_addr_if_subtype").keys() {
        let [_, port, rem, family, len, ref bytes @ ..] = index[..] else {
            continue;
        };
        if bytes.len() != len as usize {
            continue;
        }
        let bytes: Vec<u8> = bytes.iter().map(|b| *b as u8).collect();
        if let Some(a) = address(family, &bytes) {
            let list = out.entry((port, rem)).or_default();
            if !list.contains(&a) {
                list.push(a);
            }
        }
    }
    out
}

/// An IANA address family number (1 IPv4, 2 IPv6) and its bytes as text.
fn address(family: u32, bytes: &[u8]) -> Option<String> {
    match (family, bytes.len()) {
        (1, 4) => Some(Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3]).to_string()),
        (2, 16) => {
            let b: [u8; 16] = bytes.try_into().ok()?;
            Some(Ipv6Addr::from(b).to_string())
        }
        _ => None,
    }
}

/// The local interface of an LLDP port number: (ifIndex, ifName), ifIndex empty if unmapped.
fn local_interface(r: &Readings, ifs: &[Interface], port: u32) -> (String, String) {
    let row = vec![port];
    let port_id = column_text(r, "lldp_loc_port_id", &row);
    let by_name = ifs
        .iter()
        .find(|i| !port_id.is_empty() && (i.name == port_id || i.descr == port_id));
    let by_bridge = || {
        let if_index = r.column("bridge_port_if_index").get(&row)?.as_i64()?;
        let if_index = u32::try_from(if_index).ok()?;
        ifs.iter().find(|i| i.row == [if_index])
    };
    let by_index = || ifs.iter().find(|i| i.row == row);
    match by_name.or_else(by_bridge).or_else(by_index) {
        Some(i) => (i.index.clone(), i.name.clone()),
        None if !port_id.is_empty() => (String::new(), port_id),
        None => (String::new(), port.to_string()),
    }
}

/// cdpCacheTable rows (index: ifIndex, device index).
fn cdp_neighbors(r: &Readings, ifs: &[Interface]) -> Vec<Sample> {
    r.column("cdp_device_id")
        .iter()
        .map(|(index, id)| {
            let if_index = index.first().copied().unwrap_or(0);
            let local = ifs.iter().find(|i| i.row == [if_index]);
            let addresses = cdp_address(r, index).into_iter().collect();
            Neighbor {
                protocol: "cdp",
                if_index: if_index.to_string(),
                if_name: local.map_or_else(|| if_index.to_string(), |i| i.name.clone()),
                chassis_id: String::new(),
                sys_name: id.as_text().unwrap_or_default(),
                port: column_text(r, "cdp_device_port", index),
                addresses,
            }
            .sample()
        })
        .collect()
}

/// cdpCacheAddress when cdpCacheAddressType is ip(1).
fn cdp_address(r: &Readings, index: &[u32]) -> Option<String> {
    let kind = r.column("cdp_address_type").get(index)?.as_i64()?;
    match (kind, r.column("cdp_address").get(index)?) {
        (1, super::client::SnmpValue::Bytes(b)) => address(1, b),
        _ => None,
    }
}

/// A chassis id by its subtype: macAddress(4) as `aa:bb:…`, networkAddress(5) as an address,
/// the rest (chassisComponent, interfaceAlias/Name, local: serials, names) as text.
fn chassis_id(subtype: i64, value: &super::client::SnmpValue) -> String {
    identifier(subtype == 4, subtype == 5, value)
}

/// A port id by its subtype: macAddress(3), networkAddress(4), the rest as text.
fn port_id_text(subtype: i64, value: &super::client::SnmpValue) -> String {
    identifier(subtype == 3, subtype == 4, value)
}

fn identifier(mac: bool, network: bool, value: &super::client::SnmpValue) -> String {
    let super::client::SnmpValue::Bytes(b) = value else {
        return value.as_text().unwrap_or_default();
    };
    if mac && b.len() == 6 {
        return mac_text(b);
    }
    if network {
        if let Some((family, rest)) = b.split_first() {
            if let Some(a) = address(u32::from(*family), rest) {
                return a;
            }
        }
    }
    match std::str::from_utf8(b) {
        Ok(t) if t.chars().all(|c| !c.is_control() || c == '\0') => {
            t.trim_end_matches('\0').trim().to_string()
        }
        _ => mac_text(b),
    }
}

/// Bytes as lower-case hex pairs joined by colons.
fn mac_text(b: &[u8]) -> String {
    let parts: Vec<String> = b.iter().map(|x| format!("{x:02x}")).collect();
    parts.join(":")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::snmp::client::{Oid, SnmpValue};

    fn put(r: &mut Readings, key: &str, rows: &[(&str, SnmpValue)]) {
        let c = *COLUMNS
            .iter()
            .chain(INTERFACE_NAMES)
            .find(|c| c.key == key)
            .unwrap();
        let vals = rows
            .iter()
            .map(|(i, v)| (Oid::of(&format!("{}.{i}", c.oid)), v.clone()))
            .collect();
        r.put_column(&c, vals);
    }

    fn bytes(s: &str) -> SnmpValue {
        SnmpValue::Bytes(s.as_bytes().to_vec())
    }

    fn labels(s: &Sample, key: &str) -> String {
        s.labels[key].clone()
    }

    #[test]
    fn due_on_first_walk_interval_and_restart() {
        let hour = DEFAULT_INTERVAL;
        assert!(due(None, hour, Some(100)));
        let last = |mins: u64, ticks| {
            Some(Walked {
                elapsed: Duration::from_secs(mins * 60),
                uptime_ticks: Some(ticks),
            })
        };
        assert!(!due(last(5, 1_000), hour, Some(31_000)));
        assert!(due(last(60, 1_000), hour, Some(361_000)));
        assert!(due(last(5, 1_000_000), hour, Some(2_000)));
    }

    #[test]
    fn lldp_ports_map_by_name_bridge_and_index_with_addresses() {
        let mut r = Readings::default();
        put(
            &mut r,
            "if_descr",
            &[
                ("10101", bytes("GigabitEthernet1/0/1")),
                ("10102", bytes("GigabitEthernet1/0/2")),
                ("7", bytes("port 7")),
            ],
        );
        put(
            &mut r,
            "if_name",
            &[("10101", bytes("Gi1/0/1")), ("10102", bytes("Gi1/0/2"))],
        );
        // Port 1 is named, port 2 is bridge port 2 -> ifIndex 10102, port 7 is ifIndex 7.
        put(
            &mut r,
            "lldp_loc_port_id",
            &[("1", bytes("Gi1/0/1")), ("2", bytes("00-11"))],
        );
        put(
            &mut r,
            "bridge_port_if_index",
            &[("2", SnmpValue::Integer(10102))],
        );
        put(
            &mut r,
            "lldp_rem_chassis_subtype",
            &[
                ("0.1.1", SnmpValue::Integer(4)),
                ("0.2.3", SnmpValue::Integer(7)),
                ("0.7.4", SnmpValue::Integer(4)),
            ],
        );
        put(
            &mut r,
            "lldp_rem_chassis_id",
            &[
                (
                    "0.1.1",
                    SnmpValue::Bytes(vec![0, 0x1b, 0x2c, 0x3d, 0x4e, 0x5f]),
                ),
                ("0.2.3", bytes("SG12AB345C")),
                ("0.7.4", SnmpValue::Bytes(vec![0xaa, 0, 0, 0, 0, 1])),
            ],
        );
        put(
            &mut r,
            "lldp_rem_sys_name",
            &[
                ("0.1.1", bytes("dist-1.example.se")),
                ("0.2.3", bytes("hp-1")),
            ],
        );
        put(
            &mut r,
            "lldp_rem_man_addr_if_subtype",
            &[
                ("0.1.1.1.4.10.0.0.2", SnmpValue::Integer(2)),
                (
                    "0.1.1.2.16.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1",
                    SnmpValue::Integer(2),
                ),
            ],
        );
        let mut out = Outcome::success();
        read(&r, &mut out);
        let Value::Series(n) = &out.values[readings::NEIGHBORS] else {
            panic!("{out:?}")
        };
        assert_eq!(n.len(), 3);
        assert_eq!(labels(&n[0], "ifIndex"), "10101");
        assert_eq!(labels(&n[0], "ifName"), "Gi1/0/1");
        assert_eq!(labels(&n[0], "chassis_id"), "00:1b:2c:3d:4e:5f");
        assert_eq!(labels(&n[0], "addresses"), "10.0.0.2,::1");
        assert_eq!(labels(&n[1], "ifIndex"), "10102");
        assert_eq!(labels(&n[1], "chassis_id"), "SG12AB345C");
        assert_eq!(labels(&n[2], "ifName"), "port 7");
        assert_eq!(out.values["neighbor_count"], Value::Number(3.0));
    }

    #[test]
    fn cdp_rows_and_no_answer() {
        let mut out = Outcome::success();
        read(&Readings::default(), &mut out);
        assert!(out.values.is_empty());
        let mut r = Readings::default();
        put(&mut r, "if_descr", &[("5", bytes("GigabitEthernet0/5"))]);
        put(&mut r, "if_name", &[("5", bytes("Gi0/5"))]);
        put(&mut r, "cdp_device_id", &[("5.1", bytes("core-1(FOC123)"))]);
        put(
            &mut r,
            "cdp_address_type",
            &[("5.1", SnmpValue::Integer(1))],
        );
        put(
            &mut r,
            "cdp_address",
            &[("5.1", SnmpValue::Bytes(vec![192, 0, 2, 1]))],
        );
        put(&mut r, "cdp_device_port", &[("5.1", bytes("Te1/1/1"))]);
        read(&r, &mut out);
        let Value::Series(n) = &out.values[readings::NEIGHBORS] else {
            panic!()
        };
        assert_eq!(labels(&n[0], "protocol"), "cdp");
        assert_eq!(labels(&n[0], "ifName"), "Gi0/5");
        assert_eq!(labels(&n[0], "addresses"), "192.0.2.1");
        assert_eq!(labels(&n[0], "port"), "Te1/1/1");
    }
}
