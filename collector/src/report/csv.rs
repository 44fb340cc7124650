//! The report as CSV for the committee: one table per table of the HTML report ([`tables`]),
//! with the same figures, rounded as the HTML rounds them (hours to two decimals, percent to
//! three) but with a decimal point. Each column's header says what it is and its unit:
//! `_h` hours, `_procent` percent; a group's (municipality's, site's) hours are in its own time
//! (`_egen_tid_h`, the mean over its devices, as in the HTML) or summed over its devices
//! (`_enhetstimmar`); `felbudget_kvar_i_ar_h` is what is left of the calendar year's error
//! budget at the end of the period. Times are local (Europe/Stockholm) like the HTML's.
//!
//! The report mail attaches each table as its own file; `--format csv` writes them one after
//! the other, each after a line `# tabell: NAME` and separated by an empty line.

use super::{GroupRow, Incident, Report};
use crate::availability::Figures;
use chrono::{DateTime, Utc};
use chrono_tz::Europe::Stockholm;
use std::fmt::Write;

fn field(s: &str) -> String {
    if s.contains([',', '"', '\n', '#']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn hours(s: f64) -> String {
    format!("{:.2}", s / 3600.0)
}

fn pct(f: &Figures) -> String {
    f.availability
        .map(|a| format!("{:.3}", a * 100.0))
        .unwrap_or_default()
}

fn yes_no(b: Option<bool>) -> String {
    match b {
        Some(true) => "ja".into(),
        Some(false) => "nej".into(),
        None => String::new(),
    }
}

fn local(t: DateTime<Utc>) -> String {
    t.with_timezone(&Stockholm)
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

/// A table: its header and rows of already formatted fields.
struct Table {
    header: String,
    rows: Vec<Vec<String>>,
}

impl Table {
    fn new(header: impl Into<String>) -> Self {
        Table {
            header: header.into(),
            rows: Vec::new(),
        }
    }

    fn render(&self) -> String {
        let mut out = format!("{}\n", self.header);
        for r in &self.rows {
            let line: Vec<String> = r.iter().map(|f| field(f)).collect();
            let _ = writeln!(out, "{}", line.join(","));
        }
        out
    }
}

fn services(r: &Report) -> Table {
    let mut t = Table::new(
        "tjanst_id,tjanst,tillganglighet_procent,avbrott_h,varav_planerat_h,oplanerat_h,okant_h,antal_avbrott,nar_malet,felbudget_kvar_i_ar_h",
    );
    for s in &r.services {
        let f = &s.figures;
        t.rows.push(vec![
            s.id.clone(),
            s.name.clone(),
            pct(f),
            hours(f.downtime_s),
            hours(f.planned_downtime_s),
            hours(f.unplanned_downtime_s),
            hours(f.unknown_s),
            s.outages.to_string(),
            yes_no(f.meets_target),
            hours(f.error_budget_left_s),
        ]);
    }
    t
}

fn groups(header: String, rows: &[GroupRow], with_id: bool) -> Table {
    let mut t = Table::new(header);
    for g in rows {
        let (f, o) = (&g.figures, &g.own_time);
        let mut row = if with_id {
            vec![g.id.clone(), g.name.clone()]
        } else {
            vec![g.name.clone()]
        };
        row.extend([
            g.devices.to_string(),
            pct(f),
            hours(o.downtime_s),
            hours(o.planned_downtime_s),
            hours(o.unplanned_downtime_s),
            hours(o.unknown_s),
            g.outages.to_string(),
            yes_no(f.meets_target),
            hours(o.error_budget_left_s),
            hours(f.downtime_s),
            hours(f.unknown_s),
        ]);
        t.rows.push(row);
    }
    t
}

const GROUP_FIGURES: &str = "enheter,tillganglighet_procent,avbrott_egen_tid_h,varav_planerat_egen_tid_h,oplanerat_egen_tid_h,okant_egen_tid_h,antal_avbrott,nar_malet,felbudget_kvar_i_ar_egen_tid_h,avbrott_enhetstimmar,okant_enhetstimmar";

fn devices(r: &Report) -> Table {
    let mut t = Table::new(
        "enhet,typ,plats,kommun,tillganglighet_procent,avbrott_h,varav_planerat_h,oplanerat_h,okant_h,antal_avbrott,antal_flappar,nar_malet,felbudget_kvar_i_ar_h",
    );
    for d in &r.devices {
        let f = &d.figures;
        t.rows.push(vec![
            d.id.clone(),
            d.class.clone(),
            d.site.clone(),
            d.municipality.clone(),
            pct(f),
            hours(f.downtime_s),
            hours(f.planned_downtime_s),
            hours(f.unplanned_downtime_s),
            hours(f.unknown_s),
            d.outages.to_string(),
            d.flaps.to_string(),
            yes_no(f.meets_target),
            hours(f.error_budget_left_s),
        ]);
    }
    t
}

fn incidents_by_municipality(r: &Report) -> Table {
    let mut t = Table::new(
        "kommun,antal_under_perioden,antal_hittills_i_ar,mal_hogst_antal_per_ar,nar_malet,antal_over_malet,inom_en_arbetsdag,over_en_arbetsdag,pagaende,median_arbetstid_h",
    );
    let i = &r.incidents;
    for m in &i.by_municipality {
        let h = &m.handling;
        t.rows.push(vec![
            m.municipality.clone(),
            m.period.to_string(),
            m.year_to_date.to_string(),
            m.goal.to_string(),
            yes_no(Some(m.meets_goal)),
            m.over_goal_by.to_string(),
            h.within.to_string(),
            h.over.to_string(),
            h.ongoing.to_string(),
            h.median_working_s.map(hours).unwrap_or_default(),
        ]);
    }
    let h = &i.handling;
    t.rows.push(vec![
        "Totalt".into(),
        i.period.to_string(),
        i.year_to_date.to_string(),
        i.goal.to_string(),
        yes_no(Some(i.meets_goal)),
        i.year_to_date.saturating_sub(i.goal as usize).to_string(),
        h.within.to_string(),
        h.over.to_string(),
        h.ongoing.to_string(),
        h.median_working_s.map(hours).unwrap_or_default(),
    ]);
    t
}

fn incident_row(i: &Incident) -> Vec<String> {
    let ids: Vec<String> = i.manual_ids.iter().map(i64::to_string).collect();
    vec![
        local(i.start),
        i.end.map(local).unwrap_or_default(),
        i.services.join(" "),
        i.municipalities.join(" "),
        i.root_causes.join(" "),
        hours(i.duration_s),
        hours(i.planned_s),
        hours(i.working_time_s),
        hours(i.handling_goal_s),
        match i.within_goal {
            None => "pågår".into(),
            b => yes_no(b),
        },
        ids.join(" "),
        i.name.clone(),
    ]
}

fn incidents(r: &Report) -> Table {
    let mut t = Table::new(
        "borjan,slut,tjanster,kommuner,grundorsaker,langd_h,varav_planerat_h,arbetstid_h,mal_arbetstid_h,inom_en_arbetsdag,registrerade_id,namn",
    );
    t.rows = r.incidents.list.iter().map(incident_row).collect();
    t
}

fn intefunktion_by_municipality(r: &Report) -> Table {
    let mut t = Table::new(
        "kommun,tertial,antal_arenden,inom_en_arbetsdag,over_en_arbetsdag,pagaende,median_arbetstid_h",
    );
    for m in &r.intefunktion.by_municipality {
        let h = &m.handling;
        t.rows.push(vec![
            m.municipality.clone(),
            m.tertial.clone(),
            m.cases.to_string(),
            h.within.to_string(),
            h.over.to_string(),
            h.ongoing.to_string(),
            h.median_working_s.map(hours).unwrap_or_default(),
        ]);
    }
    t
}

fn intefunktion_cases(r: &Report) -> Table {
    let mut t = Table::new(
        "borjan,slut,kommun,tertial,funktion_id,funktion,punkt,oppnat_av,langd_h,arbetstid_h,mal_arbetstid_h,inom_en_arbetsdag,registrerade_id",
    );
    for c in &r.intefunktion.cases {
        let ids: Vec<String> = c.manual_ids.iter().map(i64::to_string).collect();
        t.rows.push(vec![
            local(c.start),
            c.end.map(local).unwrap_or_default(),
            c.municipality.clone(),
            c.tertial.clone(),
            c.function.clone(),
            c.name.clone(),
            c.item.as_str().to_string(),
            c.opened_by.to_string(),
            hours(c.duration_s),
            hours(c.working_time_s),
            hours(c.handling_goal_s),
            match c.within_goal {
                None => "pågår".into(),
                b => yes_no(b),
            },
            ids.join(" "),
        ]);
    }
    t
}

fn oncall_by_municipality(r: &Report) -> Table {
    let mut t = Table::new("kommun,antal_arenden,debiterbart_h");
    for m in &r.oncall.by_municipality {
        t.rows.push(vec![
            m.municipality.clone(),
            m.cases.to_string(),
            hours(m.billable_s),
        ]);
    }
    t.rows.push(vec![
        "Totalt".into(),
        r.oncall.cases.len().to_string(),
        hours(r.oncall.billable_s),
    ]);
    t
}

fn oncall_by_department(r: &Report) -> Table {
    let mut t = Table::new("kommun,verksamhet,antal_arenden,debiterbart_h");
    for d in &r.oncall.by_department {
        t.rows.push(vec![
            d.municipality.clone(),
            d.department.clone(),
            d.cases.to_string(),
            hours(d.billable_s),
        ]);
    }
    t
}

fn oncall_cases(r: &Report) -> Table {
    let mut t = Table::new(
        "kommun,verksamhet,enhet,larm,borjan,slut,avslutat_av,langd_h,debiterbart_h,registrerat_id,arende",
    );
    for c in &r.oncall.cases {
        t.rows.push(vec![
            c.municipality.clone(),
            c.department.clone(),
            c.device_id.clone(),
            c.kinds.join(" "),
            local(c.start),
            c.end.map(local).unwrap_or_default(),
            c.ended_by.to_string(),
            hours(c.length_s),
            hours(c.billable_s),
            c.manual_id.map(|i| i.to_string()).unwrap_or_default(),
            c.device_name.clone(),
        ]);
    }
    t
}

/// The tables as `(name, CSV)`, in the order of the HTML report; the name is the file's
/// (`tillganglighet-2026-T1-NAME.csv` in the report mail).
pub fn tables(r: &Report) -> Vec<(&'static str, String)> {
    let m = format!("kommun,{GROUP_FIGURES}");
    let s = format!("plats_id,plats,{GROUP_FIGURES}");
    vec![
        ("tjanster", services(r).render()),
        ("kommuner", groups(m, &r.municipalities, false).render()),
        ("platser", groups(s, &r.sites, true).render()),
        (
            "incidenter-per-kommun",
            incidents_by_municipality(r).render(),
        ),
        ("incidenter", incidents(r).render()),
        (
            "intefunktion-per-kommun",
            intefunktion_by_municipality(r).render(),
        ),
        ("intefunktion", intefunktion_cases(r).render()),
        ("beredskap-per-kommun", oncall_by_municipality(r).render()),
        ("beredskap-per-verksamhet", oncall_by_department(r).render()),
        ("beredskap", oncall_cases(r).render()),
        ("enheter", devices(r).render()),
    ]
}

/// Every table, one after the other (see the module doc).
pub fn render(r: &Report) -> String {
    tables(r)
        .into_iter()
        .map(|(name, csv)| format!("# tabell: {name}\n{csv}"))
        .collect::<Vec<_>>()
        .join("\n")
}
