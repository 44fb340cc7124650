//! The availability report: per device, service, site and municipality, plus incidents against
//! the yearly goal, built from stored outages ([`build`]) and rendered as JSON, a text table,
//! CSV or a printable Swedish HTML page ([`render`]).
//!
//! Site and municipality availability is *device-time availability*: `1 − Σ downtime / Σ
//! observed time` over the site's (municipality's) devices, so a site with twenty access points
//! where one was down for an hour loses one device-hour, not one hour. Their seconds are sums of
//! device-seconds.
//!
//! A group's `own_time` gives the same figures in the group's own time, weighted by device
//! time (the mean over its devices): a site of 1,000 switches has a year of 8,760 hours and
//! 78.84 h of error budget at 99.1 %, not 1,000 times that; the flattened seconds stay
//! device-seconds, and the HTML report labels each.
//!
//! Incidents registered by hand are downtime too (functions no probe sees: telephony, e-mail,
//! M365, login): of the services they name, or, naming none, of their municipalities, whose
//! group figures count the incident as downtime of each of their devices while it is observed
//! (a 25.8 h telephony outage lowers the municipality's availability by 25.8 h over its
//! observed time, like a 25.8 h outage of every device would). Device rows stay what the probes
//! saw. Inside a service window the registered time is planned, like probed downtime.
//!
//! An incident is one cause ([`incidents`]): the outages (down time) of services marked
//! `counts_as_incident` and the incidents registered by hand that overlap and share a root
//! cause or a service, unless wholly inside planned service windows. Incidents are counted by
//! start time, in total and once per municipality they hit ([`handling`]), with their handling
//! time in working days from the first start to the last end. On-call cases are billed ([`oncall`]); devices without results for
//! `collector.quiet_after` are listed ([`quiet`]); nodes and crisis sites with their UPS units
//! too (`backup_power`).

mod csv;
pub mod facts;
pub mod handling;
mod html;
mod incidents;
pub mod intefunktion;
pub mod lifecycle;
pub mod oncall;
pub mod quiet;
mod table;

use crate::availability::{
    aggregate, figures, ms, planned_spans, Exposure, Figures, Period, PlannedWindows, Span, Spans,
    Subject,
};
use crate::calendar::Calendar;
use crate::inventory::{BackupSite, Inventory};
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
}

impl crate::store::StoreCause for ReportError {
    fn store_error(&self) -> Option<&StoreError> {
        match self {
            ReportError::Store(e) => Some(e),
            _ => None,
        }
    }
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
    /// On-call cases (pages sent outside office hours, one per event, and the cases registered
    /// by hand) in the period; filled in by [`add_oncall_cases`], 0 without it.
    pub oncall_cases: u64,
    /// The same cases with what they bill.
    pub oncall: oncall::Oncall,
    /// Intefunktion cases (functions down, and those the service desk registered when
    /// [`add_intefunktion_cases`] ran) against the one-working-day goal.
    pub intefunktion: intefunktion::Intefunktion,
    /// Devices without a result for `collector.quiet_after`.
    pub quiet: quiet::Quiet,
    /// Devices past renewal and warranties ending ("Livscykel").
    pub lifecycle: lifecycle::Lifecycle,
    /// Network nodes and crisis sites with their UPS units (and those without one).
    pub backup_power: Vec<BackupSite>,
    #[serde(skip)]
    billing: crate::inventory::OncallBilling,
    /// The functions' outages, for [`add_intefunktion_cases`].
    #[serde(skip)]
    function_outages: Vec<intefunktion::Outage>,
    /// Each device's department (its site's), for on-call billing.
    #[serde(skip)]
    departments: BTreeMap<String, String>,
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
    /// What the device adds to its site's and municipality's figures: its own downtime and the
    /// incidents registered by hand for its whole municipality.
    #[serde(skip)]
    pub in_group: Figures,
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
    /// Device-seconds: sums over the group's devices.
    #[serde(flatten)]
    pub figures: Figures,
    /// The figures in the group's own time (weighted by device time: the mean over its
    /// devices), against a year of its own length.
    pub own_time: OwnTime,
}

/// A group's figures in its own time.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OwnTime {
    /// How the group is weighted: `device_time` (every device counts for its observed time).
    pub weighting: &'static str,
    pub downtime_s: f64,
    pub planned_downtime_s: f64,
    pub unplanned_downtime_s: f64,
    pub unknown_s: f64,
    pub error_budget_s: f64,
    pub error_budget_used_s: f64,
    pub error_budget_left_s: f64,
}

impl OwnTime {
    fn of(f: &Figures, devices: usize) -> Self {
        let n = devices.max(1) as f64;
        let used = f.error_budget_used_s / n;
        let budget = f.error_budget_s / n;
        OwnTime {
            weighting: "device_time",
            downtime_s: f.downtime_s / n,
            planned_downtime_s: f.planned_downtime_s / n,
            unplanned_downtime_s: f.unplanned_downtime_s / n,
            unknown_s: f.unknown_s / n,
            error_budget_s: budget,
            error_budget_used_s: used,
            error_budget_left_s: budget - used,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Incidents {
    pub period: usize,
    pub year_to_date: usize,
    pub goal: u32,
    pub meets_goal: bool,
    pub list: Vec<Incident>,
    /// Handling time of the period's incidents against one working day.
    pub handling: handling::Handling,
    /// The goal per municipality (an incident counts in each municipality it hits).
    pub by_municipality: Vec<handling::MunicipalityIncidents>,
}

/// One incident: every service outage and registration of one cause, overlapping in time
/// (see [`incidents`]).
#[derive(Debug, Clone, Serialize)]
pub struct Incident {
    /// The ids of the services it hit joined with `+`; `manual:ID` for an incident registered
    /// by hand that names no service.
    pub service: String,
    /// Every service it hit.
    pub services: Vec<String>,
    /// The names of its parts, joined with `, `.
    pub name: String,
    pub start: DateTime<Utc>,
    /// `None` while ongoing.
    pub end: Option<DateTime<Utc>>,
    pub duration_s: f64,
    pub planned_s: f64,
    /// The municipalities it hits.
    pub municipalities: Vec<String>,
    /// The devices behind it (a member that was down, or the nearest ancestor down of a member
    /// that was unreachable; the device a registration names as its cause).
    pub root_causes: Vec<String>,
    /// Restore time in office hours (the longest over its municipalities).
    pub working_time_s: f64,
    /// One working day (or `collector.handling_goal`) for the municipality measured.
    pub handling_goal_s: f64,
    /// Within the goal in every municipality; `None` while open and still within.
    pub within_goal: Option<bool>,
    /// The id of the (first) incident registered by hand among its parts.
    pub manual_id: Option<i64>,
    /// Every incident registered by hand among its parts.
    pub manual_ids: Vec<i64>,
    /// Its service outages and registrations, by start.
    pub parts: Vec<IncidentPart>,
    /// Each municipality's measurement.
    pub measured: Vec<handling::Measured>,
}

impl Incident {
    fn measure(mut self, calendar: &Calendar, inv: &Inventory, now: DateTime<Utc>) -> Self {
        let goal = inv.settings.handling_goal;
        self.measured = handling::measure(
            calendar,
            goal,
            &self.municipalities,
            self.start,
            self.end,
            now,
        );
        let worst = self
            .measured
            .iter()
            .max_by(|a, b| a.working_time_s.total_cmp(&b.working_time_s));
        self.working_time_s = worst.map_or(0.0, |m| m.working_time_s);
        self.handling_goal_s = worst.map_or(0.0, |m| m.goal_s);
        self.within_goal = if self.measured.iter().any(|m| m.within_goal == Some(false)) {
            Some(false)
        } else if self.measured.iter().all(|m| m.within_goal == Some(true)) {
            Some(true)
        } else {
            None
        };
        self
    }
}

/// One service outage or registration of an incident.
#[derive(Debug, Clone, Serialize)]
pub struct IncidentPart {
    /// The service (probed) or the services a registration names.
    pub services: Vec<String>,
    pub name: String,
    pub start: DateTime<Utc>,
    pub end: Option<DateTime<Utc>>,
    pub duration_s: f64,
    pub manual_id: Option<i64>,
}

/// The municipalities of `members` (devices), each once, in order.
fn municipalities_of(inv: &Inventory, members: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for m in members.iter().filter_map(|m| inv.device(m)) {
        if !out.contains(&m.municipality) {
            out.push(m.municipality.clone());
        }
    }
    out
}

fn exposure(t: &Timeline) -> Exposure {
    Exposure {
        down: t.unavailable(),
        unknown: t.unknown.clone(),
        degraded: t.degraded.clone(),
    }
}

/// The spans `[start, end or now)` of the registered incidents `which` selects.
fn manual_spans(
    manual: &[crate::store::ManualIncident],
    now: DateTime<Utc>,
    which: impl Fn(&crate::store::ManualIncident) -> bool,
) -> Spans {
    manual
        .iter()
        .filter(|m| which(m))
        .map(|m| Span::new(ms(m.start), ms(m.end.unwrap_or(now))))
        .collect()
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
    // Office hours and holidays (configuration only) for handling times.
    let hours = Calendar::from_config(inv.calendar.clone().unwrap_or_default());
    let devices_tl = load_timelines(inv, store, start, to)?;
    let manual = store.manual_incidents(year, to)?;
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
        // The municipality's registered incidents, where the device is observed.
        let registered = manual_spans(&manual, now, |m| {
            m.services.is_empty() && m.municipalities.contains(&d.municipality)
        })
        .subtract(&tl.unknown);
        let mut in_group = exposure(tl);
        in_group.down = in_group.down.union(&registered);
        let group_year_down = in_group.down.clip(year, to).total();
        devices.push(DeviceRow {
            id: d.id.clone(),
            class: d.class.as_str().to_string(),
            site: d.site.clone(),
            municipality: d.municipality.clone(),
            outages: count_overlapping(tl.unavailable().as_slice(), from, to),
            flaps: store.flaps(Some(&d.id), from, to)?.len(),
            figures: figures(&p, target, &exposure(tl), &planned, year_down),
            in_group: figures(&p, target, &in_group, &planned, group_year_down),
        });
    }
    let services_tl = service_timelines(inv, &devices_tl, start, to);
    let mut services = Vec::new();
    let mut parts = Vec::new();
    let mut function_outages = Vec::new();
    for s in &inv.services {
        let tl = &services_tl[&s.id];
        let subject = Subject {
            service: Some(&s.id),
            ..Subject::default()
        };
        let planned_year = planned_spans(windows, &subject, start, to);
        let planned = planned_year.clip(from, to);
        // Registered incidents naming the service are its downtime too.
        let mut exposed = exposure(tl);
        exposed.down = exposed
            .down
            .union(&manual_spans(&manual, now, |m| m.services.contains(&s.id)));
        let year_down = exposed.down.clip(year, to).total();
        services.push(ServiceRow {
            id: s.id.clone(),
            name: s.name.clone(),
            outages: count_overlapping(exposed.down.as_slice(), from, to),
            counts_as_incident: s.counts_as_incident,
            figures: figures(&p, target, &exposed, &planned, year_down),
        });
        if s.function.is_some() {
            let down = tl.down.clip(start, to);
            function_outages.extend(intefunktion::outages(&s.id, &down, &planned_year, now));
        }
        if s.counts_as_incident {
            for span in tl.down.clip(year, to).as_slice() {
                let part = incidents::probed(inv, &devices_tl, s, *span, &planned_year, now);
                if !part.is_planned() {
                    parts.push(part);
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
    for m in manual {
        let part = manual_part(windows, m, year, now);
        if !part.is_planned() {
            parts.push(part);
        }
    }
    let mut all_incidents: Vec<Incident> = incidents::group(parts)
        .into_iter()
        .map(|g| incidents::incident(g).measure(&hours, inv, now))
        .collect();
    all_incidents.sort_by(|a, b| (a.start, &a.service).cmp(&(b.start, &b.service)));
    let goal = inv.settings.incident_goal;
    let handling_goal = inv.settings.handling_goal;
    let year_to_date = all_incidents.len();
    let by_municipality = handling::by_municipality(
        &inv.municipalities(),
        &all_incidents,
        p.from,
        goal,
        handling_goal,
    );
    let list: Vec<Incident> = all_incidents
        .into_iter()
        .filter(|i| ms(i.start) >= from)
        .collect();
    let handling = handling::overall(handling_goal, &list);
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
            handling,
            by_municipality,
        },
        oncall_cases: 0,
        oncall: oncall::bill(
            &[],
            &[],
            &|_| String::new(),
            &inv.settings.oncall_billing,
            now,
        ),
        intefunktion: intefunktion::build(inv, &function_outages, &[], p.from, p.to, now),
        function_outages,
        quiet: quiet::quiet(inv, store, now)?,
        lifecycle: lifecycle::lifecycle(inv, now),
        backup_power: inv.backup_power(),
        billing: inv.settings.oncall_billing,
        departments: departments(inv),
    })
}

/// The on-call cases of `[from, to)`: the notifier's (`alarms`, from pages) and those
/// `registered` by hand, with what they bill as of `now`.
pub fn oncall_between(
    inv: &Inventory,
    alarms: &dyn crate::store::PolicyStore,
    registered: &dyn crate::store::OncallCaseStore,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<oncall::Oncall, StoreError> {
    let cases = alarms.oncall_cases(from, to)?;
    let manual = registered.starting(from, to)?;
    let deps = departments(inv);
    let department_of = |d: &str| deps.get(d).cloned().unwrap_or_default();
    Ok(oncall::bill(
        &cases,
        &manual,
        &department_of,
        &inv.settings.oncall_billing,
        now,
    ))
}

/// Each device's department: its site's, when set.
pub fn departments(inv: &Inventory) -> BTreeMap<String, String> {
    inv.devices
        .iter()
        .filter_map(|d| {
            let dep = inv.site(&d.site)?.department.clone()?;
            Some((d.id.clone(), dep))
        })
        .collect()
}

/// An incident registered by hand, as a part of an incident: planned where it lies in the
/// windows of the services it names (of its municipalities when it names none).
fn manual_part(
    windows: &dyn PlannedWindows,
    m: crate::store::ManualIncident,
    year: i64,
    now: DateTime<Utc>,
) -> incidents::Part {
    let start = ms(m.start);
    let end = ms(m.end.unwrap_or(now)).max(start);
    let planned = manual_planned(windows, &m, year.min(start), end);
    incidents::Part {
        span: Span::new(start, end),
        ongoing: m.end.is_none(),
        planned: planned.intersect(&Spans::one(start, end)),
        roots: m.cause.iter().cloned().collect(),
        manual_id: Some(m.id),
        services: m.services,
        name: m.title,
        municipalities: m.municipalities,
    }
}

/// The planned windows of what a registration names, in `[from, to)`.
fn manual_planned(
    windows: &dyn PlannedWindows,
    m: &crate::store::ManualIncident,
    from: i64,
    to: i64,
) -> Spans {
    let subjects: Vec<Subject> = if m.services.is_empty() {
        m.municipalities
            .iter()
            .map(|x| Subject {
                municipality: Some(x),
                ..Subject::default()
            })
            .collect()
    } else {
        m.services
            .iter()
            .map(|x| Subject {
                service: Some(x),
                ..Subject::default()
            })
            .collect()
    };
    // Planned only where every subject it names is in a window.
    let mut out: Option<Spans> = None;
    for s in &subjects {
        let p = planned_spans(windows, s, from, to);
        out = Some(match out {
            None => p,
            Some(o) => o.intersect(&p),
        });
    }
    out.unwrap_or_default()
}

/// Sets the report's on-call cases: those whose page was sent within the report's period and
/// those registered by hand that start in it.
pub fn add_oncall_cases(
    report: &mut Report,
    store: &dyn crate::store::PolicyStore,
    registered: &dyn crate::store::OncallCaseStore,
) -> Result<(), ReportError> {
    let cases = store.oncall_cases(report.from, report.to)?;
    let manual = registered.starting(report.from, report.to)?;
    let departments = &report.departments;
    let department_of = |d: &str| departments.get(d).cloned().unwrap_or_default();
    report.oncall = oncall::bill(&cases, &manual, &department_of, &report.billing, report.now);
    report.oncall_cases = report.oncall.cases.len() as u64;
    Ok(())
}

/// Sets the report's intefunktion cases: the functions' outages with the cases the service
/// desk registered that overlap the report's period (linked where they meet a probed case).
pub fn add_intefunktion_cases(
    report: &mut Report,
    inv: &Inventory,
    registered: &dyn crate::store::IntefunktionStore,
) -> Result<(), ReportError> {
    let manual = registered.between(report.from, report.to)?;
    report.intefunktion = intefunktion::build(
        inv,
        &report.function_outages,
        &manual,
        report.from,
        report.to,
        report.now,
    );
    Ok(())
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
            let figs: Vec<&Figures> = rows.iter().map(|r| &r.in_group).collect();
            GroupRow {
                name: name(&id),
                devices: rows.len(),
                outages: rows.iter().map(|r| r.outages).sum(),
                figures: aggregate(target, &figs),
                own_time: OwnTime::of(&aggregate(target, &figs), rows.len()),
                id,
            }
        })
        .collect()
}

/// The report's tables as `(name, CSV)`, one per table of the HTML (see `csv`).
pub fn csv_tables(report: &Report) -> Vec<(&'static str, String)> {
    csv::tables(report)
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
