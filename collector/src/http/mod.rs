//! The HTTP API (axum): agents push results, people and dashboards read state and reports.
//!
//! - `POST /api/v1/results` — `Authorization: Bearer <agent token>`, body a
//!   [`Batch`](driftvakt_common::wire::Batch). 200 with an [`IngestResponse`], 400 for a body
//!   that is not a valid batch (the message names the field and line/column), 401 for a missing
//!   or wrong token, 403 when the batch names another agent than the token's, 413 past the size
//!   limit (`collector.max_body_bytes`), 408 when the body is not sent within the body-read
//!   timeout, 503 with `Retry-After` while the database cannot be reached (the agent keeps the
//!   batch in its spool and retries, on the next collector if it has several) or while the agent
//!   or all agents have too many body bytes in flight ([`body::BodyBudget`]). The token is
//!   checked from the headers before the body is read.
//! - `GET /api/v1/report?period=2026-T1` (or `from=..&to=..` RFC 3339) — the report as JSON.
//! - `GET /api/v1/status` — the current state of every device and service.
//! - `GET /api/v1/inventory[/renewals|/billing]` — the inventory register, its renewals and a
//!   tertial's billing basis; the operator token ([`inventory`]).
//! - `GET /api/v1/assignment` — the devices an agent in central mode probes ([`assignment`]).
//! - `GET|POST|DELETE /api/v1/windows…` — service windows; changes need the operator token
//!   ([`windows`]).
//! - `GET|POST|PATCH /api/v1/incidents…` — incidents registered by hand; changes need the
//!   operator token ([`incidents`]); `GET /api/v1/devices/quiet?days=N` — equipment that went
//!   quiet.
//! - `POST /api/v1/alerts/{id}/ack`, `GET|POST /ack/{token}` — acknowledging on-call alerts
//!   ([`alerts`]).
//! - `GET /`, `GET /driftinfo/{kommun}[.json|/feed.atom]` — the team's status page and the
//!   municipalities' driftinformation; `POST /api/v1/services/{id}/updates` ([`pages`]).
//! - `GET /drift/…` — the operator web with login (`collector.web`, [`drift`]): incidents,
//!   updates, windows, acknowledgements and the audit log in the browser.
//! - `GET /metrics` — what Prometheus scrapes; `GET /healthz` — `ok`.
//!
//! Every error is JSON, `{"error": message}` (unknown routes and methods too). The server bounds
//! connections, header, body and idle times ([`server`]), over TLS when `collector.tls` is set
//! ([`tls`]: HTTP/2 and HTTP/1.1, certificates reloaded on SIGHUP, client certificates);
//! failed authentications are logged ([`auth`]).
//!
//! One file per group of routes; [`auth`] holds the token checks they share, [`body`] the body
//! reading and [`server`] the listener loop. Nothing else in the collector imports this module.

pub mod alerts;
pub mod assignment;
pub mod auth;
pub mod body;
pub mod drift;
pub mod incidents;
pub mod intefunktion;
pub mod inventory;
pub mod oncall;
pub mod pages;
pub mod report;
pub mod results;
pub mod server;
pub mod status;
pub mod tls;
pub mod topology;
pub mod windows;

pub use server::{serve, serve_tls, serve_with, shutdown_signal, ServerOptions};

use crate::app::App;
use crate::store::{StoreCause, Stores, WindowStore};
use crate::windows::CalendarService;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use driftvakt_common::schema::Secret;
use std::sync::Arc;

/// What the handlers share: the app, the stores, the calendar (service windows for reports,
/// operators' changes) and the operator token. The handlers never open the database: the
/// composition root (`cli/run`) opened it once and hands the stores in here.
#[derive(Clone)]
pub struct ApiState {
    pub app: App,
    /// The database's stores (incidents, on-call cases, the notifier's tables, service
    /// updates…); results are read through `app.store`.
    pub stores: Stores,
    pub calendar: Arc<CalendarService<Arc<dyn WindowStore>>>,
    pub operator_token: Option<Secret>,
    /// What `/metrics` serves (the collector's metrics and any embedded agent's).
    pub exposition: Arc<driftvakt_agent::exposition::Exposition>,
    /// Acknowledges on-call alerts ([`alerts`]); `None` without `notify:`.
    pub alerts: Option<Arc<dyn crate::notify::Acknowledge>>,
    /// This node among the collectors sharing the database (`cluster` in `/api/v1/status`);
    /// `None` in tests that run no heartbeat.
    pub cluster: Option<Arc<crate::cluster::Member>>,
    /// The municipalities' driftinformation as last built ([`crate::pages::cache`]).
    pub pages: Arc<crate::pages::cache::PageCache<pages::DriftinfoPage>>,
}

/// The router with all endpoints.
pub fn router(state: ApiState) -> Router {
    let limit = state.app.inventory.settings.max_body_bytes;
    Router::new()
        .route("/api/v1/results", post(results::post_results))
        .route("/api/v1/assignment", get(assignment::get_assignment))
        .route("/api/v1/report", get(report::get_report))
        .route("/api/v1/status", get(status::get_status))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(status::get_metrics))
        .merge(windows::routes())
        .merge(incidents::routes())
        .merge(oncall::routes())
        .merge(inventory::routes())
        .merge(intefunktion::routes())
        .merge(alerts::routes())
        .merge(pages::routes())
        .merge(drift::routes(&state))
        .merge(topology::routes())
        .fallback(|| async { error(StatusCode::NOT_FOUND, "no such route") })
        .method_not_allowed_fallback(|| async {
            error(
                StatusCode::METHOD_NOT_ALLOWED,
                "method not allowed on this route",
            )
        })
        .layer(DefaultBodyLimit::max(limit))
        .layer(axum::Extension(body::BodyBudget::new(limit)))
        .with_state(state)
}

/// A JSON error body: `{"error": message}`.
pub fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(serde_json::json!({ "error": message.into() }))).into_response()
}

/// Seconds a client is asked to wait while the database cannot be reached.
pub const RETRY_AFTER_SECONDS: &str = "5";

/// A failure as an answer: `503` with `Retry-After` when the store error behind it says the
/// database cannot be reached (PostgreSQL down or restarting: try again, or another node),
/// else `500`. Every route answers its failures through this one function, with its service's
/// own error type ([`StoreCause`]): an error is never turned into text before it gets here, so
/// no route loses the difference between "the database is away" and "something broke".
pub fn failure(e: &dyn StoreCause) -> Response {
    if !unavailable(e) {
        return error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string());
    }
    retry_later(error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()))
}

/// Whether `e` is the database being away (answered `503` with `Retry-After`).
pub fn unavailable(e: &dyn StoreCause) -> bool {
    e.store_error()
        .is_some_and(crate::store::StoreError::is_unavailable)
}

/// `answer` with `Retry-After` ([`RETRY_AFTER_SECONDS`]).
pub fn retry_later(mut answer: Response) -> Response {
    answer.headers_mut().insert(
        axum::http::header::RETRY_AFTER,
        axum::http::HeaderValue::from_static(RETRY_AFTER_SECONDS),
    );
    answer
}

/// A blocking task that did not finish (it panicked): `500`.
pub fn task_failed(e: tokio::task::JoinError) -> Response {
    error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
}
