//! Driftvakt's soak harness: a municipality's weeks in minutes, checked against an independent
//! oracle (see `SOAK.md`).
//!
//! - [`schedule`]: the world from a seed: the inventory (as a real collector YAML) and the
//!   faults of devices and of the system over N days;
//! - [`oracle`]: what the collector should conclude, from the world alone, written apart from
//!   the collector's code (it imports none of it);
//! - [`sim`]: simulated time: the real collector library in this process under a settable
//!   clock, fed the agents' batches, compared with the oracle at the end;
//! - [`plan`], [`procs`], [`real`]: real time: the real agent and collector binaries as
//!   processes, devices as loopback listeners, process faults on a grid of slots, compared with
//!   the plan (within a tolerance) and exactly with the oracle on the results the agents made;
//!   [`mails`]: the notices the plan makes, against what the SMTP server received.

pub mod mails;
pub mod oracle;
pub mod plan;
pub mod procs;
pub mod real;
pub mod schedule;
pub mod sim;
