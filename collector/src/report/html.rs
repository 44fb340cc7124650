//! The report as a printable Swedish HTML page for the committee (tertial follow-up), with an
//! inline SVG bar chart of availability per service against the target line.

use super::Report;
use crate::availability::Figures;
use chrono::{DateTime, Utc};
use chrono_tz::Europe::Stockholm;
use std::fmt::Write;

/// "Uppföljning tertial 1 2026", "Uppföljning mars 2026", "Uppföljning 2026".
pub fn title(period: &str) -> String {
    let (year, rest) = period.split_once('-').unwrap_or((period, ""));
    if let Some(t) = rest.strip_prefix('T') {
        return format!("Uppföljning tertial {t} {year}");
    }
    if let Ok(m) = rest.parse::<usize>() {
        if (1..=12).contains(&m) {
            return format!(
                "Uppföljning {} {year}",
                crate::calendar::swedish::MONTHS[m - 1]
            );
        }
    }
    if rest.is_empty() && year.len() == 4 {
        return format!("Uppföljning {year}");
    }
    "Uppföljning".to_string()
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A number with a decimal comma.
fn num(x: f64, decimals: usize) -> String {
    format!("{x:.decimals$}").replace('.', ",")
}

fn pct(f: &Figures) -> String {
    f.availability
        .map(|a| format!("{}&nbsp;%", num(a * 100.0, 3)))
        .unwrap_or_else(|| "–".into())
}

fn hours(s: f64) -> String {
    num(s / 3600.0, 2)
}

fn local(t: DateTime<Utc>) -> String {
    t.with_timezone(&Stockholm)
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

fn verdict(f: &Figures) -> &'static str {
    match f.meets_target {
        Some(true) => "Ja",
        Some(false) => "<strong>Nej</strong>",
        None => "Ingen data",
    }
}

fn table(out: &mut String, heading: &str, rows: &[(String, &Figures, usize)]) {
    let _ = writeln!(out, "<h2>{}</h2>\n<table>\n<tr><th>Namn</th><th>Tillgänglighet</th><th>Avbrott (h)</th><th>Varav planerat (h)</th><th>Oplanerat (h)</th><th>Okänt (h)</th><th>Antal avbrott</th><th>Når målet</th><th>Felbudget kvar (h)</th></tr>", esc(heading));
    for (name, f, outages) in rows {
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td>{}</td><td class=n>{}</td></tr>",
            esc(name),
            pct(f),
            hours(f.downtime_s),
            hours(f.planned_downtime_s),
            hours(f.unplanned_downtime_s),
            hours(f.unknown_s),
            outages,
            verdict(f),
            hours(f.error_budget_left_s)
        );
    }
    out.push_str("</table>\n");
}

/// Horizontal bars per service, with the target as a vertical line.
fn chart(r: &Report) -> String {
    let values: Vec<(&str, f64)> = r
        .services
        .iter()
        .map(|s| (s.name.as_str(), s.figures.availability.unwrap_or(0.0)))
        .collect();
    let lowest = values.iter().map(|v| v.1).fold(r.target, f64::min);
    let lo = ((lowest * 100.0).floor() / 100.0 - 0.01).clamp(0.0, r.target - 0.005);
    let (left, width, bar, gap) = (260.0, 420.0, 18.0, 8.0);
    let height = values.len() as f64 * (bar + gap) + 40.0;
    let x = |a: f64| left + (a - lo) / (1.0 - lo) * width;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{height}\" role=\"img\" aria-label=\"Tillgänglighet per tjänst\">\n",
        left + width + 80.0
    );
    for (i, (name, a)) in values.iter().enumerate() {
        let y = 10.0 + i as f64 * (bar + gap);
        let color = if *a >= r.target { "#2e7d32" } else { "#c62828" };
        let _ = writeln!(
            svg,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\" font-size=\"12\">{}</text><rect x=\"{left}\" y=\"{y}\" width=\"{:.1}\" height=\"{bar}\" fill=\"{color}\"/><text x=\"{:.1}\" y=\"{}\" font-size=\"11\">{}&nbsp;%</text>",
            left - 6.0,
            y + 13.0,
            esc(name),
            (x(*a) - left).max(0.0),
            x(*a).max(left) + 4.0,
            y + 13.0,
            num(a * 100.0, 2)
        );
    }
    let tx = x(r.target);
    let bottom = height - 24.0;
    let _ = writeln!(
        svg,
        "<line x1=\"{tx:.1}\" y1=\"4\" x2=\"{tx:.1}\" y2=\"{bottom}\" stroke=\"#000\" stroke-dasharray=\"4 3\"/><text x=\"{tx:.1}\" y=\"{}\" font-size=\"11\" text-anchor=\"middle\">Mål {}&nbsp;%</text>\n</svg>",
        bottom + 14.0,
        num(r.target * 100.0, 1)
    );
    svg
}

/// Renders the HTML page.
pub fn render(r: &Report) -> String {
    let title = title(&r.period);
    let mut out = format!(
        "<!DOCTYPE html>\n<html lang=\"sv\">\n<head>\n<meta charset=\"utf-8\">\n<title>{t}</title>\n<style>\nbody{{font-family:sans-serif;margin:2em;color:#111}}\ntable{{border-collapse:collapse;margin-bottom:1.5em}}\nth,td{{border:1px solid #999;padding:3px 6px;font-size:12px}}\nth{{background:#eee}}\ntd.n{{text-align:right}}\n@media print{{body{{margin:1cm}}h2{{page-break-after:avoid}}}}\n</style>\n</head>\n<body>\n<h1>{t}</h1>\n",
        t = esc(&title)
    );
    let _ = writeln!(
        out,
        "<p>Teknisk tillgänglighet {} – {}. Mål: {}&nbsp;% av tiden per år. Planerade avbrott inom servicefönster räknas in i tillgängligheten.</p>",
        local(r.from),
        local(r.to),
        num(r.target * 100.0, 1)
    );
    out.push_str("<h2>Tillgänglighet per tjänst</h2>\n");
    out.push_str(&chart(r));
    let rows: Vec<_> = r
        .services
        .iter()
        .map(|s| (s.name.clone(), &s.figures, s.outages))
        .collect();
    table(&mut out, "Tjänster", &rows);
    let rows: Vec<_> = r
        .municipalities
        .iter()
        .map(|m| (m.name.clone(), &m.figures, m.outages))
        .collect();
    table(&mut out, "Kommuner", &rows);
    let rows: Vec<_> = r
        .sites
        .iter()
        .map(|s| (s.name.clone(), &s.figures, s.outages))
        .collect();
    table(&mut out, "Platser", &rows);
    incidents(&mut out, r);
    oncall(&mut out, r);
    out.push_str("</body>\n</html>\n");
    out
}

fn oncall(out: &mut String, r: &Report) {
    let _ = writeln!(
        out,
        "<h2>Beredskap</h2>\n<p>Beredskapsärenden under perioden: <span class=n id=oncall-cases>{}</span> (larm som gått till it-beredskapen utanför kontorstid).</p>",
        r.oncall_cases
    );
}

fn incidents(out: &mut String, r: &Report) {
    let i = &r.incidents;
    let _ = writeln!(
        out,
        "<h2>Avbrott och incidenter</h2>\n<p>Under perioden: {}. Hittills i år: {} (mål: högst {} per år) – {}.</p>",
        i.period,
        i.year_to_date,
        i.goal,
        if i.meets_goal { "målet nås" } else { "<strong>målet nås inte</strong>" }
    );
    if i.list.is_empty() {
        return;
    }
    out.push_str("<table>\n<tr><th>Tjänst</th><th>Början</th><th>Slut</th><th>Längd (h)</th><th>Varav planerat (h)</th></tr>\n");
    for inc in &i.list {
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td class=n>{}</td><td class=n>{}</td></tr>",
            esc(&inc.name),
            local(inc.start),
            inc.end.map(local).unwrap_or_else(|| "pågår".into()),
            hours(inc.duration_s),
            hours(inc.planned_s)
        );
    }
    out.push_str("</table>\n");
}
