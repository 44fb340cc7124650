//! APC PowerNet-MIB (1.3.6.1.4.1.318.1.1.1): Smart-UPS and Symmetra network cards.
//!
//! upsAdvBatteryRunTimeRemaining is TimeTicks (6,000 per minute); upsAdvBatteryCapacity percent;
//! upsBasicOutputStatus 2 onLine, 3 onBattery, 4 onSmartBoost, 12 onSmartTrim, 6/9/10 bypass,
//! 7 off, 15 onBatteryTest (a self-test: not counted as on battery); upsBasicBatteryStatus 2
//! normal, 3 low, 4 inFaultCondition (read as depleted); upsAdvBatteryReplaceIndicator 2
//! batteryNeedsReplacing; upsAdvTestDiagnosticsResults 1 ok, 2 failed, 3 invalidTest,
//! 4 testInProgress, with upsAdvTestLastDiagnosticsDate (mm/dd/yy).

use super::evaluate::{SOURCE_BATTERY, SOURCE_NORMAL};
use super::{Battery, MibSpec, SelfTest, UpsState};
use crate::config::UpsMib as Mib;
use crate::probe::snmp::profiles::{Object, Readings};

pub const SPEC: MibSpec = MibSpec {
    mib: Mib::Apc,
    scalars: &[
        Object::new("apc_battery_status", "1.3.6.1.4.1.318.1.1.1.2.1.1.0"),
        Object::new("apc_capacity_percent", "1.3.6.1.4.1.318.1.1.1.2.2.1.0"),
        Object::new("apc_runtime_ticks", "1.3.6.1.4.1.318.1.1.1.2.2.3.0"),
        Object::new("apc_replace_indicator", "1.3.6.1.4.1.318.1.1.1.2.2.4.0"),
        Object::new("apc_output_status", "1.3.6.1.4.1.318.1.1.1.4.1.1.0"),
        Object::new("apc_test_result", "1.3.6.1.4.1.318.1.1.1.7.2.3.0"),
        Object::new("apc_test_date", "1.3.6.1.4.1.318.1.1.1.7.2.4.0"),
    ],
    columns: &[],
    enterprise: "1.3.6.1.4.1.318",
    state,
};

const TICKS_PER_MINUTE: f64 = 6_000.0;

fn state(r: &Readings) -> UpsState {
    let source = r.int("apc_output_status").and_then(|s| match s {
        2 => Some(SOURCE_NORMAL),
        3 => Some(SOURCE_BATTERY),
        4 => Some(6),
        12 => Some(7),
        6 | 9 | 10 => Some(4),
        7 => Some(2),
        1 => None,
        _ => Some(1),
    });
    let mut s = UpsState::new(Mib::Apc).with_source(source);
    s.battery = r.int("apc_battery_status").and_then(|b| match b {
        4 => Some(Battery::Depleted),
        other => Battery::from_code(other),
    });
    s.runtime_minutes = r
        .int("apc_runtime_ticks")
        .map(|t| t as f64 / TICKS_PER_MINUTE);
    s.charge_percent = r.int("apc_capacity_percent").map(|c| c as f64);
    s.replace_battery = r.int("apc_replace_indicator").map(|i| i == 2);
    s.self_test = r.int("apc_test_result").map(|t| match t {
        1 => SelfTest::Passed,
        2 => SelfTest::Failed,
        4 => SelfTest::InProgress,
        _ => SelfTest::Unknown,
    });
    s.self_test_date = r.text("apc_test_date").filter(|d| !d.is_empty());
    s
}
