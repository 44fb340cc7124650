//! `POST /api/v1/results`: an agent's batch. The token is checked first (from the headers), then
//! the body is admitted to the budget of bodies in flight ([`body::BodyBudget`]: `503` with
//! `Retry-After` when the agent or the collector has too much in flight), read (at most
//! `collector.max_body_bytes`, within the body-read timeout) and parsed (a malformed body gets a
//! 400 naming the field and its line and column; the buffer is freed once parsed) and handed to
//! ingest.

use super::{auth, body, error, ApiState};
use crate::ingest::{IngestError, IngestResponse};
use axum::extract::{Request, State as AxState};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use driftvakt_common::wire::Batch;
use std::sync::Arc;

/// The handler: the token is checked from the headers before a byte of the body is read, so an
/// unauthenticated client is answered `401` without the collector buffering its body.
pub async fn post_results(AxState(state): AxState<ApiState>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let agent = match auth::agent(&state.app.inventory, &parts, true) {
        Ok(a) => a.id.clone(),
        Err(refusal) => return refusal,
    };
    let limit = state.app.inventory.settings.max_body_bytes;
    let budget = parts.extensions.get::<Arc<body::BodyBudget>>().cloned();
    let _room = match budget {
        Some(b) => {
            let bytes =
                body::declared_length(&parts).map_or(limit, |n| n.min(limit as u64) as usize);
            match b.admit(&agent, bytes).await {
                Ok(p) => Some(p),
                Err(answer) => return answer,
            }
        }
        None => None,
    };
    let body = match body::read(&parts, body, limit).await {
        Ok(b) => b,
        Err(answer) => return answer,
    };
    let batch: Batch = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => return error(StatusCode::BAD_REQUEST, describe_json_error(&body, &e)),
    };
    drop(body); // parsed: the buffer goes before ingest allocates

    match state.app.ingest_batch(&agent, batch).await {
        Ok(resp) => Json::<IngestResponse>(resp).into_response(),
        Err(e @ IngestError::AgentMismatch { .. }) => error(StatusCode::FORBIDDEN, e.to_string()),
        Err(e @ IngestError::UnknownAgent(_)) => error(StatusCode::UNAUTHORIZED, e.to_string()),
        Err(e @ IngestError::Invalid(_)) => error(StatusCode::BAD_REQUEST, e.to_string()),
        Err(IngestError::Conflict { batch_id }) => {
            let e = IngestError::Conflict {
                batch_id: batch_id.clone(),
            };
            tracing::error!(agent = %agent, batch_id = %batch_id, "{e}");
            let body = serde_json::json!({ "error": e.to_string(), "batch_id": batch_id });
            (StatusCode::CONFLICT, Json(body)).into_response()
        }
        Err(IngestError::Store(e)) if e.is_unavailable() => {
            // Nothing was stored, or the batch was and its re-send is a duplicate: the agent
            // keeps it in its spool and retries (a 5xx also moves it to the next collector).
            tracing::warn!(agent = %agent, "ingest: {e}; answering 503");
            super::failure(&e)
        }
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
