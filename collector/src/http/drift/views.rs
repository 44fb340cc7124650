//! The operator web's pages: `GET /drift/` (what needs attention first: open alarms, services
//! down, open incidents; the forms to act on them), `GET /drift/fonster` (service windows with
//! what falls inside them), `GET /drift/logg` (the audit log) and `GET /drift/stil.css`.

// The errors are the answers (a `Response`), returned at once, as in the other routes.
#![allow(clippy::result_large_err)]

use super::common::{notice, page, secure_headers, see_other, Drift, Frame, Visitor};
use crate::availability::Subject;
use crate::calendar::swedish::{date_time_sv, duration_sv};
use crate::calendar::{Calendar, Window, WindowKind, WindowScope};
use crate::events::Event;
use crate::http::ApiState;
use crate::inventory::Inventory;
use crate::state::{status, Health};
use crate::web::{Action, AuthKind};
use axum::extract::State;
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use std::sync::Arc;

/// Alarms listed are those still escalating: due before this far ahead.
const ALARMS_AHEAD_DAYS: i64 = 3650;
/// How far ahead the windows page lists windows.
const WINDOWS_AHEAD_DAYS: i64 = 62;
/// Lines the audit page shows.
const AUDIT_LINES: i64 = 200;

#[derive(Serialize)]
pub struct Choice {
    pub value: String,
    pub label: String,
}

#[derive(Serialize)]
struct AlarmRow {
    id: i64,
    device: String,
    place: String,
    what: String,
    since: String,
}

#[derive(Serialize)]
struct UpdateRow {
    at: String,
    by: String,
    text: String,
}

#[derive(Serialize)]
struct DisturbanceRow {
    id: String,
    name: String,
    since: String,
    updates: Vec<UpdateRow>,
}

#[derive(Serialize)]
struct IncidentRow {
    id: i64,
    title: String,
    description: String,
    hits: String,
    start: String,
    by: String,
    updates: Vec<UpdateRow>,
}

#[derive(Serialize)]
struct Overview {
    alarms: Option<Vec<AlarmRow>>,
    disturbances: Vec<DisturbanceRow>,
    incidents: Vec<IncidentRow>,
    services: Vec<Choice>,
    municipalities: Vec<Choice>,
    may_operate: bool,
    may_edit: bool,
    now_text: String,
}

/// The visitor of a page, or the answer: the login page for nobody (local), a notice else.
fn visitor_or_login(s: &ApiState, d: &Drift, parts: &Parts) -> Result<Visitor, Response> {
    d.visitor(parts, s.app.now()).map_err(|denied| {
        if d.settings.auth == AuthKind::Local {
            return see_other("/drift/logga-in");
        }
        notice(
            s,
            d,
            StatusCode::FORBIDDEN,
            None,
            "Inte inloggad",
            &denied.swedish(),
        )
    })
}

/// A page's frame for `v`.
fn frame<'a, T: Serialize>(
    d: &Drift,
    v: &Visitor,
    page: &'a str,
    title: &'a str,
    data: T,
) -> Frame<'a, T> {
    Frame {
        page,
        title,
        person: Some((v.person.name.clone(), v.person.role.swedish().to_string())),
        csrf: d.sessions.csrf(&v.identity),
        local: d.settings.auth == AuthKind::Local,
        data,
    }
}

fn when(t: DateTime<Utc>, tz: Tz, now: DateTime<Utc>) -> String {
    format!("{} ({} sedan)", date_time_sv(t, tz), duration_sv(now - t))
}

/// `GET /drift/`.
pub async fn overview(
    State(s): State<ApiState>,
    Extension(d): Extension<Arc<Drift>>,
    parts: Parts,
) -> Response {
    let v = match visitor_or_login(&s, &d, &parts) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let (may_operate, may_edit) = (v.person.may(Action::Operate), v.person.may(Action::Edit));
    let s2 = s.clone();
    let built =
        tokio::task::spawn_blocking(move || build_overview(&s2, may_operate, may_edit)).await;
    match built {
        Ok(Ok(data)) => page(
            &s,
            StatusCode::OK,
            &frame(&d, &v, "oversikt", "Drift", data),
        ),
        Ok(Err(r)) => r,
        Err(e) => crate::http::task_failed(e),
    }
}

fn build_overview(s: &ApiState, may_operate: bool, may_edit: bool) -> Result<Overview, Response> {
    let now = s.app.now();
    let inv = &s.app.inventory;
    let tz = s
        .calendar
        .calendar()
        .map_err(|e| crate::http::failure(&e))?
        .time_zone();
    let alarms = match &s.alerts {
        None => None,
        Some(_) => Some(alarms(s, tz, now)?),
    };
    let current = status(inv, &*s.app.store, now).map_err(|e| crate::http::failure(&e))?;
    let since = now - chrono::Duration::days(31);
    let updates = s
        .stores
        .service_updates
        .since(since)
        .map_err(|e| crate::http::failure(&e))?;
    let disturbances = current
        .services
        .iter()
        .filter(|e| e.state == Health::Down)
        .map(|e| {
            let started = e.since.unwrap_or(now);
            DisturbanceRow {
                id: e.id.clone(),
                name: service_name(inv, &e.id),
                since: when(started, tz, now),
                updates: updates
                    .iter()
                    .filter(|u| u.service_id == e.id && u.at >= started)
                    .map(|u| UpdateRow {
                        at: date_time_sv(u.at, tz),
                        by: u.by.clone(),
                        text: u.text.clone(),
                    })
                    .collect(),
            }
        })
        .collect();
    let incidents = s
        .stores
        .incidents
        .ongoing()
        .map_err(|e| crate::http::failure(&e))?
        .into_iter()
        .map(|i| IncidentRow {
            id: i.id,
            hits: i
                .services
                .iter()
                .map(|x| service_name(inv, x))
                .chain(i.municipalities.iter().cloned())
                .collect::<Vec<_>>()
                .join(", "),
            start: when(i.start, tz, now),
            by: i.created_by.clone(),
            updates: i
                .updates
                .iter()
                .map(|u| UpdateRow {
                    at: date_time_sv(u.at, tz),
                    by: u.by.clone(),
                    text: u.text.clone(),
                })
                .collect(),
            title: i.title,
            description: i.description,
        })
        .collect();
    Ok(Overview {
        alarms,
        disturbances,
        incidents,
        services: service_choices(inv),
        municipalities: inv
            .municipalities()
            .into_iter()
            .map(|m| Choice {
                value: m.clone(),
                label: m,
            })
            .collect(),
        may_operate,
        may_edit,
        now_text: date_time_sv(now, tz),
    })
}

fn service_name(inv: &Inventory, id: &str) -> String {
    inv.services
        .iter()
        .find(|x| x.id == id)
        .map_or_else(|| id.to_string(), |x| x.name.clone())
}

fn service_choices(inv: &Inventory) -> Vec<Choice> {
    inv.services
        .iter()
        .map(|x| Choice {
            value: x.id.clone(),
            label: x.name.clone(),
        })
        .collect()
}

/// The on-call alarms still escalating, unacknowledged, oldest first.
fn alarms(s: &ApiState, tz: Tz, now: DateTime<Utc>) -> Result<Vec<AlarmRow>, Response> {
    let ahead = now + chrono::Duration::days(ALARMS_AHEAD_DAYS);
    let pages = s
        .stores
        .notify
        .due_pages(ahead)
        .map_err(|e| crate::http::failure(&e))?;
    Ok(pages
        .iter()
        .map(|p| {
            let (device, place, what) = match &p.event {
                Event::DeviceAlert {
                    device_name,
                    site_name,
                    municipality,
                    kind,
                    ..
                } => (
                    device_name.clone(),
                    format!("{site_name}, {municipality}"),
                    kind.swedish(),
                ),
                _ => (p.incident_key.clone(), String::new(), String::new()),
            };
            AlarmRow {
                id: p.id,
                device,
                place,
                what,
                since: when(p.since, tz, now),
            }
        })
        .collect())
}

#[derive(Serialize)]
struct WindowRow {
    kind: &'static str,
    start: String,
    end: String,
    active: bool,
    ongoing: bool,
    scope: String,
    reason: String,
    id: Option<i64>,
    /// The local date that activates a secondary window.
    date: String,
    sites: Vec<String>,
    services: Vec<String>,
    devices: usize,
}

#[derive(Serialize)]
struct WindowsData {
    windows: Vec<WindowRow>,
    scopes: Vec<Choice>,
    may_operate: bool,
}

/// `GET /drift/fonster`.
pub async fn windows(
    State(s): State<ApiState>,
    Extension(d): Extension<Arc<Drift>>,
    parts: Parts,
) -> Response {
    let v = match visitor_or_login(&s, &d, &parts) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let may_operate = v.person.may(Action::Operate);
    let s2 = s.clone();
    let built = tokio::task::spawn_blocking(move || {
        let cal = s2
            .calendar
            .calendar()
            .map_err(|e| crate::http::failure(&e))?;
        Ok::<_, Response>(windows_data(
            &s2.app.inventory,
            &cal,
            s2.app.now(),
            may_operate,
        ))
    })
    .await;
    match built {
        Ok(Ok(data)) => page(
            &s,
            StatusCode::OK,
            &frame(&d, &v, "fonster", "Servicefönster", data),
        ),
        Ok(Err(r)) => r,
        Err(e) => crate::http::task_failed(e),
    }
}

fn windows_data(
    inv: &Inventory,
    cal: &Calendar,
    now: DateTime<Utc>,
    may_operate: bool,
) -> WindowsData {
    let tz = cal.time_zone();
    let to = now + chrono::Duration::days(WINDOWS_AHEAD_DAYS);
    let windows = cal
        .windows(now, to)
        .iter()
        .map(|w| window_row(inv, cal, w, now))
        .collect();
    let mut scopes = vec![Choice {
        value: "all".into(),
        label: "Allt".into(),
    }];
    scopes.extend(inv.municipalities().into_iter().map(|m| Choice {
        value: format!("municipality:{m}"),
        label: format!("Kommun: {m}"),
    }));
    scopes.extend(inv.sites.iter().map(|x| Choice {
        value: format!("site:{}", x.id),
        label: format!("Plats: {} ({})", x.name, x.municipality),
    }));
    scopes.extend(inv.services.iter().map(|x| Choice {
        value: format!("service:{}", x.id),
        label: format!("Tjänst: {}", x.name),
    }));
    let _ = tz;
    WindowsData {
        windows,
        scopes,
        may_operate,
    }
}

fn window_row(inv: &Inventory, cal: &Calendar, w: &Window, now: DateTime<Utc>) -> WindowRow {
    let tz = cal.time_zone();
    let (sites, services, devices) = inside(inv, &w.scope);
    WindowRow {
        kind: match w.kind {
            WindowKind::Primary => "Primärt",
            WindowKind::Secondary => "Sekundärt",
            WindowKind::Adhoc => "Tillfälligt",
        },
        start: date_time_sv(w.start, tz),
        end: date_time_sv(w.end, tz),
        active: w.active,
        ongoing: w.contains(now),
        scope: scope_sv(&w.scope),
        reason: w.reason.clone().unwrap_or_default(),
        id: w.id,
        date: cal.local(w.start).date_naive().to_string(),
        sites,
        services,
        devices,
    }
}

/// A scope in Swedish.
fn scope_sv(scope: &WindowScope) -> String {
    match scope {
        WindowScope::All => "Allt".into(),
        WindowScope::Municipality(m) => format!("Kommun {m}"),
        WindowScope::Site(x) => format!("Plats {x}"),
        WindowScope::Device(x) => format!("Enhet {x}"),
        WindowScope::Service(x) => format!("Tjänst {x}"),
    }
}

/// What falls inside a window of `scope`: the sites and services by name, and the devices.
fn inside(inv: &Inventory, scope: &WindowScope) -> (Vec<String>, Vec<String>, usize) {
    let sites = inv
        .sites
        .iter()
        .filter(|x| {
            scope.applies_to(&Subject {
                site: Some(&x.id),
                municipality: Some(&x.municipality),
                ..Subject::default()
            })
        })
        .map(|x| x.name.clone())
        .collect();
    let services = inv
        .services
        .iter()
        .filter(|x| {
            scope.applies_to(&Subject {
                service: Some(&x.id),
                ..Subject::default()
            })
        })
        .map(|x| x.name.clone())
        .collect();
    let devices = inv
        .devices
        .iter()
        .filter(|x| {
            scope.applies_to(&Subject {
                device: Some(&x.id),
                site: Some(&x.site),
                municipality: Some(&x.municipality),
                service: None,
            })
        })
        .count();
    (sites, services, devices)
}

#[derive(Serialize)]
struct AuditRow {
    at: String,
    who: String,
    action: String,
    detail: String,
    peer: String,
    outcome: String,
    refused: bool,
}

#[derive(Serialize)]
struct AuditData {
    lines: Vec<AuditRow>,
}

/// `GET /drift/logg`.
pub async fn audit_log(
    State(s): State<ApiState>,
    Extension(d): Extension<Arc<Drift>>,
    parts: Parts,
) -> Response {
    let v = match visitor_or_login(&s, &d, &parts) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let s2 = s.clone();
    let read = tokio::task::spawn_blocking(move || {
        let tz = s2
            .calendar
            .calendar()
            .map_err(|e| crate::http::failure(&e))?
            .time_zone();
        let lines = s2
            .stores
            .audit
            .recent(AUDIT_LINES)
            .map_err(|e| crate::http::failure(&e))?;
        Ok::<_, Response>(AuditData {
            lines: lines
                .into_iter()
                .map(|l| AuditRow {
                    at: date_time_sv(l.at, tz),
                    refused: l.outcome != "ok",
                    who: l.who,
                    action: l.action,
                    detail: l.detail,
                    peer: l.peer,
                    outcome: l.outcome,
                })
                .collect(),
        })
    })
    .await;
    match read {
        Ok(Ok(data)) => page(
            &s,
            StatusCode::OK,
            &frame(&d, &v, "logg", "Händelselogg", data),
        ),
        Ok(Err(r)) => r,
        Err(e) => crate::http::task_failed(e),
    }
}

/// `GET /drift/stil.css`: the public pages' style sheet (the CSP allows no inline style).
pub async fn style(State(s): State<ApiState>) -> Response {
    match super::common::templates(&s).raw("style.css") {
        Ok(css) => {
            let mut r = (StatusCode::OK, css).into_response();
            let h = r.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/css; charset=utf-8"),
            );
            secure_headers(h);
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            r
        }
        Err(e) => crate::http::error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}
