//! The `printer` profile: HOST-RESOURCES-MIB printer and device status, Printer-MIB supplies.
//!
//! Reads hrPrinterStatus (1.3.6.1.2.1.25.3.5.1.1) and hrDeviceStatus (1.3.6.1.2.1.25.3.2.1.5) of
//! the printer device (the first hrPrinterTable row; hrDeviceStatus of that same hrDeviceIndex),
//! and per marker supply prtMarkerSuppliesDescription (.6), MaxCapacity (.8) and Level (.9)
//! under 1.3.6.1.2.1.43.11.1.1.
//!
//! Supplies with a level ≥ 0 and a capacity > 0 give `printer_supply_ratio{supply}`; under the
//! check's `supply_low_ratio` (default 0.1) they raise `printer_supply_low`. Printer-MIB's
//! special values never become an invented ratio: level -3 ("some remaining"), -2 (unknown),
//! -1 (other), or a capacity of -1 (unlimited), -2 (unknown) or 0 are reported in
//! `printer_supply_state{supply, state}` with the raw level as the value and state
//! `some_remaining`, `unknown`, `other` or `unknown_capacity`.
//!
//! hrDeviceStatus down(5) raises `printer_down`; warning(3) is only a value.

use super::profiles::{index_text, sample, series, Context, Object, Profile, Readings};
use crate::probe::Outcome;
use driftvakt_common::readings;
use driftvakt_common::wire::Sample;

pub const PROFILE: Profile = Profile {
    name: "printer",
    scalars: &[],
    columns: COLUMNS,
    fallback: &[],
    needs_fallback: super::profiles::never,
    read,
};

const COLUMNS: &[Object] = &[
    Object::new("hr_printer_status", "1.3.6.1.2.1.25.3.5.1.1"),
    Object::new("hr_device_status", "1.3.6.1.2.1.25.3.2.1.5"),
    Object::new("supply_descr", "1.3.6.1.2.1.43.11.1.1.6"),
    Object::new("supply_max", "1.3.6.1.2.1.43.11.1.1.8"),
    Object::new("supply_level", "1.3.6.1.2.1.43.11.1.1.9"),
];

const DEVICE_DOWN: i64 = 5;

/// One marker supply's level, read with Printer-MIB's special values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SupplyLevel {
    Ratio(f64),
    /// A special value instead of a ratio: the state label.
    State(&'static str),
}

/// Reads a level and a capacity (Printer-MIB: -1 other/unlimited, -2 unknown, -3 some left).
pub fn supply_level(level: i64, max: Option<i64>) -> SupplyLevel {
    match (level, max) {
        (-3, _) => SupplyLevel::State("some_remaining"),
        (-2, _) => SupplyLevel::State("unknown"),
        (l, _) if l < 0 => SupplyLevel::State("other"),
        (l, Some(m)) if m > 0 => SupplyLevel::Ratio((l as f64 / m as f64).clamp(0.0, 1.0)),
        _ => SupplyLevel::State("unknown_capacity"),
    }
}

fn read(r: &Readings, ctx: &Context, out: &mut Outcome) {
    read_status(r, out);
    read_supplies(r, ctx.supply_low_ratio, out);
}

fn read_status(r: &Readings, out: &mut Outcome) {
    let printer = r.column("hr_printer_status").iter().next();
    if let Some((_, v)) = printer {
        if let Some(s) = v.as_i64() {
            out.number("printer_status", s as f64);
        }
    }
    let devices = r.column("hr_device_status");
    let device = match printer {
        Some((index, _)) => devices.get(index),
        None => devices.values().next(),
    };
    let Some(status) = device.and_then(|v| v.as_i64()) else {
        return;
    };
    out.number("printer_device_status", status as f64);
    if status == DEVICE_DOWN {
        out.finding(
            "printer_down",
            "the printer reports its device status as down (hrDeviceStatus 5)",
        );
    }
}

fn read_supplies(r: &Readings, low: f64, out: &mut Outcome) {
    let mut ratios: Vec<Sample> = Vec::new();
    let mut states: Vec<Sample> = Vec::new();
    for (index, level) in r.column("supply_level") {
        let Some(level) = level.as_i64() else {
            continue;
        };
        let name = supply_name(r, index);
        let max = r.column("supply_max").get(index).and_then(|v| v.as_i64());
        match supply_level(level, max) {
            SupplyLevel::Ratio(ratio) => {
                ratios.push(sample(&[(readings::SUPPLY_LABEL, &name)], ratio));
                if ratio < low {
                    out.finding(
                        readings::PRINTER_SUPPLY_LOW,
                        format!(
                            "{name} is at {:.0} % (under {:.0} %)",
                            ratio * 100.0,
                            low * 100.0
                        ),
                    );
                }
            }
            SupplyLevel::State(state) => states.push(sample(
                &[(readings::SUPPLY_LABEL, &name), ("state", state)],
                level as f64,
            )),
        }
    }
    if !ratios.is_empty() {
        out.values
            .insert(readings::PRINTER_SUPPLY_RATIO.into(), series(ratios));
    }
    if !states.is_empty() {
        out.values
            .insert("printer_supply_state".into(), series(states));
    }
}

fn supply_name(r: &Readings, index: &[u32]) -> String {
    r.column("supply_descr")
        .get(index)
        .and_then(|v| v.as_text())
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| format!("supply {}", index_text(index)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::snmp::client::{Oid, SnmpValue};
    use driftvakt_common::wire::Value;

    fn put(r: &mut Readings, key: &str, rows: &[(&str, SnmpValue)]) {
        let c = *COLUMNS.iter().find(|c| c.key == key).unwrap();
        let rows = rows
            .iter()
            .map(|(i, v)| (Oid::of(&format!("{}.{i}", c.oid)), v.clone()))
            .collect();
        r.put_column(&c, rows);
    }

    fn text(s: &str) -> SnmpValue {
        SnmpValue::Bytes(s.as_bytes().to_vec())
    }

    #[test]
    fn special_levels() {
        assert_eq!(supply_level(50, Some(100)), SupplyLevel::Ratio(0.5));
        assert_eq!(
            supply_level(-3, Some(100)),
            SupplyLevel::State("some_remaining")
        );
        assert_eq!(supply_level(-2, Some(100)), SupplyLevel::State("unknown"));
        assert_eq!(supply_level(-1, Some(100)), SupplyLevel::State("other"));
        assert_eq!(
            supply_level(10, Some(-2)),
            SupplyLevel::State("unknown_capacity")
        );
        assert_eq!(
            supply_level(10, None),
            SupplyLevel::State("unknown_capacity")
        );
    }

    #[test]
    fn low_toner_down_printer_and_some_remaining() {
        let mut r = Readings::default();
        put(&mut r, "hr_printer_status", &[("1", SnmpValue::Integer(3))]);
        put(
            &mut r,
            "hr_device_status",
            &[("1", SnmpValue::Integer(5)), ("2", SnmpValue::Integer(2))],
        );
        put(
            &mut r,
            "supply_descr",
            &[("1.1", text("Black Toner")), ("1.2", text("Waste"))],
        );
        put(
            &mut r,
            "supply_max",
            &[
                ("1.1", SnmpValue::Integer(2000)),
                ("1.2", SnmpValue::Integer(-2)),
            ],
        );
        put(
            &mut r,
            "supply_level",
            &[
                ("1.1", SnmpValue::Integer(100)),
                ("1.2", SnmpValue::Integer(-3)),
            ],
        );
        let mut out = Outcome::success();
        let ctx = Context {
            supply_low_ratio: 0.1,
            ..Context::default()
        };
        read(&r, &ctx, &mut out);
        let codes: Vec<_> = out.findings.iter().map(|f| f.code.as_str()).collect();
        assert_eq!(codes, ["printer_down", "printer_supply_low"]);
        assert!(out.findings[1]
            .message
            .contains("Black Toner is at 5 % (under 10 %)"));
        assert_eq!(out.values["printer_device_status"], Value::Number(5.0));
        let Value::Series(s) = &out.values["printer_supply_state"] else {
            panic!()
        };
        assert_eq!(s[0].labels["state"], "some_remaining");
        assert_eq!(s[0].labels["supply"], "Waste");
    }
}
