//! The measured rows, the targets the issue sets, and the Markdown table.

use crate::agent_run::SteadyReport;
use crate::collector_bench::{HistoryRow, IngestRow, Timed};
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

/// One prober on one probe kind and target count.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Row {
    /// `icmp`, `http`, `tcp`, `snmp`.
    pub kind: String,
    /// `driftvakt`, `fping`, `blackbox_exporter`, `snmp_exporter`.
    pub tool: String,
    pub targets: usize,
    pub probes: u64,
    pub failures: u64,
    pub wall_s: f64,
    /// CPU seconds (user + system) of the prober process while probing.
    pub cpu_s: f64,
    pub peak_rss_kib: u64,
    /// 1-minute load average just before the row ran.
    pub load: f64,
    /// Set when the row was not measured, with the reason.
    pub pending: Option<String>,
}

impl Row {
    pub fn new(kind: &str, tool: &str, targets: usize) -> Row {
        Row {
            kind: kind.into(),
            tool: tool.into(),
            targets,
            probes: 0,
            failures: 0,
            wall_s: 0.0,
            cpu_s: 0.0,
            peak_rss_kib: 0,
            load: f64::NAN,
            pending: None,
        }
    }

    pub fn pending(kind: &str, tool: &str, targets: usize, why: &str) -> Row {
        Row {
            pending: Some(why.into()),
            ..Row::new(kind, tool, targets)
        }
    }

    pub fn probes_per_s(&self) -> f64 {
        self.probes as f64 / self.wall_s
    }

    /// CPU seconds per 1,000 probes.
    pub fn cpu_per_1k(&self) -> f64 {
        self.cpu_s / self.probes as f64 * 1000.0
    }
}

/// Everything one run measured.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Report {
    pub machine: String,
    pub command: String,
    pub load_start: String,
    pub load_end: String,
    pub rows: Vec<Row>,
    pub steady: Vec<SteadyReport>,
    /// The collector: ingest per inventory size, and the year of history.
    #[serde(default)]
    pub ingest: Vec<IngestRow>,
    #[serde(default)]
    pub history: Option<HistoryRow>,
}

/// One target of the issue, checked.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Verdict {
    pub what: String,
    pub measured: String,
    pub pass: Option<bool>,
}

impl Report {
    fn find(&self, kind: &str, tool: &str, targets: usize) -> Option<&Row> {
        self.rows.iter().find(|r| {
            r.kind == kind && r.tool == tool && r.targets == targets && r.pending.is_none()
        })
    }

    fn sizes(&self) -> Vec<usize> {
        let mut sizes: Vec<usize> = self.rows.iter().map(|r| r.targets).collect();
        sizes.sort_unstable();
        sizes.dedup();
        sizes
    }

    /// The targets, per size, plus ratios where no target is set.
    pub fn verdicts(&self) -> Vec<Verdict> {
        let mut out = Vec::new();
        for n in self.sizes() {
            let agent = |kind| self.find(kind, "driftvakt", n);
            if let (Some(a), Some(f)) = (agent("icmp"), self.find("icmp", "fping", n)) {
                let ratio = a.probes_per_s() / f.probes_per_s();
                let cpu_ratio = f.cpu_per_1k() / a.cpu_per_1k();
                out.push(Verdict {
                    what: format!("ICMP {n}: rate at least 1/2 of fping's"),
                    measured: format!(
                        "{ratio:.2} of fping (per CPU second: {cpu_ratio:.2}, load-independent)"
                    ),
                    pass: Some(ratio >= 0.5),
                });
            }
            for kind in ["icmp", "http", "tcp"] {
                let Some(a) = agent(kind) else { continue };
                let Some(b) = self.find(kind, "blackbox_exporter", n) else {
                    continue;
                };
                let ratio = a.cpu_per_1k() / b.cpu_per_1k();
                let rate = a.probes_per_s() / b.probes_per_s();
                out.push(Verdict {
                    what: if kind == "icmp" {
                        format!("ICMP {n}: CPU per probe at most 1/10 of blackbox_exporter's")
                    } else {
                        format!(
                            "{} {n}: vs blackbox_exporter (no target set)",
                            kind.to_uppercase()
                        )
                    },
                    measured: format!("CPU/probe {ratio:.3} of blackbox; rate {rate:.2}x"),
                    pass: (kind == "icmp").then_some(ratio <= 0.1),
                });
            }
        }
        out.extend(self.snmp_verdicts());
        for s in &self.steady {
            out.extend(steady_verdicts(s));
        }
        out.extend(self.ingest.iter().map(ingest_verdict));
        if let Some(h) = &self.history {
            out.extend(history_verdicts(h));
        }
        out
    }

    /// SNMP: at most a third of snmp_exporter's CPU per walk of the same device.
    fn snmp_verdicts(&self) -> Vec<Verdict> {
        let mut out = Vec::new();
        for n in self.sizes() {
            let (Some(a), Some(e)) = (
                self.find("snmp", "driftvakt", n),
                self.find("snmp", "snmp_exporter", n),
            ) else {
                continue;
            };
            let ratio = a.cpu_per_1k() / e.cpu_per_1k();
            out.push(Verdict {
                what: format!("SNMP {n} interfaces: CPU per walk at most 1/3 of snmp_exporter's"),
                measured: format!(
                    "CPU/walk {ratio:.2} of snmp_exporter; rate {:.2}x",
                    a.probes_per_s() / e.probes_per_s()
                ),
                pass: Some(ratio <= 1.0 / 3.0),
            });
        }
        out
    }

    /// The whole report as Markdown.
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "Machine: {}  ", self.machine);
        let _ = writeln!(
            out,
            "Load (1, 5, 15 min): {} at start, {} at end  ",
            self.load_start, self.load_end
        );
        let _ = writeln!(out, "Command: `{}`\n", self.command);
        if !self.rows.is_empty() {
            out.push_str(&self.rows_table());
        }
        if !self.steady.is_empty() {
            out.push('\n');
            out.push_str(&steady_table(&self.steady));
        }
        if !self.ingest.is_empty() {
            out.push('\n');
            out.push_str(&ingest_table(&self.ingest));
        }
        if let Some(h) = &self.history {
            out.push('\n');
            out.push_str(&history_table(h));
        }
        out.push('\n');
        out.push_str(&verdict_table(&self.verdicts()));
        out
    }

    fn rows_table(&self) -> String {
        let mut out = String::from(
            "| probe | prober | targets | probes/s | CPU s / 1,000 probes | peak RSS MiB | failures | load 1m |\n\
             |---|---|---:|---:|---:|---:|---:|---:|\n",
        );
        for r in &self.rows {
            let _ = match &r.pending {
                Some(why) => writeln!(
                    out,
                    "| {} | {} | {} | {why} | | | | |",
                    r.kind, r.tool, r.targets
                ),
                None => writeln!(
                    out,
                    "| {} | {} | {} | {:.0} | {:.3} | {:.1} | {} of {} | {:.2} |",
                    r.kind,
                    r.tool,
                    r.targets,
                    r.probes_per_s(),
                    r.cpu_per_1k(),
                    r.peak_rss_kib as f64 / 1024.0,
                    r.failures,
                    r.probes,
                    r.load
                ),
            };
        }
        out
    }
}

fn steady_verdicts(s: &SteadyReport) -> Vec<Verdict> {
    let what = format!(
        "steady {} / {} s, {} echo per probe",
        s.targets, s.interval_s, s.icmp_count
    );
    let mib = |kib: u64| kib as f64 / 1024.0;
    vec![
        Verdict {
            what: format!("{what}: CPU under 10 % of one core"),
            measured: format!("{:.1} %", s.cpu_share * 100.0),
            pass: Some(s.cpu_share < 0.10),
        },
        Verdict {
            what: format!("{what}: RSS under 40 MiB (peak, with one /metrics scrape)"),
            measured: format!(
                "{:.1} MiB unscraped, {:.1} MiB peak after one scrape",
                mib(s.peak_rss_kib),
                mib(s.peak_rss_scraped_kib)
            ),
            pass: Some(s.peak_rss_scraped_kib < 40 * 1024),
        },
        Verdict {
            what: format!("{what}: scheduler lag p99 under 100 ms"),
            measured: format!(
                "{:.1} ms (agent histogram: <= {} ms)",
                s.lag_p99_ms, s.hist_lag_p99_le_ms
            ),
            pass: Some(s.lag_p99_ms < 100.0),
        },
    ]
}

fn steady_table(runs: &[SteadyReport]) -> String {
    let mib = |kib: u64| kib as f64 / 1024.0;
    let mut out = String::from(
        "Steady state: the library's `Scheduler` over loopback ICMP targets, measured after one \
         interval of warm-up, no `/metrics` scrape during the window; then one full render.\n\n\
         | targets / interval | echo per probe | window s | CPU share of one core | RSS MiB running (after config, after plan) | peak RSS MiB (after one scrape) | lag p50 / p99 / max ms | agent histogram p50 / p99 (bucket bound, ms) | probes | failures | overruns | one /metrics render |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for s in runs {
        let _ = writeln!(
            out,
            "| {} / {} s | {} | {:.0} | {:.2} % | {:.1} ({:.1}, {:.1}) | {:.1} ({:.1}) | {:.1} / {:.1} / {:.1} | {} / {} | {} | {} | {} | {:.0} ms CPU, {:.1} MiB |",
            s.targets,
            s.interval_s,
            s.icmp_count,
            s.window_s,
            s.cpu_share * 100.0,
            mib(s.rss_kib),
            mib(s.rss_config_kib),
            mib(s.rss_plan_kib),
            mib(s.peak_rss_kib),
            mib(s.peak_rss_scraped_kib),
            s.lag_p50_ms,
            s.lag_p99_ms,
            s.lag_max_ms,
            s.hist_lag_p50_le_ms,
            s.hist_lag_p99_le_ms,
            s.probes,
            s.failures,
            s.overruns,
            s.metrics_render_cpu_ms,
            s.metrics_render_bytes as f64 / 1024.0 / 1024.0,
        );
    }
    out
}

fn verdict_table(verdicts: &[Verdict]) -> String {
    let mut out = String::from("| target | measured | result |\n|---|---|---|\n");
    for v in verdicts {
        let result = match v.pass {
            Some(true) => "pass",
            Some(false) => "FAIL",
            None => "ratio only",
        };
        let _ = writeln!(out, "| {} | {} | {result} |", v.what, v.measured);
    }
    out
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn ingest_verdict(r: &IngestRow) -> Verdict {
    Verdict {
        what: format!(
            "collector ingest, {} devices: at least 50,000 results/s durably committed",
            r.devices
        ),
        measured: format!(
            "{:.0} results/s ({:.0} per collector CPU second); batch p99 {:.0} ms; {} rejected, {} failed batches",
            r.results_per_s(),
            r.accepted as f64 / r.cpu_s,
            r.p99_ms,
            r.rejected,
            r.errors
        ),
        pass: Some(r.results_per_s() >= 50_000.0 && r.rejected == 0 && r.errors == 0),
    }
}

fn history_verdicts(h: &HistoryRow) -> Vec<Verdict> {
    let n = h.devices;
    vec![
        Verdict {
            what: format!(
                "collector history: {} outages stored and reported",
                h.outages_intended
            ),
            measured: format!(
                "{} in the store, {} in the year report",
                h.outages_stored, h.year_report_outages
            ),
            pass: Some(h.outages_stored == h.outages_intended),
        },
        Verdict {
            what: format!("collector, {n} devices: year report under 1 s"),
            measured: format!(
                "HTTP {:.0} ms, CLI {:.0} ms wall ({:.0} ms CPU)",
                h.http_year.wall_ms, h.cli_year.wall_ms, h.cli_year.cpu_ms
            ),
            pass: Some(h.http_year.wall_ms < 1000.0 && h.cli_year.wall_ms < 1000.0),
        },
        Verdict {
            what: format!("collector, {n} devices: one /metrics scrape under 100 ms"),
            measured: format!(
                "{:.1} ms (first {:.1} ms), {:.1} MiB",
                h.metrics.wall_ms,
                h.metrics_first.wall_ms,
                h.metrics.bytes as f64 / 1024.0 / 1024.0
            ),
            pass: Some(h.metrics.wall_ms < 100.0 && h.metrics_first.wall_ms < 100.0),
        },
    ]
}

fn ingest_table(rows: &[IngestRow]) -> String {
    let mut out = String::from(
        "Collector ingest: `driftvakt-collector run` (SQLite, synchronous=FULL) in a child process, \
         agents posting batches concurrently over HTTP, each agent one batch at a time.\n\n\
         | devices | agents x batches x results | results/s committed | results per collector CPU second | batch p50 / p99 ms | collector CPU s per 100,000 results | collector peak RSS MiB | rejected / failed batches | load 1m |\n\
         |---:|---|---:|---:|---:|---:|---:|---|---:|\n",
    );
    for r in rows {
        let _ = writeln!(
            out,
            "| {} | {} x {} x {} | {:.0} | {:.0} | {:.1} / {:.1} | {:.2} | {:.1} | {} / {} | {:.2} |",
            r.devices,
            r.agents,
            r.batches / r.agents.max(1),
            r.batch_size,
            r.results_per_s(),
            r.accepted as f64 / r.cpu_s,
            r.p50_ms,
            r.p99_ms,
            r.cpu_s / r.accepted.max(1) as f64 * 100_000.0,
            mib(r.peak_rss_kib),
            r.rejected,
            r.errors,
            r.load
        );
    }
    out
}

fn history_table(h: &HistoryRow) -> String {
    let mut out = format!(
        "Collector with a year of history: {} devices, {} outages stored ({} intended, {} in the \
         year report), {} service windows in the year; generated in {:.1} s, database {:.0} MiB. \
         RSS after start {:.1} MiB.\n\n\
         | operation | wall ms | CPU ms | peak RSS MiB | MiB out | load 1m |\n\
         |---|---:|---:|---:|---:|---:|\n",
        h.devices,
        h.outages_stored,
        h.outages_intended,
        h.year_report_outages,
        h.windows,
        h.generate_s,
        h.db_mib,
        mib(h.rss_started_kib),
    );
    let _ = writeln!(
        out,
        "| restart: process start to `/healthz` 200 | {:.0} | | | | |",
        h.start_healthz_ms
    );
    let _ = writeln!(
        out,
        "| restart: process start to `/api/v1/status` 200 | {:.0} | | | | |",
        h.start_status_ms
    );
    let rows: [(&str, &Timed); 7] = [
        ("GET /api/v1/status", &h.status),
        ("GET /metrics, first scrape", &h.metrics_first),
        ("GET /metrics, median of 3 more", &h.metrics),
        ("GET /api/v1/report, tertial 2026-T2", &h.http_tertial),
        ("GET /api/v1/report, year 2026", &h.http_year),
        ("CLI report --period 2026-T2 --format json", &h.cli_tertial),
        ("CLI report --period 2026 --format json", &h.cli_year),
    ];
    for (what, t) in rows {
        let _ = writeln!(
            out,
            "| {what} | {:.1} | {:.0} | {:.1} | {:.2} | {:.2} |",
            t.wall_ms,
            t.cpu_ms,
            mib(t.peak_rss_kib),
            t.bytes as f64 / 1024.0 / 1024.0,
            t.load
        );
    }
    out.push_str(
        "\nCPU and peak RSS of HTTP rows are the collector process's (CPU from /proc at 10 ms \
         resolution; peak is its VmHWM so far); of CLI rows, the report process's own.\n",
    );
    out
}
