//! The operators' calendar API: list service windows, activate or withdraw a secondary window,
//! add or cancel an ad-hoc window. Reading is open; changes need the operator token
//! (`collector.operator_token`) as a bearer token and name who made them.
//!
//! - `GET /api/v1/windows?from=DATE&to=DATE` — the same JSON as `calendar windows`.
//! - `POST /api/v1/windows/secondary` `{"date": "2026-03-24", "by": "anna"}` — activate.
//! - `DELETE /api/v1/windows/secondary/{date}` — withdraw (before it starts).
//! - `POST /api/v1/windows` `{"start", "end", "scope": "site:X", "reason", "by"}` — ad-hoc.
//! - `DELETE /api/v1/windows/{id}?by=NAME` — cancel an ad-hoc window (before it starts).

use super::auth::constant_time_eq;
use super::{error, ApiState};
use crate::availability::YEARS;
use crate::calendar::WindowScope;
use crate::windows::view::{adhoc_out, local_midnight, window_out};
use crate::windows::CalendarError;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde::Deserialize;

/// The calendar routes, to merge into the main router.
pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/v1/windows", get(list).post(add))
        .route("/api/v1/windows/secondary", post(activate))
        .route("/api/v1/windows/secondary/{date}", delete(withdraw))
        .route("/api/v1/windows/{id}", delete(cancel))
}

#[derive(Deserialize)]
struct Range {
    from: NaiveDate,
    to: NaiveDate,
}

async fn list(
    State(s): State<ApiState>,
    q: Result<Query<Range>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(Query(r)) = q else {
        return error(
            StatusCode::BAD_REQUEST,
            "give from=YYYY-MM-DD and to=YYYY-MM-DD",
        );
    };
    if let Err(message) = check_range(r.from, r.to) {
        return error(StatusCode::BAD_REQUEST, message);
    }
    match s.calendar.calendar() {
        Ok(cal) => {
            let from = local_midnight(&cal, r.from);
            let to = local_midnight(&cal, r.to + chrono::Days::new(1));
            let out: Vec<_> = cal
                .windows(from, to)
                .iter()
                .map(|w| window_out(&cal, w))
                .collect();
            Json(out).into_response()
        }
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// The longest listing one request may ask for.
const MAX_LISTING_YEARS: i32 = 10;

/// A listing's dates lie in the supported years, in order, and span at most ten years.
fn check_range(from: NaiveDate, to: NaiveDate) -> Result<(), String> {
    for d in [from, to] {
        if !YEARS.contains(&d.year()) {
            return Err(format!(
                "{d}: dates lie in the years {}–{}",
                YEARS.start(),
                YEARS.end()
            ));
        }
    }
    if to < from {
        return Err(format!("to ({to}) is before from ({from})"));
    }
    if to.year() - from.year() > MAX_LISTING_YEARS {
        return Err(format!(
            "ask for at most {MAX_LISTING_YEARS} years at a time"
        ));
    }
    Ok(())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Activation {
    date: NaiveDate,
    by: String,
}

async fn activate(
    State(s): State<ApiState>,
    h: HeaderMap,
    body: Result<Json<Activation>, axum::extract::rejection::JsonRejection>,
) -> Response {
    if let Some(refusal) = refuse(&s, &h) {
        return refusal;
    }
    let Json(a) = match body {
        Ok(b) => b,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.body_text()),
    };
    changed(
        &s,
        s.calendar
            .activate_secondary(a.date, &a.by)
            .map(|w| (w, None)),
    )
}

async fn withdraw(
    State(s): State<ApiState>,
    h: HeaderMap,
    Path(date): Path<NaiveDate>,
) -> Response {
    if let Some(refusal) = refuse(&s, &h) {
        return refusal;
    }
    changed(&s, s.calendar.withdraw_secondary(date).map(|w| (w, None)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewWindow {
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    scope: String,
    reason: String,
    by: String,
}

async fn add(
    State(s): State<ApiState>,
    h: HeaderMap,
    body: Result<Json<NewWindow>, axum::extract::rejection::JsonRejection>,
) -> Response {
    if let Some(refusal) = refuse(&s, &h) {
        return refusal;
    }
    let Json(w) = match body {
        Ok(b) => b,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.body_text()),
    };
    let scope: WindowScope = match w.scope.parse() {
        Ok(sc) => sc,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("scope: {e}")),
    };
    changed(
        &s,
        s.calendar
            .add_window(w.start, w.end, scope, &w.reason, &w.by)
            .map(|w| (w, None)),
    )
}

#[derive(Deserialize)]
struct By {
    by: String,
}

async fn cancel(
    State(s): State<ApiState>,
    h: HeaderMap,
    Path(id): Path<i64>,
    q: Result<Query<By>, axum::extract::rejection::QueryRejection>,
) -> Response {
    if let Some(refusal) = refuse(&s, &h) {
        return refusal;
    }
    let Ok(Query(by)) = q else {
        return error(
            StatusCode::BAD_REQUEST,
            "give by=NAME: who cancels the window",
        );
    };
    match s.calendar.cancel_window(id, &by.by) {
        Ok(a) => match s.calendar.calendar() {
            Ok(cal) => Json(adhoc_out(&cal, &a)).into_response(),
            Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        },
        Err(e) => calendar_error(e),
    }
}

fn changed(
    s: &ApiState,
    r: Result<(crate::calendar::Window, Option<()>), CalendarError>,
) -> Response {
    match r {
        Ok((w, _)) => match s.calendar.calendar() {
            Ok(cal) => Json(window_out(&cal, &w)).into_response(),
            Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        },
        Err(e) => calendar_error(e),
    }
}

fn calendar_error(e: CalendarError) -> Response {
    let status = match e {
        CalendarError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::CONFLICT,
    };
    error(status, e.to_string())
}

/// Checks the operator token: `Some(answer)` refuses the change. Without a configured token,
/// changes are refused.
fn refuse(s: &ApiState, h: &HeaderMap) -> Option<Response> {
    let Some(expected) = &s.operator_token else {
        return Some(error(
            StatusCode::FORBIDDEN,
            "no operator token is configured (collector.operator_token); use the CLI on the collector host",
        ));
    };
    let given = h
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match given {
        Some(t) if constant_time_eq(t.as_bytes(), expected.expose().as_bytes()) => None,
        _ => Some(error(
            StatusCode::UNAUTHORIZED,
            "missing or wrong operator token",
        )),
    }
}
