//! Intefunktion cases. Registering and changing them takes the operator token
//! (`collector.operator_token`) as a bearer token, checked before the body is read; reading
//! them is open, as the report is.
//!
//! - `POST /api/v1/intefunktion` `{"function", "start", "end"?, "title", "description"?,
//!   "by"?, "incident"?}` — register a case about a function (`201` with the case; `400` names
//!   what is wrong), optionally linked to an incident registered by hand.
//! - `PATCH /api/v1/intefunktion/{id}` `{"end"?, "incident"?}` — close it and/or link it to an
//!   incident (`404` unknown, `409` closed).
//! - `GET /api/v1/intefunktion?period=2026-T3` (or `from=..&to=..`, default as the report's)
//!   — the period's cases with their working time (the report's `intefunktion`: `cases`,
//!   `handling`, `by_municipality`) and the cases the desk registered (`registered`).
//! - `GET /api/v1/intefunktion/{id}` — one registered case.
//!
//! A registration or change is signalled as a change of its function ([`App::signal_service`]),
//! so alerting tells the service desk at once, and the intranet pages are built again.
//!
//! [`App::signal_service`]: crate::app::App::signal_service

use super::incidents::{answer, operator_json};
use super::report::ReportQuery;
use super::{error, ApiState};
use crate::incidents::intefunktion::{
    change, register, IntefunktionChange, IntefunktionRegistration,
};
use crate::incidents::IncidentError;
use crate::report;
use crate::report::intefunktion::Intefunktion;
use crate::store::ManualIntefunktionCase;
use axum::extract::{FromRequestParts, Path, Query, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// The routes, to merge into the main router.
pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/v1/intefunktion", post(add).get(list))
        .route(
            "/api/v1/intefunktion/{id}",
            axum::routing::patch(finish).get(one),
        )
}

/// What `GET /api/v1/intefunktion` answers.
#[derive(Debug, Serialize)]
struct Listing {
    period: String,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    #[serde(flatten)]
    measured: Intefunktion,
    /// The cases the service desk registered that overlap the period, oldest first.
    registered: Vec<ManualIntefunktionCase>,
}

async fn add(State(s): State<ApiState>, request: Request) -> Response {
    let (r, _): (IntefunktionRegistration, _) = match operator_json(&s, request).await {
        Ok(r) => r,
        Err(answer) => return answer,
    };
    let (inv, now) = (s.app.inventory.clone(), s.app.now());
    let (store, incidents) = (s.stores.intefunktion.clone(), s.stores.incidents.clone());
    let result =
        tokio::task::spawn_blocking(move || register(&inv, &*store, &*incidents, &r, now)).await;
    s.pages.written();
    match result {
        Ok(Ok(case)) => {
            s.app.signal_service(&case.function, case.start);
            (StatusCode::CREATED, Json(case)).into_response()
        }
        Ok(Err(e)) => answer(e),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn finish(State(s): State<ApiState>, request: Request) -> Response {
    let (c, mut parts): (IntefunktionChange, _) = match operator_json(&s, request).await {
        Ok(c) => c,
        Err(answer) => return answer,
    };
    let id = match Path::<i64>::from_request_parts(&mut parts, &s).await {
        Ok(Path(id)) => id,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.body_text()),
    };
    let (store, incidents) = (s.stores.intefunktion.clone(), s.stores.incidents.clone());
    let now = s.app.now();
    let result =
        tokio::task::spawn_blocking(move || change(&*store, &*incidents, id, &c, now)).await;
    s.pages.written();
    match result {
        Ok(Ok(case)) => {
            s.app.signal_service(&case.function, case.start);
            Json(case).into_response()
        }
        Ok(Err(e)) => answer(e),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn one(State(s): State<ApiState>, Path(id): Path<i64>) -> Response {
    let store = s.stores.intefunktion.clone();
    match tokio::task::spawn_blocking(move || store.get(id)).await {
        Ok(Ok(Some(case))) => Json(case).into_response(),
        Ok(Ok(None)) => answer(IncidentError::Unknown(id)),
        Ok(Err(e)) => super::failure(&e),
        Err(e) => super::task_failed(e),
    }
}

#[allow(clippy::result_large_err)] // the error is the answer, returned at once
async fn list(
    State(state): State<ApiState>,
    query: Result<Query<ReportQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let now = state.app.now();
    let period = match ReportQuery::period(query, now) {
        Ok(p) => p,
        Err(answer) => return answer,
    };
    let (app, stores) = (state.app.clone(), state.stores.clone());
    let calendar = state.calendar.clone();
    let result = tokio::task::spawn_blocking(move || {
        let windows = calendar.calendar().map_err(|e| super::failure(&e))?;
        let build = || {
            let mut r = report::build(&app.inventory, &*app.store, &windows, &period, now)?;
            report::add_intefunktion_cases(&mut r, &app.inventory, &*stores.intefunktion)?;
            let registered = stores.intefunktion.between(period.from, period.to)?;
            Ok(Listing {
                period: period.label.clone(),
                from: period.from,
                to: period.to,
                measured: r.intefunktion,
                registered,
            })
        };
        build().map_err(|e: report::ReportError| match e {
            report::ReportError::Future(_) => {
                error(StatusCode::BAD_REQUEST, "the period has not started yet")
            }
            e => super::failure(&e),
        })
    })
    .await;
    match result {
        Ok(Ok(l)) => Json(l).into_response(),
        Ok(Err(answer)) => answer,
        Err(e) => super::task_failed(e),
    }
}
