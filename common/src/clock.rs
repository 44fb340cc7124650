//! Where "now" comes from: the one clock of a Driftvakt process. Nothing in the libraries reads
//! the wall clock itself; each binary's `main.rs` picks a [`SystemClock`] and hands it down (the
//! collector to its commands, the `App` and the notifier; the agent to its run loop, probers and
//! pusher; the collector's embedded agent gets the collector's clock), and tests pin time with
//! [`FixedClock`] or a closure (any `Fn() -> DateTime<Utc>` is a clock).
//!
//! Only wall time goes through here: durations (round-trip times, timeouts) are measured with the
//! monotonic `std::time::Instant`.

use chrono::{DateTime, Utc};

/// A source of the current instant.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that always says the same instant (tests, `--now` in the collector's CLI).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FixedClock(pub DateTime<Utc>);

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        self.0
    }
}

/// A closure is a clock: tests move time by changing what it returns.
impl<F: Fn() -> DateTime<Utc> + Send + Sync> Clock for F {
    fn now(&self) -> DateTime<Utc> {
        self()
    }
}
