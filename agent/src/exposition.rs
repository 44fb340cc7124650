//! What `/metrics` serves, as OpenMetrics text written in chunks: first the registry's own
//! metrics (the agent's counters, its lag histogram, the spool; in the collector everything it
//! registers) through prometheus_client, then the per-device series of each [`LatestResults`]
//! family by family, written straight from the results, then `# EOF`.
//!
//! Why chunks: at 10,000 devices the text is about 7 MiB. Built as one string, with every
//! label set copied into a map first, one scrape lifted the agent's memory by 40 MiB, and glibc
//! kept it. Here a scrape holds the list of the latest results (one pointer pair per check,
//! taken under the lock and released at once) and one chunk of about [`CHUNK`] bytes at a time;
//! the server streams the chunks as they are written ([`crate::server`]), so a slow reader
//! holds nothing more. [`Exposition::render`] joins them for callers that want one string.
//!
//! A family's samples come together (OpenMetrics asks for it): for each metric name the writer
//! walks all results once. Families are few (success, degraded, duration and one per value a
//! probe kind reports), so a scrape costs a few passes over pointers, not copies.

use crate::metrics::{sanitize, DeviceLabels, LatestResults};
use driftvakt_common::wire::{ProbeResult, Value};
use prometheus_client::registry::Registry;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

/// A chunk is handed on once it holds this many bytes.
pub const CHUNK: usize = 64 * 1024;

const EOF: &str = "# EOF\n";

/// A registry and the per-device results served beside it.
#[derive(Debug, Default)]
pub struct Exposition {
    registry: Registry,
    latest: Vec<Arc<LatestResults>>,
}

impl Exposition {
    pub fn new(registry: Registry) -> Exposition {
        Exposition {
            registry,
            latest: Vec::new(),
        }
    }

    /// Also serves the latest results of `latest` (an agent's per-device series).
    pub fn add_latest(&mut self, latest: Arc<LatestResults>) {
        self.latest.push(latest);
    }

    /// The registry, to register more metrics in before serving.
    pub fn registry_mut(&mut self) -> &mut Registry {
        &mut self.registry
    }

    /// The text in chunks of about [`CHUNK`] bytes, each written when asked for.
    pub fn chunks(self: &Arc<Self>) -> Chunks {
        Chunks {
            exposition: self.clone(),
            next_latest: 0,
            families: Vec::new(),
            entries: Vec::new(),
            family: 0,
            entry: 0,
            state: Stage::Registry,
        }
    }

    /// The whole text as one string.
    pub fn render(self: &Arc<Self>) -> String {
        self.chunks().collect()
    }
}

/// Where [`Chunks`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Registry,
    Latest,
    Eof,
    Done,
}

/// One metric family of the per-device series.
#[derive(Debug)]
enum Source {
    Success,
    Degraded,
    Duration,
    /// The result values whose keys sanitize to this family's name.
    Values(Vec<String>),
}

/// The chunks of one scrape ([`Exposition::chunks`]).
pub struct Chunks {
    exposition: Arc<Exposition>,
    next_latest: usize,
    /// The families of the results being written, by name.
    families: Vec<(String, Source)>,
    /// The results being written: a snapshot of one [`LatestResults`].
    entries: Vec<(Arc<DeviceLabels>, Arc<ProbeResult>)>,
    family: usize,
    entry: usize,
    state: Stage,
}

impl Iterator for Chunks {
    type Item = String;

    fn next(&mut self) -> Option<String> {
        let mut out = String::new();
        while out.len() < CHUNK {
            match self.state {
                Stage::Registry => {
                    out.push_str(registry_text(&self.exposition.registry).trim_end_matches(EOF));
                    self.state = Stage::Latest;
                }
                Stage::Latest => {
                    if !self.write_some(&mut out) && !self.take_next_latest() {
                        self.state = Stage::Eof;
                    }
                }
                Stage::Eof => {
                    out.push_str(EOF);
                    self.state = Stage::Done;
                }
                Stage::Done => break,
            }
        }
        (!out.is_empty()).then_some(out)
    }
}

impl Chunks {
    /// Takes the snapshot of the next [`LatestResults`]; false when there is none left.
    fn take_next_latest(&mut self) -> bool {
        let Some(latest) = self.exposition.latest.get(self.next_latest) else {
            return false;
        };
        self.next_latest += 1;
        self.entries = latest.snapshot();
        self.families = families(&self.entries);
        self.family = 0;
        self.entry = 0;
        true
    }

    /// Writes samples until `out` is a chunk or the snapshot is written; false when nothing
    /// was left to write.
    fn write_some(&mut self, out: &mut String) -> bool {
        let mut wrote = false;
        while out.len() < CHUNK {
            let Some((name, source)) = self.families.get(self.family) else {
                return wrote;
            };
            if self.entry == 0 {
                write_descriptor(out, name);
            }
            if let Some((labels, result)) = self.entries.get(self.entry) {
                write_samples(out, name, source, labels, result);
                self.entry += 1;
            } else {
                self.family += 1;
                self.entry = 0;
            }
            wrote = true;
        }
        true
    }
}

/// The registry's metrics in the text format (ending in `# EOF`).
fn registry_text(registry: &Registry) -> String {
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, registry)
        .expect("writing metrics to a String cannot fail");
    out
}

/// The families the results hold, by name: the three every result has, then one per value
/// name (values that are text are not series).
fn families(entries: &[(Arc<DeviceLabels>, Arc<ProbeResult>)]) -> Vec<(String, Source)> {
    let mut values: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (_, r) in entries {
        for (key, value) in &r.values {
            if matches!(value, Value::Text(_)) {
                continue;
            }
            let keys = values
                .entry(format!("probe_{}", sanitize(key)))
                .or_default();
            if !keys.contains(key) {
                keys.push(key.clone());
            }
        }
    }
    let mut out = vec![
        ("probe_success".to_string(), Source::Success),
        ("probe_degraded".to_string(), Source::Degraded),
        ("probe_duration_seconds".to_string(), Source::Duration),
    ];
    if entries.is_empty() {
        out.clear();
    }
    out.extend(
        values
            .into_iter()
            .map(|(n, keys)| (n, Source::Values(keys))),
    );
    out
}

fn write_descriptor(out: &mut String, name: &str) {
    let help = help_for(name).replace('\\', "\\\\").replace('\n', "\\n");
    let _ = write!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n");
}

/// The samples of family `name` that one result holds.
fn write_samples(
    out: &mut String,
    name: &str,
    source: &Source,
    labels: &DeviceLabels,
    r: &ProbeResult,
) {
    let flag = |b: bool| f64::from(u8::from(b));
    match source {
        Source::Success => write_sample(out, name, labels, r, &[], flag(r.ok)),
        Source::Degraded => write_sample(out, name, labels, r, &[], flag(r.degraded())),
        Source::Duration => write_sample(out, name, labels, r, &[], r.duration_ms / 1000.0),
        Source::Values(keys) => {
            for key in keys {
                match r.values.get(key) {
                    Some(Value::Number(n)) => write_sample(out, name, labels, r, &[], *n),
                    Some(Value::Bool(b)) => write_sample(out, name, labels, r, &[], flag(*b)),
                    Some(Value::Series(samples)) => {
                        for s in samples {
                            let extra: Vec<(&String, &String)> = s.labels.iter().collect();
                            write_sample(out, name, labels, r, &extra, s.value);
                        }
                    }
                    Some(Value::Text(_)) | None => {}
                }
            }
        }
    }
}

/// One line: `name{device,check,class,site[,extra]} value`.
fn write_sample(
    out: &mut String,
    name: &str,
    labels: &DeviceLabels,
    r: &ProbeResult,
    extra: &[(&String, &String)],
    value: f64,
) {
    out.push_str(name);
    out.push_str("{device=\"");
    escape_into(out, &labels.device);
    out.push_str("\",check=\"");
    escape_into(out, &r.check);
    out.push_str("\",class=\"");
    escape_into(out, &labels.class);
    out.push_str("\",site=\"");
    escape_into(out, &labels.site);
    out.push('"');
    for (k, v) in extra {
        out.push(',');
        out.push_str(&sanitize(k));
        out.push_str("=\"");
        escape_into(out, v);
        out.push('"');
    }
    out.push_str("} ");
    write_value(out, value);
    out.push('\n');
}

/// A label value as OpenMetrics escapes it (`\`, `"` and line feeds).
fn escape_into(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// A number as OpenMetrics writes it (`+Inf`, `-Inf`, `NaN` for the special values).
fn write_value(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    } else {
        let _ = write!(out, "{v:?}");
    }
}

fn help_for(name: &str) -> String {
    match name {
        "probe_success" => {
            "Whether the last probe of this check succeeded (1) or failed (0).".into()
        }
        "probe_degraded" => {
            "Whether the device answered but a finding marks it degraded (1) or not (0).".into()
        }
        "probe_duration_seconds" => "How long the last probe of this check took.".into(),
        _ => format!(
            "Value `{}` read by the last probe of this check.",
            name.trim_start_matches("probe_")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{AgentMetrics, SeriesKey};
    use chrono::DateTime;
    use driftvakt_common::wire::Sample;

    fn result(device: &str, values: BTreeMap<String, Value>) -> ProbeResult {
        ProbeResult {
            target: device.into(),
            check: "snmp".into(),
            time: DateTime::from_timestamp(1_796_000_000, 0).unwrap(),
            ok: true,
            duration_ms: 12.5,
            error: None,
            detail: None,
            findings: Vec::new(),
            values,
        }
    }

    fn exposition(devices: usize) -> Arc<Exposition> {
        let mut registry = Registry::default();
        let metrics = AgentMetrics::register(&mut registry);
        for i in 0..devices {
            let device = format!("sw-{i}");
            let mut values = BTreeMap::new();
            values.insert("sys_uptime_seconds".into(), Value::Number(86_400.0));
            values.insert("uplink_down".into(), Value::Bool(false));
            values.insert("sys_name".into(), Value::Text("core".into()));
            values.insert(
                "if-oper status".into(),
                Value::Series(vec![Sample {
                    labels: BTreeMap::from([("if name".into(), "Gi1/0/1 \"up\\link\"".into())]),
                    value: f64::INFINITY,
                }]),
            );
            let key = Arc::new(SeriesKey {
                device: device.clone(),
                check: "snmp".into(),
            });
            let labels = Arc::new(DeviceLabels {
                device: device.clone(),
                class: "switch".into(),
                site: "Stadshuset".into(),
            });
            metrics.observe("snmp", key, labels, Arc::new(result(&device, values)));
        }
        let mut exposition = Exposition::new(registry);
        exposition.add_latest(metrics.latest.clone());
        Arc::new(exposition)
    }

    /// The metric name of a sample line.
    fn name(line: &str) -> &str {
        line.split(['{', ' ']).next().unwrap()
    }

    #[test]
    fn families_are_whole_escaped_and_end_in_one_eof() {
        let text = exposition(3).render();
        assert!(text.ends_with("# EOF\n"), "{text}");
        assert_eq!(text.matches("# EOF").count(), 1, "{text}");
        assert!(
            text.contains("# TYPE driftvakt_agent_probes_in_flight gauge"),
            "{text}"
        );
        assert!(text.contains(
            "probe_if_oper_status{device=\"sw-1\",check=\"snmp\",class=\"switch\",\
             site=\"Stadshuset\",if_name=\"Gi1/0/1 \\\"up\\\\link\\\"\"} +Inf\n"
        ));
        assert!(text.contains(
            "probe_sys_uptime_seconds{device=\"sw-0\",check=\"snmp\",class=\"switch\",\
             site=\"Stadshuset\"} 86400.0\n"
        ));
        assert!(text.contains("probe_uplink_down{device=\"sw-2\",check=\"snmp\",class=\"switch\",site=\"Stadshuset\"} 0.0\n"));
        assert!(
            !text.contains("probe_sys_name"),
            "text values are not series"
        );
        // Each family's samples stand together, after its TYPE line.
        let mut typed = Vec::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let family = rest.split(' ').next().unwrap();
                assert!(!typed.contains(&family), "{family} twice");
                typed.push(family);
            } else if !line.starts_with('#') {
                let n = name(line);
                let family = typed.last().expect("a sample before any TYPE");
                assert!(n.starts_with(family), "{n} outside its family {family}");
            }
        }
        let per_device = ["probe_success", "probe_degraded", "probe_duration_seconds"];
        for f in per_device {
            assert_eq!(text.lines().filter(|l| name(l) == f).count(), 3, "{f}");
        }
    }

    #[test]
    fn a_large_scrape_comes_in_chunks_of_about_the_chunk_size() {
        let expo = exposition(3_000);
        let chunks: Vec<String> = expo.chunks().collect();
        assert!(chunks.len() > 5, "{} chunks", chunks.len());
        for c in &chunks {
            assert!(c.len() < CHUNK + 1024, "a chunk of {} bytes", c.len());
        }
        assert_eq!(chunks.concat(), expo.render());
        let samples = expo
            .render()
            .lines()
            .filter(|l| !l.starts_with('#'))
            .count();
        assert!(samples >= 3_000 * 6, "{samples} samples");
    }
}
