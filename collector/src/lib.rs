//! Driftvakt collector: receives probe results from agents, keeps device and service state, and
//! computes availability against the yearly target. See the module docs for each part.
//!
//! - [`inventory`]: sites, devices, services and agents from strict YAML.
//! - [`store`]: the storage trait and its SQLite backend.
//! - [`ingest`]: the shared [`ingest::App`] state and batch ingest.
//! - [`state`]: device and service state machines, outage derivation.
//! - [`availability`]: interval arithmetic, periods, planned windows, figures.
//! - [`calendar`]: service windows, office hours and Swedish holidays.
//! - [`report`]: the availability report and its renderers.
//! - [`api`], [`server`]: the HTTP API and run loop.
//! - [`metrics`]: the collector's Prometheus metrics (what the dashboards read).
//! - [`assignment`]: `GET /api/v1/assignment`, the devices an agent in central mode probes.
//! - [`notify`]: driftmeddelanden and alerts: policy, outbox, SMTP and file transport.
//! - [`alerting`]: device and service state turned into the notifier's events, once each.
//! - [`clock`]: the injected clock (the test seam for "now").
//! - [`cli_run`], [`cli_report`], [`cli_calendar`], [`cli_notify`]: the subcommands.

pub mod alerting;
pub mod api;
pub mod api_calendar;
pub mod assignment;
pub mod availability;
pub mod calendar;
pub mod cli_calendar;
pub mod cli_notify;
pub mod cli_report;
pub mod cli_run;
pub mod clock;
pub mod db;
pub mod embedded;
pub mod ingest;
pub mod inventory;
pub mod metrics;
pub mod notify;
pub mod report;
pub mod server;
pub mod state;
pub mod store;
pub mod swedish;
