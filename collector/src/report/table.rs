//! The report as a plain text table for a terminal.

use super::Report;
use crate::availability::Figures;
use std::fmt::Write;

fn pct(f: &Figures) -> String {
    f.availability
        .map(|a| format!("{:.3} %", a * 100.0))
        .unwrap_or_else(|| "-".into())
}

fn mark(f: &Figures) -> &'static str {
    match f.meets_target {
        Some(true) => "yes",
        Some(false) => "NO",
        None => "-",
    }
}

fn header(out: &mut String, title: &str) {
    let _ = writeln!(out, "\n{title}");
    let _ = writeln!(
        out,
        "{:<32} {:>10} {:>10} {:>10} {:>10} {:>10} {:>7} {:>6}",
        "id", "avail", "down_s", "planned_s", "unplan_s", "unknown_s", "outages", "target"
    );
}

fn row(out: &mut String, id: &str, f: &Figures, outages: usize) {
    let _ = writeln!(
        out,
        "{:<32} {:>10} {:>10.0} {:>10.0} {:>10.0} {:>10.0} {:>7} {:>6}",
        id,
        pct(f),
        f.downtime_s,
        f.planned_downtime_s,
        f.unplanned_downtime_s,
        f.unknown_s,
        outages,
        mark(f)
    );
}

/// Renders the report as text tables.
pub fn render(r: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Availability {} ({} .. {}), target {:.1} %",
        r.period,
        r.from.to_rfc3339(),
        r.to.to_rfc3339(),
        r.target * 100.0
    );
    header(&mut out, "Services");
    for s in &r.services {
        row(&mut out, &s.id, &s.figures, s.outages);
    }
    header(&mut out, "Municipalities");
    for m in &r.municipalities {
        row(&mut out, &m.id, &m.figures, m.outages);
    }
    header(&mut out, "Sites");
    for s in &r.sites {
        row(&mut out, &s.id, &s.figures, s.outages);
    }
    header(&mut out, "Devices");
    for d in &r.devices {
        row(&mut out, &d.id, &d.figures, d.outages);
    }
    let i = &r.incidents;
    let _ = writeln!(
        out,
        "\nIncidents: {} in period, {} this year (goal at most {}){}",
        i.period,
        i.year_to_date,
        i.goal,
        if i.meets_goal { "" } else { " - GOAL MISSED" }
    );
    for m in &i.by_municipality {
        let _ = writeln!(
            out,
            "  {}: {} in period, {} this year{}; handling {} within, {} over one working day",
            m.municipality,
            m.period,
            m.year_to_date,
            if m.meets_goal { "" } else { " - GOAL MISSED" },
            m.handling.within,
            m.handling.over
        );
    }
    for inc in &i.list {
        let _ = writeln!(
            out,
            "  {} {} .. {} ({:.0} s, {:.0} s working time)",
            inc.service,
            inc.start.to_rfc3339(),
            inc.end
                .map(|e| e.to_rfc3339())
                .unwrap_or_else(|| "ongoing".into()),
            inc.duration_s,
            inc.working_time_s
        );
    }
    let _ = writeln!(
        out,
        "\nOn-call cases: {} in period, {:.0} s billable",
        r.oncall_cases, r.oncall.billable_s
    );
    for b in r.backup_power.iter().filter(|b| b.missing_ups) {
        let _ = writeln!(out, "Backup power: site {} has no UPS", b.site);
    }
    let _ = writeln!(
        out,
        "Quiet devices (no result for {:.0} days): {}",
        r.quiet.after_days,
        r.quiet.devices.len()
    );
    let _ = writeln!(
        out,
        "Lifecycle: {} past renewal, {} warranties ending within {} days",
        r.lifecycle.past_renewal.len(),
        r.lifecycle.warranty_ending.len(),
        r.lifecycle.within_days
    );
    out
}
