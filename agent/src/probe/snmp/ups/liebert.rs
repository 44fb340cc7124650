//! Vertiv/Liebert LIEBERT-GP-POWER-MIB (1.3.6.1.4.1.476.1.42.3.5): GXT and NXr cards.
//!
//! lgpPwrBatteryTimeRemaining is minutes; lgpPwrBatteryCapacity percent;
//! lgpPwrBatteryCapacityStatus and lgpPwrStateUpsOutputSource use RFC 1628's codes;
//! lgpPwrBatteryTestResult 1 unknown, 2 passed, 3 failed, 4 inProgress, 5 systemFailure,
//! 6 inhibited. This MIB has no battery-replacement flag (that is a condition in
//! LIEBERT-GP-CONDITIONS-MIB, not read).

use super::{Battery, MibSpec, SelfTest, UpsState};
use crate::config::UpsMib as Mib;
use crate::probe::snmp::profiles::{Object, Readings};

pub const SPEC: MibSpec = MibSpec {
    mib: Mib::Liebert,
    scalars: &[
        Object::new("lgp_test_result", "1.3.6.1.4.1.476.1.42.3.5.1.8.0"),
        Object::new("lgp_runtime_minutes", "1.3.6.1.4.1.476.1.42.3.5.1.18.0"),
        Object::new("lgp_capacity_percent", "1.3.6.1.4.1.476.1.42.3.5.1.19.0"),
        Object::new("lgp_battery_status", "1.3.6.1.4.1.476.1.42.3.5.1.26.0"),
        Object::new("lgp_output_source", "1.3.6.1.4.1.476.1.42.3.5.3.55.0"),
    ],
    columns: &[],
    enterprise: "1.3.6.1.4.1.476",
    state,
};

fn state(r: &Readings) -> UpsState {
    let mut s = UpsState::new(Mib::Liebert).with_source(r.int("lgp_output_source"));
    s.runtime_minutes = r.int("lgp_runtime_minutes").map(|m| m as f64);
    s.charge_percent = r.int("lgp_capacity_percent").map(|c| c as f64);
    s.battery = r.int("lgp_battery_status").and_then(Battery::from_code);
    s.self_test = r.int("lgp_test_result").map(|t| match t {
        2 => SelfTest::Passed,
        3 | 5 => SelfTest::Failed,
        4 => SelfTest::InProgress,
        _ => SelfTest::Unknown,
    });
    s
}
