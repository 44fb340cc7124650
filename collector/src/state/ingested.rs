//! What ingest has taken in, kept in memory for `/metrics` ([`IngestMetrics`]): results
//! ingested and rejected by agent (rejections by a bounded reason code), duplicate batches, and
//! each device's latest readings (UPS, printer supplies, certificates, RTT), and each device's
//! latest LLDP/CDP walk for the topology ([`IngestMetrics::topology_reports`]; in memory only:
//! after a restart the agents' next walks, within `lldp_interval`, fill it). Ingest records
//! into it ([`IngestMetrics::observe`]); the `metrics` module registers the counters and renders
//! the readings. It lives here, beside the other in-memory read model ([`super::tails`]), so the
//! shared core (`App`) holds it without sitting above `metrics` and `report`.

use crate::availability::ms;
use crate::inventory::Inventory;
use crate::topology::{Move, Report};
use driftvakt_common::readings;
use driftvakt_common::reply::IngestResponse;
use driftvakt_common::wire::{ProbeResult, Value};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, RwLock, RwLockReadGuard};

/// The value keys of a result that become `driftvakt_*` device gauges.
const READINGS: [&str; 5] = [
    readings::UPS_RUNTIME_MINUTES,
    readings::UPS_ON_BATTERY,
    readings::PRINTER_SUPPLY_RATIO,
    readings::TLS_CERT_DAYS_LEFT,
    readings::ICMP_RTT_AVG_SECONDS,
];

/// The reason codes of `driftvakt_results_rejected_total`.
pub const REJECT_REASONS: [&str; 7] = [
    "unknown_device",
    "not_assigned",
    "unknown_check",
    "future_time",
    "past_time",
    "invalid",
    "other",
];

/// The bounded reason code of an ingest rejection message (see `ingest/`).
pub fn reject_code(message: &str) -> &'static str {
    if message.starts_with("unknown device") {
        "unknown_device"
    } else if message.starts_with("device not assigned") {
        "not_assigned"
    } else if message.starts_with("unknown check") {
        "unknown_check"
    } else if message.contains("ahead of the collector's clock") {
        "future_time"
    } else if message.contains("older than the collector accepts") {
        "past_time"
    } else if message.starts_with("invalid result") {
        "invalid"
    } else {
        "other"
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct AgentLabel {
    agent: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RejectLabels {
    agent: String,
    reason: String,
}

/// The latest readings of one check of one device: result time (ms) and the kept values.
type CheckReadings = (i64, BTreeMap<String, Value>);

/// device -> check -> latest readings.
pub type LatestMap = HashMap<String, HashMap<String, CheckReadings>>;

/// Ingest counters and each device's latest readings. Cheap to clone (shared inside).
#[derive(Debug, Clone, Default)]
pub struct IngestMetrics {
    ingested: Family<AgentLabel, Counter>,
    rejected: Family<RejectLabels, Counter>,
    duplicate: Family<AgentLabel, Counter>,
    /// Transactions that stored batches, and the batches they stored (group commit).
    commits: Counter,
    committed: Counter,
    latest: Arc<RwLock<LatestMap>>,
    /// device -> the latest result that carried a neighbour walk (time, report).
    walks: Arc<RwLock<HashMap<String, (i64, Report)>>>,
    /// Devices whose discovered parent changed, oldest first (the latest [`MOVES_KEPT`]).
    moves: Arc<RwLock<Vec<Move>>>,
    /// The discovered parents of the latest topology update (hand-kept or not), to tell moves.
    found: Arc<RwLock<BTreeMap<String, String>>>,
}

/// How many moves are kept for `/api/v1/topology`.
pub const MOVES_KEPT: usize = 100;

impl IngestMetrics {
    /// Counters at zero for every agent of the inventory (and every reason), so rates exist
    /// before the first rejection.
    pub fn new(inv: &Inventory) -> Self {
        let m = IngestMetrics::default();
        for a in &inv.agents {
            let agent = AgentLabel {
                agent: a.id.clone(),
            };
            let _ = m.ingested.get_or_create(&agent);
            let _ = m.duplicate.get_or_create(&agent);
            for reason in REJECT_REASONS {
                let _ = m.rejected.get_or_create(&RejectLabels {
                    agent: a.id.clone(),
                    reason: reason.into(),
                });
            }
        }
        m
    }

    /// Registers the counters in `registry` (prometheus-client adds `_total` to the names and a
    /// full stop to the help).
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "driftvakt_results_ingested",
            "Probe results stored, by agent",
            self.ingested.clone(),
        );
        registry.register(
            "driftvakt_results_rejected",
            "Probe results refused at ingest, by agent and reason",
            self.rejected.clone(),
        );
        registry.register(
            "driftvakt_batches_duplicate",
            "Batches whose id was seen before (acknowledged, not applied again), by agent",
            self.duplicate.clone(),
        );
        registry.register(
            "driftvakt_ingest_commits",
            "Transactions that stored batches (batches waiting together are stored in one)",
            self.commits.clone(),
        );
        registry.register(
            "driftvakt_ingest_committed_batches",
            "Batches stored by those transactions",
            self.committed.clone(),
        );
    }

    /// Counts one transaction that stored `batches` batches (group commit).
    pub fn committed(&self, batches: usize) {
        self.commits.inc();
        self.committed.inc_by(batches as u64);
    }

    /// Transactions that stored batches so far, and the batches they stored.
    pub fn commits(&self) -> (u64, u64) {
        (self.commits.get(), self.committed.get())
    }

    /// Counts one ingested batch and keeps the readings of its stored results.
    pub fn observe(&self, agent: &str, results: &[ProbeResult], response: &IngestResponse) {
        let label = AgentLabel {
            agent: agent.to_string(),
        };
        if response.duplicate {
            self.duplicate.get_or_create(&label).inc();
            return;
        }
        self.ingested
            .get_or_create(&label)
            .inc_by(response.accepted as u64);
        for r in &response.rejected {
            let reason = reject_code(&r.reason).to_string();
            let labels = RejectLabels {
                agent: agent.to_string(),
                reason,
            };
            self.rejected.get_or_create(&labels).inc();
        }
        let refused: BTreeSet<usize> = response.rejected.iter().map(|r| r.index).collect();
        let stored = results
            .iter()
            .enumerate()
            .filter(|(i, _)| !refused.contains(i))
            .map(|(_, r)| r);
        self.record(stored);
    }

    /// Keeps the readings of `results` where they are newer than what is kept.
    pub fn record<'a>(&self, results: impl IntoIterator<Item = &'a ProbeResult>) {
        let mut latest = self.latest.write().unwrap_or_else(|e| e.into_inner());
        for r in results {
            let time = ms(r.time);
            self.record_walk(r, time);
            let checks = latest.entry(r.target.clone()).or_default();
            if checks.get(&r.check).is_some_and(|(t, _)| *t > time) {
                continue;
            }
            let kept = r
                .values
                .iter()
                .filter(|(k, _)| READINGS.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            checks.insert(r.check.clone(), (time, kept));
        }
    }

    fn record_walk(&self, r: &ProbeResult, time: i64) {
        let Some(report) = Report::from_values(&r.values) else {
            return;
        };
        let mut walks = self.walks.write().unwrap_or_else(|e| e.into_inner());
        if walks.get(&r.target).is_none_or(|(t, _)| *t <= time) {
            walks.insert(r.target.clone(), (time, report));
        }
    }

    /// Replaces the discovered parents of the latest update; returns the previous ones.
    pub fn replace_found(&self, found: BTreeMap<String, String>) -> BTreeMap<String, String> {
        let mut kept = self.found.write().unwrap_or_else(|e| e.into_inner());
        std::mem::replace(&mut kept, found)
    }

    /// Keeps a move (a device whose discovered parent changed).
    pub fn record_move(&self, m: Move) {
        let mut moves = self.moves.write().unwrap_or_else(|e| e.into_inner());
        moves.push(m);
        let extra = moves.len().saturating_sub(MOVES_KEPT);
        moves.drain(..extra);
    }

    /// The moves kept, oldest first.
    pub fn moves(&self) -> Vec<Move> {
        self.moves.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Each device's latest neighbour walk, for the topology.
    pub fn topology_reports(&self) -> BTreeMap<String, Report> {
        let walks = self.walks.read().unwrap_or_else(|e| e.into_inner());
        walks
            .iter()
            .map(|(d, (_, r))| (d.clone(), r.clone()))
            .collect()
    }

    /// Each device's kept readings, for one scrape (read with [`IngestMetrics::reading`]).
    pub fn latest(&self) -> RwLockReadGuard<'_, LatestMap> {
        self.latest.read().unwrap_or_else(|e| e.into_inner())
    }

    /// The kept reading `key` of `device` from its most recent check that has it.
    pub fn reading(&self, latest: &LatestMap, device: &str, key: &str) -> Option<Value> {
        latest
            .get(device)?
            .values()
            .filter_map(|(t, values)| values.get(key).map(|v| (*t, v)))
            .max_by_key(|(t, _)| *t)
            .map(|(_, v)| v.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reject_codes_cover_ingest_messages() {
        assert_eq!(reject_code("unknown device"), "unknown_device");
        assert_eq!(
            reject_code("device not assigned to this agent"),
            "not_assigned"
        );
        assert_eq!(
            reject_code("unknown check `x` for this device (configured: icmp)"),
            "unknown_check"
        );
        assert_eq!(
            reject_code(
                "time 2030-01-01T00:00:00+00:00 is more than 5m ahead of the collector's clock"
            ),
            "future_time"
        );
        assert_eq!(
            reject_code("invalid result: results[0].target: 200 characters, at most 128"),
            "invalid"
        );
        assert_eq!(
            reject_code("time 2025-01-01T00:00:00+00:00 is more than 30d before the device's first result (or now): older than the collector accepts"),
            "past_time"
        );
        assert_eq!(reject_code("something new"), "other");
    }
}
