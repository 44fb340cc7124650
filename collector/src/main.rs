//! `driftvakt-collector`: the collector binary.

use clap::{Parser, Subcommand};
use driftvakt_collector::{cli_report, cli_run};
use std::process::ExitCode;

/// Driftvakt collector: device and service state, availability, service windows and notices.
#[derive(Parser)]
#[command(name = "driftvakt-collector", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API: receive results, keep state.
    Run(cli_run::RunArgs),
    /// Print the availability report for a period.
    Report(cli_report::ReportArgs),
    /// Validate the inventory and exit.
    CheckConfig(cli_run::CommonArgs),
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Run(args) => {
            let rt = tokio::runtime::Runtime::new()?;
            rt.block_on(cli_run::run(args))?;
        }
        Command::Report(args) => print!("{}", cli_report::report(&args)?),
        Command::CheckConfig(args) => {
            let inv = args.load()?;
            println!(
                "{}: ok ({} sites, {} devices, {} services, {} agents)",
                args.config.display(),
                inv.sites.len(),
                inv.devices.len(),
                inv.services.len(),
                inv.agents.len()
            );
        }
    }
    Ok(())
}
