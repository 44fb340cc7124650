//! The agent's orchestration as a library: the scheduler that is rebuilt when the devices change
//! ([`Probing`]), where its results go ([`ResultSink`]), and the whole agent process ([`run`]).
//!
//! Two users:
//! - `driftvakt-agent run` calls [`run`]: metrics listener, then standalone (results only feed
//!   the metrics, [`Drain`]) or central mode (`agent.collector`: results are spooled on disk and
//!   pushed, and the collector's assignment is probed too and refreshed).
//! - the collector's embedded agent calls [`start`] with its own [`ResultSink`], which hands the
//!   results straight to the collector's ingest (no spool, no HTTP), and metrics registered in the
//!   collector's registry.

use crate::assignment::{AssignmentFetcher, Fetched};
use crate::config::{AgentConfig, CollectorSettings};
use crate::metrics::{AgentMetrics, SpoolMetrics};
use crate::probe::{Probers, SetupError};
use crate::push::{CollectorClient, Pusher, PusherOptions};
use crate::scheduler::{self, Scheduler};
use crate::spool::{self, Spool, SpoolOptions};
use anyhow::{Context, Result};
use driftvakt_common::wire::ProbeResult;
use prometheus_client::registry::Registry;
use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// The scheduler's side of the results channel.
pub type ResultSender = mpsc::Sender<Arc<ProbeResult>>;
/// The sink's side of the results channel.
pub type ResultReceiver = mpsc::Receiver<Arc<ProbeResult>>;

/// Results waiting between the scheduler and the sink.
const CHANNEL: usize = 4096;

/// How long a stopping agent waits for queued results to reach the spool.
const SHUTDOWN_SPOOL: Duration = Duration::from_secs(5);
/// How long a stopping agent tries to hand its spool to the collector.
const SHUTDOWN_FLUSH: Duration = Duration::from_secs(5);
/// How long the first assignment fetch may take before the agent starts without it.
const FIRST_FETCH: Duration = Duration::from_secs(10);

/// Where results go once the metrics have them. [`consume`](ResultSink::consume) runs as its own
/// task and ends when the channel closes (every scheduler holding its sender has stopped).
pub trait ResultSink: Send + 'static {
    fn consume(self, results: ResultReceiver) -> impl Future<Output = ()> + Send + 'static;
}

/// Standalone: results only feed the metrics; failures are logged at debug level.
pub struct Drain;

impl ResultSink for Drain {
    async fn consume(self, mut results: ResultReceiver) {
        while let Some(r) = results.recv().await {
            if !r.ok {
                tracing::debug!(target = %r.target, check = %r.check, error = ?r.error, "probe failed");
            }
        }
    }
}

/// Central mode: results are written to the spool, from which the pusher sends them.
pub struct SpoolSink(pub Arc<Spool>);

impl ResultSink for SpoolSink {
    fn consume(self, results: ResultReceiver) -> impl Future<Output = ()> + Send + 'static {
        spool::write_from(results, self.0)
    }
}

/// Starts `sink` as a task; returns the sender schedulers put results into.
pub fn spawn_sink(sink: impl ResultSink) -> (ResultSender, JoinHandle<()>) {
    let (sender, results) = mpsc::channel(CHANNEL);
    (sender, tokio::spawn(sink.consume(results)))
}

/// The running scheduler, rebuilt when the set of devices changes; the metrics stay.
pub struct Probing {
    metrics: AgentMetrics,
    sink: ResultSender,
    task: Option<JoinHandle<()>>,
}

impl Probing {
    pub fn new(metrics: AgentMetrics, sink: ResultSender) -> Probing {
        Probing {
            metrics,
            sink,
            task: None,
        }
    }

    /// Stops the current scheduler, if any, and starts one for `config`. When it replaces a
    /// running one, the latest-reading metrics of devices no longer probed are dropped.
    pub fn start(&mut self, config: &AgentConfig) -> Result<(), SetupError> {
        let probers = Arc::new(Probers::new(config)?);
        let jobs = scheduler::plan(config);
        tracing::info!(
            agent = %config.file.agent.id,
            devices = config.file.devices.len(),
            checks = jobs.len(),
            "probing"
        );
        if self.task.is_some() {
            let ids: HashSet<&str> = config
                .file
                .devices
                .iter()
                .map(|d| d.id.value.as_str())
                .collect();
            self.metrics.latest.retain_devices(&|d| ids.contains(d));
        }
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

    /// Stops the scheduler (running probes are dropped).
    pub fn stop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }

    /// The scheduler's task, if one runs: it keeps probing until it is aborted.
    pub fn into_task(mut self) -> Option<JoinHandle<()>> {
        self.task.take()
    }
}

/// An agent probing a fixed configuration into a sink.
pub struct Running {
    pub probing: Probing,
    /// The sink's task; it ends once `probing` is stopped and dropped.
    pub sink: JoinHandle<()>,
}

impl Running {
    /// The tasks to abort to stop this agent (scheduler, then sink).
    pub fn into_tasks(self) -> Vec<JoinHandle<()>> {
        self.probing
            .into_task()
            .into_iter()
            .chain([self.sink])
            .collect()
    }

    /// Stops probing and waits up to `grace` for the sink to take what is queued.
    pub async fn stop(mut self, grace: Duration) -> bool {
        self.probing.stop();
        drop(self.probing);
        tokio::time::timeout(grace, self.sink).await.is_ok()
    }
}

/// Probes `config`'s devices at their intervals, with `metrics`, into `sink`: the agent without
/// a collector connection (the collector's embedded agent; standalone mode of [`run`]).
pub fn start(
    config: &AgentConfig,
    metrics: AgentMetrics,
    sink: impl ResultSink,
) -> Result<Running, SetupError> {
    let (sender, sink) = spawn_sink(sink);
    let mut probing = Probing::new(metrics, sender);
    if let Err(e) = probing.start(config) {
        sink.abort();
        return Err(e);
    }
    Ok(Running { probing, sink })
}

/// Probes every check of `config` once; the results in plan order.
pub async fn probe_once(config: &AgentConfig) -> Result<Vec<Arc<ProbeResult>>> {
    let probers = Arc::new(Probers::new(config)?);
    let metrics = AgentMetrics::register(&mut Registry::default());
    let jobs = scheduler::plan(config);
    Ok(scheduler::run_once(probers, metrics, jobs, config.file.agent.concurrency).await)
}

/// The agent process: serves `/metrics` when `agent.listen` is set, probes standalone or in
/// central mode (by `agent.collector`), and stops cleanly when `shutdown` completes: in central
/// mode queued results are spooled and the spool is flushed to the collector once more.
pub async fn run(config: AgentConfig, shutdown: impl Future<Output = ()>) -> Result<()> {
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
        tokio::spawn(crate::server::serve(listener, registry.clone()));
    }
    match central {
        None => {
            tracing::info!(agent = %config.file.agent.id, "standalone: no collector configured");
            let running = start(&config, metrics, Drain)?;
            shutdown.await;
            tracing::info!("shutting down");
            for t in running.into_tasks() {
                t.abort();
            }
        }
        Some((collector, spool_metrics)) => {
            run_central(&config, &collector, metrics, spool_metrics, shutdown).await?;
        }
    }
    Ok(())
}

/// Central mode: spool, pusher, the assignment and its refresh, and the clean stop.
async fn run_central(
    config: &AgentConfig,
    collector: &CollectorSettings,
    metrics: AgentMetrics,
    spool_metrics: SpoolMetrics,
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
    let setup = Central::start(config, collector, spool_metrics).await?;
    let mut probing = Probing::new(metrics, setup.sender);
    let mut fetcher = setup.fetcher;
    if let Err(e) = probing.start(&fetcher.config()) {
        tracing::error!(error = %format!("{e:#}"), "cannot apply the assignment; probing local devices only");
        probing.start(config)?;
    }
    let refresh = collector.assignment_refresh.std();
    tokio::select! {
        _ = shutdown => {}
        _ = refresh_assignment(&mut fetcher, &mut probing, refresh) => {}
    }
    tracing::info!("shutting down");
    // Dropping the scheduler and its sender closes the channel once running probes finish; the
    // spool writer then writes what is queued and ends.
    probing.stop();
    drop(probing);
    if tokio::time::timeout(SHUTDOWN_SPOOL, setup.writer)
        .await
        .is_err()
    {
        tracing::warn!("results still queued after 5s were not spooled");
    }
    setup.pusher.abort();
    // One last pass, so a clean stop leaves nothing waiting for the next start.
    match tokio::time::timeout(SHUTDOWN_FLUSH, setup.flush.pass()).await {
        Ok(Ok(n)) => tracing::info!(batches = n, "spool flushed to the collector"),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "results stay in the spool for the next start")
        }
        Err(_) => tracing::warn!(
            "spool not flushed within {SHUTDOWN_FLUSH:?}; the rest goes at the next start"
        ),
    }
    Ok(())
}

/// Central mode's parts: spool writer, pusher, and the assignment as it is at start.
struct Central {
    /// Where the scheduler puts results (the spool writer reads them).
    sender: ResultSender,
    writer: JoinHandle<()>,
    pusher: JoinHandle<()>,
    /// Sends what is left in the spool once at shutdown, after the periodic pusher stopped.
    flush: Pusher,
    fetcher: AssignmentFetcher,
}

impl Central {
    async fn start(
        config: &AgentConfig,
        collector: &CollectorSettings,
        spool_metrics: SpoolMetrics,
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
            .context("cannot set up the collector client")?
            .with_metrics(spool_metrics.clone());
        tracing::info!(
            url = client.url(),
            collectors = collector.urls().len(),
            "collector in use"
        );
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
        let (sender, writer) = spawn_sink(SpoolSink(spool));
        let pusher = tokio::spawn(pusher.run());
        let mut fetcher = AssignmentFetcher::new(client, config.clone(), &dir);
        match fetcher.load_stored() {
            Ok(true) => tracing::info!("loaded the stored assignment"),
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "ignoring the stored assignment"),
        }
        let first = tokio::time::timeout(FIRST_FETCH, fetcher.fetch()).await;
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
            sender,
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
