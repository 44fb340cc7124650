//! Driftvakt agent: probes switches, UPS units, wireless access points, network printers and smart
//! screens over ICMP, SNMP, HTTP(S) and TCP, and exposes what it sees as Prometheus metrics.
//!
//! - [`config`]: the YAML the agent (and the collector's inventory) is written in.
//! - [`probe`]: one module per probe kind behind one trait, dispatched through
//!   [`config::CheckSpec`].
//! - [`scheduler`]: runs every check at its interval with spread starts and bounded concurrency.
//! - [`metrics`]: `/metrics` in blackbox/snmp_exporter conventions plus the agent's own health.
//! - [`server`]: the agent's HTTP listener.
//! - [`healthcheck`]: `driftvakt-agent healthcheck`, the image's health check of that listener.
//! - [`push`]: delivery of spooled results to the collector (and the HTTP contract).
//! - [`assignment`]: the devices the collector assigns to this agent, kept on disk.
//! - [`spool`]: the durable on-disk queue results wait in until the collector confirms them.
//! - [`traps`]: SNMP traps and informs: matched to devices, confirmed by an immediate poll.
//! - [`run`]: the agent process as a library (standalone, central mode, or probing into a sink
//!   of the caller's, as the collector's embedded agent does).
//!
//! Nothing here reads the wall clock: the caller injects the process's one
//! [`Clock`](driftvakt_common::clock::Clock) (`main.rs` the system clock, the collector its own),
//! and every time the agent writes down comes from it.

pub mod assignment;
pub mod config;
pub mod exposition;
pub mod healthcheck;
pub mod metrics;
pub mod probe;
pub mod push;
pub mod run;
pub mod scheduler;
pub mod server;
pub mod spool;
pub mod traps;
