//! The heartbeat loop: one [`Member::beat`] every `collector.cluster.heartbeat`, starting the
//! leader's tasks when this node is elected and aborting them when it steps down, and the
//! cluster's metrics:
//!
//! | metric | labels | meaning |
//! |---|---|---|
//! | `driftvakt_cluster_leader` | node | 1 on the node that leads, 0 otherwise |
//! | `driftvakt_cluster_nodes` | | nodes with a heartbeat within the lease |
//! | `driftvakt_ingest_memory_tails` | | 1 while re-derivation reads recent history from memory, 0 once another node shares the database |

use super::{Change, Member};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::Arc;
use tokio::task::JoinHandle;

/// Starts what only the leader runs (alerting, the notifier, scheduled reports); called on
/// every election.
pub type Lead = Box<dyn Fn() -> Vec<JoinHandle<()>> + Send + Sync>;

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct NodeLabel {
    pub node: String,
}

/// Handles on the cluster's gauges.
#[derive(Debug, Clone, Default)]
pub struct ClusterMetrics {
    pub leader: Family<NodeLabel, Gauge>,
    pub nodes: Gauge,
    /// 1 while the in-memory tails are on (`state::Tails`), 0 once they are off for good.
    pub tails: Gauge,
}

impl ClusterMetrics {
    /// Creates the gauges and registers them in `registry`.
    pub fn register(registry: &mut Registry) -> ClusterMetrics {
        let m = ClusterMetrics::default();
        registry.register(
            "driftvakt_cluster_leader",
            "1 on the collector node that holds the leader lease, 0 otherwise.",
            m.leader.clone(),
        );
        registry.register(
            "driftvakt_cluster_nodes",
            "Collector nodes with a heartbeat within the lease.",
            m.nodes.clone(),
        );
        registry.register(
            "driftvakt_ingest_memory_tails",
            "1 while re-derivation reads each device's recent history from memory, 0 once another \
             collector node (or a second process under this node's name) shares the database.",
            m.tails.clone(),
        );
        m
    }

    fn update(&self, member: &Member, alive: Option<usize>) {
        let label = NodeLabel {
            node: member.name().to_string(),
        };
        let leads = matches!(member.role(), super::Role::Leader { .. });
        self.leader.get_or_create(&label).set(i64::from(leads));
        if let Some(n) = alive {
            self.nodes.set(n as i64);
        }
    }
}

/// The leader's tasks; dropping it aborts them.
struct Leading(Vec<JoinHandle<()>>);

impl Drop for Leading {
    fn drop(&mut self) {
        for t in &self.0 {
            t.abort();
        }
    }
}

/// Runs the heartbeat loop until aborted (aborting it also aborts the leader's tasks).
pub fn spawn(member: Arc<Member>, metrics: ClusterMetrics, lead: Lead) -> JoinHandle<()> {
    tokio::spawn(run(member, metrics, lead))
}

async fn run(member: Arc<Member>, metrics: ClusterMetrics, lead: Lead) {
    let every = member.timing.heartbeat.std();
    let mut leading: Option<Leading> = None;
    loop {
        let m = member.clone();
        let beat = tokio::task::spawn_blocking(move || {
            let change = m.beat();
            let alive = m
                .status()
                .ok()
                .map(|s| s.nodes.iter().filter(|n| n.alive).count());
            (change, alive)
        })
        .await;
        match beat {
            Ok((Ok(change), alive)) => {
                react(&member, change, &mut leading, &lead);
                metrics.update(&member, alive);
            }
            Ok((Err(e), _)) => tracing::error!(error = %e, "cluster heartbeat failed"),
            Err(e) => tracing::error!(error = %e, "cluster heartbeat task failed"),
        }
        tokio::time::sleep(every).await;
    }
}

fn react(member: &Member, change: Change, leading: &mut Option<Leading>, lead: &Lead) {
    match change {
        Change::Unchanged => {}
        Change::Elected { epoch } => {
            tracing::info!(
                node = member.name(),
                epoch,
                "leading: alerting, the notifier and scheduled reports run on this node"
            );
            *leading = Some(Leading(lead()));
        }
        Change::SteppedDown { epoch } => {
            tracing::warn!(
                node = member.name(),
                epoch,
                "lost the leader lease: stepping down to follower, sending nothing more"
            );
            *leading = None;
        }
    }
}
