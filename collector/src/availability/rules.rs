//! The rules state is judged by, as the inventory sets them: each device's state-machine
//! parameters and each service's need. The machine that applies them is `state::machine`.

/// The parameters of one device's state machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRules {
    pub primary_check: String,
    /// Interval of the primary check, in milliseconds.
    pub interval_ms: i64,
    /// The longest interval of any of the device's checks, in milliseconds.
    pub slowest_interval_ms: i64,
    pub confirm_failures: u32,
    pub stale_intervals: u32,
}

impl DeviceRules {
    /// How long one primary result keeps an agent "reporting recently".
    pub fn stale_ms(&self) -> i64 {
        self.interval_ms * i64::from(self.stale_intervals.max(1))
    }
    /// [`DeviceRules::stale_ms`] for the slowest of the device's checks.
    pub fn slow_stale_ms(&self) -> i64 {
        self.slowest_interval_ms.max(self.interval_ms) * i64::from(self.stale_intervals.max(1))
    }
}

/// How many members of a service must be available.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    All,
    Any,
    AtLeast(usize),
}

impl Need {
    /// How many of `members` must be available.
    pub fn count(self, members: usize) -> usize {
        match self {
            Need::All => members,
            Need::Any => 1,
            Need::AtLeast(n) => n,
        }
    }
}
