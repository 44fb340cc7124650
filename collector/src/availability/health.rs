//! [`Health`]: the five states of a device or service (up, degraded, down, unreachable,
//! unknown). One type under one name: the availability vocabulary shared by the state machine,
//! the store (an outage's kind is the health it records), the report and the metrics.

use serde::{Deserialize, Serialize};

/// The health of a device or service at one instant (its state, in the state machine's words).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Health {
    Up,
    Degraded,
    Down,
    Unreachable,
    Unknown,
}

impl Health {
    /// Up or degraded.
    pub fn available(self) -> bool {
        matches!(self, Health::Up | Health::Degraded)
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Up => "up",
            Health::Degraded => "degraded",
            Health::Down => "down",
            Health::Unreachable => "unreachable",
            Health::Unknown => "unknown",
        }
    }
}
