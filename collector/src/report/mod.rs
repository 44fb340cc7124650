//! The availability report: per device, service, site and municipality, plus incidents against
//! the yearly goal, built from stored outages ([`build`]) and rendered as JSON, a text table,
//! CSV or a printable Swedish HTML page ([`render`]).
//!
//! Site and municipality availability is *device-time availability*: `1 − Σ downtime / Σ
//! observed time` over the site's (municipality's) devices, so a site with twenty access points
//! where one was down for an hour loses one device-hour, not one hour. Their seconds are sums of
//! device-seconds.
//!
//! An incident is an outage (down time) of a service marked `counts_as_incident` that is not
//! entirely inside planned service windows. Incidents are counted by start time.

mod csv;
mod html;
mod table;

use crate::availability::{
    aggregate, at, figures, ms, planned_spans, secs, Exposure, Figures, Period, PlannedWindows,
    Span, Spans, Subject,
};
use crate::inventory::Inventory;
use crate::state::{load_timelines, service_timelines, Timeline};
use crate::store::{Store, StoreError};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;

/// Output formats of the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
    Csv,
    Html,
}

/// Report failures.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Period(#[from] crate::availability::PeriodError),
    #[error("the period starts after now ({0})")]
    Future(DateTime<Utc>),
    #[error("calendar: {0}")]
    Calendar(String),
}

/// The whole report (also the JSON of `GET /api/v1/report`).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub period: String,
    pub from: DateTime<Utc>,
    /// End of the period, or now when it is still running.
    pub to: DateTime<Utc>,
    pub now: DateTime<Utc>,
    pub target: f64,
    pub devices: Vec<DeviceRow>,
    pub services: Vec<ServiceRow>,
    pub sites: Vec<GroupRow>,
    pub municipalities: Vec<GroupRow>,
    pub incidents: Incidents,
    /// On-call cases (pages sent outside office hours) in the period; filled in by
    /// [`add_oncall_cases`] from the notifier's table, 0 without it.
    pub oncall_cases: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct DeviceRow {
    pub id: String,
    pub class: String,
    pub site: String,
    pub municipality: String,
    /// Down or unreachable intervals overlapping the period.
    pub outages: usize,
    pub flaps: usize,
    #[serde(flatten)]
    pub figures: Figures,
}

#[derive(Debug, Clone, Serialize)]
pub struct ServiceRow {
    pub id: String,
    pub name: String,
    pub outages: usize,
    pub counts_as_incident: bool,
    #[serde(flatten)]
    pub figures: Figures,
}

#[derive(Debug, Clone, Serialize)]
pub struct GroupRow {
    pub id: String,
    pub name: String,
    pub devices: usize,
    pub outages: usize,
    #[serde(flatten)]
    pub figures: Figures,
}

#[derive(Debug, Clone, Serialize)]
pub struct Incidents {
    pub period: usize,
    pub year_to_date: usize,
    pub goal: u32,
    pub meets_goal: bool,
    pub list: Vec<Incident>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Incident {
    pub service: String,
    pub name: String,
    pub start: DateTime<Utc>,
    /// `None` while ongoing.
    pub end: Option<DateTime<Utc>>,
    pub duration_s: f64,
    pub planned_s: f64,
}

fn exposure(t: &Timeline) -> Exposure {
    Exposure {
        down: t.unavailable(),
        unknown: t.unknown.clone(),
        degraded: t.degraded.clone(),
    }
}

fn count_overlapping(spans: &[Span], from: i64, to: i64) -> usize {
    spans
        .iter()
        .filter(|s| s.start < to && s.end > from)
        .count()
}

/// Builds the report for `period` as of `now`.
pub fn build(
    inv: &Inventory,
    store: &dyn Store,
    windows: &dyn PlannedWindows,
    period: &Period,
    now: DateTime<Utc>,
) -> Result<Report, ReportError> {
    if period.from > now {
        return Err(ReportError::Future(now));
    }
    let p = period.until(now);
    let (from, to, year) = (ms(p.from), ms(p.to), ms(p.year_start()));
    let start = year.min(from);
    let target = inv.settings.target;
    let devices_tl = load_timelines(inv, store, start, to)?;
    let mut devices = Vec::new();
    for d in &inv.devices {
        let tl = &devices_tl[&d.id];
        let subject = Subject {
            device: Some(&d.id),
            service: None,
            site: Some(&d.site),
            municipality: Some(&d.municipality),
        };
        let planned = planned_spans(windows, &subject, from, to);
        let year_down = tl.unavailable().clip(year, to).total();
        devices.push(DeviceRow {
            id: d.id.clone(),
            class: d.class.as_str().to_string(),
            site: d.site.clone(),
            municipality: d.municipality.clone(),
            outages: count_overlapping(tl.unavailable().as_slice(), from, to),
            flaps: store.flaps(Some(&d.id), from, to)?.len(),
            figures: figures(&p, target, &exposure(tl), &planned, year_down),
        });
    }
    let services_tl = service_timelines(inv, &devices_tl, start, to);
    let mut services = Vec::new();
    let mut all_incidents = Vec::new();
    for s in &inv.services {
        let tl = &services_tl[&s.id];
        let subject = Subject {
            service: Some(&s.id),
            ..Subject::default()
        };
        let planned_year = planned_spans(windows, &subject, start, to);
        let planned = planned_year.clip(from, to);
        let year_down = tl.down.clip(year, to).total();
        services.push(ServiceRow {
            id: s.id.clone(),
            name: s.name.clone(),
            outages: count_overlapping(tl.down.as_slice(), from, to),
            counts_as_incident: s.counts_as_incident,
            figures: figures(&p, target, &exposure(tl), &planned, year_down),
        });
        if s.counts_as_incident {
            for span in tl.down.clip(year, to).as_slice() {
                let one = Spans::one(span.start, span.end);
                let planned_s = one.intersect(&planned_year).total();
                if planned_s < span.len() {
                    all_incidents.push(Incident {
                        service: s.id.clone(),
                        name: s.name.clone(),
                        start: at(span.start),
                        end: (span.end < ms(now)).then(|| at(span.end)),
                        duration_s: secs(span.len()),
                        planned_s: secs(planned_s),
                    });
                }
            }
        }
    }
    let sites = group_rows(
        &devices,
        target,
        |d| d.site.clone(),
        |id| inv.site(id).map(|s| s.name.clone()).unwrap_or_default(),
    );
    let municipalities = group_rows(
        &devices,
        target,
        |d| d.municipality.clone(),
        |id| id.to_string(),
    );
    let goal = inv.settings.incident_goal;
    let year_to_date = all_incidents.len();
    let list: Vec<Incident> = all_incidents
        .into_iter()
        .filter(|i| ms(i.start) >= from)
        .collect();
    Ok(Report {
        period: p.label.clone(),
        from: p.from,
        to: p.to,
        now,
        target,
        devices,
        services,
        sites,
        municipalities,
        incidents: Incidents {
            period: list.len(),
            year_to_date,
            goal,
            meets_goal: year_to_date <= goal as usize,
            list,
        },
        oncall_cases: 0,
    })
}

/// Sets the report's on-call cases: those whose page was sent within the report's period.
pub fn add_oncall_cases(
    report: &mut Report,
    store: &dyn crate::store::PolicyStore,
) -> Result<(), ReportError> {
    report.oncall_cases = store.oncall_cases(report.from, report.to)?.len() as u64;
    Ok(())
}

/// [`add_oncall_cases`] from the notifier's table in the database at `database`, when the
/// file exists (a report never creates a database).
pub fn add_oncall_cases_from(
    report: &mut Report,
    database: &std::path::Path,
) -> Result<(), ReportError> {
    if !database.is_file() {
        return Ok(());
    }
    let store = crate::store::SqliteNotifyStore::open(database)?;
    add_oncall_cases(report, &store)
}

fn group_rows(
    devices: &[DeviceRow],
    target: f64,
    key: impl Fn(&DeviceRow) -> String,
    name: impl Fn(&str) -> String,
) -> Vec<GroupRow> {
    let mut order: Vec<String> = Vec::new();
    let mut groups: BTreeMap<String, Vec<&DeviceRow>> = BTreeMap::new();
    for d in devices {
        let k = key(d);
        if !groups.contains_key(&k) {
            order.push(k.clone());
        }
        groups.entry(k).or_default().push(d);
    }
    order
        .into_iter()
        .map(|id| {
            let rows = &groups[&id];
            let figs: Vec<&Figures> = rows.iter().map(|r| &r.figures).collect();
            GroupRow {
                name: name(&id),
                devices: rows.len(),
                outages: rows.iter().map(|r| r.outages).sum(),
                figures: aggregate(target, &figs),
                id,
            }
        })
        .collect()
}

/// Renders a report in `format`.
pub fn render(report: &Report, format: Format) -> String {
    match format {
        Format::Json => serde_json::to_string_pretty(report).unwrap_or_default() + "\n",
        Format::Table => table::render(report),
        Format::Csv => csv::render(report),
        Format::Html => html::render(report),
    }
}
