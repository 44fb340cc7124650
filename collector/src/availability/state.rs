//! The five states of a device or service. They are the availability vocabulary shared by the
//! state machine, the store (an outage's kind), the report and the metrics.

use serde::{Deserialize, Serialize};

/// The state of a device or service at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Up,
    Degraded,
    Down,
    Unreachable,
    Unknown,
}

impl State {
    /// Up or degraded.
    pub fn available(self) -> bool {
        matches!(self, State::Up | State::Degraded)
    }
    pub fn as_str(self) -> &'static str {
        match self {
            State::Up => "up",
            State::Degraded => "degraded",
            State::Down => "down",
            State::Unreachable => "unreachable",
            State::Unknown => "unknown",
        }
    }
}
