//! `driftvakt_traps_total{result}`: every notification the receiver accepted, by what became
//! of it ([`Outcome`]).

use super::Outcome;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, PartialEq, Eq, Hash, prometheus_client::encoding::EncodeLabelSet)]
pub struct ResultLabel {
    pub result: &'static str,
}

/// The trap receiver's counters. `Default` gives unregistered ones (tests, the benchmark).
#[derive(Debug, Clone, Default)]
pub struct TrapMetrics {
    pub traps: Family<ResultLabel, Counter>,
}

impl TrapMetrics {
    /// Creates the counters (every result at 0) and registers them in `registry`.
    pub fn register(registry: &mut Registry) -> TrapMetrics {
        let m = TrapMetrics::default();
        for o in Outcome::ALL {
            let _ = m.traps.get_or_create(&label(o));
        }
        registry.register(
            "driftvakt_traps",
            "SNMP traps and informs received, by result: confirmed or unconfirmed by the poll they \
             triggered, unknown_sender, unknown_oid, flooded.",
            m.traps.clone(),
        );
        m
    }

    pub fn count(&self, o: Outcome) {
        self.traps.get_or_create(&label(o)).inc();
    }

    /// The count of one result so far.
    pub fn get(&self, o: Outcome) -> u64 {
        self.traps.get_or_create(&label(o)).get()
    }
}

fn label(o: Outcome) -> ResultLabel {
    ResultLabel { result: o.as_str() }
}
