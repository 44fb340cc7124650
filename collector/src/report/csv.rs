//! The report as CSV: one row per entity, the same fields as the JSON.

use super::Report;
use crate::availability::Figures;
use std::fmt::Write;

const HEADER: &str = "kind,id,availability,observed_s,downtime_s,planned_downtime_s,unplanned_downtime_s,unknown_s,degraded_s,outages,meets_target,error_budget_s,error_budget_used_s,error_budget_left_s";

fn field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn row(out: &mut String, kind: &str, id: &str, f: &Figures, outages: usize) {
    let opt = |v: Option<f64>| v.map(|a| format!("{a:.6}")).unwrap_or_default();
    let _ = writeln!(
        out,
        "{kind},{},{},{},{},{},{},{},{},{outages},{},{},{},{}",
        field(id),
        opt(f.availability),
        f.observed_s,
        f.downtime_s,
        f.planned_downtime_s,
        f.unplanned_downtime_s,
        f.unknown_s,
        f.degraded_s,
        f.meets_target.map(|b| b.to_string()).unwrap_or_default(),
        f.error_budget_s,
        f.error_budget_used_s,
        f.error_budget_left_s,
    );
}

/// Renders the report as CSV.
pub fn render(r: &Report) -> String {
    let mut out = String::from(HEADER);
    out.push('\n');
    for s in &r.services {
        row(&mut out, "service", &s.id, &s.figures, s.outages);
    }
    for m in &r.municipalities {
        row(&mut out, "municipality", &m.id, &m.figures, m.outages);
    }
    for s in &r.sites {
        row(&mut out, "site", &s.id, &s.figures, s.outages);
    }
    for d in &r.devices {
        row(&mut out, "device", &d.id, &d.figures, d.outages);
    }
    out
}
