//! Values and findings from a [`UpsState`], the same whichever MIB it was read from.
//!
//! Values: `ups_mib`, `ups_runtime_minutes`, `ups_charge_ratio` (0..1), `ups_on_battery`,
//! `ups_output_source` (RFC 1628 codes: 3 normal, 4 bypass, 5 battery; vendors' codes mapped),
//! `ups_battery_status` (2 normal, 3 low, 4 depleted, 1 unknown), `ups_battery_replace`,
//! `ups_self_test` (text), `ups_self_test_date` (APC), `ups_input_line_bads`, and the
//! plausibility flags `ups_runtime_implausible` and `ups_charge_implausible`.
//!
//! Findings: `ups_on_battery`, `ups_battery_low`, `ups_runtime_below_minimum` (runtime under
//! the device's `min_runtime_minutes`, default 240: the four-hour reserve the network nodes
//! need), `ups_battery_replace`, `ups_self_test_failed`.
//!
//! Unknown and implausible values are reported as such, never as findings:
//! - a negative runtime (agents send -1 for "unknown") or one over [`MAX_RUNTIME_MINUTES`]:
//!   no `ups_runtime_minutes`, `ups_runtime_implausible` true;
//! - a charge under 0 or over 100 %: no `ups_charge_ratio`, `ups_charge_implausible` true;
//! - 0 minutes on mains with a fully charged battery that is not low (Phoenixtec, recorded):
//!   the 0 is reported, `ups_runtime_implausible` true and no `ups_runtime_below_minimum`. On
//!   battery, or with a low battery or charge, a runtime is trusted as read.

use super::super::profiles::Context;
use crate::config::UpsMib as Mib;
use crate::probe::Outcome;
use driftvakt_common::readings;
use driftvakt_common::wire::Value;

/// Runtimes above this (about 69 days) are not estimates but garbage.
pub const MAX_RUNTIME_MINUTES: f64 = 100_000.0;
/// Charge (percent) from which a 0-minute runtime on mains is taken as implausible.
const PLAUSIBLE_CHARGE_PERCENT: f64 = 90.0;
/// RFC 1628 upsOutputSource battery(5).
pub const SOURCE_BATTERY: i64 = 5;
/// RFC 1628 upsOutputSource normal(3).
pub const SOURCE_NORMAL: i64 = 3;

/// The battery's condition, on RFC 1628's scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Battery {
    Unknown,
    Normal,
    Low,
    Depleted,
}

impl Battery {
    /// RFC 1628 upsBatteryStatus code.
    pub fn code(self) -> i64 {
        match self {
            Battery::Unknown => 1,
            Battery::Normal => 2,
            Battery::Low => 3,
            Battery::Depleted => 4,
        }
    }

    /// From an RFC 1628-style code (1 unknown, 2 normal, 3 low, 4 depleted).
    pub fn from_code(code: i64) -> Option<Battery> {
        Some(match code {
            1 => Battery::Unknown,
            2 => Battery::Normal,
            3 => Battery::Low,
            4 => Battery::Depleted,
            _ => return None,
        })
    }
}

/// The last self-test's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SelfTest {
    Passed,
    Warning,
    Failed,
    Aborted,
    InProgress,
    NotRun,
    Unknown,
}

impl SelfTest {
    pub fn as_str(self) -> &'static str {
        match self {
            SelfTest::Passed => "passed",
            SelfTest::Warning => "warning",
            SelfTest::Failed => "failed",
            SelfTest::Aborted => "aborted",
            SelfTest::InProgress => "in_progress",
            SelfTest::NotRun => "not_run",
            SelfTest::Unknown => "unknown",
        }
    }
}

/// What a UPS said, in common units; `None` where its MIB has no such object or it did not
/// answer.
#[derive(Debug, Clone, PartialEq)]
pub struct UpsState {
    pub mib: Mib,
    /// As read, converted to minutes (may be out of range).
    pub runtime_minutes: Option<f64>,
    /// As read, percent (may be out of range).
    pub charge_percent: Option<f64>,
    /// RFC 1628 upsOutputSource code.
    pub output_source: Option<i64>,
    pub on_battery: Option<bool>,
    pub battery: Option<Battery>,
    pub replace_battery: Option<bool>,
    pub self_test: Option<SelfTest>,
    pub self_test_date: Option<String>,
    pub input_line_bads: Option<i64>,
}

impl UpsState {
    /// Nothing known yet, read from `mib`.
    pub fn new(mib: Mib) -> UpsState {
        UpsState {
            mib,
            runtime_minutes: None,
            charge_percent: None,
            output_source: None,
            on_battery: None,
            battery: None,
            replace_battery: None,
            self_test: None,
            self_test_date: None,
            input_line_bads: None,
        }
    }

    /// Sets the output source and, from it, whether the UPS is on battery.
    pub fn with_source(mut self, source: Option<i64>) -> UpsState {
        self.output_source = source;
        self.on_battery = source.map(|s| s == SOURCE_BATTERY);
        self
    }
}

/// Writes the values and findings of `s` into `out`.
pub fn evaluate(s: &UpsState, ctx: &Context, out: &mut Outcome) {
    out.values
        .insert(readings::UPS_MIB.into(), Value::Text(s.mib.as_str().into()));
    put_values(s, out);
    if s.on_battery == Some(true) {
        out.finding(readings::UPS_ON_BATTERY, "the UPS runs on battery");
    }
    if let Some(b @ (Battery::Low | Battery::Depleted)) = s.battery {
        let what = if b == Battery::Low { "low" } else { "depleted" };
        out.finding(
            readings::UPS_BATTERY_LOW,
            format!("the UPS battery is {what}"),
        );
    }
    if let Some(minutes) = plausible_runtime(s) {
        check_runtime(minutes, ctx.min_runtime_minutes, out);
    }
    if s.replace_battery == Some(true) {
        out.finding(
            readings::UPS_BATTERY_REPLACE,
            "the UPS reports that its battery needs replacing",
        );
    }
    if s.self_test == Some(SelfTest::Failed) {
        let when = s
            .self_test_date
            .as_deref()
            .map_or(String::new(), |d| format!(" ({d})"));
        out.finding(
            readings::UPS_SELF_TEST_FAILED,
            format!("the UPS's last self-test failed{when}"),
        );
    }
}

fn put_values(s: &UpsState, out: &mut Outcome) {
    if let Some(m) = s.runtime_minutes {
        let usable = (0.0..=MAX_RUNTIME_MINUTES).contains(&m);
        if usable {
            out.number(readings::UPS_RUNTIME_MINUTES, m);
        }
        let implausible = !usable || zero_on_full_mains(s, m);
        out.values
            .insert("ups_runtime_implausible".into(), Value::Bool(implausible));
    }
    if let Some(c) = s.charge_percent {
        let usable = (0.0..=100.0).contains(&c);
        if usable {
            out.number(readings::UPS_CHARGE_RATIO, c / 100.0);
        }
        out.values
            .insert("ups_charge_implausible".into(), Value::Bool(!usable));
    }
    if let Some(on) = s.on_battery {
        out.values
            .insert(readings::UPS_ON_BATTERY.into(), Value::Bool(on));
    }
    if let Some(src) = s.output_source {
        out.number("ups_output_source", src as f64);
    }
    if let Some(b) = s.battery {
        out.number("ups_battery_status", b.code() as f64);
    }
    if let Some(r) = s.replace_battery {
        out.values
            .insert(readings::UPS_BATTERY_REPLACE.into(), Value::Bool(r));
    }
    if let Some(t) = s.self_test {
        out.values.insert(
            readings::UPS_SELF_TEST.into(),
            Value::Text(t.as_str().into()),
        );
    }
    if let Some(d) = &s.self_test_date {
        out.values
            .insert("ups_self_test_date".into(), Value::Text(d.clone()));
    }
    if let Some(b) = s.input_line_bads {
        out.number("ups_input_line_bads", b as f64);
    }
}

/// The runtime when it can be trusted for the minimum check.
fn plausible_runtime(s: &UpsState) -> Option<f64> {
    let m = s.runtime_minutes?;
    let usable = (0.0..=MAX_RUNTIME_MINUTES).contains(&m);
    (usable && !zero_on_full_mains(s, m)).then_some(m)
}

/// 0 minutes while on mains, fully charged and the battery not low: not an estimate.
fn zero_on_full_mains(s: &UpsState, minutes: f64) -> bool {
    minutes == 0.0
        && s.on_battery == Some(false)
        && !matches!(s.battery, Some(Battery::Low | Battery::Depleted))
        && s.charge_percent
            .is_some_and(|c| (PLAUSIBLE_CHARGE_PERCENT..=100.0).contains(&c))
}

fn check_runtime(minutes: f64, minimum: u32, out: &mut Outcome) {
    if minutes >= f64::from(minimum) {
        return;
    }
    out.finding(
        readings::UPS_RUNTIME_BELOW_MINIMUM,
        format!(
            "estimated runtime {} minutes is below the {} requirement",
            show_minutes(minutes),
            requirement(minimum)
        ),
    );
}

/// Whole minutes without a fraction, else one decimal.
fn show_minutes(m: f64) -> String {
    if m.fract() == 0.0 {
        format!("{m:.0}")
    } else {
        format!("{m:.1}")
    }
}

/// "4-hour/240-minute" for whole hours, "90-minute" otherwise.
pub fn requirement(minimum: u32) -> String {
    if minimum >= 60 && minimum.is_multiple_of(60) {
        format!("{}-hour/{minimum}-minute", minimum / 60)
    } else {
        format!("{minimum}-minute")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(battery: i64, minutes: f64, charge: f64, source: i64) -> UpsState {
        let mut s = UpsState::new(Mib::Rfc1628).with_source(Some(source));
        s.battery = Battery::from_code(battery);
        s.runtime_minutes = Some(minutes);
        s.charge_percent = Some(charge);
        s
    }

    fn run(s: &UpsState) -> Outcome {
        let mut out = Outcome::success();
        let ctx = Context {
            min_runtime_minutes: 240,
            ..Context::default()
        };
        evaluate(s, &ctx, &mut out);
        out
    }

    fn codes(o: &Outcome) -> Vec<&str> {
        o.findings.iter().map(|f| f.code.as_str()).collect()
    }

    #[test]
    fn on_mains_with_enough_runtime_is_fine() {
        let o = run(&state(2, 1092.0, 100.0, 3));
        assert!(o.findings.is_empty());
        assert_eq!(o.values["ups_runtime_minutes"], Value::Number(1092.0));
        assert_eq!(o.values["ups_charge_ratio"], Value::Number(1.0));
        assert_eq!(o.values["ups_on_battery"], Value::Bool(false));
        assert_eq!(o.values["ups_runtime_implausible"], Value::Bool(false));
        assert_eq!(o.values["ups_mib"], Value::Text("rfc1628".into()));
    }

    #[test]
    fn on_battery_with_35_minutes() {
        let o = run(&state(2, 35.0, 40.0, 5));
        assert_eq!(codes(&o), ["ups_on_battery", "ups_runtime_below_minimum"]);
        assert_eq!(
            o.findings[1].message,
            "estimated runtime 35 minutes is below the 4-hour/240-minute requirement"
        );
    }

    #[test]
    fn zero_minutes_on_mains_full_charge_is_implausible() {
        let o = run(&state(2, 0.0, 100.0, 3));
        assert!(o.findings.is_empty());
        assert_eq!(o.values["ups_runtime_minutes"], Value::Number(0.0));
        assert_eq!(o.values["ups_runtime_implausible"], Value::Bool(true));
        // On battery the same zero is trusted.
        let o = run(&state(2, 0.0, 100.0, 5));
        assert_eq!(codes(&o), ["ups_on_battery", "ups_runtime_below_minimum"]);
        // A low battery is trusted too.
        let o = run(&state(3, 0.0, 100.0, 3));
        assert_eq!(codes(&o), ["ups_battery_low", "ups_runtime_below_minimum"]);
    }

    #[test]
    fn minus_one_and_out_of_range_are_unknown_not_findings() {
        for (minutes, charge) in [(-1.0, -1.0), (-60.0, 101.0), (1e9, 250.0)] {
            let o = run(&state(2, minutes, charge, 3));
            assert!(o.findings.is_empty(), "{minutes} {charge}: {o:?}");
            assert!(!o.values.contains_key("ups_runtime_minutes"));
            assert!(!o.values.contains_key("ups_charge_ratio"));
            assert_eq!(o.values["ups_runtime_implausible"], Value::Bool(true));
            assert_eq!(o.values["ups_charge_implausible"], Value::Bool(true));
        }
        // Even on battery an unknown runtime raises no runtime finding, only the battery one.
        let o = run(&state(2, -1.0, 50.0, 5));
        assert_eq!(codes(&o), ["ups_on_battery"]);
    }

    #[test]
    fn replace_and_failed_self_test_are_findings() {
        let mut s = state(2, 300.0, 100.0, 3);
        s.replace_battery = Some(true);
        s.self_test = Some(SelfTest::Failed);
        s.self_test_date = Some("11/02/2026".into());
        let o = run(&s);
        assert_eq!(codes(&o), ["ups_battery_replace", "ups_self_test_failed"]);
        assert_eq!(
            o.findings[1].message,
            "the UPS's last self-test failed (11/02/2026)"
        );
        assert_eq!(o.values["ups_self_test"], Value::Text("failed".into()));
    }

    #[test]
    fn requirement_text() {
        assert_eq!(requirement(240), "4-hour/240-minute");
        assert_eq!(requirement(90), "90-minute");
        assert_eq!(show_minutes(35.5), "35.5");
    }
}
