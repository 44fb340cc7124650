//! The notifier's Prometheus metrics, registered in the collector's registry (the dashboards
//! query exactly these names):
//!
//! | metric | type | meaning |
//! |---|---|---|
//! | `driftvakt_notify_outbox_pending` | gauge | mails waiting in the outbox (held, backing off, sending) |
//! | `driftvakt_notify_sent_total` | counter | mails this process delivered |
//! | `driftvakt_notify_failed` | gauge | mails refused permanently, kept in the outbox |
//! | `driftvakt_oncall_cases{period="tertial"}` | gauge | on-call cases in the current tertial |

use super::OutboxStats;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct PeriodLabel {
    pub period: String,
}

/// Handles on the notifier's metrics. `Default` gives unregistered metrics (tests).
#[derive(Debug, Clone, Default)]
pub struct NotifyMetrics {
    pub outbox_pending: Gauge,
    pub sent: Counter,
    pub failed: Gauge,
    pub oncall_cases: Family<PeriodLabel, Gauge>,
}

impl NotifyMetrics {
    /// Creates the metrics and registers them in `registry`.
    pub fn register(registry: &mut Registry) -> NotifyMetrics {
        let m = NotifyMetrics::default();
        registry.register(
            "driftvakt_notify_outbox_pending",
            "Mails waiting in the outbox (held down, waiting for office hours, backing off).",
            m.outbox_pending.clone(),
        );
        registry.register(
            "driftvakt_notify_sent",
            "Mails delivered by this process.",
            m.sent.clone(),
        );
        registry.register(
            "driftvakt_notify_failed",
            "Mails refused permanently and kept in the outbox.",
            m.failed.clone(),
        );
        registry.register(
            "driftvakt_oncall_cases",
            "On-call cases (pages sent outside office hours) in the current period.",
            m.oncall_cases.clone(),
        );
        m
    }

    /// Sets the gauges from the outbox counts and the current tertial's on-call cases.
    pub fn update(&self, stats: &OutboxStats, oncall_tertial: u64) {
        self.outbox_pending.set(clamp(stats.pending));
        self.failed.set(clamp(stats.failed));
        self.oncall_cases
            .get_or_create(&PeriodLabel {
                period: "tertial".into(),
            })
            .set(clamp(oncall_tertial));
    }

    /// Counts mails delivered in one round.
    pub fn delivered(&self, sent: u32) {
        self.sent.inc_by(u64::from(sent));
    }
}

fn clamp(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
