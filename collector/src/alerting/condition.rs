//! The vocabulary of alerting: a [`Condition`] (something people are told about, since when,
//! and the event that announces it), the [`Conditions`] of one instant, and the [`Course`] an
//! announced condition has taken. [`super::snapshot`] derives them from the core's state,
//! [`super::manual`] from incidents registered by hand.

use crate::events::Event;
use chrono::{DateTime, Utc};

/// Something people are told about, and since when.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    /// `service:ID`, `site:ID` or `device:ID:KIND` (the notifier's incident keys).
    pub key: String,
    pub since: DateTime<Utc>,
    /// The event that announces it.
    pub event: Event,
}

/// Whether an announced condition, looked up at the instant it began, is still going on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Course {
    /// The interval that contains its start reaches now.
    Ongoing,
    /// It ended at this instant.
    Ended(DateTime<Utc>),
    /// No stored interval contains its start any more (re-derived away by late results), or
    /// its course is not known (finding alerts).
    Unknown,
}

/// Everything wrong at one instant.
#[derive(Debug, Clone, Default)]
pub struct Conditions {
    /// By key, sites first (so a site is dark before its children's alerts are considered).
    pub list: Vec<Condition>,
}

impl Conditions {
    pub fn get(&self, key: &str) -> Option<&Condition> {
        self.list.iter().find(|c| c.key == key)
    }
}
