//! A device of the inventory (`devices:`), its per-class timing and its default checks.

use super::check::{CheckEntry, CheckSpec, IcmpCheck, SnmpCheck};
use super::register::{Register, Status};
use crate::config::{Duration, Spanned};
use crate::DeviceClass;
use serde::{Deserialize, Serialize};

/// Interval and timeout.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Timing {
    /// Bounds: [`crate::config::bounds::INTERVAL`].
    #[serde(
        default,
        skip_serializing_if = "super::absent",
        deserialize_with = "crate::config::bounded::interval_opt"
    )]
    pub interval: Option<Duration>,
    /// Bounds: [`crate::config::bounds::TIMEOUT`], and at most the interval.
    #[serde(
        default,
        skip_serializing_if = "super::absent",
        deserialize_with = "crate::config::bounded::timeout_opt"
    )]
    pub timeout: Option<Duration>,
}

/// One device in the inventory.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceConfig {
    pub id: Spanned<String>,
    pub class: DeviceClass,
    #[serde(default, skip_serializing_if = "super::absent")]
    pub site: Option<Spanned<String>>,
    /// IP address (v4 or v6) or host name.
    pub address: Spanned<String>,
    /// The device this one is reached through (collector: unreachable instead of down).
    #[serde(default, skip_serializing_if = "super::absent")]
    pub parent: Option<Spanned<String>>,
    /// Bounds: [`crate::config::bounds::INTERVAL`].
    #[serde(
        default,
        skip_serializing_if = "super::absent",
        deserialize_with = "crate::config::bounded::interval_opt"
    )]
    pub interval: Option<Duration>,
    /// Bounds: [`crate::config::bounds::TIMEOUT`], and at most the interval.
    #[serde(
        default,
        skip_serializing_if = "super::absent",
        deserialize_with = "crate::config::bounded::timeout_opt"
    )]
    pub timeout: Option<Duration>,
    /// UPS: the runtime below which the UPS is degraded (default 240, the four-hour node reserve).
    #[serde(default, skip_serializing_if = "super::absent")]
    pub min_runtime_minutes: Option<u32>,
    /// Checks; a plain name (`icmp`) takes that kind's defaults. Default: per class.
    #[serde(default, skip_serializing_if = "super::absent")]
    pub checks: Option<Spanned<Vec<CheckEntry>>>,
    /// Free text shown in notices and dashboards.
    #[serde(default, skip_serializing_if = "super::absent")]
    pub description: Option<String>,
    /// Where the unit is in its life (default `active`): only active devices are probed.
    #[serde(default, skip_serializing_if = "super::absent")]
    pub status: Option<Status>,
    /// The inventory register's facts (owner, purchase, warranty, renewal, ...).
    #[serde(default, skip_serializing_if = "super::absent")]
    pub register: Option<Register>,
}

impl DeviceConfig {
    /// The checks to run, falling back to the class's default set.
    pub fn checks(&self) -> Vec<CheckSpec> {
        match &self.checks {
            Some(c) => c.value.iter().map(|e| e.0.clone()).collect(),
            None => default_checks(self.class),
        }
    }

    /// The device's status (`active` unless set).
    pub fn status(&self) -> Status {
        self.status.unwrap_or_default()
    }

    /// Whether the device is probed (and billed): its status is `active`.
    pub fn is_active(&self) -> bool {
        self.status().is_active()
    }
}

/// The checks a device class gets when its entry names none.
pub fn default_checks(class: DeviceClass) -> Vec<CheckSpec> {
    let icmp = CheckSpec::Icmp(IcmpCheck::default());
    match class {
        DeviceClass::Switch | DeviceClass::Ups | DeviceClass::Printer => {
            vec![icmp, CheckSpec::Snmp(SnmpCheck::default())]
        }
        DeviceClass::AccessPoint | DeviceClass::Screen | DeviceClass::Service => vec![icmp],
    }
}

/// Built-in interval and timeout per class.
pub fn class_timing(class: DeviceClass) -> (std::time::Duration, std::time::Duration) {
    use std::time::Duration as D;
    match class {
        DeviceClass::Switch | DeviceClass::Ups => (D::from_secs(30), D::from_secs(5)),
        DeviceClass::AccessPoint
        | DeviceClass::Printer
        | DeviceClass::Screen
        | DeviceClass::Service => (D::from_secs(60), D::from_secs(5)),
    }
}
