//! On-call cases. Reading is open; registering needs the operator token
//! (`collector.operator_token`) as a bearer token, checked before the body is read.
//!
//! - `POST /api/v1/oncall` `{"municipality", "department", "start", "end", "title",
//!   "description"?, "by"?}` — register a case no alarm raised (`201` with the case; `400`
//!   names what is wrong).
//! - `GET /api/v1/oncall?period=2026-T1` — the period's cases with what they bill, per
//!   municipality and per municipality and department (as `driftvakt-collector oncall
//!   --format json`).

use super::incidents::{answer, operator_json};
use super::{error, ApiState};
use crate::availability::period_of;
use crate::incidents::oncall::{register, OncallRegistration};
use crate::report::oncall_between;
use axum::extract::{Query, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

/// The routes, to merge into the main router.
pub fn routes() -> Router<ApiState> {
    Router::new().route("/api/v1/oncall", get(list).post(add))
}

async fn add(State(s): State<ApiState>, request: Request) -> Response {
    let (r, _): (OncallRegistration, _) = match operator_json(&s, request).await {
        Ok(r) => r,
        Err(answer) => return answer,
    };
    let (inv, now) = (s.app.inventory.clone(), s.app.now());
    let store = s.stores.oncall_cases.clone();
    let result = tokio::task::spawn_blocking(move || register(&inv, &*store, &r, now)).await;
    match result {
        Ok(Ok(case)) => (StatusCode::CREATED, Json(case)).into_response(),
        Ok(Err(e)) => answer(e),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    period: String,
}

async fn list(
    State(s): State<ApiState>,
    q: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let q = match q {
        Ok(Query(q)) => q,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.body_text()),
    };
    let now = s.app.now();
    let p = match period_of(Some(&q.period), None, None, now) {
        Ok(p) => p,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    let (inv, stores) = (s.app.inventory.clone(), s.stores.clone());
    let result = tokio::task::spawn_blocking(move || {
        let (alarms, registered) = (&*stores.notify, &*stores.oncall_cases);
        oncall_between(&inv, alarms, registered, p.from, p.to.min(now), now)
    })
    .await;
    match result {
        Ok(Ok(o)) => Json(o).into_response(),
        Ok(Err(e)) => super::failure(&e),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}
