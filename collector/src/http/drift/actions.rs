//! The operator web's changes. Each is a thin handler: the gate (session or proxy, CSRF, role;
//! refusals audited), then the SAME service the HTTP API's handler calls (`incidents::register`
//! and `change`, `incidents::service::update_service`, the calendar service, the notifier's
//! `ack_operator`), an audit line, and `303` back to the page (or a page saying why not).

use super::common::{audit, gate, notice, peer_text, see_other, Drift, Form, Visitor};
use crate::calendar::WindowScope;
use crate::http::ApiState;
use crate::incidents::service::{update_service, ServiceChange};
use crate::incidents::{change, register, Change, IncidentError, Registration};
use crate::notify::AckError;
use crate::web::Action;
use crate::windows::{check_scope, CalendarError};
use axum::extract::{Path, Request, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use std::sync::Arc;

/// What a change ended in: done, or refused with a status and the reason.
type Outcome = Result<String, (StatusCode, String)>;

/// Reads the form and passes the gate; the audit action is `what`.
async fn enter(
    s: &ApiState,
    d: &Drift,
    request: Request,
    what: &str,
    detail: &str,
    action: Action,
) -> Result<(Parts, Form, Visitor), Response> {
    let (parts, b) = request.into_parts();
    let form = Form::read(&parts, b).await?;
    let v = gate(s, d, &parts, &form, what, detail, action).await?;
    Ok((parts, form, v))
}

/// Audits `outcome` and answers: `303` to `back` when done, a page saying why when refused.
async fn finish(
    s: &ApiState,
    d: &Drift,
    parts: &Parts,
    v: &Visitor,
    what: &str,
    outcome: Outcome,
    back: &str,
) -> Response {
    let peer = peer_text(parts);
    s.pages.written();
    match outcome {
        Ok(detail) => {
            audit(s, &v.person.name, what, &detail, &peer, "ok").await;
            see_other(back)
        }
        Err((status, why)) => {
            audit(
                s,
                &v.person.name,
                what,
                "",
                &peer,
                &format!("refused: {why}"),
            )
            .await;
            notice(
                s,
                d,
                status,
                Some(v),
                "Ändringen gjordes inte",
                &format!("Ändringen gjordes inte: {why}"),
            )
        }
    }
}

fn incident_refusal(e: IncidentError) -> (StatusCode, String) {
    let status = match &e {
        IncidentError::Invalid(_) => StatusCode::BAD_REQUEST,
        IncidentError::Unknown(_) => StatusCode::NOT_FOUND,
        IncidentError::Conflict(_) => StatusCode::CONFLICT,
        IncidentError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
    };
    (status, e.to_string())
}

fn calendar_refusal(e: CalendarError) -> (StatusCode, String) {
    let status = match &e {
        CalendarError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::BAD_REQUEST,
    };
    (status, e.to_string())
}

/// A local time from a form (`2026-03-24T18:00`) in the calendar's zone; empty is `None`.
fn local_time(
    s: &ApiState,
    text: &str,
    what: &str,
) -> Result<Option<DateTime<Utc>>, (StatusCode, String)> {
    if text.is_empty() {
        return Ok(None);
    }
    let naive = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M")
        .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S"))
        .map_err(|_| {
            (
                StatusCode::BAD_REQUEST,
                format!("{what}: write a time as 2026-03-24T18:00"),
            )
        })?;
    let tz = s.calendar.calendar().map_err(calendar_refusal)?.time_zone();
    Ok(Some(crate::calendar::rules::resolve_local(tz, naive)))
}

/// Runs `f` off the async threads.
async fn blocking(f: impl FnOnce() -> Outcome + Send + 'static) -> Outcome {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err((StatusCode::INTERNAL_SERVER_ERROR, e.to_string())))
}

/// `POST /drift/incidenter`: `titel`, `beskrivning`, `tjanst`*, `kommun`*, `start` (empty: now).
pub async fn add_incident(
    State(s): State<ApiState>,
    Extension(d): Extension<Arc<Drift>>,
    request: Request,
) -> Response {
    let what = "incident.register";
    let (parts, form, v) = match enter(&s, &d, request, what, "", Action::Operate).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let outcome = match local_time(&s, &form.get("start"), "start") {
        Err(e) => Err(e),
        Ok(start) => {
            let r = Registration {
                services: form.all("tjanst"),
                municipalities: form.all("kommun"),
                start: start.unwrap_or_else(|| s.app.now()),
                title: form.get("titel"),
                description: form.get("beskrivning"),
                by: Some(v.person.name.clone()),
                ..Registration::default()
            };
            let (inv, store, now) = (
                s.app.inventory.clone(),
                s.stores.incidents.clone(),
                s.app.now(),
            );
            blocking(move || {
                register(&inv, &*store, &r, now)
                    .map(|i| format!("incident {}: {}", i.id, i.title))
                    .map_err(incident_refusal)
            })
            .await
        }
    };
    finish(&s, &d, &parts, &v, what, outcome, "/drift/").await
}

/// `POST /drift/incidenter/{id}`: `text` (an update) and/or `stang` (close it now).
pub async fn change_incident(
    State(s): State<ApiState>,
    Extension(d): Extension<Arc<Drift>>,
    Path(id): Path<i64>,
    request: Request,
) -> Response {
    let detail = format!("incident {id}");
    let (parts, b) = request.into_parts();
    let form = match Form::read(&parts, b).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    // Closing is an operator's; an update is an editor's too.
    let closing = !form.get("stang").is_empty();
    let (what, needs) = if closing {
        ("incident.close", Action::Operate)
    } else {
        ("incident.update", Action::Edit)
    };
    let v = match gate(&s, &d, &parts, &form, what, &detail, needs).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let text = form.get("text");
    let c = Change {
        update: (!text.is_empty()).then_some(text),
        end: closing.then(|| s.app.now()),
        by: Some(v.person.name.clone()),
    };
    let (store, now) = (s.stores.incidents.clone(), s.app.now());
    let outcome = blocking(move || {
        if c.update.is_none() && c.end.is_none() {
            return Err((
                StatusCode::BAD_REQUEST,
                "write an update or close it".into(),
            ));
        }
        change(&*store, id, &c, now)
            .map(|i| format!("incident {}: {}", i.id, i.title))
            .map_err(incident_refusal)
    })
    .await;
    finish(&s, &d, &parts, &v, what, outcome, "/drift/").await
}

/// `POST /drift/tjanster/{id}/uppdatering`: `text`, an update of a disturbance the probes found.
pub async fn update_disturbance(
    State(s): State<ApiState>,
    Extension(d): Extension<Arc<Drift>>,
    Path(id): Path<String>,
    request: Request,
) -> Response {
    let what = "service.update";
    let detail = format!("service {id}");
    let (parts, form, v) = match enter(&s, &d, request, what, &detail, Action::Edit).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let c = ServiceChange {
        text: form.get("text"),
        by: Some(v.person.name.clone()),
    };
    let (app, updates) = (s.app.clone(), s.stores.service_updates.clone());
    let outcome = blocking(move || {
        update_service(&app.inventory, &*app.store, &updates, &id, &c, app.now())
            .map(|u| format!("service {}: {}", u.service_id, u.text))
            .map_err(incident_refusal)
    })
    .await;
    finish(&s, &d, &parts, &v, what, outcome, "/drift/").await
}

/// `POST /drift/larm/{id}/kvittera`: acknowledges an on-call alarm as this person.
pub async fn acknowledge(
    State(s): State<ApiState>,
    Extension(d): Extension<Arc<Drift>>,
    Path(id): Path<i64>,
    request: Request,
) -> Response {
    let what = "alarm.acknowledge";
    let detail = format!("alarm {id}");
    let (parts, _, v) = match enter(&s, &d, request, what, &detail, Action::Operate).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let outcome = match s.alerts.clone() {
        None => Err((
            StatusCode::SERVICE_UNAVAILABLE,
            "alerts are not configured".into(),
        )),
        Some(acks) => {
            let by = v.person.name.clone();
            blocking(move || {
                acks.ack_operator(id, &by)
                    .map(|_| format!("alarm {id}"))
                    .map_err(|e| {
                        let status = match &e {
                            AckError::Unknown(_) | AckError::BadToken => StatusCode::NOT_FOUND,
                            AckError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
                            _ => StatusCode::CONFLICT,
                        };
                        (status, e.to_string())
                    })
            })
            .await
        }
    };
    finish(&s, &d, &parts, &v, what, outcome, "/drift/").await
}

/// `POST /drift/fonster/sekundart`: `datum`, activates the secondary window on that date.
pub async fn activate_secondary(
    State(s): State<ApiState>,
    Extension(d): Extension<Arc<Drift>>,
    request: Request,
) -> Response {
    let what = "window.secondary";
    let (parts, form, v) = match enter(&s, &d, request, what, "", Action::Operate).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let outcome = match form.get("datum").parse::<NaiveDate>() {
        Err(_) => Err((
            StatusCode::BAD_REQUEST,
            "datum: write a date as 2026-03-24".into(),
        )),
        Ok(date) => {
            let (calendar, by) = (s.calendar.clone(), v.person.name.clone());
            blocking(move || {
                calendar
                    .activate_secondary(date, &by)
                    .map(|_| format!("secondary window {date}"))
                    .map_err(calendar_refusal)
            })
            .await
        }
    };
    finish(&s, &d, &parts, &v, what, outcome, "/drift/fonster").await
}

/// `POST /drift/fonster`: `start`, `slut` (local times), `omfattning` (a scope), `orsak`.
pub async fn add_window(
    State(s): State<ApiState>,
    Extension(d): Extension<Arc<Drift>>,
    request: Request,
) -> Response {
    let what = "window.add";
    let (parts, form, v) = match enter(&s, &d, request, what, "", Action::Operate).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let outcome = async {
        let start = local_time(&s, &form.get("start"), "start")?
            .ok_or((StatusCode::BAD_REQUEST, "start is missing".to_string()))?;
        let end = local_time(&s, &form.get("slut"), "slut")?
            .ok_or((StatusCode::BAD_REQUEST, "slut is missing".to_string()))?;
        let scope: WindowScope = form
            .get("omfattning")
            .parse()
            .map_err(|e| (StatusCode::BAD_REQUEST, format!("omfattning: {e}")))?;
        check_scope(&s.app.inventory, &scope).map_err(calendar_refusal)?;
        let (calendar, by, reason) = (s.calendar.clone(), v.person.name.clone(), form.get("orsak"));
        blocking(move || {
            let described = format!("window {scope}: {reason}");
            calendar
                .add_window(start, end, scope, &reason, &by)
                .map(|w| format!("{described} (id {})", w.id.unwrap_or_default()))
                .map_err(calendar_refusal)
        })
        .await
    }
    .await;
    finish(&s, &d, &parts, &v, what, outcome, "/drift/fonster").await
}

/// `POST /drift/fonster/{id}/ta-bort`: cancels an ad-hoc window (before it starts).
pub async fn cancel_window(
    State(s): State<ApiState>,
    Extension(d): Extension<Arc<Drift>>,
    Path(id): Path<i64>,
    request: Request,
) -> Response {
    let what = "window.cancel";
    let detail = format!("window {id}");
    let (parts, _, v) = match enter(&s, &d, request, what, &detail, Action::Operate).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let (calendar, by) = (s.calendar.clone(), v.person.name.clone());
    let outcome = blocking(move || {
        calendar
            .cancel_window(id, &by)
            .map(|_| format!("window {id}"))
            .map_err(calendar_refusal)
    })
    .await;
    finish(&s, &d, &parts, &v, what, outcome, "/drift/fonster").await
}
