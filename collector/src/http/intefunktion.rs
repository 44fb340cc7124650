//! Intefunktion cases registered by the service desk, with the operator token
//! (`collector.operator_token`) as a bearer token, checked before the body is read.
//!
//! - `POST /api/v1/intefunktion` `{"function", "start", "end"?, "title", "description"?,
//!   "by"?}` — register a case about a function (`201` with the case; `400` names what is
//!   wrong).
//! - `PATCH /api/v1/intefunktion/{id}` `{"end"}` — close it (`404` unknown, `409` closed).
//!
//! The cases with their working time are in the report (`intefunktion`).

use super::incidents::{answer, operator_json};
use super::{error, ApiState};
use crate::incidents::intefunktion::{
    close, register, IntefunktionClose, IntefunktionRegistration,
};
use axum::extract::{FromRequestParts, Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{patch, post};
use axum::{Json, Router};

/// The routes, to merge into the main router.
pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/v1/intefunktion", post(add))
        .route("/api/v1/intefunktion/{id}", patch(finish))
}

async fn add(State(s): State<ApiState>, request: Request) -> Response {
    let (r, _): (IntefunktionRegistration, _) = match operator_json(&s, request).await {
        Ok(r) => r,
        Err(answer) => return answer,
    };
    let (inv, now) = (s.app.inventory.clone(), s.app.now());
    let store = s.stores.intefunktion.clone();
    let result = tokio::task::spawn_blocking(move || register(&inv, &*store, &r, now)).await;
    match result {
        Ok(Ok(case)) => (StatusCode::CREATED, Json(case)).into_response(),
        Ok(Err(e)) => answer(e),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn finish(State(s): State<ApiState>, request: Request) -> Response {
    let (c, mut parts): (IntefunktionClose, _) = match operator_json(&s, request).await {
        Ok(c) => c,
        Err(answer) => return answer,
    };
    let id = match Path::<i64>::from_request_parts(&mut parts, &s).await {
        Ok(Path(id)) => id,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.body_text()),
    };
    let (store, now) = (s.stores.intefunktion.clone(), s.app.now());
    let result = tokio::task::spawn_blocking(move || close(&*store, id, c.end, now)).await;
    match result {
        Ok(Ok(case)) => Json(case).into_response(),
        Ok(Err(e)) => answer(e),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}
