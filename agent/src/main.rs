//! `driftvakt-agent`: probe devices and expose what they answer as Prometheus metrics.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use driftvakt_agent::config::AgentConfig;
use driftvakt_agent::metrics::AgentMetrics;
use driftvakt_agent::probe::Probers;
use driftvakt_agent::scheduler::{self, Scheduler};
use prometheus_client::registry::Registry;
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
    CheckConfig { config: PathBuf },
    /// Probe every check once and print one JSON result a line.
    Probe {
        #[arg(long)]
        config: PathBuf,
        /// Run once and exit (the only mode; kept explicit for scripts).
        #[arg(long)]
        once: bool,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::CheckConfig { config } => check_config(&config),
        Command::Probe { config, once: _ } => {
            runtime().and_then(|rt| rt.block_on(probe_once(&config)))
        }
        Command::Run { config } => runtime().and_then(|rt| rt.block_on(run(&config))),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("driftvakt-agent: {e:#}");
            ExitCode::from(2)
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

fn check_config(path: &Path) -> Result<()> {
    let config = load(path)?;
    let checks: usize = config.file.devices.iter().map(|d| d.checks().len()).sum();
    println!(
        "{}: ok ({} devices, {} checks)",
        path.display(),
        config.file.devices.len(),
        checks
    );
    Ok(())
}

async fn probe_once(path: &Path) -> Result<()> {
    let config = load(path)?;
    let probers = Arc::new(Probers::new(&config)?);
    let metrics = AgentMetrics::register(&mut Registry::default());
    let jobs = scheduler::plan(&config);
    let results = scheduler::run_once(probers, metrics, jobs, config.file.agent.concurrency).await;
    let mut out = std::io::stdout().lock();
    for r in results {
        serde_json::to_writer(&mut out, &r)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

async fn run(path: &Path) -> Result<()> {
    let config = load(path)?;
    let probers = Arc::new(Probers::new(&config)?);
    let mut registry = Registry::default();
    let metrics = AgentMetrics::register(&mut registry);
    let registry = Arc::new(registry);
    if let Some(addr) = config.file.agent.listen {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))?;
        tracing::info!(%addr, "serving /metrics");
        tokio::spawn(driftvakt_agent::server::serve(listener, registry.clone()));
    }
    let jobs = scheduler::plan(&config);
    tracing::info!(
        agent = %config.file.agent.id,
        devices = config.file.devices.len(),
        checks = jobs.len(),
        "probing"
    );
    let (sink, mut results) = tokio::sync::mpsc::channel(1024);
    let scheduler = Scheduler {
        jobs,
        probers,
        metrics,
        concurrency: config.file.agent.concurrency,
        sink,
    };
    let task = tokio::spawn(scheduler.run());
    let drain = tokio::spawn(async move {
        while let Some(r) = results.recv().await {
            if !r.ok {
                tracing::debug!(target = %r.target, check = %r.check, error = ?r.error, "probe failed");
            }
        }
    });
    shutdown_signal().await;
    tracing::info!("shutting down");
    task.abort();
    drain.abort();
    Ok(())
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("cannot install SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
