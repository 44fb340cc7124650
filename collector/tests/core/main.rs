//! The core of the collector, one test binary (one link of the crate): configuration, the
//! store on both backends (results, history, tails, retention, migrations, the notifier's
//! tables, the inventory register, `db copy`, `db backup` and `db restore`), the HTTP API in process, the binary's own commands and the systemd
//! units.

mod core_binary;
mod core_config;
mod core_group;
mod core_history;
mod core_http;
mod core_store;
mod core_tails;
mod db_backup;
mod db_copy;
mod register;
mod store_migration;
mod store_notify;
mod store_retention;
mod store_schema;
mod topology_http;
mod units;
