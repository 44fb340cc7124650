//! Persistence of what operators decide: activations of secondary windows (who, when) and ad-hoc
//! windows (created, cancelled). [`WindowStore`] is the narrow interface; [`SqliteWindowStore`]
//! keeps it in the tables prefixed `calendar_` of the collector's database.
//! Instants are stored as UTC RFC 3339 text (`2026-03-24T17:00:00Z`), dates as `YYYY-MM-DD`.

use super::columns::time_from_text as parse_instant;
use super::StoreError;
use crate::calendar::{Activation, AdhocWindow, NewAdhocWindow};
use chrono::{DateTime, NaiveDate, Utc};

/// Where activations and ad-hoc windows are kept.
pub trait WindowStore: Send + Sync {
    /// Records that `by` activated the secondary window on `date` at `at`.
    fn activate_secondary(
        &self,
        date: NaiveDate,
        by: &str,
        at: DateTime<Utc>,
    ) -> Result<Activation, StoreError>;
    /// Removes the activation for `date`.
    fn withdraw_secondary(&self, date: NaiveDate) -> Result<(), StoreError>;
    /// All activations, by date.
    fn list_activations(&self) -> Result<Vec<Activation>, StoreError>;
    /// Stores a new ad-hoc window and returns its id.
    fn add_adhoc(&self, window: &NewAdhocWindow) -> Result<i64, StoreError>;
    /// Marks ad-hoc window `id` cancelled by `by` at `at`.
    fn cancel_adhoc(&self, id: i64, by: &str, at: DateTime<Utc>) -> Result<(), StoreError>;
    /// All ad-hoc windows, cancelled ones included, by start.
    fn list_adhoc(&self) -> Result<Vec<AdhocWindow>, StoreError>;
}

pub(super) type AdhocRow = (
    i64,
    String,
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
);

pub(super) fn adhoc_from_row(row: AdhocRow) -> Result<AdhocWindow, StoreError> {
    let (id, start, end, scope, reason, created_by, created_at, cancelled_by, cancelled_at) = row;
    Ok(AdhocWindow {
        id,
        start: parse_instant(&start)?,
        end: parse_instant(&end)?,
        scope: scope
            .parse()
            .map_err(|e| StoreError::Corrupt(format!("scope {scope:?}: {e}")))?,
        reason,
        created_by,
        created_at: parse_instant(&created_at)?,
        cancelled_by,
        cancelled_at: cancelled_at.as_deref().map(parse_instant).transpose()?,
    })
}

/// Shared stores (`Arc<dyn WindowStore>`) are stores too.
impl<T: WindowStore + ?Sized> WindowStore for std::sync::Arc<T> {
    fn activate_secondary(
        &self,
        date: NaiveDate,
        by: &str,
        at: DateTime<Utc>,
    ) -> Result<Activation, StoreError> {
        (**self).activate_secondary(date, by, at)
    }

    fn withdraw_secondary(&self, date: NaiveDate) -> Result<(), StoreError> {
        (**self).withdraw_secondary(date)
    }

    fn list_activations(&self) -> Result<Vec<Activation>, StoreError> {
        (**self).list_activations()
    }

    fn add_adhoc(&self, window: &NewAdhocWindow) -> Result<i64, StoreError> {
        (**self).add_adhoc(window)
    }

    fn cancel_adhoc(&self, id: i64, by: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        (**self).cancel_adhoc(id, by, at)
    }

    fn list_adhoc(&self) -> Result<Vec<AdhocWindow>, StoreError> {
        (**self).list_adhoc()
    }
}
