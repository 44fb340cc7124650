//! `driftvakt-collector`: the collector binary. Each subcommand lives in its own file under the
//! library's `cli/`; this file only dispatches, with `anyhow` at the edge, and is where the wall
//! clock is chosen.

use clap::{Parser, Subcommand};
use driftvakt_collector::cli;
use driftvakt_collector::clock::SystemClock;
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
    /// Serve the API: receive results, keep state.
    Run(cli::run::RunArgs),
    /// Print the availability report for a period.
    Report(cli::report::ReportArgs),
    /// Check everything `run` would refuse (inventory, secrets, database folder, schedules,
    /// templates) and exit.
    CheckConfig(cli::check::CheckArgs),
    /// Service windows, office hours and Swedish holidays.
    Calendar(cli::calendar::CalendarArgs),
    /// Driftmeddelanden and alerts: the outbox and a test mail.
    Notify(cli::notify::NotifyArgs),
    /// Incidents registered by hand: add, update, close, list.
    Incident(cli::incident::IncidentArgs),
    /// On-call cases of a period with what they bill (the invoice basis).
    Oncall(cli::oncall::OncallArgs),
    /// The inventory register: list, renewals, billing per tertial, import from CSV.
    Inventory(cli::inventory::InventoryArgs),
    /// Intefunktion cases the service desk registers by hand: add, close.
    Intefunktion(cli::intefunktion::IntefunktionArgs),
    /// The database: rows, bytes on disk, oldest raw result, retention horizon.
    Db(cli::db::DbArgs),
    /// The topology found over LLDP/CDP: links, proposals, accept DEVICE|--all.
    Topology(cli::topology::TopologyArgs),
    /// Ask a collector's /healthz; exit 0 when it answers 200 (the container's health check).
    Healthcheck(cli::healthcheck::HealthcheckArgs),
    /// The operator web's local accounts: add, passwd, remove, list (passwords from stdin).
    User(cli::user::UserArgs),
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
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match cli.command {
        Command::Run(args) => {
            let rt = tokio::runtime::Runtime::new()?;
            rt.block_on(cli::run::run(args, Arc::new(SystemClock)))?;
        }
        Command::Report(args) => print!("{}", cli::report::report(&args, Arc::new(SystemClock))?),
        Command::CheckConfig(args) => {
            let summary = cli::check::run(&args, &SystemClock)?;
            for w in &summary.warnings {
                eprintln!("warning: {w}");
            }
            println!("{summary}");
        }
        Command::Calendar(args) => {
            cli::calendar::run(args, Arc::new(SystemClock), &mut std::io::stdout().lock())?;
        }
        Command::Notify(args) => {
            cli::notify::run(args, Arc::new(SystemClock), &mut std::io::stdout().lock())?;
        }
        Command::User(args) => {
            cli::user::run(
                args,
                &mut std::io::stdin().lock(),
                &mut std::io::stdout().lock(),
            )?;
        }
        Command::Incident(args) => {
            cli::incident::run(args, Arc::new(SystemClock), &mut std::io::stdout().lock())?;
        }
        Command::Oncall(args) => print!("{}", cli::oncall::run(&args, Arc::new(SystemClock))?),
        Command::Inventory(args) => cli::inventory::run(
            &args,
            Arc::new(SystemClock),
            &mut std::io::stdout().lock(),
            &mut std::io::stderr().lock(),
        )?,
        Command::Intefunktion(args) => {
            print!("{}", cli::intefunktion::run(&args, Arc::new(SystemClock))?)
        }
        Command::Db(args) => print!("{}", cli::db::run(&args, Arc::new(SystemClock))?),
        Command::Healthcheck(args) => cli::healthcheck::run(&args)?,
        Command::Topology(args) => print!("{}", cli::topology::run(&args)?),
    }
    Ok(())
}
