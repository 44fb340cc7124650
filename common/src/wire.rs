//! The probe result and the batch an agent pushes to the collector (`POST /api/v1/results`).
//!
//! A result is one run of one check against one device: when it started (UTC), how long it took,
//! whether it succeeded, a machine-readable reason when it did not, whether it found the device
//! degraded (for example a UPS below its required runtime), and typed values (RTT, SNMP readings).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One run of one check against one device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeResult {
    /// Device id from the inventory.
    pub target: String,
    /// Check name (`icmp`, `snmp`, `http`, `tcp`, or a name given in the config).
    pub check: String,
    /// When the probe started, UTC.
    pub time: DateTime<Utc>,
    /// Whether the device answered as expected.
    pub ok: bool,
    /// Wall time the probe took, in milliseconds.
    pub duration_ms: f64,
    /// Machine-readable failure reason (`timeout`, `connection_refused`, ...), null on success.
    #[serde(default)]
    pub error: Option<String>,
    /// Human-readable detail to go with `error` (never contains secrets).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Findings that make an answering device degraded (`ups_on_battery`, `uplink_down`, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<Finding>,
    /// Typed readings: numbers, text, flags, and labelled series (per interface, per supply).
    #[serde(default)]
    pub values: BTreeMap<String, Value>,
}

impl ProbeResult {
    /// True when the device answered but a finding marks it degraded.
    pub fn degraded(&self) -> bool {
        self.ok && !self.findings.is_empty()
    }

    /// A numeric reading, if present.
    pub fn number(&self, key: &str) -> Option<f64> {
        match self.values.get(key) {
            Some(Value::Number(n)) => Some(*n),
            Some(Value::Bool(b)) => Some(if *b { 1.0 } else { 0.0 }),
            _ => None,
        }
    }
}

/// A finding that makes a device degraded although it answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Finding {
    /// Machine-readable code, e.g. `ups_runtime_below_minimum`.
    pub code: String,
    /// One sentence for a person.
    pub message: String,
}

/// A typed reading.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Value {
    Bool(bool),
    Number(f64),
    Text(String),
    Series(Vec<Sample>),
}

/// One labelled sample of a series, e.g. one interface's oper status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sample {
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// What an agent pushes: a batch of results with an id that makes replays idempotent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Batch {
    pub agent: String,
    pub batch_id: String,
    pub results: Vec<ProbeResult>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_round_trips_with_all_value_kinds() {
        let mut values = BTreeMap::new();
        values.insert("rtt_avg_seconds".into(), Value::Number(0.000_12));
        values.insert("on_battery".into(), Value::Bool(true));
        values.insert("model".into(), Value::Text("Eaton 93E".into()));
        values.insert(
            "if_oper_status".into(),
            Value::Series(vec![Sample {
                labels: [("ifName".to_string(), "Gi0/1".to_string())].into(),
                value: 2.0,
            }]),
        );
        let r = ProbeResult {
            target: "ups-1".into(),
            check: "snmp".into(),
            time: "2026-03-17T17:00:00Z".parse().unwrap(),
            ok: true,
            duration_ms: 12.5,
            error: None,
            detail: None,
            findings: vec![Finding {
                code: "ups_on_battery".into(),
                message: "UPS runs on battery".into(),
            }],
            values,
        };
        let json = serde_json::to_string(&r).unwrap();
        let back: ProbeResult = serde_json::from_str(&json).unwrap();
        assert_eq!(back, r);
        assert!(back.degraded());
        assert_eq!(back.number("on_battery"), Some(1.0));
    }
}
