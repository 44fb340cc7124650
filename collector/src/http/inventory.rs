//! The inventory register over HTTP (as `driftvakt-collector inventory`), all with the operator
//! token (`collector.operator_token`) as a bearer token; `format=csv` for CSV, JSON otherwise.
//!
//! - `GET /api/v1/inventory[?format=csv]` — every device with its register, state, last seen
//!   and availability this year;
//! - `GET /api/v1/inventory/renewals?within=180d[&format=csv]` — renewal, warranty and
//!   depreciation dates in the window or passed;
//! - `GET /api/v1/inventory/billing?period=2026-T3[&format=csv]` — the tertial's billing
//!   basis from the register's history (recorded when `run` started).

use super::{auth, error, ApiState};
use crate::register::{self, billing, list, renewals};
use crate::report::quiet::quiet;
use axum::extract::{Query, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// The routes, to merge into the main router.
pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/v1/inventory", get(get_list))
        .route("/api/v1/inventory/renewals", get(get_renewals))
        .route("/api/v1/inventory/billing", get(get_billing))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Params {
    format: Option<String>,
    within: Option<String>,
    period: Option<String>,
}

/// The operator's token and the query, or the refusal.
#[allow(clippy::result_large_err)] // the error is the answer, returned at once
fn check(s: &ApiState, request: Request) -> Result<Params, Response> {
    let (parts, _) = request.into_parts();
    auth::operator(s.operator_token.as_ref(), &parts)?;
    let Query(p) = Query::<Params>::try_from_uri(&parts.uri)
        .map_err(|e| error(StatusCode::BAD_REQUEST, e.body_text()))?;
    match p.format.as_deref() {
        None | Some("json") | Some("csv") => Ok(p),
        Some(f) => Err(error(
            StatusCode::BAD_REQUEST,
            format!("format `{f}`: json or csv"),
        )),
    }
}

/// `value` as JSON, or `csv` when the query asked for CSV.
fn answer(p: &Params, value: &impl Serialize, csv: impl FnOnce() -> String) -> Response {
    if p.format.as_deref() == Some("csv") {
        ([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], csv()).into_response()
    } else {
        Json(value).into_response()
    }
}

#[allow(clippy::result_large_err)] // the error is the answer, returned at once
async fn get_list(State(s): State<ApiState>, request: Request) -> Response {
    let p = match check(&s, request) {
        Ok(p) => p,
        Err(refusal) => return refusal,
    };
    let (app, calendar) = (s.app.clone(), s.calendar.clone());
    let rows = tokio::task::spawn_blocking(move || {
        let calendar = calendar.calendar().map_err(|e| super::failure(&e))?;
        let facts = crate::report::facts::facts(&app.inventory, &*app.store, &calendar, app.now())
            .map_err(|e| super::failure(&e))?;
        Ok::<_, Response>(list::rows(&app.inventory, &facts))
    })
    .await;
    match rows {
        Ok(Ok(rows)) => answer(&p, &rows, || list::to_csv(&rows)),
        Ok(Err(answer)) => answer,
        Err(e) => super::task_failed(e),
    }
}

async fn get_renewals(State(s): State<ApiState>, request: Request) -> Response {
    let p = match check(&s, request) {
        Ok(p) => p,
        Err(refusal) => return refusal,
    };
    let within = p.within.as_deref().unwrap_or("180d");
    let window = match driftvakt_common::config::parse_duration(within) {
        Ok(w) => w,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("within `{within}`: {e}")),
    };
    let today = register::local_day(s.app.now());
    let due = renewals::renewals(&s.app.inventory, today, window.as_secs() / 86_400);
    answer(&p, &due, || renewals::to_csv(&due))
}

#[allow(clippy::result_large_err)] // the error is the answer, returned at once
async fn get_billing(State(s): State<ApiState>, request: Request) -> Response {
    let p = match check(&s, request) {
        Ok(p) => p,
        Err(refusal) => return refusal,
    };
    let tertial = match billing::Tertial::parse(p.period.as_deref().unwrap_or_default()) {
        Ok(t) => t,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    let (app, store) = (s.app.clone(), s.stores.register.clone());
    let basis = tokio::task::spawn_blocking(move || {
        let now = app.now();
        let quiet: BTreeSet<String> = quiet(&app.inventory, &*app.store, now)
            .map_err(|e| super::failure(&e))?
            .devices
            .into_iter()
            .map(|d| d.id)
            .collect();
        let history = store.history().map_err(|e| super::failure(&e))?;
        let today = register::local_day(now);
        Ok::<_, Response>(billing::billing(&history, tertial, today, &quiet))
    })
    .await;
    match basis {
        Ok(Ok(b)) => answer(&p, &b, || billing::to_csv(&b)),
        Ok(Err(answer)) => answer,
        Err(e) => super::task_failed(e),
    }
}
