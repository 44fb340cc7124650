//! The HTTP API (axum): agents push results, people and dashboards read state and reports.
//!
//! - `POST /api/v1/results` — `Authorization: Bearer <agent token>`, body a
//!   [`Batch`](driftvakt_common::wire::Batch). 200 with an [`IngestResponse`], 400 for a body
//!   that is not a valid batch (the message names the field and line/column), 401 for a missing
//!   or wrong token, 403 when the batch names another agent than the token's, 413 past the size
//!   limit.
//! - `GET /api/v1/report?period=2026-T1` (or `from=..&to=..` RFC 3339) — the report as JSON.
//! - `GET /api/v1/status` — the current state of every device and service.
//! - `GET /healthz` — `ok`.

use crate::availability::{at, ms, Period, Spans};
use crate::calendar::{CalendarService, SqliteWindowStore};
use crate::ingest::{App, IngestError, IngestResponse};
use crate::report::{self, load_timelines, service_timelines};
use crate::state::{State, Timeline};
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Query, State as AxState};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use driftvakt_agent::config::Secret;
use driftvakt_common::wire::Batch;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// What the handlers share: the app, the calendar (service windows for reports, operators'
/// changes) and the operator token.
#[derive(Clone)]
pub struct ApiState {
    pub app: App,
    pub calendar: Arc<CalendarService<SqliteWindowStore>>,
    pub operator_token: Option<Secret>,
    /// What `/metrics` serves (the collector's metrics and any embedded agent's).
    pub registry: Arc<prometheus_client::registry::Registry>,
}

/// The router with all endpoints.
pub fn router(state: ApiState) -> Router {
    let limit = state.app.inventory.settings.max_body_bytes;
    Router::new()
        .route("/api/v1/results", post(post_results))
        .route("/api/v1/assignment", get(crate::assignment::get_assignment))
        .route("/api/v1/report", get(get_report))
        .route("/api/v1/status", get(get_status))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(get_metrics))
        .merge(crate::api_calendar::routes())
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}

pub fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(serde_json::json!({ "error": message.into() }))).into_response()
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

async fn post_results(
    AxState(state): AxState<ApiState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(token) = bearer(&headers) else {
        return error(StatusCode::UNAUTHORIZED, "missing bearer token");
    };
    let Some(agent) = state.app.authenticate(token).map(|a| a.id.clone()) else {
        return error(StatusCode::UNAUTHORIZED, "invalid token");
    };
    let batch: Batch = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => return error(StatusCode::BAD_REQUEST, describe_json_error(&body, &e)),
    };
    match state.app.ingest_batch(&agent, batch).await {
        Ok(resp) => Json::<IngestResponse>(resp).into_response(),
        Err(e @ IngestError::AgentMismatch { .. }) => error(StatusCode::FORBIDDEN, e.to_string()),
        Err(e @ IngestError::UnknownAgent(_)) => error(StatusCode::UNAUTHORIZED, e.to_string()),
        Err(e) => {
            tracing::error!("ingest failed: {e}");
            error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
        }
    }
}

/// "invalid batch: at `results[2].ok`: invalid type: ... at line 1 column 122": serde_json's
/// message (which has line and column) with the key path of the offending field, or of the
/// object missing a field or holding an unknown one.
pub fn describe_json_error(body: &[u8], e: &serde_json::Error) -> String {
    let msg = e.to_string();
    let named = msg.starts_with("missing field") || msg.starts_with("unknown field");
    let wrong_value = e.classify() == serde_json::error::Category::Data && !named;
    // For a wrong value the path ends at its key; for a missing or unknown field, at the object.
    let path = (wrong_value || named)
        .then(|| field_path_at(body, e.line(), e.column(), wrong_value))
        .flatten();
    match path {
        Some(p) => format!("invalid batch: at `{p}`: {msg}"),
        None => format!("invalid batch: {msg}"),
    }
}

enum Frame {
    Object(Option<String>),
    Array(usize),
}

/// The key path (`results[2].ok`) of the JSON value at 1-based `line` and `column` (bytes).
fn field_path_at(body: &[u8], line: usize, column: usize, to_key: bool) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    let line_start: usize = text
        .split_inclusive('\n')
        .take(line.saturating_sub(1))
        .map(str::len)
        .sum();
    let offset = (line_start + column).min(text.len());
    let (mut stack, mut in_string, mut escape) = (Vec::new(), false, false);
    let (mut expecting_key, mut is_key) = (false, false);
    let (mut buf, mut last_key) = (String::new(), String::new());
    for c in text[..offset].chars() {
        if in_string {
            match c {
                _ if escape => {
                    escape = false;
                    buf.push(c);
                }
                '\\' => escape = true,
                '"' => {
                    in_string = false;
                    if is_key {
                        last_key = std::mem::take(&mut buf);
                    }
                }
                _ => buf.push(c),
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                buf.clear();
                is_key = expecting_key && matches!(stack.last(), Some(Frame::Object(_)));
            }
            ':' => {
                if let Some(Frame::Object(k)) = stack.last_mut() {
                    *k = Some(last_key.clone());
                }
                expecting_key = false;
            }
            '{' => {
                stack.push(Frame::Object(None));
                expecting_key = true;
            }
            '[' => stack.push(Frame::Array(0)),
            '}' | ']' => {
                stack.pop();
            }
            ',' => match stack.last_mut() {
                Some(Frame::Array(n)) => *n += 1,
                Some(Frame::Object(k)) => {
                    *k = None;
                    expecting_key = true;
                }
                None => {}
            },
            _ => {}
        }
    }
    if !to_key {
        if let Some(Frame::Object(k)) = stack.last_mut() {
            *k = None;
        }
    }
    let mut path = String::new();
    for f in &stack {
        match f {
            Frame::Object(Some(k)) if path.is_empty() => path.push_str(k),
            Frame::Object(Some(k)) => {
                path.push('.');
                path.push_str(k);
            }
            Frame::Object(None) => {}
            Frame::Array(n) => path.push_str(&format!("[{n}]")),
        }
    }
    (!path.is_empty()).then_some(path)
}

/// Query of `GET /api/v1/report`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportQuery {
    pub period: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// The period a query or command line asks for.
pub fn period_of(
    period: Option<&str>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<Period, String> {
    match (period, from) {
        (Some(p), None) if to.is_none() => Period::parse(p).map_err(|e| e.to_string()),
        (None, Some(f)) => Period::between(f, to.unwrap_or(now)).map_err(|e| e.to_string()),
        _ => Err("give either `period` (2026-T1, 2026-03, 2026) or `from` (and `to`)".into()),
    }
}

async fn get_report(
    AxState(state): AxState<ApiState>,
    query: Result<Query<ReportQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let q = match query {
        Ok(Query(q)) => q,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.body_text()),
    };
    let now = state.app.now();
    let period = match period_of(q.period.as_deref(), q.from, q.to, now) {
        Ok(p) => p,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    let app = state.app.clone();
    let calendar = state.calendar.clone();
    let result = tokio::task::spawn_blocking(move || {
        let windows = calendar
            .calendar()
            .map_err(|e| report::ReportError::Calendar(e.to_string()))?;
        let mut r = report::build(&app.inventory, &*app.store, &windows, &period, now)?;
        report::add_oncall_cases_from(&mut r, &app.inventory.settings.database)?;
        Ok(r)
    })
    .await;
    match result {
        Ok(Ok(r)) => Json(r).into_response(),
        Ok(Err(report::ReportError::Future(_))) => {
            error(StatusCode::BAD_REQUEST, "the period has not started yet")
        }
        Ok(Err(e)) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// Current state of one device or service.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EntityStatus {
    pub id: String,
    pub state: State,
    /// When the current non-up state began (within the last 31 days).
    pub since: Option<DateTime<Utc>>,
    /// For an unreachable device: the ancestor that is down (the root cause).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_cause: Option<String>,
}

/// `GET /api/v1/status`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Status {
    pub now: DateTime<Utc>,
    pub devices: Vec<EntityStatus>,
    pub services: Vec<EntityStatus>,
    pub agents_last_seen: std::collections::BTreeMap<String, DateTime<Utc>>,
}

fn since(t: &Timeline, state: State, now: i64) -> Option<DateTime<Utc>> {
    let set: &Spans = match state {
        State::Up => return None,
        State::Down => &t.down,
        State::Unreachable => &t.unreachable,
        State::Unknown => &t.unknown,
        State::Degraded => &t.degraded,
    };
    set.as_slice()
        .iter()
        .find(|s| s.start <= now && now < s.end)
        .filter(|s| s.start > 0) // never seen: no start to give
        .map(|s| at(s.start))
}

/// The current state of everything, computed from the store.
pub fn status(app: &App) -> Result<Status, crate::store::StoreError> {
    let now = ms(app.now());
    let from = now - 31 * 86_400_000;
    let inv = &app.inventory;
    let devices = load_timelines(inv, &*app.store, from, now + 1)?;
    let services = service_timelines(inv, &devices, from, now + 1);
    let device_rows = inv
        .devices
        .iter()
        .map(|d| {
            let t = &devices[&d.id];
            let state = t.state_at(now);
            let root_cause = (state == State::Unreachable)
                .then(|| root_cause(app, &devices, &d.id, now))
                .flatten();
            EntityStatus {
                id: d.id.clone(),
                state,
                since: since(t, state, now),
                root_cause,
            }
        })
        .collect();
    let service_rows = inv
        .services
        .iter()
        .map(|s| {
            let t = &services[&s.id];
            let state = t.state_at(now);
            EntityStatus {
                id: s.id.clone(),
                state,
                since: since(t, state, now),
                root_cause: None,
            }
        })
        .collect();
    let agents_last_seen = app
        .store
        .agents_seen()?
        .into_iter()
        .map(|(a, t)| (a, at(t)))
        .collect();
    Ok(Status {
        now: at(now),
        devices: device_rows,
        services: service_rows,
        agents_last_seen,
    })
}

/// The nearest ancestor that is down (not itself unreachable).
fn root_cause(
    app: &App,
    timelines: &std::collections::BTreeMap<String, Timeline>,
    id: &str,
    now: i64,
) -> Option<String> {
    let mut cur = app.inventory.device(id)?.parent.clone();
    let mut last = None;
    while let Some(p) = cur {
        if timelines.get(&p).is_some_and(|t| t.down.contains(now)) {
            return Some(p);
        }
        cur = app.inventory.device(&p).and_then(|d| d.parent.clone());
        last = Some(p);
    }
    last
}

/// `GET /metrics`, rendered on a blocking thread: the collector's state gauges read the store.
async fn get_metrics(AxState(state): AxState<ApiState>) -> Response {
    let registry = state.registry.clone();
    let rendered =
        tokio::task::spawn_blocking(move || driftvakt_agent::metrics::render(&registry)).await;
    match rendered {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn get_status(AxState(state): AxState<ApiState>) -> Response {
    let app = state.app.clone();
    match tokio::task::spawn_blocking(move || status(&app)).await {
        Ok(Ok(s)) => Json(s).into_response(),
        Ok(Err(e)) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}
