//! The report's "Livscykel" section: units past their renewal date (`purchased` plus
//! `renew_after_months`), and warranties ending within [`WITHIN_DAYS`] of the report's day
//! (Europe/Stockholm), from the inventory register (`crate::register::renewals`).

use crate::inventory::Inventory;
use crate::register::renewals::{renewals, Due, Renewal};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// How far ahead a warranty's end is shown.
pub const WITHIN_DAYS: u64 = 180;

/// Devices past renewal and warranties ending.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Lifecycle {
    pub within_days: u64,
    pub past_renewal: Vec<Renewal>,
    pub warranty_ending: Vec<Renewal>,
}

/// The section as of `now`.
pub fn lifecycle(inv: &Inventory, now: DateTime<Utc>) -> Lifecycle {
    let today = crate::register::local_day(now);
    let due = renewals(inv, today, WITHIN_DAYS);
    Lifecycle {
        within_days: WITHIN_DAYS,
        past_renewal: due
            .iter()
            .filter(|r| r.due == Due::Renewal && r.passed)
            .cloned()
            .collect(),
        warranty_ending: due
            .into_iter()
            .filter(|r| r.due == Due::Warranty && !r.passed)
            .collect(),
    }
}
