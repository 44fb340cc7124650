//! The report as a printable Swedish HTML page for the committee (tertial follow-up), with an
//! inline SVG bar chart of availability per service against the target line.

use super::{GroupRow, Report};
use crate::availability::Figures;
use crate::calendar::swedish::{alert_kind_sv, class_name_sv};
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
    driftvakt_common::xml::fit(s)
        .replace('&', "&amp;")
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
    let _ = writeln!(out, "<h2>{}</h2>\n<table>\n<tr><th>Namn</th><th>Tillgänglighet</th><th>Avbrott (h)</th><th>Varav planerat (h)</th><th>Oplanerat (h)</th><th>Okänt (h)</th><th>Antal avbrott</th><th>Når målet</th><th>Felbudget kvar i år (h)</th></tr>", esc(heading));
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
        "<p>Teknisk tillgänglighet {} – {}. Mål: {}&nbsp;% av tiden per år. Planerade avbrott inom servicefönster räknas in i tillgängligheten. Incidenter som registrerats för hand (till exempel fast telefoni och e-post, som ingen mätning ser) räknas som avbrott för de tjänster de gäller, eller för hela kommunen när de inte anger någon tjänst.</p>",
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
    out.push_str("<p id=weighting>Kommuner och platser vägs efter enhetstid: tillgängligheten är 1 − summerad avbrottstid / summerad observerad tid över deras enheter. Timmarna anges i kommunens (platsens) egen tid, medelvärdet över enheterna, mot ett år på 8&nbsp;760 timmar; kolumnerna märkta <em>enhetstimmar</em> är summor över enheterna.</p>\n");
    group_table(&mut out, "Kommuner", &r.municipalities);
    group_table(&mut out, "Platser", &r.sites);
    incidents(&mut out, r);
    intefunktion(&mut out, r);
    oncall(&mut out, r);
    backup_power(&mut out, r);
    quiet(&mut out, r);
    lifecycle(&mut out, r);
    out.push_str("</body>\n</html>\n");
    out
}

/// A group table: hours in the group's own time, plus downtime in device-hours.
fn group_table(out: &mut String, heading: &str, rows: &[GroupRow]) {
    let _ = writeln!(out, "<h2>{}</h2>\n<table>\n<tr><th>Namn</th><th>Enheter</th><th>Tillgänglighet</th><th>Avbrott (h)</th><th>Varav planerat (h)</th><th>Oplanerat (h)</th><th>Okänt (h)</th><th>Antal avbrott</th><th>Når målet</th><th>Felbudget kvar i år (h)</th><th>Avbrott (enhetstimmar)</th><th>Okänt (enhetstimmar)</th></tr>", esc(heading));
    for g in rows {
        let (f, o) = (&g.figures, &g.own_time);
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td></tr>",
            esc(&g.name),
            g.devices,
            pct(f),
            hours(o.downtime_s),
            hours(o.planned_downtime_s),
            hours(o.unplanned_downtime_s),
            hours(o.unknown_s),
            g.outages,
            verdict(f),
            hours(o.error_budget_left_s),
            hours(f.downtime_s),
            hours(f.unknown_s)
        );
    }
    out.push_str("</table>\n");
}

fn oncall(out: &mut String, r: &Report) {
    let o = &r.oncall;
    let _ = writeln!(
        out,
        "<h2>Beredskap</h2>\n<p>Beredskapsärenden under perioden: <span class=n id=oncall-cases>{}</span> (larm som gått till it-beredskapen utanför kontorstid, där en händelse är ett ärende, och samtal utan larm som registrerats för hand). Debiterbar tid: <span class=n id=oncall-billable>{}</span>&nbsp;h (minsta debiterbara tid {} minuter per ärende).</p>",
        r.oncall_cases,
        hours(o.billable_s),
        num(o.minimum_s / 60.0, 0)
    );
    if o.cases.is_empty() {
        return;
    }
    out.push_str("<table>\n<tr><th>Kommun</th><th>Ärenden</th><th>Debiterbart (h)</th></tr>\n");
    for m in &o.by_municipality {
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td class=n>{}</td><td class=n>{}</td></tr>",
            esc(&m.municipality),
            m.cases,
            hours(m.billable_s)
        );
    }
    out.push_str("</table>\n<table>\n<tr><th>Kommun</th><th>Verksamhet</th><th>Ärenden</th><th>Debiterbart (h)</th></tr>\n");
    for d in &o.by_department {
        let _ = writeln!(
            out,
            "<tr class=oncall-department><td>{}</td><td>{}</td><td class=n>{}</td><td class=n>{}</td></tr>",
            esc(&d.municipality),
            esc(department(&d.department)),
            d.cases,
            hours(d.billable_s)
        );
    }
    out.push_str("</table>\n<table>\n<tr><th>Kommun</th><th>Verksamhet</th><th>Enhet eller ärende</th><th>Larm</th><th>Början</th><th>Slut</th><th>Längd (h)</th><th>Debiterbart (h)</th></tr>\n");
    for c in &o.cases {
        let alarm = if c.manual_id.is_some() {
            "inget larm (registrerat för hand)".to_string()
        } else {
            c.kinds
                .iter()
                .map(|k| alert_kind_sv(k))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=n>{}</td><td class=n>{}</td></tr>",
            esc(&c.municipality),
            esc(department(&c.department)),
            esc(&c.device_name),
            esc(&alarm),
            local(c.start),
            c.end.map(local).unwrap_or_else(|| "pågår".into()),
            hours(c.length_s),
            hours(c.billable_s)
        );
    }
    out.push_str("</table>\n");
}

/// A department as shown: "ej angiven" when none is known.
fn department(d: &str) -> &str {
    if d.is_empty() {
        "ej angiven"
    } else {
        d
    }
}

fn backup_power(out: &mut String, r: &Report) {
    if r.backup_power.is_empty() {
        return;
    }
    out.push_str("<h2>Reservkraft</h2>\n<p>Knutpunkter och ledningsplatser vid krishantering ska ha reservkraft.</p>\n<table>\n<tr><th>Plats</th><th>Kommun</th><th>Typ</th><th>Krav (min)</th><th>UPS</th></tr>\n");
    for b in &r.backup_power {
        let kind = match (b.node, b.crisis_site) {
            (true, true) => "knutpunkt, ledningsplats",
            (true, false) => "knutpunkt",
            _ => "ledningsplats",
        };
        let ups = if b.missing_ups {
            "<strong>ingen UPS i inventariet</strong>".to_string()
        } else {
            b.ups
                .iter()
                .map(|u| {
                    let low = if u.below_requirement {
                        " – under kravet"
                    } else {
                        ""
                    };
                    format!("{} ({} min{low})", esc(&u.device), u.min_runtime_minutes)
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = writeln!(
            out,
            "<tr class=backup><td>{}</td><td>{}</td><td>{kind}</td><td class=n>{}</td><td>{ups}</td></tr>",
            esc(&b.name),
            esc(&b.municipality),
            b.required_runtime_minutes
        );
    }
    out.push_str("</table>\n");
}

fn lifecycle(out: &mut String, r: &Report) {
    let l = &r.lifecycle;
    let _ = writeln!(
        out,
        "<h2>Livscykel</h2>\n<p>Enheter som passerat förnyelsedatum: {}. Garantier som löper ut inom {} dagar: {}.</p>",
        l.past_renewal.len(),
        l.within_days,
        l.warranty_ending.len()
    );
    let rows: Vec<_> = l.past_renewal.iter().chain(&l.warranty_ending).collect();
    if rows.is_empty() {
        return;
    }
    out.push_str("<table>\n<tr><th>Enhet</th><th>Typ</th><th>Kommun</th><th>Ägare</th><th>Gäller</th><th>Datum</th></tr>\n");
    for d in rows {
        let what = match d.due {
            crate::register::renewals::Due::Renewal => "förnyelse",
            crate::register::renewals::Due::Warranty => "garantin löper ut",
            crate::register::renewals::Due::Depreciation => "avskriven",
        };
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{what}</td><td>{}</td></tr>",
            esc(&d.device),
            esc(class_name_sv(&d.class)),
            esc(&d.municipality),
            esc(&d.owner),
            d.date
        );
    }
    out.push_str("</table>\n");
}

fn quiet(out: &mut String, r: &Report) {
    let q = &r.quiet;
    let _ = writeln!(
        out,
        "<h2>Tyst utrustning</h2>\n<p>Enheter utan mätvärden på {} dagar: {} (inaktiv utrustning ska avföras utan dröjsmål).</p>",
        num(q.after_days, 0),
        q.devices.len()
    );
    if q.devices.is_empty() {
        return;
    }
    out.push_str("<table>\n<tr><th>Enhet</th><th>Typ</th><th>Plats</th><th>Kommun</th><th>Senaste mätvärde</th></tr>\n");
    for d in &q.devices {
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&d.id),
            esc(class_name_sv(&d.class)),
            esc(&d.site),
            esc(&d.municipality),
            d.last_result.map(local).unwrap_or_else(|| "aldrig".into())
        );
    }
    out.push_str("</table>\n");
}

/// Intefunktion cases per municipality and tertial, and each case.
fn intefunktion(out: &mut String, r: &Report) {
    let f = &r.intefunktion;
    out.push_str("<h2>Intefunktion</h2>\n<p>Ärenden om intefunktion (något i avtalets lista fungerar inte: inloggning, utskrift, e-post, …) ska hanteras inom en arbetsdag och följas upp per tertial. Ett ärende öppnas när en funktion slutar fungera utanför servicefönster och stängs när den fungerar igen; servicedesken kan också registrera ärenden för hand.</p>\n");
    out.push_str("<table>\n<tr><th>Kommun</th><th>Tertial</th><th>Ärenden</th><th>Inom en arbetsdag</th><th>Över en arbetsdag</th><th>Pågår</th><th>Median arbetstid (h)</th></tr>\n");
    for m in &f.by_municipality {
        let h = &m.handling;
        let _ = writeln!(
            out,
            "<tr class=intefunktion-municipality><td>{}</td><td>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td></tr>",
            esc(&m.municipality),
            esc(&m.tertial),
            m.cases,
            h.within,
            h.over,
            h.ongoing,
            h.median_working_s.map(hours).unwrap_or_else(|| "–".into())
        );
    }
    out.push_str("</table>\n");
    if f.cases.is_empty() {
        return;
    }
    out.push_str("<table>\n<tr><th>Funktion</th><th>Kommun</th><th>Början</th><th>Slut</th><th>Längd (h)</th><th>Arbetstid (h)</th><th>Inom en arbetsdag</th></tr>\n");
    for c in &f.cases {
        let within = match c.within_goal {
            Some(true) => "Ja",
            Some(false) => "<strong>Nej</strong>",
            None => "pågår",
        };
        let by_hand = if c.manual_ids.is_empty() {
            ""
        } else {
            " (registrerad)"
        };
        let _ = writeln!(
            out,
            "<tr class=intefunktion-case><td>{} – {}{by_hand}</td><td>{}</td><td>{}</td><td>{}</td><td class=n>{}</td><td class=n>{}</td><td>{within}</td></tr>",
            esc(c.item.swedish()),
            esc(&c.name),
            esc(&c.municipality),
            local(c.start),
            c.end.map(local).unwrap_or_else(|| "pågår".into()),
            hours(c.duration_s),
            hours(c.working_time_s)
        );
    }
    out.push_str("</table>\n");
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
    out.push_str("<table>\n<tr><th>Kommun</th><th>Under perioden</th><th>Hittills i år</th><th>Mål</th><th>Når målet</th><th>Inom en arbetsdag</th><th>Över en arbetsdag</th><th>Median arbetstid (h)</th></tr>\n");
    for m in &i.by_municipality {
        let verdict = if m.meets_goal {
            "Ja".to_string()
        } else {
            format!("<strong>Nej – {} över målet</strong>", m.over_goal_by)
        };
        let _ = writeln!(
            out,
            "<tr class=municipality-incidents><td>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>högst {}</td><td>{verdict}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td></tr>",
            esc(&m.municipality),
            m.period,
            m.year_to_date,
            m.goal,
            m.handling.within,
            m.handling.over,
            m.handling.median_working_s.map(hours).unwrap_or_else(|| "–".into())
        );
    }
    let _ = writeln!(
        out,
        "<tr><td><strong>Totalt</strong></td><td class=n>{}</td><td class=n>{}</td><td class=n>högst {}</td><td>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td></tr>\n</table>",
        i.period,
        i.year_to_date,
        i.goal,
        if i.meets_goal { "Ja" } else { "<strong>Nej</strong>" },
        i.handling.within,
        i.handling.over,
        i.handling.median_working_s.map(hours).unwrap_or_else(|| "–".into())
    );
    out.push_str("<p>Handläggningstid räknas i arbetstid: kommunens kontorstid (helgdagar, stängda dagar och raster undantagna), mot en arbetsdag (kontorstiden den dag felet började).</p>\n");
    if i.list.is_empty() {
        return;
    }
    out.push_str("<table>\n<tr><th>Tjänst</th><th>Kommuner</th><th>Början</th><th>Slut</th><th>Längd (h)</th><th>Varav planerat (h)</th><th>Arbetstid (h)</th><th>Inom en arbetsdag</th></tr>\n");
    for inc in &i.list {
        let within = match inc.within_goal {
            Some(true) => "Ja",
            Some(false) => "<strong>Nej</strong>",
            None => "pågår",
        };
        let manual = if inc.manual_id.is_some() {
            " (registrerad)"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "<tr><td>{}{manual}</td><td>{}</td><td>{}</td><td>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td>{within}</td></tr>",
            esc(&inc.name),
            esc(&inc.municipalities.join(", ")),
            local(inc.start),
            inc.end.map(local).unwrap_or_else(|| "pågår".into()),
            hours(inc.duration_s),
            hours(inc.planned_s),
            hours(inc.working_time_s)
        );
    }
    out.push_str("</table>\n");
}
