//! `driftvakt-agent`: probe devices and expose what they answer as Prometheus metrics.
//!
//! With `agent.collector` configured, `run` also spools every result on disk, pushes the spool to
//! the collector, and probes the devices the collector assigns in addition to the local ones.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use driftvakt_agent::assignment::{AssignmentFetcher, Fetched};
use driftvakt_agent::config::{AgentConfig, CollectorSettings};
use driftvakt_agent::metrics::{AgentMetrics, SpoolMetrics};
use driftvakt_agent::probe::Probers;
use driftvakt_agent::push::{CollectorClient, Pusher, PusherOptions};
use driftvakt_agent::scheduler::{self, Scheduler};
use driftvakt_agent::spool::{self, Spool, SpoolOptions};
use prometheus_client::registry::Registry;
use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

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

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::CheckConfig(args) => {
            check_config(&(args.file.or(args.config)).expect("clap requires FILE or --config"))
        }
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
        serde_json::to_writer(&mut out, &*r)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

async fn run(path: &Path) -> Result<()> {
    // Installed first: a SIGTERM that arrives while the agent starts (fetching its assignment,
    // opening the spool) is kept and honoured once it runs, instead of killing it mid-setup.
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("cannot install the SIGTERM handler")?;
    let config = load(path)?;
    let mut registry = Registry::default();
    let metrics = AgentMetrics::register(&mut registry);
    let central = config
        .file
        .agent
        .collector
        .as_ref()
        .map(|c| (c.clone(), SpoolMetrics::register(&mut registry)));
    let registry = Arc::new(registry);
    if let Some(addr) = config.file.agent.listen {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))?;
        tracing::info!(%addr, "serving /metrics");
        tokio::spawn(driftvakt_agent::server::serve(listener, registry.clone()));
    }
    let (sink, results) = tokio::sync::mpsc::channel(4096);
    let mut tasks = Vec::new();
    let mut writer = None;
    let mut flush = None;
    let mut probing = Probing::new(metrics, sink);
    match central {
        None => {
            tracing::info!(agent = %config.file.agent.id, "standalone: no collector configured");
            tasks.push(tokio::spawn(drain(results)));
            probing.start(&config)?;
            shutdown_signal(&mut term).await;
        }
        Some((collector, spool_metrics)) => {
            let setup = Central::start(&config, &collector, spool_metrics, results).await?;
            tasks.push(setup.pusher);
            writer = Some(setup.writer);
            flush = Some(setup.flush);
            let mut fetcher = setup.fetcher;
            if let Err(e) = probing.start(&fetcher.config()) {
                tracing::error!(error = %format!("{e:#}"), "cannot apply the assignment; probing local devices only");
                probing.start(&config)?;
            }
            let refresh = collector.assignment_refresh.std();
            tokio::select! {
                _ = shutdown_signal(&mut term) => {}
                _ = refresh_assignment(&mut fetcher, &mut probing, refresh) => {}
            }
        }
    }
    tracing::info!("shutting down");
    // Dropping the scheduler and its sink closes the channel once running probes finish; the
    // spool writer then writes what is queued and ends.
    probing.stop();
    drop(probing);
    if let Some(w) = writer {
        if tokio::time::timeout(Duration::from_secs(5), w)
            .await
            .is_err()
        {
            tracing::warn!("results still queued after 5s were not spooled");
        }
    }
    for t in tasks {
        t.abort();
    }
    if let Some(f) = flush {
        // One last pass, so a clean stop leaves nothing waiting for the next start.
        match tokio::time::timeout(SHUTDOWN_FLUSH, f.pass()).await {
            Ok(Ok(n)) => tracing::info!(batches = n, "spool flushed to the collector"),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "results stay in the spool for the next start")
            }
            Err(_) => tracing::warn!(
                "spool not flushed within {SHUTDOWN_FLUSH:?}; the rest goes at the next start"
            ),
        }
    }
    Ok(())
}

/// How long a stopping agent tries to hand its spool to the collector.
const SHUTDOWN_FLUSH: Duration = Duration::from_secs(5);

/// The running scheduler, rebuilt when the set of devices changes; the metrics stay.
struct Probing {
    metrics: AgentMetrics,
    sink: tokio::sync::mpsc::Sender<std::sync::Arc<driftvakt_common::wire::ProbeResult>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Probing {
    fn new(
        metrics: AgentMetrics,
        sink: tokio::sync::mpsc::Sender<std::sync::Arc<driftvakt_common::wire::ProbeResult>>,
    ) -> Probing {
        Probing {
            metrics,
            sink,
            task: None,
        }
    }

    /// Stops the current scheduler, if any, and starts one for `config`.
    fn start(&mut self, config: &AgentConfig) -> Result<()> {
        let probers = Arc::new(Probers::new(config)?);
        let jobs = scheduler::plan(config);
        tracing::info!(
            agent = %config.file.agent.id,
            devices = config.file.devices.len(),
            checks = jobs.len(),
            "probing"
        );
        let ids: HashSet<String> = config
            .file
            .devices
            .iter()
            .map(|d| d.id.value.clone())
            .collect();
        self.metrics.latest.retain_devices(&|d| ids.contains(d));
        self.stop();
        let scheduler = Scheduler {
            jobs,
            probers,
            metrics: self.metrics.clone(),
            concurrency: config.file.agent.concurrency,
            sink: self.sink.clone(),
        };
        self.task = Some(tokio::spawn(scheduler.run()));
        Ok(())
    }

    fn stop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

/// Standalone: results only feed the metrics.
async fn drain(
    mut results: tokio::sync::mpsc::Receiver<std::sync::Arc<driftvakt_common::wire::ProbeResult>>,
) {
    while let Some(r) = results.recv().await {
        if !r.ok {
            tracing::debug!(target = %r.target, check = %r.check, error = ?r.error, "probe failed");
        }
    }
}

/// Central mode: spool, spool writer, pusher, and the assignment as it is at start.
struct Central {
    writer: tokio::task::JoinHandle<()>,
    pusher: tokio::task::JoinHandle<()>,
    /// Sends what is left in the spool once at shutdown, after the periodic pusher stopped.
    flush: Pusher,
    fetcher: AssignmentFetcher,
}

impl Central {
    async fn start(
        config: &AgentConfig,
        collector: &CollectorSettings,
        spool_metrics: SpoolMetrics,
        results: tokio::sync::mpsc::Receiver<std::sync::Arc<driftvakt_common::wire::ProbeResult>>,
    ) -> Result<Central> {
        let dir = config.resolve(&config.file.agent.spool.dir);
        let opts = SpoolOptions::new(config.file.agent.spool.max_bytes.0, collector.batch_size);
        let spool = Spool::open(&dir, opts, spool_metrics.clone())
            .with_context(|| format!("cannot open the spool in {}", dir.display()))?;
        tracing::info!(
            dir = %dir.display(),
            waiting = spool.depth(),
            repaired = spool.repairs().len(),
            "spool open"
        );
        let spool = Arc::new(spool);
        let client = CollectorClient::new(collector, &config.base_dir())
            .context("cannot set up the collector client")?;
        let new_pusher = || {
            Pusher::new(
                client.clone(),
                spool.clone(),
                &config.file.agent.id,
                dir.join("quarantine"),
                PusherOptions::new(collector.push_interval.std()),
                spool_metrics.clone(),
            )
        };
        let pusher = new_pusher();
        let flush = new_pusher();
        let writer = tokio::spawn(spool::write_from(results, spool));
        let pusher = tokio::spawn(pusher.run());
        let mut fetcher = AssignmentFetcher::new(client, config.clone(), &dir);
        match fetcher.load_stored() {
            Ok(true) => tracing::info!("loaded the stored assignment"),
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "ignoring the stored assignment"),
        }
        let first = tokio::time::timeout(Duration::from_secs(10), fetcher.fetch()).await;
        match first {
            Ok(Ok(outcome)) => tracing::info!(?outcome, "assignment fetched"),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, stored = fetcher.current().is_some(), "cannot fetch the assignment; running from the stored one and local devices")
            }
            Err(_) => tracing::warn!(
                stored = fetcher.current().is_some(),
                "assignment fetch timed out; running from the stored one and local devices"
            ),
        }
        Ok(Central {
            writer,
            pusher,
            flush,
            fetcher,
        })
    }
}

/// Fetches the assignment every `every`; rebuilds the scheduler when it changed.
async fn refresh_assignment(
    fetcher: &mut AssignmentFetcher,
    probing: &mut Probing,
    every: Duration,
) {
    loop {
        tokio::time::sleep(every).await;
        match fetcher.fetch().await {
            Ok(Fetched::Unchanged) => tracing::debug!("assignment unchanged"),
            Ok(Fetched::Changed) => {
                tracing::info!(etag = ?fetcher.etag(), "assignment changed; restarting the scheduler");
                if let Err(e) = probing.start(&fetcher.config()) {
                    tracing::error!(error = %format!("{e:#}"), "cannot apply the new assignment");
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot refresh the assignment; keeping the current one")
            }
        }
    }
}

async fn shutdown_signal(term: &mut tokio::signal::unix::Signal) {
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
