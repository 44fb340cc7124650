//! The collector's clock: the process's one [`Clock`], defined in `driftvakt_common::clock` so the
//! embedded agent reads the same one. The binary's `main.rs` hands a [`SystemClock`] to the
//! commands, the commands hand it to the [`crate::app::App`] and the notifier, and tests pin time
//! with [`FixedClock`] or a closure (any `Fn() -> DateTime<Utc>` is a clock).

pub use driftvakt_common::clock::{Clock, FixedClock, SystemClock};
