//! The collector's test fixtures (a dev-dependency of the collector only): what several of its
//! test binaries build from the collector's own types. Re-exports `driftvakt-testkit`, so a
//! collector test needs this one crate.
//!
//! - [`fixtures`]: a small inventory, an app and the API state over a temporary database with
//!   a settable clock, generated histories;
//! - [`backends`]: SQLite or PostgreSQL for one test, [`both_backends!`] to run it on each;
//! - [`notify`]: a notifier on a real SMTP sink, events, delivery rounds;
//! - [`results_db`]: the stored results read back.

pub use driftvakt_testkit::{
    devtools, files, http, inventory, pg, ports, previous, process, prometheus, smtp, spool, units,
};

pub mod backends;
pub mod fixtures;
pub mod notify;
pub mod results_db;
