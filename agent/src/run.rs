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
//!
//! Every entry point takes the process's one [`Clock`]: results, the spool's age and the push
//! times are read from it, never from the wall clock directly. `driftvakt-agent`'s `main.rs`
//! hands in the system clock; the collector hands its embedded agent its own clock.

use crate::assignment::{AssignmentFetcher, Fetched};
use crate::config::{AgentConfig, CollectorSettings};
use crate::exposition::Exposition;
use crate::metrics::{AgentMetrics, SpoolMetrics};
use crate::probe::{Probers, SetupError};
use crate::push::{CollectorClient, Pusher, PusherOptions};
use crate::scheduler::{self, Scheduler};
use crate::spool::{self, Spool, SpoolOptions};
use crate::traps::delivery::Delivery;
use crate::traps::handle::Handler;
use crate::traps::metrics::TrapMetrics;
use crate::traps::receiver::{self, ReceiverSetup};
use crate::traps::targets::Targets;
use anyhow::{Context, Result};
use driftvakt_common::clock::Clock;
use driftvakt_common::wire::ProbeResult;
use prometheus_client::registry::Registry;
use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch, Notify};
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

/// The running scheduler, rebuilt when the set of devices changes; the metrics and the clock
/// stay.
pub struct Probing {
    metrics: AgentMetrics,
    sink: ResultSender,
    clock: Arc<dyn Clock>,
    task: Option<JoinHandle<()>>,
    /// Where the devices by address are published for the trap receiver, if one runs.
    targets: Option<watch::Sender<Option<Arc<Targets>>>>,
}

impl Probing {
    pub fn new(metrics: AgentMetrics, sink: ResultSender, clock: Arc<dyn Clock>) -> Probing {
        Probing {
            metrics,
            sink,
            clock,
            task: None,
            targets: None,
        }
    }

    /// Publishes the devices by address to the trap receiver at every (re)start.
    pub fn with_trap_targets(mut self, targets: watch::Sender<Option<Arc<Targets>>>) -> Probing {
        self.targets = Some(targets);
        self
    }

    /// Stops the current scheduler, if any, and starts one for `config`. When it replaces a
    /// running one, the latest-reading metrics of devices no longer probed are dropped.
    pub fn start(&mut self, config: &AgentConfig) -> Result<(), SetupError> {
        let probers = Arc::new(Probers::new(&config.probe_settings(), self.clock.clone())?);
        let jobs = scheduler::plan(config);
        if let Some(t) = &self.targets {
            let targets = Targets::new(probers.clone(), self.metrics.clone(), &jobs);
            t.send_replace(Some(Arc::new(targets)));
        }
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

/// Probes `config`'s devices at their intervals, with `metrics`, into `sink`, stamping results
/// with `clock`: the agent without a collector connection (the collector's embedded agent;
/// standalone mode of [`run`]).
pub fn start(
    config: &AgentConfig,
    metrics: AgentMetrics,
    sink: impl ResultSink,
    clock: Arc<dyn Clock>,
) -> Result<Running, SetupError> {
    let (sender, sink) = spawn_sink(sink);
    let mut probing = Probing::new(metrics, sender, clock);
    if let Err(e) = probing.start(config) {
        sink.abort();
        return Err(e);
    }
    Ok(Running { probing, sink })
}

/// Probes every check of `config` once, stamping results with `clock`; the results in plan
/// order.
pub async fn probe_once(
    config: &AgentConfig,
    clock: Arc<dyn Clock>,
) -> Result<Vec<Arc<ProbeResult>>> {
    let probers = Arc::new(Probers::new(&config.probe_settings(), clock)?);
    let metrics = AgentMetrics::register(&mut Registry::default());
    let jobs = scheduler::plan(config);
    Ok(scheduler::run_once(probers, metrics, jobs, config.file.agent.concurrency).await)
}

/// The agent process: serves `/metrics` when `agent.listen` is set, probes standalone or in
/// central mode (by `agent.collector`), and stops cleanly when `shutdown` completes: in central
/// mode queued results are spooled and the spool is flushed to the collector once more. Every
/// time the agent writes down is read from `clock`.
pub async fn run(
    config: AgentConfig,
    clock: Arc<dyn Clock>,
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
    let mut registry = Registry::default();
    let metrics = AgentMetrics::register(&mut registry);
    let central = config
        .file
        .agent
        .collector
        .as_ref()
        .map(|c| (c.clone(), SpoolMetrics::register(&mut registry)));
    let trap_metrics = config
        .file
        .agent
        .traps
        .as_ref()
        .map(|_| TrapMetrics::register(&mut registry));
    let mut exposition = Exposition::new(registry);
    exposition.add_latest(metrics.latest.clone());
    let exposition = Arc::new(exposition);
    if let Some(addr) = config.file.agent.listen {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))?;
        tracing::info!(%addr, "serving /metrics");
        tokio::spawn(crate::server::serve(listener, exposition));
    }
    match central {
        None => {
            tracing::info!(agent = %config.file.agent.id, "standalone: no collector configured");
            let (sender, sink) = spawn_sink(Drain);
            let probing = Probing::new(metrics, sender.clone(), clock);
            let delivery = Delivery::Channel(sender);
            let (mut probing, traps) =
                start_traps(&config, trap_metrics, probing, delivery).await?;
            probing.start(&config)?;
            let running = Running { probing, sink };
            shutdown.await;
            tracing::info!("shutting down");
            for t in running.into_tasks().into_iter().chain(traps) {
                t.abort();
            }
        }
        Some((collector, spool_metrics)) => {
            let parts = (metrics, spool_metrics, trap_metrics);
            run_central(&config, &collector, parts, clock, shutdown).await?;
        }
    }
    Ok(())
}

/// Central mode: spool, pusher, the assignment and its refresh, and the clean stop.
async fn run_central(
    config: &AgentConfig,
    collector: &CollectorSettings,
    (metrics, spool_metrics, trap_metrics): (AgentMetrics, SpoolMetrics, Option<TrapMetrics>),
    clock: Arc<dyn Clock>,
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
    let setup = Central::start(config, collector, spool_metrics, clock.clone()).await?;
    let probing = Probing::new(metrics, setup.sender, clock);
    let delivery = Delivery::Spool {
        spool: setup.spool.clone(),
        wake: setup.wake.clone(),
    };
    let (mut probing, traps) = start_traps(config, trap_metrics, probing, delivery).await?;
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
    if let Some(t) = traps {
        t.abort();
    }
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
    /// The spool, for a trap's poll to go in at once, and the pusher's wake-up.
    spool: Arc<Spool>,
    wake: Arc<Notify>,
}

impl Central {
    async fn start(
        config: &AgentConfig,
        collector: &CollectorSettings,
        spool_metrics: SpoolMetrics,
        clock: Arc<dyn Clock>,
    ) -> Result<Central> {
        let dir = config.resolve(&config.file.agent.spool.dir);
        let spool_settings = &config.file.agent.spool;
        let opts = SpoolOptions::new(spool_settings.max_bytes.0, collector.batch_size)
            .with_sync_interval(spool_settings.sync_interval.std());
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
                clock.clone(),
            )
        };
        let wake = Arc::new(Notify::new());
        let pusher = new_pusher().with_wake(wake.clone());
        let flush = new_pusher();
        let (sender, writer) = spawn_sink(SpoolSink(spool.clone()));
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
            spool,
            wake,
        })
    }
}

/// Starts the trap receiver when `agent.traps` is set: binds it, and has `probing` publish
/// the devices by address to it. The receiver's task is returned to be aborted at shutdown.
async fn start_traps(
    config: &AgentConfig,
    metrics: Option<TrapMetrics>,
    probing: Probing,
    delivery: Delivery,
) -> Result<(Probing, Option<JoinHandle<()>>)> {
    let (Some(settings), Some(metrics)) = (&config.file.agent.traps, metrics) else {
        return Ok((probing, None));
    };
    let spool_dir = config.resolve(&config.file.agent.spool.dir);
    let setup = ReceiverSetup {
        settings,
        credentials: &config.file.snmp_credentials,
        agent_id: &config.file.agent.id,
        base: &config.base_dir(),
        engine_file: spool_dir.is_dir().then(|| spool_dir.join("trap-engine")),
    };
    let bound = receiver::bind(&setup).await?;
    tracing::info!(addr = %bound.local_addr(), "receiving SNMP traps");
    let (tx, rx) = watch::channel(None);
    let handler = Arc::new(Handler::new(rx, delivery, metrics, settings.flood_limit));
    let task = receiver::spawn(bound, handler);
    Ok((probing.with_trap_targets(tx), Some(task)))
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

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};
    use std::sync::Mutex;

    /// A sink that hands every result to the test.
    struct Forward(mpsc::UnboundedSender<Arc<ProbeResult>>);

    impl ResultSink for Forward {
        async fn consume(self, mut results: ResultReceiver) {
            while let Some(r) = results.recv().await {
                let _ = self.0.send(r);
            }
        }
    }

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    /// An agent probing a TCP port on 127.0.0.1 every 100 ms.
    fn config(dir: &std::path::Path, port: u16) -> AgentConfig {
        let path = dir.join("agent.yaml");
        let yaml = format!(
            "agent:\n  id: t\ndevices:\n  - id: prn\n    class: printer\n    address: 127.0.0.1\n    \
             interval: 100ms\n    checks:\n      - kind: tcp\n        port: {port}\n"
        );
        std::fs::write(&path, yaml).unwrap();
        AgentConfig::load(&path).unwrap_or_else(|e| panic!("{e}"))
    }

    /// A port something listens on for the rest of the test.
    async fn open_port() -> u16 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move { while listener.accept().await.is_ok() {} });
        port
    }

    async fn next(results: &mut mpsc::UnboundedReceiver<Arc<ProbeResult>>) -> Arc<ProbeResult> {
        tokio::time::timeout(Duration::from_secs(10), results.recv())
            .await
            .expect("a result within 10 s")
            .expect("the sink is open")
    }

    #[tokio::test]
    async fn results_are_stamped_by_the_injected_clock_as_it_moves() {
        let port = open_port().await;
        let dir = tempfile::tempdir().unwrap();
        let config = config(dir.path(), port);
        // A clock the test sets: the agent's results must follow it, not the wall clock.
        let now = Arc::new(Mutex::new(at("2031-01-01T00:00:00Z")));
        let read = now.clone();
        let clock: Arc<dyn Clock> = Arc::new(move || *read.lock().unwrap());
        let (tx, mut results) = mpsc::unbounded_channel();
        let metrics = AgentMetrics::register(&mut Registry::default());
        let running = start(&config, metrics, Forward(tx), clock.clone()).unwrap();
        for _ in 0..2 {
            let r = next(&mut results).await;
            assert!(r.ok, "{r:?}");
            assert_eq!(r.time, at("2031-01-01T00:00:00Z"), "{r:?}");
        }
        *now.lock().unwrap() = at("2031-06-01T12:00:00Z");
        let moved = loop {
            let r = next(&mut results).await;
            if r.time != at("2031-01-01T00:00:00Z") {
                break r;
            }
        };
        assert_eq!(moved.time, at("2031-06-01T12:00:00Z"), "{moved:?}");
        assert!(running.stop(Duration::from_secs(5)).await);

        let once = probe_once(&config, clock).await.unwrap();
        assert_eq!(once.len(), 1);
        assert_eq!(once[0].time, at("2031-06-01T12:00:00Z"), "{:?}", once[0]);
    }
}
