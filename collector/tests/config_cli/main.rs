//! The configuration and the command line as the real collector binary reads them, in one
//! test binary (each binary links the whole crate): `check-config` on good and broken files,
//! the wire's rules beside the configuration's, and every `driftvakt-collector` line of the
//! README run as written.

mod check_config_binary;
mod config_binary;
mod example_configs;
mod readme_commands;
