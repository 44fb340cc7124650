//! Alerting, one test binary: state changes become events once each through the real ingest
//! path, sent to a real SMTP server (`rig`), across restarts, services, sites, UPS units and
//! service windows; the core's signal of what changed (`alerting_signal`).

mod alerting_agent_fault;
mod alerting_config;
mod alerting_restart;
mod alerting_service;
mod alerting_signal;
mod alerting_site;
mod alerting_topology;
mod alerting_ups;
mod alerting_window;
mod rig;
