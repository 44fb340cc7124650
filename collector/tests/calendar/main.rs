//! The calendar, one test binary: its configuration, Swedish holidays, office hours, service
//! windows, the windows' store on both backends and the `calendar` subcommands.

mod calendar_cli;
mod calendar_config;
mod calendar_holidays;
mod calendar_office_hours;
mod calendar_store;
mod calendar_windows;
