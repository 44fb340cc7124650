//! What operators decide about windows, as data: activations of secondary windows and ad-hoc
//! windows. They are kept by the store (`store::WindowStore`) and applied by the calendar.

use super::WindowScope;
use chrono::{DateTime, NaiveDate, Utc};

/// An operator's activation of the secondary window on a (local) date.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Activation {
    pub date: NaiveDate,
    pub activated_by: String,
    pub activated_at: DateTime<Utc>,
}

/// An ad-hoc window to be created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAdhocWindow {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub scope: WindowScope,
    pub reason: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

/// A persisted ad-hoc window, cancelled or not.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AdhocWindow {
    pub id: i64,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub scope: WindowScope,
    pub reason: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub cancelled_by: Option<String>,
    pub cancelled_at: Option<DateTime<Utc>>,
}

impl AdhocWindow {
    pub fn is_cancelled(&self) -> bool {
        self.cancelled_at.is_some()
    }
}
