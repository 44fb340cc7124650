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
    /// Validate the inventory (and `notify.templates_dir`'s templates) and exit.
    CheckConfig(CheckConfigArgs),
    /// Service windows, office hours and Swedish holidays.
    Calendar(cli::calendar::CalendarArgs),
    /// Driftmeddelanden and alerts: the outbox and a test mail.
    Notify(cli::notify::NotifyArgs),
}

/// `check-config FILE` or `check-config --config FILE`: exactly one (the systemd unit uses the
/// first, `run` takes the second).
#[derive(clap::Args)]
struct CheckConfigArgs {
    #[command(flatten)]
    inventory: InventoryFile,
    /// Address to listen on (overrides `collector.listen`).
    #[arg(long)]
    listen: Option<std::net::SocketAddr>,
    /// SQLite database file (overrides `collector.database`).
    #[arg(long)]
    database: Option<std::path::PathBuf>,
}

#[derive(clap::Args)]
#[group(required = true, multiple = false)]
struct InventoryFile {
    /// The inventory YAML file.
    #[arg(value_name = "FILE")]
    file: Option<std::path::PathBuf>,
    /// The inventory YAML file, given like `run --config FILE`.
    #[arg(long, short = 'c', value_name = "FILE")]
    config: Option<std::path::PathBuf>,
}

impl CheckConfigArgs {
    fn common(self) -> cli::CommonArgs {
        cli::CommonArgs {
            config: (self.inventory.file.or(self.inventory.config))
                .expect("clap requires FILE or --config"),
            listen: self.listen,
            database: self.database,
        }
    }
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
            let args = args.common();
            let inv = args.load()?;
            if let Some(dir) = inv.notify.as_ref().and_then(|n| n.templates_dir.as_deref()) {
                driftvakt_collector::notify::render::check_templates(dir)?;
            }
            println!(
                "{}: ok ({} sites, {} devices, {} services, {} agents)",
                args.config.display(),
                inv.sites.len(),
                inv.devices.len(),
                inv.services.len(),
                inv.agents.len()
            );
        }
        Command::Calendar(args) => {
            cli::calendar::run(args, Arc::new(SystemClock), &mut std::io::stdout().lock())?;
        }
        Command::Notify(args) => {
            cli::notify::run(args, Arc::new(SystemClock), &mut std::io::stdout().lock())?;
        }
    }
    Ok(())
}
