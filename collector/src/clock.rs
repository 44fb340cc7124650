//! Where "now" comes from: the collector's one clock. Nothing in the library reads the wall clock
//! itself; the binary's `main.rs` hands a [`SystemClock`] to the commands, the commands hand it to
//! the [`crate::app::App`] and the notifier, and tests pin time with [`FixedClock`] or a closure
//! (any `Fn() -> DateTime<Utc>` is a clock).

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

/// A clock that always says the same instant (tests, `--now` in the CLI).
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
