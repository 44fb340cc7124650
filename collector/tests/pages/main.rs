//! What people read, one test binary: the driftinformation and status pages as text and in a
//! real browser (Chromium, axe-core), the operator web with its login, and the Grafana
//! dashboards against a real Prometheus.

mod dashboards_json;
mod dashboards_live;
mod drift_web;
mod pages_browser;
mod pages_region;
mod pages_text;
