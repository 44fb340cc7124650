//! Incidents registered by hand, and equipment that went quiet. Reading is open; changes need
//! the operator token (`collector.operator_token`) as a bearer token, checked before the body
//! is read.
//!
//! - `GET /api/v1/incidents?ongoing=true` — the open incidents with their updates (what an
//!   intranet status page lists); `?period=2026-T1` or `from=..&to=..` — those overlapping it.
//! - `POST /api/v1/incidents` `{"services": [..] | "municipalities": [..], "start", "end"?,
//!   "title", "description", "by"?}` — register one (`201` with the incident).
//! - `PATCH /api/v1/incidents/{id}` `{"update"?: TEXT, "end"?: RFC3339, "by"?}` — add an
//!   update, close it, or both.
//! - `GET /api/v1/devices/quiet?days=N` — devices without a result for N days (default
//!   `collector.quiet_after`, 30).
//!
//! `400` names what is wrong, `404` an unknown id, `409` closing a closed incident.

use super::{auth, body, error, ApiState};
use crate::availability::period_of;
use crate::incidents::{change, register, Change, IncidentError, Registration};
use crate::store::IncidentStore;
use axum::extract::{FromRequestParts, Path, Query, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::Deserialize;

/// The largest body a change may have.
const BODY_LIMIT: usize = 32 * 1024;

/// The routes, to merge into the main router.
pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/v1/incidents", get(list).post(add))
        .route("/api/v1/incidents/{id}", patch(update))
        .route("/api/v1/devices/quiet", get(quiet))
}

/// `400`, `404` and `409` for what the operator asked, [`super::failure`] for the store's.
pub(super) fn answer(e: IncidentError) -> Response {
    let status = match &e {
        IncidentError::Invalid(_) => StatusCode::BAD_REQUEST,
        IncidentError::Unknown(_) => StatusCode::NOT_FOUND,
        IncidentError::Conflict(_) => StatusCode::CONFLICT,
        IncidentError::Store(_) => return super::failure(&e),
    };
    error(status, e.to_string())
}

/// Runs `f` on the store off the async threads.
async fn blocking<T: Send + 'static>(
    s: &ApiState,
    f: impl FnOnce(&dyn IncidentStore) -> Result<T, IncidentError> + Send + 'static,
) -> Result<T, Response> {
    let store = s.stores.incidents.clone();
    tokio::task::spawn_blocking(move || f(&store))
        .await
        .map_err(super::task_failed)?
        .map_err(answer)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    #[serde(default)]
    ongoing: Option<bool>,
    period: Option<String>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
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
    let range = if q.ongoing == Some(true) {
        None
    } else {
        match period_of(q.period.as_deref(), q.from, q.to, now) {
            Ok(p) => Some((p.from, p.to)),
            Err(e) => return error(StatusCode::BAD_REQUEST, e),
        }
    };
    let result = blocking(&s, move |store| {
        Ok(match range {
            None => store.ongoing()?,
            Some((from, to)) => store.list(from, to)?,
        })
    })
    .await;
    match result {
        Ok(list) => Json(list).into_response(),
        Err(answer) => answer,
    }
}

/// Checks the operator token from the headers, then reads and parses the JSON body.
pub(super) async fn operator_json<T: serde::de::DeserializeOwned>(
    s: &ApiState,
    request: Request,
) -> Result<(T, axum::http::request::Parts), Response> {
    let (parts, body) = request.into_parts();
    auth::operator(s.operator_token.as_ref(), &parts)?;
    let bytes = body::read(&parts, body, BODY_LIMIT).await?;
    let value = serde_json::from_slice(&bytes)
        .map_err(|e| error(StatusCode::BAD_REQUEST, format!("invalid body: {e}")))?;
    Ok((value, parts))
}

async fn add(State(s): State<ApiState>, request: Request) -> Response {
    let (r, _): (Registration, _) = match operator_json(&s, request).await {
        Ok(r) => r,
        Err(answer) => return answer,
    };
    let (inv, now) = (s.app.inventory.clone(), s.app.now());
    let registered = blocking(&s, move |store| register(&inv, store, &r, now)).await;
    s.pages.written();
    match registered {
        Ok(i) => (StatusCode::CREATED, Json(i)).into_response(),
        Err(answer) => answer,
    }
}

async fn update(State(s): State<ApiState>, request: Request) -> Response {
    let (c, mut parts): (Change, _) = match operator_json(&s, request).await {
        Ok(c) => c,
        Err(answer) => return answer,
    };
    let id = match Path::<i64>::from_request_parts(&mut parts, &s).await {
        Ok(Path(id)) => id,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.body_text()),
    };
    let now = s.app.now();
    let changed = blocking(&s, move |store| change(store, id, &c, now)).await;
    s.pages.written();
    match changed {
        Ok(i) => Json(i).into_response(),
        Err(answer) => answer,
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct QuietQuery {
    days: Option<u32>,
}

async fn quiet(
    State(s): State<ApiState>,
    q: Result<Query<QuietQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let q = match q {
        Ok(Query(q)) => q,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.body_text()),
    };
    if q.days.is_some_and(|d| !(1..=3650).contains(&d)) {
        return error(StatusCode::BAD_REQUEST, "days must be between 1 and 3650");
    }
    let app = s.app.clone();
    let result = tokio::task::spawn_blocking(move || {
        let after = q
            .days
            .map(|d| std::time::Duration::from_secs(u64::from(d) * 86_400))
            .unwrap_or(app.inventory.settings.quiet_after.std());
        crate::report::quiet::quiet_for(&app.inventory, &*app.store, app.now(), after)
    })
    .await;
    match result {
        Ok(Ok(q)) => Json(q).into_response(),
        Ok(Err(e)) => super::failure(&e),
        Err(e) => super::task_failed(e),
    }
}
