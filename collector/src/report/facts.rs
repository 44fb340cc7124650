//! What monitoring knows of each device for `inventory list` (`crate::register::list`): its state now, when it was last
//! heard from, and its availability this year (the report's figure, planned windows counted
//! as the report counts them).

use super::{build, ReportError};
use crate::availability::{at, Period, PlannedWindows};
use crate::inventory::Inventory;
use crate::register::list::Facts;
use crate::store::Store;
use chrono::{DateTime, Datelike, Utc};
use std::collections::BTreeMap;

/// The facts of every device of `inv`.
pub fn facts(
    inv: &Inventory,
    store: &dyn Store,
    windows: &dyn PlannedWindows,
    now: DateTime<Utc>,
) -> Result<BTreeMap<String, Facts>, ReportError> {
    let status = crate::state::status::status(inv, store, now)?;
    let seen = store.seen()?;
    let year = Period::parse(&now.year().to_string())?;
    let report = build(inv, store, windows, &year, now)?;
    let availability: BTreeMap<&str, Option<f64>> = report
        .devices
        .iter()
        .map(|d| (d.id.as_str(), d.figures.availability))
        .collect();
    let mut out: BTreeMap<String, Facts> = BTreeMap::new();
    for s in status.devices {
        out.entry(s.id).or_default().state = Some(s.state.as_str().to_string());
    }
    for d in &inv.devices {
        let f = out.entry(d.id.clone()).or_default();
        f.last_seen = seen.get(&d.id).map(|s| at(s.last));
        f.availability_year = availability.get(d.id.as_str()).copied().flatten();
    }
    Ok(out)
}
