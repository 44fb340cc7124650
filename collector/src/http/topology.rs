//! The topology found over LLDP and CDP, with the operator token:
//!
//! - `GET /api/v1/topology`: the links devices reported, each device's parent with its source
//!   (`accepted`, `inventory`, `lldp`, `cdp`), the `proposals` that differ from a kept parent
//!   (for review; never applied by themselves), the devices whose parent is not guessed
//!   (`unresolved`) and the latest `moves` (devices whose discovered parent changed, each with
//!   its service-desk `line`); see [`crate::topology`];
//! - `POST /api/v1/topology/accept` with `{"device": ID}` or `{"all": true}`: stores the
//!   proposals (`topology_accepted`), which then win over `parent:` lines (the YAML is not
//!   rewritten); `404` when the device has no proposal. Answers `{"accepted": [{device,
//!   parent}]}`.

use super::{auth, body, error, ApiState};
use crate::store::{AcceptedParent, StoreError};
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use std::collections::BTreeMap;

/// The largest accept body read.
const BODY_LIMIT: usize = 4 * 1024;

/// The routes, to merge into the main router.
pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/v1/topology", get(get_topology))
        .route("/api/v1/topology/accept", post(post_accept))
}

async fn get_topology(State(s): State<ApiState>, request: Request) -> Response {
    let (parts, _) = request.into_parts();
    if let Err(refusal) = auth::operator(s.operator_token.as_ref(), &parts) {
        return refusal;
    }
    let reports = s.app.metrics.topology_reports();
    let view = crate::topology::view(&s.app.inventory, &reports);
    let mut json = serde_json::to_value(view).unwrap_or_default();
    if let Some(obj) = json.as_object_mut() {
        let moves: Vec<serde_json::Value> = (s.app.metrics.moves().iter())
            .map(|m| serde_json::json!({"device": m.device, "from": m.from, "to": m.to, "line": m.line()}))
            .collect();
        obj.insert("moves".into(), moves.into());
    }
    Json(json).into_response()
}

/// What to accept.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Accept {
    #[serde(default)]
    device: Option<String>,
    #[serde(default)]
    all: bool,
}

async fn post_accept(State(s): State<ApiState>, request: Request) -> Response {
    let (parts, stream) = request.into_parts();
    if let Err(refusal) = auth::operator(s.operator_token.as_ref(), &parts) {
        return refusal;
    }
    let bytes = match body::read(&parts, stream, BODY_LIMIT).await {
        Ok(b) => b,
        Err(answer) => return answer,
    };
    let wanted: Accept = match serde_json::from_slice(&bytes) {
        Ok(a) => a,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("body: {e}")),
    };
    if wanted.all == wanted.device.is_some() {
        let why = "give either `device` or `all: true`";
        return error(StatusCode::BAD_REQUEST, why);
    }
    let done = tokio::task::spawn_blocking(move || accept(&s, &wanted)).await;
    match done {
        Ok(Ok(Ok(accepted))) => Json(serde_json::json!({ "accepted": accepted })).into_response(),
        Ok(Ok(Err(answer))) => answer,
        Ok(Err(e)) => super::failure(&e),
        Err(e) => super::task_failed(e),
    }
}

type Accepted = Vec<serde_json::Value>;

/// Stores the wanted proposals and sets the accepted parents on the inventory.
fn accept(s: &ApiState, wanted: &Accept) -> Result<Result<Accepted, Response>, StoreError> {
    let inv = &s.app.inventory;
    let view = crate::topology::view(inv, &s.app.metrics.topology_reports());
    let chosen: Vec<_> = (view.proposals.iter())
        .filter(|p| wanted.all || wanted.device.as_deref() == Some(p.device.as_str()))
        .collect();
    if let (Some(d), true) = (&wanted.device, chosen.is_empty()) {
        let why = format!("no topology proposal for device `{d}`");
        return Ok(Err(error(StatusCode::NOT_FOUND, why)));
    }
    let now = s.app.now();
    let mut out = Vec::new();
    for p in chosen {
        s.stores.topology.accept(&AcceptedParent {
            device: p.device.clone(),
            parent: p.proposed.clone(),
            accepted_at: now,
        })?;
        out.push(serde_json::json!({"device": p.device, "parent": p.proposed}));
    }
    let stored: BTreeMap<String, String> = (s.stores.topology.accepted()?.into_iter())
        .map(|a| (a.device, a.parent))
        .collect();
    inv.set_accepted(stored);
    Ok(Ok(out))
}
