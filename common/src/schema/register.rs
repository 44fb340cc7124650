//! A device's place in the inventory register (inventarieregistret): its lifecycle `status` and
//! the `register:` facts the municipalities keep about each unit (serial, model, asset tag,
//! organisational owner, purchase date and price, depreciation, warranty, insurance, renewal).
//!
//! All of it is optional. `status` decides what is probed and billed: only `active` devices
//! (the default); `planned`, `in_stock` and `decommissioned` are kept for the register.
//! [`validate_register`] checks what serde cannot (dates in order, months and prices in range).

use crate::config::{Spanned, Validator};
use crate::DeviceClass;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Where a unit is in its life. Only [`Status::Active`] is probed and billed.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Delivered and in use: probed, reported and billed.
    #[default]
    Active,
    /// Ordered or about to be installed.
    Planned,
    /// In the store room.
    InStock,
    /// Taken out of use ("avförd").
    Decommissioned,
}

impl Status {
    pub const ALL: [Status; 4] = [
        Status::Active,
        Status::Planned,
        Status::InStock,
        Status::Decommissioned,
    ];

    /// The name used in YAML, CSV and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Planned => "planned",
            Status::InStock => "in_stock",
            Status::Decommissioned => "decommissioned",
        }
    }

    /// Parses [`Status::as_str`]'s names.
    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Whether the unit is probed and billed.
    pub fn is_active(self) -> bool {
        self == Status::Active
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The register facts of one unit (`register:` under a device).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Register {
    #[serde(default, skip_serializing_if = "super::absent")]
    pub serial: Option<String>,
    #[serde(default, skip_serializing_if = "super::absent")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "super::absent")]
    pub asset_tag: Option<String>,
    /// The organisational owner: a municipality's department ("Barn och utbildning").
    #[serde(default, skip_serializing_if = "super::absent")]
    pub owner: Option<Spanned<String>>,
    /// Purchase date (`2024-08-15`).
    #[serde(default, skip_serializing_if = "super::absent")]
    pub purchased: Option<Spanned<NaiveDate>>,
    /// Purchase price in SEK.
    #[serde(default, skip_serializing_if = "super::absent")]
    pub price: Option<Spanned<f64>>,
    /// Months over which the unit is written off, from `purchased`.
    #[serde(default, skip_serializing_if = "super::absent")]
    pub depreciation_months: Option<Spanned<u32>>,
    /// Last day of the warranty.
    #[serde(default, skip_serializing_if = "super::absent")]
    pub warranty_until: Option<Spanned<NaiveDate>>,
    /// Insurance: free text or a policy id.
    #[serde(default, skip_serializing_if = "super::absent")]
    pub insurance: Option<String>,
    /// Months after `purchased` the unit is due for renewal (class default:
    /// [`default_renew_after_months`]).
    #[serde(default, skip_serializing_if = "super::absent")]
    pub renew_after_months: Option<Spanned<u32>>,
}

/// The longest span of months a register value may name (depreciation, renewal): 50 years.
pub const MAX_MONTHS: u32 = 600;

/// The renewal age of a class when the device sets none: 48 months for screens and access
/// points (the 2023 assignment: "förnyas efter 48 månader"); none for the others.
pub fn default_renew_after_months(class: DeviceClass) -> Option<u32> {
    match class {
        DeviceClass::Screen | DeviceClass::AccessPoint => Some(48),
        DeviceClass::Switch | DeviceClass::Ups | DeviceClass::Printer | DeviceClass::Service => {
            None
        }
    }
}

impl Register {
    pub fn owner(&self) -> Option<&str> {
        self.owner.as_ref().map(|o| o.value.as_str())
    }
    pub fn purchased(&self) -> Option<NaiveDate> {
        self.purchased.as_ref().map(|d| d.value)
    }
    pub fn warranty_until(&self) -> Option<NaiveDate> {
        self.warranty_until.as_ref().map(|d| d.value)
    }
    pub fn price(&self) -> Option<f64> {
        self.price.as_ref().map(|p| p.value)
    }
    pub fn depreciation_months(&self) -> Option<u32> {
        self.depreciation_months.as_ref().map(|m| m.value)
    }
    /// The renewal age: the device's own, else its class's.
    pub fn renew_after_months(&self, class: DeviceClass) -> Option<u32> {
        self.renew_after_months
            .as_ref()
            .map(|m| m.value)
            .or_else(|| default_renew_after_months(class))
    }
}

/// Checks one device's register: an owner that is not blank, a price that is a finite amount
/// of at least zero, months in 1..=[`MAX_MONTHS`], a warranty that does not end before the
/// purchase.
pub fn validate_register(v: &mut Validator, device: &str, r: &Register) {
    if let Some(o) = &r.owner {
        if o.value.trim().is_empty() {
            v.error_at(
                &o.referenced,
                format!("device `{device}`: register owner must not be blank"),
            );
        }
    }
    if let Some(p) = &r.price {
        if !p.value.is_finite() || p.value < 0.0 {
            v.error_at(
                &p.referenced,
                format!(
                    "device `{device}`: register price {} must be an amount in SEK, at least 0",
                    p.value
                ),
            );
        }
    }
    for (key, months) in [
        ("depreciation_months", &r.depreciation_months),
        ("renew_after_months", &r.renew_after_months),
    ] {
        if let Some(m) = months {
            if m.value == 0 || m.value > MAX_MONTHS {
                v.error_at(
                    &m.referenced,
                    format!(
                        "device `{device}`: register {key} {} must be 1..={MAX_MONTHS}",
                        m.value
                    ),
                );
            }
        }
    }
    if let (Some(p), Some(w)) = (&r.purchased, &r.warranty_until) {
        if w.value < p.value {
            v.error_at(
                &w.referenced,
                format!(
                    "device `{device}`: warranty_until {} is before purchased {}",
                    w.value, p.value
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_their_names() {
        for s in Status::ALL {
            assert_eq!(Status::parse(s.as_str()), Some(s));
        }
        assert_eq!(Status::parse("offline"), None);
        assert_eq!(Status::default(), Status::Active);
    }

    #[test]
    fn screens_and_access_points_renew_after_48_months() {
        let r = Register::default();
        assert_eq!(r.renew_after_months(DeviceClass::Screen), Some(48));
        assert_eq!(r.renew_after_months(DeviceClass::AccessPoint), Some(48));
        assert_eq!(r.renew_after_months(DeviceClass::Switch), None);
    }
}
