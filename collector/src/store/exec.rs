//! The executor seam: a multi-step protocol (acknowledging an on-call page, taking the leader
//! lease and resetting the outbox) is written once over [`Exec`], so that only the connection
//! differs between the backends. Its SQL is written once, with PostgreSQL's numbered placeholders
//! (`$1`), which SQLite's executor reads as its own (`?1`); parameters are [`Arg`]s, which both
//! executors bind as their driver's integer and text values.
//!
//! Rows are decoded once too: a decoder reads a row's columns through [`Cells`], which both
//! drivers' rows implement.
//!
//! A backend's store runs such a protocol in one transaction of its own ([`Transact`]): an
//! IMMEDIATE one on SQLite, one on a pooled connection on PostgreSQL; it commits when the protocol
//! returns `Ok` and rolls back when it returns an error.

use super::StoreError;

/// One statement parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arg<'a> {
    Int(i64),
    Text(&'a str),
}

/// Statements inside one transaction.
pub trait Exec {
    /// Runs `sql` with `args`; returns how many rows it changed.
    fn exec(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<u64, StoreError>;

    /// The first column of the first row `sql` returns, as an integer (`None`: no row).
    fn int(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<Option<i64>, StoreError>;
}

/// A store that runs a protocol in one transaction of its backend.
pub trait Transact {
    /// Runs `f` in one transaction: committed when `f` returns `Ok`, rolled back otherwise.
    fn transaction<R>(
        &self,
        f: impl FnOnce(&mut dyn Exec) -> Result<R, StoreError>,
    ) -> Result<R, StoreError>;
}

/// A row's columns by index, as both drivers' rows give them.
pub trait Cells {
    fn int(&self, i: usize) -> Result<i64, StoreError>;
    fn text(&self, i: usize) -> Result<String, StoreError>;
    fn opt_text(&self, i: usize) -> Result<Option<String>, StoreError>;
    fn bytes(&self, i: usize) -> Result<Vec<u8>, StoreError>;
}
