//! The inventory register's past: table `register_changes`, one row each time a device's
//! municipality, owner or status changed (or it left the inventory), with the Europe/Stockholm
//! date from which the new state holds. The YAML is the present; this table keeps the past, so
//! that billing for a period uses the register as it was then (`crate::register`).
//! [`RegisterStore`] is the trait; `SqliteRegisterStore` and `PgRegisterStore` keep it, the
//! insert is written once here over the executor seam.

use super::exec::{Arg, Exec, Transact};
use super::StoreError;
use chrono::NaiveDate;

/// What a device's register said from `day` on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterChange {
    pub device: String,
    /// The first day (Europe/Stockholm) of this state.
    pub day: NaiveDate,
    pub municipality: String,
    /// The organisational owner; empty when the register names none.
    pub owner: String,
    /// `active`, `planned`, `in_stock`, `decommissioned`, or [`REMOVED`].
    pub status: String,
}

/// The status of a device that left the inventory.
pub const REMOVED: &str = "removed";

/// The `register_changes` table.
pub trait RegisterStore: Send + Sync {
    /// Every change, by device, then day, then the order they were recorded in.
    fn history(&self) -> Result<Vec<RegisterChange>, StoreError>;
    /// Stores `changes` in one transaction.
    fn record(&self, changes: &[RegisterChange]) -> Result<(), StoreError>;
}

/// Shared stores are stores too.
impl<T: RegisterStore + ?Sized> RegisterStore for std::sync::Arc<T> {
    fn history(&self) -> Result<Vec<RegisterChange>, StoreError> {
        (**self).history()
    }
    fn record(&self, changes: &[RegisterChange]) -> Result<(), StoreError> {
        (**self).record(changes)
    }
}

/// The query both backends read the history with.
pub(crate) const SELECT: &str = "SELECT device, day, municipality, owner, status \
    FROM register_changes ORDER BY device, day, id";

/// Inserts `changes` in one transaction of `store`'s backend.
pub(crate) fn record(store: &impl Transact, changes: &[RegisterChange]) -> Result<(), StoreError> {
    store.transaction(|tx: &mut dyn Exec| {
        for c in changes {
            let day = c.day.to_string();
            tx.exec(
                "INSERT INTO register_changes (device, day, municipality, owner, status) \
                 VALUES ($1, $2, $3, $4, $5)",
                &[
                    Arg::Text(&c.device),
                    Arg::Text(&day),
                    Arg::Text(&c.municipality),
                    Arg::Text(&c.owner),
                    Arg::Text(&c.status),
                ],
            )?;
        }
        Ok(())
    })
}

/// A row read back.
pub(crate) fn decode(cols: [String; 5]) -> Result<RegisterChange, StoreError> {
    let [device, day, municipality, owner, status] = cols;
    let day = day
        .parse()
        .map_err(|e| StoreError::Corrupt(format!("register_changes {device}: day {day}: {e}")))?;
    Ok(RegisterChange {
        device,
        day,
        municipality,
        owner,
        status,
    })
}
