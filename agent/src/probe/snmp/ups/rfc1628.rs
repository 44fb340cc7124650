//! RFC 1628 UPS-MIB (1.3.6.1.2.1.33): minutes, percent, RFC codes as they are.
//!
//! upsBatteryStatus 1 unknown, 2 normal, 3 low, 4 depleted; upsOutputSource 3 normal, 5 battery
//! (the object definition is right, the RFC's compliance text is not); upsTestResultsSummary 1
//! donePass, 2 doneWarning, 3 doneError, 4 aborted, 5 inProgress, 6 noTestsInitiated; the
//! battery needs replacing while upsAlarmBatteryBad (33.1.6.3.1) is in the alarm table.

use super::{Battery, MibSpec, SelfTest, UpsState};
use crate::config::UpsMib as Mib;
use crate::probe::snmp::client::Oid;
use crate::probe::snmp::profiles::{Object, Readings};

pub const SPEC: MibSpec = MibSpec {
    mib: Mib::Rfc1628,
    scalars: &[
        Object::new("rfc_battery_status", "1.3.6.1.2.1.33.1.2.1.0"),
        Object::new("rfc_runtime_minutes", "1.3.6.1.2.1.33.1.2.3.0"),
        Object::new("rfc_charge_percent", "1.3.6.1.2.1.33.1.2.4.0"),
        Object::new("rfc_input_line_bads", "1.3.6.1.2.1.33.1.3.1.0"),
        Object::new("rfc_output_source", "1.3.6.1.2.1.33.1.4.1.0"),
        Object::new("rfc_test_result", "1.3.6.1.2.1.33.1.7.3.0"),
    ],
    columns: &[Object::new("rfc_alarm_descr", "1.3.6.1.2.1.33.1.6.2.1.2")],
    enterprise: "",
    state,
};

/// upsAlarmBatteryBad: "one or more batteries have been determined to require replacement".
const ALARM_BATTERY_BAD: &str = "1.3.6.1.2.1.33.1.6.3.1";

fn state(r: &Readings) -> UpsState {
    let mut s = UpsState::new(Mib::Rfc1628).with_source(r.int("rfc_output_source"));
    s.battery = r.int("rfc_battery_status").and_then(Battery::from_code);
    s.runtime_minutes = r.int("rfc_runtime_minutes").map(|m| m as f64);
    s.charge_percent = r.int("rfc_charge_percent").map(|c| c as f64);
    s.input_line_bads = r.int("rfc_input_line_bads");
    s.self_test = r.int("rfc_test_result").map(|t| match t {
        1 => SelfTest::Passed,
        2 => SelfTest::Warning,
        3 => SelfTest::Failed,
        4 => SelfTest::Aborted,
        5 => SelfTest::InProgress,
        6 => SelfTest::NotRun,
        _ => SelfTest::Unknown,
    });
    s.replace_battery = alarm_present(r, "rfc_alarm_descr", ALARM_BATTERY_BAD);
    s
}

/// Whether an alarm table (its description column, OID values) holds `alarm`; `None` when the
/// column was not read.
pub fn alarm_present(r: &Readings, column: &str, alarm: &str) -> Option<bool> {
    if !r.columns.contains_key(column) {
        return None;
    }
    let alarm = Oid::of(alarm);
    Some(
        r.column(column)
            .values()
            .any(|v| v.as_oid() == Some(&alarm)),
    )
}
