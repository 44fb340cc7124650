//! `driftvakt-collector`: the collector binary. Each subcommand lives in its own `cli_*` module
//! of the library; this file only dispatches, with `anyhow` at the edge.

use clap::{Parser, Subcommand};
use driftvakt_collector::clock::SystemClock;
use driftvakt_collector::{cli_calendar, cli_notify};
use std::process::ExitCode;
use std::sync::Arc;

/// Driftvakt collector: device and service state, availability, service windows and notices.
#[derive(Parser)]
#[command(name = "driftvakt-collector", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Service windows, office hours and Swedish holidays.
    Calendar(cli_calendar::CalendarArgs),
    /// Driftmeddelanden and alerts: the outbox and a test mail.
    Notify(cli_notify::NotifyArgs),
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let stdout = std::io::stdout();
    match cli.command {
        Command::Calendar(args) => {
            cli_calendar::run(args, Arc::new(SystemClock), &mut stdout.lock())?;
        }
        Command::Notify(args) => {
            cli_notify::run(args, Arc::new(SystemClock), &mut stdout.lock())?;
        }
    }
    Ok(())
}
