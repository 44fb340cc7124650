//! From probe to collector, one test binary: the on-disk spool, a killed agent, and pushes to
//! a collector.

mod push_collector;
mod spool_files;
mod spool_kill;
