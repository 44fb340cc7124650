//! Equipment that went quiet: devices without a result for `collector.quiet_after` (default 30
//! days). The framework assignment has inactive equipment retired without delay, so that only
//! active equipment is billed; this list is where that starts.

use crate::availability::{at, ms};
use crate::inventory::Inventory;
use crate::store::{Store, StoreError};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// The devices that went quiet.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Quiet {
    pub after_days: f64,
    pub devices: Vec<QuietDevice>,
}

/// One device without a recent result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QuietDevice {
    pub id: String,
    pub class: String,
    pub site: String,
    pub municipality: String,
    /// Its latest result; `None` when it never had one.
    pub last_result: Option<DateTime<Utc>>,
    /// Whole days since then; `None` when it never had one.
    pub days: Option<i64>,
}

/// Devices whose latest result is older than `after` before `now` (or that never had one),
/// quietest first.
pub fn quiet_for(
    inv: &Inventory,
    store: &dyn Store,
    now: DateTime<Utc>,
    after: std::time::Duration,
) -> Result<Quiet, StoreError> {
    let seen = store.seen()?;
    let limit = ms(now) - after.as_millis() as i64;
    let mut devices: Vec<QuietDevice> = inv
        .devices
        .iter()
        .filter_map(|d| {
            let last = seen.get(&d.id).map(|s| s.last);
            if last.is_some_and(|l| l >= limit) {
                return None;
            }
            Some(QuietDevice {
                id: d.id.clone(),
                class: d.class.as_str().to_string(),
                site: d.site.clone(),
                municipality: d.municipality.clone(),
                last_result: last.map(at),
                days: last.map(|l| (ms(now) - l) / 86_400_000),
            })
        })
        .collect();
    devices.sort_by_key(|d| (d.last_result, d.id.clone()));
    Ok(Quiet {
        after_days: after.as_secs_f64() / 86_400.0,
        devices,
    })
}

/// [`quiet_for`] with `collector.quiet_after`.
pub fn quiet(inv: &Inventory, store: &dyn Store, now: DateTime<Utc>) -> Result<Quiet, StoreError> {
    quiet_for(inv, store, now, inv.settings.quiet_after.std())
}
