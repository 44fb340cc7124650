//! Driftvakt collector: receives probe results from agents, keeps device and service state, and
//! computes availability against the yearly target. `ARCHITECTURE.md` at the repository root
//! draws the folders and their one-way arrows; in short, from the bottom up:
//!
//! - pure, no I/O: [`availability`] (interval arithmetic, periods, figures, the five states),
//!   [`calendar`] (service windows, office hours, Swedish holidays and names), [`events`] (what
//!   alerting tells the notifier), [`clock`] (the one source of "now");
//! - configuration, importing only the pure modules: [`inventory`] (sites, devices, services,
//!   agents, the collector's settings, the `notify:` section and the database's location, from
//!   strict YAML);
//! - [`store`]: every table and every line of SQL, behind traits, with one migration sequence;
//! - [`app`]: the [`app::App`] that ties inventory, store and clock together;
//! - [`state`]: the pure state machine and the one read model (timelines, status, root cause,
//!   lineage) that ingest, alerting, metrics, reports and the API all use;
//! - [`ingest`], [`windows`] (operators' changes to service windows), [`incidents`]
//!   (incidents registered by hand), [`report`] (the
//!   availability report and its formats), [`notify`] (driftmeddelanden and alerts: policy,
//!   outbox, transports), [`alerting`] (state turned into the notifier's events, once each),
//!   [`metrics`] (what Prometheus scrapes), [`embedded`] (the agent inside the collector),
//!   [`cluster`] (several collectors on one database: heartbeats, the leader lease, fencing),
//!   [`register`] (the inventory register: renewals, billing per tertial, CSV import), [`web`]
//!   (the operator web's accounts, sessions and roles);
//! - [`http`] (every route and the server) and [`cli`] (every subcommand) on top: nothing
//!   imports them.

pub mod alerting;
pub mod app;
pub mod availability;
pub mod calendar;
pub mod cli;
pub mod clock;
pub mod cluster;
pub mod embedded;
pub mod events;
pub mod http;
pub mod incidents;
pub mod ingest;
pub mod inventory;
pub mod metrics;
pub mod notify;
pub mod pages;
pub mod register;
pub mod report;
pub mod state;
pub mod store;
pub mod topology;
pub mod web;
pub mod windows;
