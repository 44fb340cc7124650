//! MGE MG-SNMP-UPS-MIB (1.3.6.1.4.1.705.1): MGE UPS Systems and older Eaton units.
//!
//! upsmgBatteryRemainingTime is seconds; upsmgBatteryLevel percent; the yes(1)/no(2) flags
//! upsmgOutputOnBattery, upsmgBatteryLowBattery and upsmgBatteryReplacement; upsmgTestDiagResult
//! 1 success, 2 failed, 3 none.

use super::evaluate::{SOURCE_BATTERY, SOURCE_NORMAL};
use super::{Battery, MibSpec, SelfTest, UpsState};
use crate::config::UpsMib as Mib;
use crate::probe::snmp::profiles::{Object, Readings};

pub const SPEC: MibSpec = MibSpec {
    mib: Mib::Mge,
    scalars: &[
        Object::new("mge_runtime_seconds", "1.3.6.1.4.1.705.1.5.1.0"),
        Object::new("mge_level_percent", "1.3.6.1.4.1.705.1.5.2.0"),
        Object::new("mge_replacement", "1.3.6.1.4.1.705.1.5.11.0"),
        Object::new("mge_low_battery", "1.3.6.1.4.1.705.1.5.14.0"),
        Object::new("mge_on_battery", "1.3.6.1.4.1.705.1.7.3.0"),
        Object::new("mge_test_result", "1.3.6.1.4.1.705.1.10.3.0"),
    ],
    columns: &[],
    enterprise: "1.3.6.1.4.1.705",
    state,
};

const YES: i64 = 1;
const NO: i64 = 2;

/// A yes(1)/no(2) flag; anything else is unknown.
fn flag(r: &Readings, key: &str) -> Option<bool> {
    match r.int(key)? {
        YES => Some(true),
        NO => Some(false),
        _ => None,
    }
}

fn state(r: &Readings) -> UpsState {
    let source =
        flag(r, "mge_on_battery").map(|on| if on { SOURCE_BATTERY } else { SOURCE_NORMAL });
    let mut s = UpsState::new(Mib::Mge).with_source(source);
    s.runtime_minutes = r.int("mge_runtime_seconds").map(|t| t as f64 / 60.0);
    s.charge_percent = r.int("mge_level_percent").map(|c| c as f64);
    s.battery =
        flag(r, "mge_low_battery").map(|low| if low { Battery::Low } else { Battery::Normal });
    s.replace_battery = flag(r, "mge_replacement");
    s.self_test = r.int("mge_test_result").map(|t| match t {
        1 => SelfTest::Passed,
        2 => SelfTest::Failed,
        3 => SelfTest::NotRun,
        _ => SelfTest::Unknown,
    });
    s
}
