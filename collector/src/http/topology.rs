//! `GET /api/v1/topology` with the operator token: the links devices reported over LLDP and
//! CDP, each device's parent with its source (`inventory`, `lldp`, `cdp`), the proposals that
//! differ from a hand-kept `parent:` (for review; never applied) and the devices whose parent
//! is not guessed (see [`crate::topology`]), and the latest `moves` (devices whose discovered
//! parent changed, each with its service-desk `line`).

use super::{auth, ApiState};
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

/// The routes, to merge into the main router.
pub fn routes() -> Router<ApiState> {
    Router::new().route("/api/v1/topology", get(get_topology))
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
