//! The `ups` profile: RFC 1628 UPS-MIB (1.3.6.1.2.1.33) battery and output readings.
//!
//! Values: `ups_battery_status` (2 normal, 3 low, 4 depleted), `ups_runtime_minutes`,
//! `ups_charge_ratio` (0..1), `ups_output_source` (3 normal, 5 battery: the object definition
//! is right, RFC 1628's compliance text is not), `ups_on_battery`, `ups_input_line_bads`, and
//! `ups_runtime_implausible`.
//!
//! Findings: `ups_on_battery`, `ups_battery_low`, `ups_runtime_below_minimum` (runtime under the
//! device's `min_runtime_minutes`, default 240: the four-hour reserve the network nodes need).
//!
//! Quirk (Phoenixtec, recorded): some UPS units report 0 minutes remaining while on mains with
//! the battery normal and fully charged. Such a reading is implausible: when the UPS is on
//! mains, the battery is normal, the charge is at least 90 % and the runtime is 0, the value is
//! still reported but `ups_runtime_implausible` is true and no `ups_runtime_below_minimum` is
//! raised. On battery (or with a low battery or charge) the runtime is trusted as read.

use super::profiles::{Context, Object, Profile, Readings};
use crate::probe::Outcome;
use driftvakt_common::readings;
use driftvakt_common::wire::Value;

pub const PROFILE: Profile = Profile {
    name: "ups",
    scalars: SCALARS,
    columns: &[],
    read,
};

const SCALARS: &[Object] = &[
    Object::new("battery_status", "1.3.6.1.2.1.33.1.2.1.0"),
    Object::new("runtime_minutes", "1.3.6.1.2.1.33.1.2.3.0"),
    Object::new("charge_percent", "1.3.6.1.2.1.33.1.2.4.0"),
    Object::new("input_line_bads", "1.3.6.1.2.1.33.1.3.1.0"),
    Object::new("output_source", "1.3.6.1.2.1.33.1.4.1.0"),
];

const BATTERY_NORMAL: i64 = 2;
const BATTERY_LOW: i64 = 3;
const BATTERY_DEPLETED: i64 = 4;
const SOURCE_BATTERY: i64 = 5;
/// Charge (percent) from which a 0-minute runtime on mains is taken as implausible.
const PLAUSIBLE_CHARGE_PERCENT: i64 = 90;

fn read(r: &Readings, ctx: &Context, out: &mut Outcome) {
    let status = r.int("battery_status");
    let source = r.int("output_source");
    let charge = r.int("charge_percent");
    let on_battery = source.map(|s| s == SOURCE_BATTERY);
    put_numbers(r, out);
    if let Some(on) = on_battery {
        out.values
            .insert(readings::UPS_ON_BATTERY.into(), Value::Bool(on));
    }
    if on_battery == Some(true) {
        out.finding(
            readings::UPS_ON_BATTERY,
            "the UPS runs on battery (upsOutputSource battery)",
        );
    }
    if let Some(s @ (BATTERY_LOW | BATTERY_DEPLETED)) = status {
        let what = if s == BATTERY_LOW { "low" } else { "depleted" };
        out.finding(
            "ups_battery_low",
            format!("the UPS battery is {what} (upsBatteryStatus {s})"),
        );
    }
    if let Some(minutes) = r.int("runtime_minutes") {
        let implausible = on_battery == Some(false)
            && status == Some(BATTERY_NORMAL)
            && charge.is_some_and(|c| c >= PLAUSIBLE_CHARGE_PERCENT)
            && minutes == 0;
        out.values
            .insert("ups_runtime_implausible".into(), Value::Bool(implausible));
        if !implausible {
            check_runtime(minutes, ctx.min_runtime_minutes, out);
        }
    }
}

fn put_numbers(r: &Readings, out: &mut Outcome) {
    if let Some(s) = r.int("battery_status") {
        out.number("ups_battery_status", s as f64);
    }
    if let Some(m) = r.int("runtime_minutes") {
        out.number(readings::UPS_RUNTIME_MINUTES, m as f64);
    }
    if let Some(c) = r.int("charge_percent") {
        out.number("ups_charge_ratio", (c as f64 / 100.0).clamp(0.0, 1.0));
    }
    if let Some(s) = r.int("output_source") {
        out.number("ups_output_source", s as f64);
    }
    if let Some(b) = r.int("input_line_bads") {
        out.number("ups_input_line_bads", b as f64);
    }
}

fn check_runtime(minutes: i64, minimum: u32, out: &mut Outcome) {
    if minutes >= i64::from(minimum) {
        return;
    }
    out.finding(
        readings::UPS_RUNTIME_BELOW_MINIMUM,
        format!(
            "estimated runtime {minutes} minutes is below the {} requirement",
            requirement(minimum)
        ),
    );
}

/// "4-hour/240-minute" for whole hours, "90-minute" otherwise.
fn requirement(minimum: u32) -> String {
    if minimum >= 60 && minimum.is_multiple_of(60) {
        format!("{}-hour/{minimum}-minute", minimum / 60)
    } else {
        format!("{minimum}-minute")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::snmp::client::{Oid, SnmpValue};

    fn readings(status: i64, minutes: i64, charge: i64, source: i64) -> Readings {
        let mut r = Readings::default();
        for (key, v) in [
            ("battery_status", status),
            ("runtime_minutes", minutes),
            ("charge_percent", charge),
            ("output_source", source),
        ] {
            let o = SCALARS.iter().find(|o| o.key == key).unwrap();
            r.put_scalar(SCALARS, &Oid::of(o.oid), SnmpValue::Integer(v));
        }
        r
    }

    fn run(r: &Readings) -> Outcome {
        let mut out = Outcome::success();
        let ctx = Context {
            min_runtime_minutes: 240,
            ..Context::default()
        };
        read(r, &ctx, &mut out);
        out
    }

    fn codes(o: &Outcome) -> Vec<&str> {
        o.findings.iter().map(|f| f.code.as_str()).collect()
    }

    #[test]
    fn on_mains_with_enough_runtime_is_fine() {
        let o = run(&readings(2, 1092, 100, 3));
        assert!(o.findings.is_empty());
        assert_eq!(o.values["ups_runtime_minutes"], Value::Number(1092.0));
        assert_eq!(o.values["ups_charge_ratio"], Value::Number(1.0));
        assert_eq!(o.values["ups_on_battery"], Value::Bool(false));
        assert_eq!(o.values["ups_runtime_implausible"], Value::Bool(false));
    }

    #[test]
    fn on_battery_with_35_minutes() {
        let o = run(&readings(2, 35, 40, 5));
        assert_eq!(codes(&o), ["ups_on_battery", "ups_runtime_below_minimum"]);
        let msg = &o.findings[1].message;
        assert!(
            msg.contains("35 minutes") && msg.contains("4-hour/240-minute"),
            "{msg}"
        );
    }

    #[test]
    fn zero_minutes_on_mains_full_charge_is_implausible() {
        let o = run(&readings(2, 0, 100, 3));
        assert!(o.findings.is_empty());
        assert_eq!(o.values["ups_runtime_minutes"], Value::Number(0.0));
        assert_eq!(o.values["ups_runtime_implausible"], Value::Bool(true));
        // On battery the same zero is trusted.
        let o = run(&readings(2, 0, 100, 5));
        assert_eq!(codes(&o), ["ups_on_battery", "ups_runtime_below_minimum"]);
        // A low battery is trusted too.
        let o = run(&readings(3, 0, 100, 3));
        assert_eq!(codes(&o), ["ups_battery_low", "ups_runtime_below_minimum"]);
    }

    #[test]
    fn requirement_text() {
        assert_eq!(requirement(240), "4-hour/240-minute");
        assert_eq!(requirement(90), "90-minute");
    }
}
