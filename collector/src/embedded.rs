//! The embedded agent: the agent library running inside the collector process for an inventory
//! agent marked `embedded: true`. It probes that agent's devices with the same scheduler and
//! probers as `driftvakt-agent`, and hands results straight to ingest (no HTTP, no token, no
//! spool: the results land in the same database in the same process). Its metrics are
//! registered in the collector's registry and its per-device series added to what `/metrics`
//! serves (the collector's [`Exposition`]). It reads time from the
//! collector's clock ([`App::clock`]): one process, one clock.
//!
//! The orchestration is the agent library's ([`driftvakt_agent::run::start`]); what is the
//! collector's own is the sink, [`Ingest`], which batches results into ingest.

use crate::app::App;
use crate::inventory::{Agent, Inventory};
use driftvakt_agent::config::{AgentConfig, AgentFile, AgentSettings};
use driftvakt_agent::exposition::Exposition;
use driftvakt_agent::metrics::AgentMetrics;
use driftvakt_agent::probe::SetupError;
use driftvakt_agent::run::{ResultReceiver, ResultSink};
use driftvakt_common::wire::{Batch, ProbeResult};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;

/// Results handed to ingest at most this many at a time, at least every `FLUSH_EVERY`.
const BATCH_MAX: usize = 500;
const FLUSH_EVERY: Duration = Duration::from_secs(1);

/// The agent configuration of an embedded agent: its devices from the inventory.
pub fn agent_config(inv: &Inventory, agent: &Agent) -> AgentConfig {
    let devices = inv
        .devices
        .iter()
        .filter(|d| agent.devices.contains(&d.id))
        .map(|d| Arc::new(d.config.clone()))
        .collect();
    AgentConfig {
        file: AgentFile {
            agent: AgentSettings {
                id: agent.id.clone(),
                listen: None,
                concurrency: 256,
                icmp_receive_buffer: 4 << 20,
                collector: None,
                spool: Default::default(),
                traps: None,
            },
            defaults: Default::default(),
            snmp_credentials: inv.snmp_credentials.clone(),
            devices,
        },
        path: inv.path.clone(),
    }
}

/// Starts every embedded agent of the inventory; returns their tasks (abort to stop).
pub fn start_all(
    app: &App,
    exposition: &mut Exposition,
) -> Result<Vec<JoinHandle<()>>, SetupError> {
    let mut tasks = Vec::new();
    let agents: Vec<Agent> = app
        .inventory
        .agents
        .iter()
        .filter(|a| a.embedded)
        .cloned()
        .collect();
    let metrics = (!agents.is_empty()).then(|| {
        let metrics = AgentMetrics::register(exposition.registry_mut());
        exposition.add_latest(metrics.latest.clone());
        metrics
    });
    for agent in agents {
        let config = agent_config(&app.inventory, &agent);
        tracing::info!(agent = %agent.id, "embedded agent starting");
        let sink = Ingest {
            app: app.clone(),
            agent: agent.id.clone(),
        };
        let metrics = metrics.clone().expect("registered above");
        match driftvakt_agent::run::start(&config, metrics, sink, app.clock.clone()) {
            Ok(running) => tasks.extend(running.into_tasks()),
            Err(e) => {
                for t in tasks {
                    t.abort();
                }
                return Err(e);
            }
        }
    }
    Ok(tasks)
}

/// The embedded agent's sink: results collected into batches and ingested in-process.
pub struct Ingest {
    pub app: App,
    /// The embedded agent's id, as in the inventory.
    pub agent: String,
}

impl ResultSink for Ingest {
    async fn consume(self, results: ResultReceiver) {
        forward(self.app, self.agent, results).await
    }
}

/// Collects results into batches and ingests them; what is pending when the channel closes is
/// ingested too.
async fn forward(app: App, agent: String, mut results: ResultReceiver) {
    let run = app.now().timestamp_millis();
    let mut counter: u64 = 0;
    let mut pending: Vec<ProbeResult> = Vec::new();
    let mut tick = tokio::time::interval(FLUSH_EVERY);
    let mut open = true;
    while open {
        tokio::select! {
            r = results.recv() => match r {
                Some(r) => {
                    pending.push(std::sync::Arc::unwrap_or_clone(r));
                    if pending.len() < BATCH_MAX {
                        continue;
                    }
                }
                None => open = false,
            },
            _ = tick.tick() => {}
        }
        if pending.is_empty() {
            continue;
        }
        counter += 1;
        let batch = Batch {
            agent: agent.clone(),
            batch_id: format!("{agent}-embedded-{run}-{counter}"),
            results: std::mem::take(&mut pending),
        };
        match app.ingest_batch(&agent, batch).await {
            Ok(r) if !r.rejected.is_empty() => {
                tracing::warn!(agent = %agent, rejected = r.rejected.len(), "embedded results rejected")
            }
            Ok(_) => {}
            Err(e) => tracing::error!(agent = %agent, error = %e, "embedded results not stored"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::FixedClock;
    use crate::store::SqliteStore;
    use chrono::{DateTime, Utc};
    use std::sync::Arc;

    fn new_year_2031() -> DateTime<Utc> {
        "2031-01-01T00:00:00Z".parse().unwrap()
    }

    /// The collector's clock is the embedded agent's: what it stores is stamped by it.
    #[tokio::test]
    async fn the_embedded_agent_reads_the_collectors_clock() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move { while listener.accept().await.is_ok() {} });
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("collector.yaml");
        let yaml = format!(
            "sites:\n  - {{ id: s1, municipality: Ulricehamn }}\ndevices:\n  - {{ id: prn, class: printer, \
             site: s1, address: 127.0.0.1, interval: 1s, checks: [{{ kind: tcp, port: {port} }}] }}\n\
             agents:\n  - {{ id: emb, embedded: true, devices: [prn] }}\n"
        );
        std::fs::write(&path, yaml).unwrap();
        let inv = Inventory::load(&path).unwrap_or_else(|e| panic!("{e}"));
        let store = SqliteStore::open(&dir.path().join("dv.db")).unwrap();
        let clock = Arc::new(FixedClock(new_year_2031()));
        let app = App::new(inv, Arc::new(store), clock).unwrap();
        let tasks = start_all(&app, &mut Exposition::default()).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        let stored = loop {
            let latest = app.store.latest("prn").unwrap();
            if !latest.is_empty() {
                break latest;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no result from the embedded agent within 15 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        for t in tasks {
            t.abort();
        }
        assert_eq!(stored[0].agent, "emb");
        assert_eq!(stored[0].time, new_year_2031().timestamp_millis());
        let received: ProbeResult = serde_json::from_str(&stored[0].raw).unwrap();
        assert!(received.ok, "{received:?}");
        assert_eq!(received.time, new_year_2031());
    }
}
