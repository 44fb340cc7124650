//! The operators' calendar API: list service windows, activate or withdraw a secondary window,
//! add or cancel an ad-hoc window. Reading is open; changes need the operator token
//! (`collector.operator_token`) as a bearer token and name who made them.
//!
//! - `GET /api/v1/windows?from=DATE&to=DATE` — the same JSON as `calendar windows`.
//! - `POST /api/v1/windows/secondary` `{"date": "2026-03-24", "by": "anna"}` — activate.
//! - `DELETE /api/v1/windows/secondary/{date}` — withdraw (before it starts).
//! - `POST /api/v1/windows` `{"start", "end", "scope": "site:X", "reason", "by"}` — ad-hoc.
//! - `DELETE /api/v1/windows/{id}?by=NAME` — cancel an ad-hoc window (before it starts).
//!
//! The token (`Bearer`, any case) is checked before the body is read (at most
//! [`CHANGE_BODY_LIMIT`]). What the operator gives is checked (`400` naming what is wrong): the
//! scope names something in the inventory, a window lasts at most seven days within the
//! supported years, a reason has 1–500 characters and `by` 1–100 ([`crate::windows`]). An
//! unknown window id is `404`; a change the calendar's rules refuse now is `409`. Every error
//! body is JSON.

use super::{auth, body, error, ApiState};
use crate::availability::YEARS;
use crate::calendar::WindowScope;
use crate::store::StoreError;
use crate::windows::view::{adhoc_out, local_midnight, window_out};
use crate::windows::{check_scope, CalendarError};
use axum::extract::{FromRequestParts, Path, Query, Request, State};
use axum::http::StatusCode;
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
        Err(e) => super::failure(&e),
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

/// The largest body a window change may have (a reason is at most 500 characters).
pub const CHANGE_BODY_LIMIT: usize = 16 * 1024;

/// Checks the operator token from the headers, then reads and parses the JSON body.
async fn operator_json<T: serde::de::DeserializeOwned>(
    s: &ApiState,
    request: Request,
) -> Result<T, Response> {
    let (parts, body) = request.into_parts();
    auth::operator(s.operator_token.as_ref(), &parts)?;
    let bytes = body::read(&parts, body, CHANGE_BODY_LIMIT).await?;
    serde_json::from_slice(&bytes)
        .map_err(|e| error(StatusCode::BAD_REQUEST, format!("invalid body: {e}")))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Activation {
    date: NaiveDate,
    by: String,
}

async fn activate(State(s): State<ApiState>, request: Request) -> Response {
    let a: Activation = match operator_json(&s, request).await {
        Ok(a) => a,
        Err(answer) => return answer,
    };
    changed(
        &s,
        s.calendar
            .activate_secondary(a.date, &a.by)
            .map(|w| (w, None)),
    )
}

async fn withdraw(State(s): State<ApiState>, request: Request) -> Response {
    let (mut parts, _body) = request.into_parts();
    if let Err(refusal) = auth::operator(s.operator_token.as_ref(), &parts) {
        return refusal;
    }
    let date = match Path::<NaiveDate>::from_request_parts(&mut parts, &s).await {
        Ok(Path(d)) => d,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.body_text()),
    };
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

async fn add(State(s): State<ApiState>, request: Request) -> Response {
    let w: NewWindow = match operator_json(&s, request).await {
        Ok(w) => w,
        Err(answer) => return answer,
    };
    let scope: WindowScope = match w.scope.parse() {
        Ok(sc) => sc,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("scope: {e}")),
    };
    if let Err(e) = check_scope(&s.app.inventory, &scope) {
        return calendar_error(e);
    }
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

async fn cancel(State(s): State<ApiState>, request: Request) -> Response {
    let (mut parts, _body) = request.into_parts();
    if let Err(refusal) = auth::operator(s.operator_token.as_ref(), &parts) {
        return refusal;
    }
    let id = match Path::<i64>::from_request_parts(&mut parts, &s).await {
        Ok(Path(id)) => id,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.body_text()),
    };
    let Ok(Query(by)) = Query::<By>::from_request_parts(&mut parts, &s).await else {
        return error(
            StatusCode::BAD_REQUEST,
            "give by=NAME: who cancels the window",
        );
    };
    match s.calendar.cancel_window(id, &by.by) {
        Ok(a) => match s.calendar.calendar() {
            Ok(cal) => Json(adhoc_out(&cal, &a)).into_response(),
            Err(e) => super::failure(&e),
        },
        Err(e) => calendar_error(e),
    }
}

fn changed(
    s: &ApiState,
    r: Result<(crate::calendar::Window, Option<()>), CalendarError>,
) -> Response {
    s.pages.written();
    match r {
        Ok((w, _)) => match s.calendar.calendar() {
            Ok(cal) => Json(window_out(&cal, &w)).into_response(),
            Err(e) => super::failure(&e),
        },
        Err(e) => calendar_error(e),
    }
}

/// `404` for a window that does not exist, `400` for what the operator typed wrong, `409` for a
/// change the calendar's rules refuse now, `503` while the database cannot be reached, `500` for
/// another store failure.
fn calendar_error(e: CalendarError) -> Response {
    let status = match e {
        CalendarError::Store(StoreError::UnknownWindow(_)) => StatusCode::NOT_FOUND,
        CalendarError::Store(_) => return super::failure(&e),
        CalendarError::Missing(_)
        | CalendarError::TooLong { .. }
        | CalendarError::TooLongWindow { .. }
        | CalendarError::OutOfYears(_)
        | CalendarError::UnknownScope(..)
        | CalendarError::Unfit(_)
        | CalendarError::EmptyWindow { .. } => StatusCode::BAD_REQUEST,
        _ => StatusCode::CONFLICT,
    };
    error(status, e.to_string())
}
