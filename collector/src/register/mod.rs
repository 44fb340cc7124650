//! The inventory register (inventarieregistret): what the municipalities keep about each unit
//! beside its monitoring (owner, purchase, warranty, depreciation, renewal, status), and what is
//! computed from it: renewals due, the billing basis per tertial, and CSV import and export.
//!
//! The YAML is the present (`status:` and `register:` of each device, schema in
//! `driftvakt_common::schema::register`); the store keeps the past (`store::register`): each
//! time a device's municipality, owner or status changes, or it leaves the inventory, [`sync`]
//! records its new state with the Europe/Stockholm date, so billing for a period uses the
//! register as it was then.
//!
//! - [`history`]: the recorded states of each device, and what [`sync`] records;
//! - [`renewals`]: renewal, warranty and depreciation dates falling in a window (or passed);
//! - [`billing`]: per municipality and owner, the active units with their days active in a
//!   tertial, what changed since the previous one, quiet units flagged;
//! - [`list`]: the register with the monitoring facts its caller hands in (`report::facts`:
//!   state, last seen, availability this year);
//! - [`csv`]: CSV reading and writing; [`import`]: CSV to a deterministic include file;
//!   [`netbox`]: NetBox's REST API to the same.
//!
//! It reads only the inventory and the register's table (`inventory/`, `store/`); `report/`
//! (its "Livscykel" section), `metrics/`, `cli/` and `http/` import it.

pub mod billing;
pub mod csv;
pub mod history;
pub mod import;
pub mod list;
pub mod netbox;
pub mod renewals;

use crate::inventory::Inventory;
use crate::store::{RegisterChange, RegisterStore, StoreError};
use chrono::{DateTime, NaiveDate, Utc};

/// The Europe/Stockholm date of `now`: the day registers and bills count in.
pub fn local_day(now: DateTime<Utc>) -> NaiveDate {
    now.with_timezone(&chrono_tz::Europe::Stockholm)
        .date_naive()
}

/// Records in `store` every device whose municipality, owner or status in `inv` differs from
/// its last recorded state (or that left the inventory), as of `today`. Returns what it recorded.
pub fn sync(
    store: &dyn RegisterStore,
    inv: &Inventory,
    today: NaiveDate,
) -> Result<Vec<RegisterChange>, StoreError> {
    let past = store.history()?;
    let changes = history::changes(&past, inv, today);
    if !changes.is_empty() {
        store.record(&changes)?;
    }
    Ok(changes)
}
