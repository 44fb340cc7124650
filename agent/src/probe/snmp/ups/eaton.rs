//! Eaton/Powerware XUPS-MIB (1.3.6.1.4.1.534.1): ConnectUPS and Network-MS cards.
//!
//! xupsBatTimeRemaining is seconds; xupsBatCapacity percent; xupsOutputSource uses RFC 1628's
//! codes for 1-7 (3 normal, 4 bypass, 5 battery), and 8-10 and 12 (parallel, high-efficiency,
//! ESS) are normal output, 11 maintenance bypass; xupsTestBatteryStatus 2 passed, 3 failed,
//! 4 inProgress, 5 notSupported, 7 scheduled; the alarm table (xupsAlarmDescr) holding
//! xupsAlarmBatteryBad (534.1.7.23) means the battery needs replacing, xupsLowBattery
//! (534.1.7.4) a low battery.

use super::evaluate::SOURCE_NORMAL;
use super::rfc1628::alarm_present;
use super::{Battery, MibSpec, SelfTest, UpsState};
use crate::config::UpsMib as Mib;
use crate::probe::snmp::profiles::{Object, Readings};

pub const SPEC: MibSpec = MibSpec {
    mib: Mib::Eaton,
    scalars: &[
        Object::new("xups_runtime_seconds", "1.3.6.1.4.1.534.1.2.1.0"),
        Object::new("xups_capacity_percent", "1.3.6.1.4.1.534.1.2.4.0"),
        Object::new("xups_input_line_bads", "1.3.6.1.4.1.534.1.3.2.0"),
        Object::new("xups_output_source", "1.3.6.1.4.1.534.1.4.5.0"),
        Object::new("xups_test_result", "1.3.6.1.4.1.534.1.8.2.0"),
    ],
    columns: &[Object::new("xups_alarm_descr", "1.3.6.1.4.1.534.1.7.2.1.2")],
    enterprise: "1.3.6.1.4.1.534",
    state,
};

const ALARM_BATTERY_BAD: &str = "1.3.6.1.4.1.534.1.7.23";
const ALARM_LOW_BATTERY: &str = "1.3.6.1.4.1.534.1.7.4";

fn state(r: &Readings) -> UpsState {
    let source = r.int("xups_output_source").map(|s| match s {
        8..=10 | 12 => SOURCE_NORMAL,
        11 => 4,
        1..=7 => s,
        _ => 1,
    });
    let mut s = UpsState::new(Mib::Eaton).with_source(source);
    s.runtime_minutes = r.int("xups_runtime_seconds").map(|t| t as f64 / 60.0);
    s.charge_percent = r.int("xups_capacity_percent").map(|c| c as f64);
    s.input_line_bads = r.int("xups_input_line_bads");
    s.self_test = r.int("xups_test_result").map(|t| match t {
        2 => SelfTest::Passed,
        3 => SelfTest::Failed,
        4 => SelfTest::InProgress,
        5 | 7 => SelfTest::NotRun,
        _ => SelfTest::Unknown,
    });
    s.replace_battery = alarm_present(r, "xups_alarm_descr", ALARM_BATTERY_BAD);
    s.battery = alarm_present(r, "xups_alarm_descr", ALARM_LOW_BATTERY)
        .and_then(|low| low.then_some(Battery::Low));
    s
}
