//! The agent's configuration and command line, one test binary: strict loading and its
//! errors (the `bad_configs` table, fuzzed input), `check-config`, the CLI, and the systemd
//! unit run as systemd would.

mod check_config_binary;
mod cli;
mod config_errors;
mod config_smoke;
mod fuzz_config;
mod units;
