//! The `switch` profile: uptime, per-interface status and octet counters, uplinks.
//!
//! Reads IF-MIB's ifTable (1.3.6.1.2.1.2.2) and ifXTable (1.3.6.1.2.1.31.1.1) column by column.
//! Interfaces are named by ifXTable's ifName, falling back to ifDescr. Octet counters are the
//! 64-bit ifHCInOctets/ifHCOutOctets, falling back per interface to the 32-bit ifInOctets /
//! ifOutOctets where the agent has no ifXTable (Ubiquiti airMAX) or leaves a row out (Cisco).
//!
//! An interface counts as "down" when ifOperStatus is down(2) or lowerLayerDown(7); dormant,
//! testing, unknown and notPresent are not counted as down.

use super::profiles::{
    index_text, read_system, sample, series, Context, Object, Profile, Readings, SYSTEM_SCALARS,
};
use crate::probe::Outcome;
use driftvakt_common::readings;
use driftvakt_common::wire::{Sample, Value};

pub const PROFILE: Profile = Profile {
    name: "switch",
    scalars: SYSTEM_SCALARS,
    columns: COLUMNS,
    fallback: COUNTERS_32,
    needs_fallback: lacks_64_bit_counters,
    read,
};

const COLUMNS: &[Object] = &[
    Object::new("if_descr", "1.3.6.1.2.1.2.2.1.2"),
    Object::new(readings::IF_ADMIN_STATUS, "1.3.6.1.2.1.2.2.1.7"),
    Object::new(readings::IF_OPER_STATUS, "1.3.6.1.2.1.2.2.1.8"),
    Object::new("if_name", "1.3.6.1.2.1.31.1.1.1.1"),
    Object::new("if_hc_in_octets", "1.3.6.1.2.1.31.1.1.1.6"),
    Object::new("if_hc_out_octets", "1.3.6.1.2.1.31.1.1.1.10"),
];

/// ifInOctets and ifOutOctets: walked only when some interface has no 64-bit counter.
const COUNTERS_32: &[Object] = &[
    Object::new("if_in_octets_32", "1.3.6.1.2.1.2.2.1.10"),
    Object::new("if_out_octets_32", "1.3.6.1.2.1.2.2.1.16"),
];

/// Whether an interface lacks ifHCInOctets or ifHCOutOctets (no ifXTable, or a row left out).
fn lacks_64_bit_counters(r: &Readings) -> bool {
    let (hc_in, hc_out) = (r.column("if_hc_in_octets"), r.column("if_hc_out_octets"));
    interface_rows(r).any(|row| !hc_in.contains_key(row) || !hc_out.contains_key(row))
}

/// Row indices of ifDescr, ifAdminStatus and ifOperStatus (with repeats).
fn interface_rows(r: &Readings) -> impl Iterator<Item = &Vec<u32>> {
    [
        "if_descr",
        readings::IF_ADMIN_STATUS,
        readings::IF_OPER_STATUS,
    ]
    .into_iter()
    .flat_map(|k| r.column(k).keys())
}

const UP: i64 = 1;
const DOWN: i64 = 2;
const LOWER_LAYER_DOWN: i64 = 7;

/// One interface as read from the tables.
#[derive(Debug, Clone, PartialEq)]
pub struct Interface {
    /// The row index as read (ifIndex).
    pub row: Vec<u32>,
    pub index: String,
    pub name: String,
    pub descr: String,
    pub admin: Option<i64>,
    pub oper: Option<i64>,
}

impl Interface {
    /// Admin-up and oper down or lowerLayerDown.
    pub fn admin_up_oper_down(&self) -> bool {
        self.admin == Some(UP) && matches!(self.oper, Some(DOWN | LOWER_LAYER_DOWN))
    }

    fn labels(&self) -> [(&str, &str); 2] {
        [("ifIndex", &self.index), ("ifName", &self.name)]
    }

    /// Whether `wanted` names this interface by ifName, ifDescr or ifIndex.
    fn is_named(&self, wanted: &str) -> bool {
        [&self.name, &self.descr, &self.index]
            .iter()
            .any(|n| n.as_str() == wanted)
    }
}

/// The interfaces, in ifIndex order: every row of ifDescr, ifAdminStatus or ifOperStatus.
pub fn interfaces(r: &Readings) -> Vec<Interface> {
    let mut indices: Vec<&Vec<u32>> = interface_rows(r).collect();
    indices.sort();
    indices.dedup();
    indices.into_iter().map(|i| interface(r, i)).collect()
}

fn interface(r: &Readings, index: &[u32]) -> Interface {
    let text = |key: &str| r.column(key).get(index).and_then(|v| v.as_text());
    let int = |key: &str| r.column(key).get(index).and_then(|v| v.as_i64());
    let index_s = index_text(index);
    let descr = text("if_descr").unwrap_or_default();
    let name = text("if_name")
        .filter(|n| !n.is_empty())
        .or_else(|| Some(descr.clone()).filter(|d| !d.is_empty()))
        .unwrap_or_else(|| index_s.clone());
    Interface {
        row: index.to_vec(),
        index: index_s,
        name,
        descr,
        admin: int(readings::IF_ADMIN_STATUS),
        oper: int(readings::IF_OPER_STATUS),
    }
}

fn read(r: &Readings, ctx: &Context, out: &mut Outcome) {
    read_system(r, ctx, out);
    let ifs = interfaces(r);
    if ifs.is_empty() {
        return;
    }
    status_series(&ifs, out);
    counter_series(r, &ifs, out);
    out.number("if_count", ifs.len() as f64);
    let up = ifs.iter().filter(|i| i.oper == Some(UP)).count();
    out.number("if_up_count", up as f64);
    let down = ifs.iter().filter(|i| i.admin_up_oper_down()).count();
    out.number("if_admin_up_oper_down_count", down as f64);
    uplink_findings(&ifs, &ctx.uplinks, out);
}

fn status_series(ifs: &[Interface], out: &mut Outcome) {
    let of = |f: fn(&Interface) -> Option<i64>| -> Vec<Sample> {
        ifs.iter()
            .filter_map(|i| f(i).map(|v| sample(&i.labels(), v as f64)))
            .collect()
    };
    out.values
        .insert(readings::IF_OPER_STATUS.into(), series(of(|i| i.oper)));
    out.values
        .insert(readings::IF_ADMIN_STATUS.into(), series(of(|i| i.admin)));
}

/// `if_in_octets` / `if_out_octets`: 64-bit where the row has it, else 32-bit.
fn counter_series(r: &Readings, ifs: &[Interface], out: &mut Outcome) {
    let hc = !r.column("if_hc_in_octets").is_empty();
    out.values
        .insert("if_counters_64bit".into(), Value::Bool(hc));
    let pairs = [
        ("if_in_octets", "if_hc_in_octets", "if_in_octets_32"),
        ("if_out_octets", "if_hc_out_octets", "if_out_octets_32"),
    ];
    for (key, wide, narrow) in pairs {
        let samples: Vec<Sample> = ifs
            .iter()
            .filter_map(|i| {
                let v = r
                    .column(wide)
                    .get(&i.row)
                    .or_else(|| r.column(narrow).get(&i.row))?;
                Some(sample(&i.labels(), v.as_f64()?))
            })
            .collect();
        if !samples.is_empty() {
            out.values.insert(key.into(), series(samples));
        }
    }
}

fn uplink_findings(ifs: &[Interface], uplinks: &[String], out: &mut Outcome) {
    for wanted in uplinks {
        match ifs.iter().find(|i| i.is_named(wanted)) {
            Some(i) if i.admin_up_oper_down() => out.finding(
                "uplink_down",
                format!(
                    "uplink {} (ifIndex {}) is administratively up but operationally down",
                    i.name, i.index
                ),
            ),
            Some(_) => {}
            None => out.finding(
                "uplink_not_found",
                format!("uplink {wanted} is not among the switch's interfaces (ifName, ifDescr or ifIndex)"),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::snmp::client::{Oid, SnmpValue};

    fn readings(rows: &[(u32, &str, Option<&str>, i64, i64)], hc: bool) -> Readings {
        let mut r = Readings::default();
        let col = |key: &str| {
            *COLUMNS
                .iter()
                .chain(COUNTERS_32)
                .find(|c| c.key == key)
                .unwrap()
        };
        let put = |r: &mut Readings, key: &str, f: &dyn Fn(u32) -> SnmpValue| {
            let c = col(key);
            let vals = rows
                .iter()
                .map(|row| (Oid::of(&format!("{}.{}", c.oid, row.0)), f(row.0)))
                .collect();
            r.put_column(&c, vals);
        };
        let find = |i: u32| rows.iter().find(|row| row.0 == i).unwrap();
        put(&mut r, "if_descr", &|i| {
            SnmpValue::Bytes(find(i).1.as_bytes().to_vec())
        });
        put(&mut r, "if_admin_status", &|i| {
            SnmpValue::Integer(find(i).3)
        });
        put(&mut r, "if_oper_status", &|i| SnmpValue::Integer(find(i).4));
        put(&mut r, "if_in_octets_32", &|i| {
            SnmpValue::Unsigned(u64::from(i) * 10)
        });
        put(&mut r, "if_out_octets_32", &|i| {
            SnmpValue::Unsigned(u64::from(i) * 20)
        });
        if hc {
            let named: Vec<_> = rows.iter().filter(|r| r.2.is_some()).collect();
            let c = col("if_name");
            let vals = named
                .iter()
                .map(|row| {
                    let oid = Oid::of(&format!("{}.{}", c.oid, row.0));
                    (oid, SnmpValue::Bytes(row.2.unwrap().as_bytes().to_vec()))
                })
                .collect();
            r.put_column(&c, vals);
            let c = col("if_hc_in_octets");
            let vals = named
                .iter()
                .map(|row| {
                    let oid = Oid::of(&format!("{}.{}", c.oid, row.0));
                    (oid, SnmpValue::Unsigned(1 << 40))
                })
                .collect();
            r.put_column(&c, vals);
        }
        r
    }

    fn ctx(uplinks: &[&str]) -> Context {
        Context {
            uplinks: uplinks.iter().map(|s| s.to_string()).collect(),
            ..Context::default()
        }
    }

    #[test]
    fn counts_names_and_uplink_down() {
        let rows = [
            (1, "GigabitEthernet0/1", Some("Gi0/1"), 1, 1),
            (2, "GigabitEthernet0/2", Some("Gi0/2"), 1, 2),
            (3, "Vlan1", None, 2, 2),
            (4, "GigabitEthernet0/4", Some(""), 1, 7),
        ];
        let r = readings(&rows, true);
        let mut out = Outcome::success();
        read(&r, &ctx(&["Gi0/2", "GigabitEthernet0/1", "9"]), &mut out);
        assert_eq!(out.values["if_count"], Value::Number(4.0));
        assert_eq!(out.values["if_up_count"], Value::Number(1.0));
        assert_eq!(
            out.values["if_admin_up_oper_down_count"],
            Value::Number(2.0)
        );
        let codes: Vec<_> = out.findings.iter().map(|f| f.code.as_str()).collect();
        assert_eq!(codes, ["uplink_down", "uplink_not_found"]);
        assert!(out.findings[0].message.contains("Gi0/2"));
        let Value::Series(oper) = &out.values["if_oper_status"] else {
            panic!()
        };
        // ifName falls back to ifDescr when absent or empty.
        assert_eq!(oper[2].labels["ifName"], "Vlan1");
        assert_eq!(oper[3].labels["ifName"], "GigabitEthernet0/4");
        // Rows with a 64-bit counter use it, the others fall back to 32 bits.
        let Value::Series(inn) = &out.values["if_in_octets"] else {
            panic!()
        };
        assert_eq!(inn[0].value, (1u64 << 40) as f64);
        assert_eq!(inn[2].value, 30.0);
    }

    #[test]
    fn no_ifxtable_uses_32_bit_counters() {
        let r = readings(&[(1, "lo", None, 1, 1), (2, "eth0", None, 1, 1)], false);
        let mut out = Outcome::success();
        read(&r, &ctx(&["eth0"]), &mut out);
        assert!(out.findings.is_empty());
        assert_eq!(out.values["if_counters_64bit"], Value::Bool(false));
        let Value::Series(o) = &out.values["if_out_octets"] else {
            panic!()
        };
        assert_eq!(o[1].value, 40.0);
        assert_eq!(o[1].labels["ifName"], "eth0");
    }
}
