//! The agent's Prometheus metrics, in the conventions of blackbox_exporter and snmp_exporter.
//!
//! Per device and check (labels `device`, `check`, `class`, `site`):
//! - `probe_success` (0/1), `probe_duration_seconds`, `probe_degraded` (0/1: answered, but a
//!   finding such as a UPS on battery);
//! - every numeric value a probe reported as `probe_<value>`: ICMP RTT
//!   (`probe_icmp_rtt_avg_seconds`, ...), the SNMP profile readings
//!   (`probe_ups_runtime_minutes`, `probe_if_oper_status{ifIndex,ifName}`,
//!   `probe_printer_supply_ratio{supply}`), HTTP and TLS (`probe_tls_cert_days_left`).
//!   The `probe_` prefix keeps them apart from the collector's `driftvakt_*` series, which carry
//!   the inventory's labels (municipality) and are what the dashboards read.
//!
//! The agent's own health: `driftvakt_agent_probes_total{kind}`,
//! `driftvakt_agent_probes_failed_total{kind}`, `driftvakt_agent_scheduler_lag_seconds`
//! (histogram of actual minus planned start), `driftvakt_agent_probe_overruns_total` (a check
//! still running when it was due again), `driftvakt_agent_probes_in_flight`.
//!
//! Spool and delivery ([`SpoolMetrics`]): `driftvakt_agent_spool_results` (results waiting),
//! `driftvakt_agent_spool_bytes`, `driftvakt_agent_spool_oldest_unsent_age_seconds`,
//! `driftvakt_agent_spool_dropped_results_total` (dropped because the spool was full),
//! `driftvakt_agent_spool_resets_total` (the spool folder vanished and was made again),
//! `driftvakt_agent_push_failures_total{reason}`,
//! `driftvakt_agent_last_successful_push_timestamp_seconds` and
//! `driftvakt_agent_batches_quarantined_total`.
//!
//! Per-device series come from the latest result of each check, written at scrape time by
//! [`crate::exposition`] (not registered in the registry: serve an [`Exposition`] with
//! [`AgentMetrics::latest`]), so a removed device disappears and cardinality stays bounded by
//! the inventory.
//!
//! [`Exposition`]: crate::exposition::Exposition

use driftvakt_common::wire::ProbeResult;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, RwLock};

/// Labels that identify a device in every per-device series.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceLabels {
    pub device: String,
    pub class: String,
    pub site: String,
}

/// Which series a result belongs to: built once per job, so recording a result copies no
/// strings.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SeriesKey {
    pub device: String,
    pub check: String,
}

/// (device, check) -> the device's labels and its latest result.
type LatestMap = HashMap<Arc<SeriesKey>, (Arc<DeviceLabels>, Arc<ProbeResult>)>;

/// The latest result per (device, check), rendered on scrape.
#[derive(Debug, Default)]
pub struct LatestResults {
    inner: RwLock<LatestMap>,
}

impl LatestResults {
    pub fn record(&self, key: Arc<SeriesKey>, labels: Arc<DeviceLabels>, result: Arc<ProbeResult>) {
        self.inner
            .write()
            .expect("metrics lock poisoned")
            .insert(key, (labels, result));
    }

    /// Forgets devices that are no longer in the configuration.
    pub fn retain_devices(&self, keep: &dyn Fn(&str) -> bool) {
        self.inner
            .write()
            .expect("metrics lock poisoned")
            .retain(|key, _| keep(&key.device));
    }

    /// The latest results with their devices' labels, ordered by device and check: pointers
    /// only, taken under the lock (what a scrape writes from, [`crate::exposition`]).
    pub fn snapshot(&self) -> Vec<(Arc<DeviceLabels>, Arc<ProbeResult>)> {
        let inner = self.inner.read().expect("metrics lock poisoned");
        let mut entries: Vec<_> = inner
            .iter()
            .map(|(key, (labels, result))| (key.clone(), labels.clone(), result.clone()))
            .collect();
        drop(inner);
        entries.sort_by(|a, b| (&a.0.device, &a.0.check).cmp(&(&b.0.device, &b.0.check)));
        entries.into_iter().map(|(_, l, r)| (l, r)).collect()
    }
}

/// Makes a string a valid Prometheus metric or label name.
pub fn sanitize(s: &str) -> String {
    let mut out: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, prometheus_client::encoding::EncodeLabelSet)]
pub struct KindLabel {
    pub kind: &'static str,
}

/// The agent's own health metrics plus the per-device collector.
#[derive(Debug, Clone)]
pub struct AgentMetrics {
    pub latest: Arc<LatestResults>,
    pub probes: Family<KindLabel, Counter>,
    pub probes_failed: Family<KindLabel, Counter>,
    pub lag: Histogram,
    pub overruns: Counter,
    pub in_flight: Gauge,
}

impl AgentMetrics {
    /// Creates the metrics and registers them in `registry`.
    pub fn register(registry: &mut Registry) -> AgentMetrics {
        let m = AgentMetrics {
            latest: Arc::new(LatestResults::default()),
            probes: Family::default(),
            probes_failed: Family::default(),
            lag: Histogram::new([0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0]),
            overruns: Counter::default(),
            in_flight: Gauge::default(),
        };
        registry.register(
            "driftvakt_agent_probes",
            "Probes run, by kind.",
            m.probes.clone(),
        );
        registry.register(
            "driftvakt_agent_probes_failed",
            "Probes that failed, by kind.",
            m.probes_failed.clone(),
        );
        registry.register(
            "driftvakt_agent_scheduler_lag_seconds",
            "Actual start of a probe minus its planned start.",
            m.lag.clone(),
        );
        registry.register(
            "driftvakt_agent_probe_overruns",
            "Checks still running when they were due again (that round was skipped).",
            m.overruns.clone(),
        );
        registry.register(
            "driftvakt_agent_probes_in_flight",
            "Probes running now.",
            m.in_flight.clone(),
        );
        m
    }

    /// Records a finished probe.
    pub fn observe(
        &self,
        kind: &'static str,
        key: Arc<SeriesKey>,
        labels: Arc<DeviceLabels>,
        result: Arc<ProbeResult>,
    ) {
        let k = KindLabel { kind };
        self.probes.get_or_create(&k).inc();
        if !result.ok {
            self.probes_failed.get_or_create(&k).inc();
        }
        self.latest.record(key, labels, result);
    }
}

/// Why a push failed: `connect`, `timeout`, `server_error`, `unauthorized`, `throttled`,
/// `rejected` (quarantined), `bad_response`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, prometheus_client::encoding::EncodeLabelSet)]
pub struct ReasonLabel {
    pub reason: String,
}

/// The spool's and the pusher's metrics. `Default` gives unregistered metrics (for tests).
#[derive(Debug, Clone, Default)]
pub struct SpoolMetrics {
    pub results: Gauge,
    pub bytes: Gauge,
    pub oldest_unsent_age_seconds: Gauge<f64, AtomicU64>,
    pub dropped_results: Counter,
    /// The spool folder vanished under the running agent and was made again.
    pub resets: Counter,
    pub push_failures: Family<ReasonLabel, Counter>,
    pub last_successful_push_timestamp_seconds: Gauge<f64, AtomicU64>,
    pub batches_quarantined: Counter,
    /// 1 for the collector URL in use, 0 for the others.
    pub collector_in_use: Family<UrlLabel, Gauge>,
    /// Moves from a failing collector to the next.
    pub collector_switches: Counter,
}

/// A collector's base URL.
#[derive(Debug, Clone, PartialEq, Eq, Hash, prometheus_client::encoding::EncodeLabelSet)]
pub struct UrlLabel {
    pub url: String,
}

impl SpoolMetrics {
    /// Creates the metrics and registers them in `registry`.
    pub fn register(registry: &mut Registry) -> SpoolMetrics {
        let m = SpoolMetrics::default();
        registry.register(
            "driftvakt_agent_spool_results",
            "Results in the spool not yet confirmed by the collector.",
            m.results.clone(),
        );
        registry.register(
            "driftvakt_agent_spool_bytes",
            "Bytes the spool's segment files take on disk.",
            m.bytes.clone(),
        );
        registry.register(
            "driftvakt_agent_spool_oldest_unsent_age_seconds",
            "Age of the oldest result not yet confirmed by the collector (0 when none).",
            m.oldest_unsent_age_seconds.clone(),
        );
        registry.register(
            "driftvakt_agent_spool_dropped_results",
            "Results dropped unsent because the spool was full.",
            m.dropped_results.clone(),
        );
        registry.register(
            "driftvakt_agent_spool_resets",
            "Times the spool folder vanished while the agent ran and was made again (new incarnation).",
            m.resets.clone(),
        );
        registry.register(
            "driftvakt_agent_push_failures",
            "Failed pushes to the collector, by reason.",
            m.push_failures.clone(),
        );
        registry.register(
            "driftvakt_agent_last_successful_push_timestamp_seconds",
            "Unix time of the last push the collector confirmed.",
            m.last_successful_push_timestamp_seconds.clone(),
        );
        registry.register(
            "driftvakt_agent_batches_quarantined",
            "Batches the collector refused as malformed, set aside in spool/quarantine.",
            m.batches_quarantined.clone(),
        );
        registry.register(
            "driftvakt_agent_collector_in_use",
            "1 for the collector URL the agent pushes to and fetches from, 0 for the others.",
            m.collector_in_use.clone(),
        );
        registry.register(
            "driftvakt_agent_collector_switches",
            "Moves from a failing collector to the next in agent.collector.urls.",
            m.collector_switches.clone(),
        );
        m
    }

    /// Marks `urls[current]` as the collector in use.
    pub fn collector_in_use(&self, urls: &[String], current: usize) {
        for (i, url) in urls.iter().enumerate() {
            let label = UrlLabel { url: url.clone() };
            self.collector_in_use
                .get_or_create(&label)
                .set(i64::from(i == current));
        }
    }

    /// Counts one failed push.
    pub fn push_failed(&self, reason: &str) {
        self.push_failures
            .get_or_create(&ReasonLabel {
                reason: reason.into(),
            })
            .inc();
    }
}

/// Renders a registry in the OpenMetrics text format.
pub fn render(registry: &Registry) -> String {
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, registry)
        .expect("writing metrics to a String cannot fail");
    out
}
