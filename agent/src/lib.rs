//! Driftvakt agent: probes switches, UPS units, wireless access points, network printers and smart
//! screens over ICMP, SNMP, HTTP(S) and TCP, and exposes what it sees as Prometheus metrics.
//!
//! - [`config`]: the YAML the agent (and the collector's inventory) is written in.
//! - [`probe`]: one module per probe kind behind one trait, dispatched through [`config::CheckSpec`].

pub mod config;
pub mod probe;
