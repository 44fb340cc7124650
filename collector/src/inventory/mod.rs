//! The collector's configuration: sites, devices, services and agents, the collector's settings,
//! the `notify:` section and where the database is, read from strict YAML.
//!
//! Devices use the agent's own schema (`driftvakt_common::schema::DeviceConfig`), so one device list serves both. A file
//! may `include:` other files (paths relative to the including file) whose sites, devices,
//! services, agents and SNMP credentials are merged in. Every problem found is reported, each
//! with file, line and key: duplicate ids, unknown sites, parents, members and assignments,
//! parent cycles, token files that cannot be read or are too short, and a secret two roles
//! share (an agent's token used as the operator token).
//!
//! It sits at the bottom of the collector with the pure modules: it imports only
//! `availability`, `calendar` and `events` (it reads files and the environment, but never the
//! store, the notifier or the clock); the rest of the collector reads it.
//!
//! - [`file`]: one YAML file as written; [`settings`]: `collector:`; [`notify`] and
//!   [`channels`]: `notify:` (re-exported as `notify::config`); [`database`]: where the
//!   database is (re-exported as `store::Location`);
//! - [`files`]: the main file and its includes as read, and the ids they define; [`load`]
//!   reads them, in order: [`validate`] (every file, across
//!   files), [`resolve`] (tokens, assignments, device rules), [`secrets`] (no secret shared by
//!   two roles);
//! - [`functions`]: the agreement's "intefunktion" items, services of `kind: function`;
//! - [`model`]: the resolved [`Inventory`] and its lookups; [`preflight`]: what `run` needs
//!   beyond that; [`backup`]: the sites that need backup power; [`tls`]: `collector.tls`, the
//!   certificate files and their checks; [`topology`]: `topology:` (parents from LLDP/CDP)
//!   and the overlay of discovered parents.

pub mod backup;
pub mod channels;
pub mod database;
pub mod file;
mod files;
pub mod functions;
mod load;
pub mod model;
pub mod notify;
mod preflight;
mod resolve;
mod secrets;
pub mod settings;
#[cfg(test)]
pub(crate) mod testing;
pub mod tls;
pub mod topology;
mod validate;
pub mod web;

pub use backup::{BackupSite, BackupUps};
pub use file::{AgentEntry, CalendarSection, InventoryFile, Rule, ServiceConfig, SiteConfig};
pub use functions::{Function, FunctionItem, ServiceKind};
pub use model::{
    Agent, Device, Inventory, Service, Site, TokenSource, DEFAULT_REQUIRED_RUNTIME_MINUTES,
};
pub use resolve::MIN_TOKEN_LEN;
pub use settings::{ClusterTiming, CollectorSettings, HandlingGoal, OncallBilling, Retention};
