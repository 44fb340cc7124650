//! `driftvakt-agent`: probe devices and expose what they answer as Prometheus metrics.
//!
//! With `agent.collector` configured, `run` also spools every result on disk, pushes the spool to
//! the collector, and probes the devices the collector assigns in addition to the local ones.
//! The work is done by the library ([`driftvakt_agent::run`]); this is the command line, and the
//! one place that picks the wall clock ([`SystemClock`]) the library reads time from.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use driftvakt_agent::config::AgentConfig;
use driftvakt_common::clock::{Clock, SystemClock};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

/// Driftvakt agent: probes switches, UPS units, access points, printers and screens over ICMP,
/// SNMP, HTTP(S) and TCP.
#[derive(Parser)]
#[command(name = "driftvakt-agent", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Probe every device at its interval and serve /metrics.
    Run {
        #[arg(long)]
        config: PathBuf,
    },
    /// Validate a configuration file and exit (0 when valid).
    CheckConfig(CheckConfigArgs),
    /// Ask the running agent's /healthz (at the configuration's agent.listen); exit 0 on 200.
    Healthcheck(driftvakt_agent::healthcheck::HealthcheckArgs),
    /// Probe every check once and print one JSON result a line.
    Probe {
        #[arg(long)]
        config: PathBuf,
        /// Run once and exit (the only mode; kept explicit for scripts).
        #[arg(long)]
        once: bool,
    },
}

/// `check-config FILE` or `check-config --config FILE` (as `run` takes it): exactly one.
#[derive(clap::Args)]
#[group(required = true, multiple = false)]
struct CheckConfigArgs {
    /// The configuration file.
    #[arg(value_name = "FILE")]
    file: Option<PathBuf>,
    /// The configuration file, given like `run --config FILE`.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

/// The default log filter: info, but not the SNMP library's line per malformed or refused
/// datagram at the trap receiver (anyone can send those; the agent counts what it accepts).
const QUIET: &str =
    "info,async_snmp::notification=error,async_snmp::message=error,async_snmp::ber=error";

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| QUIET.into()),
        )
        .init();
    let cli = Cli::parse();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let outcome = match cli.command {
        Command::CheckConfig(args) => {
            let path = args
                .file
                .or(args.config)
                .expect("clap requires FILE or --config");
            check_config(&path, &*clock)
        }
        Command::Probe { config, once: _ } => {
            runtime().and_then(|rt| rt.block_on(probe_once(&config, clock)))
        }
        Command::Healthcheck(args) => return healthcheck(&args),
        Command::Run { config } => runtime().and_then(|rt| rt.block_on(run(&config, clock))),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("driftvakt-agent: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Exit 1 when unhealthy: a container health check reads 1 as unhealthy (2 is reserved).
fn healthcheck(args: &driftvakt_agent::healthcheck::HealthcheckArgs) -> ExitCode {
    match driftvakt_agent::healthcheck::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("driftvakt-agent healthcheck: {e}");
            ExitCode::FAILURE
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

fn load(path: &Path) -> Result<AgentConfig> {
    AgentConfig::load(path).map_err(|e| anyhow::anyhow!("invalid configuration:\n{e}"))
}

/// Loads the file and makes the checks `run` makes before it starts ([`AgentConfig::preflight`]).
fn load_checked(path: &Path, clock: &dyn Clock) -> Result<(AgentConfig, Vec<String>)> {
    let config = load(path)?;
    let warnings = config
        .preflight(clock.now())
        .map_err(|e| anyhow::anyhow!("invalid configuration:\n{e}"))?;
    Ok((config, warnings))
}

fn check_config(path: &Path, clock: &dyn Clock) -> Result<()> {
    let (config, warnings) = load_checked(path, clock)?;
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    let checks: usize = config.file.devices.iter().map(|d| d.checks().len()).sum();
    println!(
        "{}: ok ({} devices, {} checks)",
        path.display(),
        config.file.devices.len(),
        checks
    );
    Ok(())
}

async fn probe_once(path: &Path, clock: Arc<dyn Clock>) -> Result<()> {
    let config = load(path)?;
    let results = driftvakt_agent::run::probe_once(&config, clock).await?;
    let mut out = std::io::stdout().lock();
    for r in results {
        serde_json::to_writer(&mut out, &*r)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

async fn run(path: &Path, clock: Arc<dyn Clock>) -> Result<()> {
    // Installed first: a SIGTERM that arrives while the agent starts (fetching its assignment,
    // opening the spool) is kept and honoured once it runs, instead of killing it mid-setup.
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("cannot install the SIGTERM handler")?;
    let (config, warnings) = load_checked(path, &*clock)?;
    for w in warnings {
        tracing::warn!("{w}");
    }
    let shutdown = async move {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    };
    driftvakt_agent::run::run(config, clock, shutdown).await
}
