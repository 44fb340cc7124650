//! What a built-in profile is, and the profiles of the classes without a file of their own
//! (the registry by name and device class is [`super::registry`]). Profiles are plain lists of
//! numeric OIDs (no MIB files needed) and a function that reads the answers into values and
//! findings.
//!
//! A profile names scalars (fetched with one GET) and table columns (each fetched with a bulk
//! walk). The probe fills a [`Readings`] with what came back — missing objects left out — and
//! the profile's `read` turns it into the [`Outcome`]'s values and findings. Reading is pure, so
//! every quirk is unit-tested without a network.

use super::client::{Oid, SnmpValue};
use crate::probe::Outcome;
use driftvakt_common::wire::{Sample, Value};
use std::collections::BTreeMap;

/// sysDescr.0
pub const SYS_DESCR: &str = "1.3.6.1.2.1.1.1.0";
/// sysObjectID.0 (the vendor's product OID)
pub const SYS_OBJECT_ID: &str = "1.3.6.1.2.1.1.2.0";
/// sysUpTime.0 (TimeTicks)
pub const SYS_UPTIME: &str = "1.3.6.1.2.1.1.3.0";
/// sysName.0
pub const SYS_NAME: &str = "1.3.6.1.2.1.1.5.0";

/// The system scalars every profile with reboot detection reads.
pub const SYSTEM_SCALARS: &[Object] = &[
    Object::new("sys_descr", SYS_DESCR),
    Object::new("sys_uptime", SYS_UPTIME),
    Object::new("sys_name", SYS_NAME),
];

/// One object of a profile: the key it is read under and its numeric OID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Object {
    pub key: &'static str,
    pub oid: &'static str,
}

impl Object {
    pub const fn new(key: &'static str, oid: &'static str) -> Object {
        Object { key, oid }
    }
}

/// Settings from the check and the device that a profile's reading needs.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// UPS: runtime minutes under which the UPS is degraded.
    pub min_runtime_minutes: u32,
    /// Switch: interfaces (ifName, ifDescr or ifIndex) that are uplinks.
    pub uplinks: Vec<String>,
    /// Printer: supply ratio under which the printer is degraded.
    pub supply_low_ratio: f64,
    /// UPS: the MIB to read the answers as (configured, or detected by the prober).
    pub ups_mib: Option<crate::config::UpsMib>,
}

/// A profile: what to ask for and how to read it.
#[derive(Debug, Clone, Copy)]
pub struct Profile {
    pub name: &'static str,
    /// Scalars, fetched together with one GET.
    pub scalars: &'static [Object],
    /// Table columns, each walked; rows are keyed by the index after the column OID.
    pub columns: &'static [Object],
    /// Columns walked only when `needs_fallback` says the first read lacks something they
    /// stand in for (32-bit counters where a row has no 64-bit one): a second round trip for
    /// those devices, less work for every other.
    pub fallback: &'static [Object],
    /// Whether the first read needs `fallback`.
    pub needs_fallback: fn(&Readings) -> bool,
    /// Turns what was read into values and findings.
    pub read: fn(&Readings, &Context, &mut Outcome),
}

/// `needs_fallback` of profiles without fallback columns.
pub fn never(_: &Readings) -> bool {
    false
}

/// Access points: uptime (reboot detection), description and name.
pub const ACCESS_POINT: Profile = Profile {
    name: "access_point",
    scalars: SYSTEM_SCALARS,
    columns: &[],
    fallback: &[],
    needs_fallback: never,
    read: read_system,
};

/// Smart screens: uptime (reboot detection), description and name.
pub const SCREEN: Profile = Profile {
    name: "screen",
    scalars: SYSTEM_SCALARS,
    columns: &[],
    fallback: &[],
    needs_fallback: never,
    read: read_system,
};

/// Reads `sys_uptime_seconds`, `sys_descr` and `sys_name` (reboot detection is the prober's:
/// it needs the previous reading). A sysUpTime of 0 is not a reading (agents send it while
/// their clock is not set up): no `sys_uptime_seconds`, `sys_uptime_implausible` true.
pub fn read_system(r: &Readings, _ctx: &Context, out: &mut Outcome) {
    read_uptime(r, out);
    for key in ["sys_descr", "sys_name"] {
        if let Some(text) = r.text(key) {
            out.values.insert(key.to_string(), Value::Text(text));
        }
    }
}

/// `sys_uptime_seconds`, or `sys_uptime_implausible` for a 0.
pub fn read_uptime(r: &Readings, out: &mut Outcome) {
    if let Some(ticks) = r.uptime_ticks() {
        out.number("sys_uptime_seconds", f64::from(ticks) / 100.0);
    } else if r.scalar("sys_uptime").is_some() {
        out.values
            .insert("sys_uptime_implausible".to_string(), Value::Bool(true));
    }
}

/// What one probe read: scalars by key and table columns by key, then by row index.
/// Objects the agent does not have (noSuchObject, noSuchInstance, endOfMibView) are left out.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Readings {
    pub scalars: BTreeMap<&'static str, SnmpValue>,
    pub columns: BTreeMap<&'static str, BTreeMap<Vec<u32>, SnmpValue>>,
}

/// An empty column, returned for columns that were not read.
static EMPTY: BTreeMap<Vec<u32>, SnmpValue> = BTreeMap::new();

impl Readings {
    /// True when nothing at all was read.
    pub fn is_empty(&self) -> bool {
        self.scalars.is_empty() && self.columns.values().all(BTreeMap::is_empty)
    }

    pub fn scalar(&self, key: &str) -> Option<&SnmpValue> {
        self.scalars.get(key)
    }

    pub fn int(&self, key: &str) -> Option<i64> {
        self.scalar(key).and_then(SnmpValue::as_i64)
    }

    pub fn text(&self, key: &str) -> Option<String> {
        self.scalar(key).and_then(SnmpValue::as_text)
    }

    /// sysUpTime as unsigned TimeTicks (an INTEGER from a broken agent is accepted if in range).
    /// 0 is no reading: it would look like a reboot after every probe.
    pub fn uptime_ticks(&self) -> Option<u32> {
        let ticks = match self.scalar("sys_uptime")? {
            SnmpValue::TimeTicks(t) => Some(*t),
            other => other.as_i64().and_then(|v| u32::try_from(v).ok()),
        };
        ticks.filter(|t| *t != 0)
    }

    /// An OID value (sysObjectID) as dotted text.
    pub fn oid_text(&self, key: &str) -> Option<String> {
        self.scalar(key)
            .and_then(SnmpValue::as_oid)
            .map(Oid::to_string)
    }

    /// One column's rows, keyed by row index.
    pub fn column(&self, key: &str) -> &BTreeMap<Vec<u32>, SnmpValue> {
        self.columns.get(key).unwrap_or(&EMPTY)
    }

    /// Stores a GET answer under the key of the OID it was asked for.
    pub fn put_scalar(&mut self, objects: &[Object], oid: &Oid, value: SnmpValue) {
        if value.is_missing() {
            return;
        }
        if let Some(o) = objects.iter().find(|o| Oid::of(o.oid) == *oid) {
            self.scalars.insert(o.key, value);
        }
    }

    /// Stores a walked column, keeping the rows under the column's OID.
    pub fn put_column(&mut self, column: &Object, rows: Vec<(Oid, SnmpValue)>) {
        let root = Oid::of(column.oid);
        let entry = self.columns.entry(column.key).or_default();
        for (oid, value) in rows {
            if value.is_missing() {
                continue;
            }
            if let Some(index) = oid.suffix_after(&root) {
                entry.insert(index.to_vec(), value);
            }
        }
    }
}

/// A row index as text (`3`, `1.2`).
pub fn index_text(index: &[u32]) -> String {
    let parts: Vec<String> = index.iter().map(u32::to_string).collect();
    parts.join(".")
}

/// A one-sample-per-row series value.
pub fn series(samples: Vec<Sample>) -> Value {
    Value::Series(samples)
}

/// A sample with the given labels.
pub fn sample(labels: &[(&str, &str)], value: f64) -> Sample {
    Sample {
        labels: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        value,
    }
}

/// sysUpTime wraps at 2^32 ticks (497 days). A smaller reading after one within this window of
/// the wrap, that is itself within the window after zero, is a wrap, not a reboot.
pub const WRAP_WINDOW_TICKS: u64 = 24 * 3600 * 100;

/// Whether going from `previous` to `current` ticks means the device restarted.
pub fn uptime_went_backwards(previous: u32, current: u32) -> bool {
    if current >= previous {
        return false;
    }
    let to_wrap = (1u64 << 32) - u64::from(previous);
    let wrapped = to_wrap <= WRAP_WINDOW_TICKS && u64::from(current) <= WRAP_WINDOW_TICKS;
    !wrapped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uptime_backwards_is_a_reboot_but_a_wrap_is_not() {
        assert!(!uptime_went_backwards(100, 200));
        assert!(!uptime_went_backwards(200, 200));
        assert!(uptime_went_backwards(500_000, 100));
        // HPE ProCurve's recording: 3,110,697,828 ticks, past 2^31; a later smaller value is a
        // reboot, since the wrap is still 13 days away.
        assert!(uptime_went_backwards(3_110_697_828, 1_000));
        // Near 2^32 and small after: the counter wrapped.
        assert!(!uptime_went_backwards(u32::MAX - 3_000, 2_000));
        // Near 2^32 but large after: a reboot would not look like this; treat as reboot.
        assert!(uptime_went_backwards(u32::MAX - 3_000, 100_000_000));
    }

    #[test]
    fn missing_values_are_left_out() {
        let mut r = Readings::default();
        let objs = SYSTEM_SCALARS;
        r.put_scalar(
            objs,
            &Oid::of(SYS_UPTIME),
            SnmpValue::TimeTicks(3_110_697_828),
        );
        r.put_scalar(objs, &Oid::of(SYS_NAME), SnmpValue::NoSuchObject);
        assert_eq!(r.uptime_ticks(), Some(3_110_697_828));
        assert!(r.scalar("sys_name").is_none());
        let mut out = Outcome::success();
        read_system(&r, &Context::default(), &mut out);
        assert_eq!(
            out.values["sys_uptime_seconds"],
            Value::Number(31_106_978.28)
        );
    }
}
