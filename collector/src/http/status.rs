//! `GET /api/v1/status` (the current state of everything, from [`crate::state::status`], and
//! the cluster's nodes and leader, from [`crate::cluster`]) and `GET /metrics`; both read the
//! store, so both render on a blocking thread.

use super::ApiState;
use crate::store::StoreError;
use axum::body::Body;
use axum::extract::State as AxState;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use driftvakt_agent::server::OPENMETRICS;
use std::convert::Infallible;

/// `GET /metrics`, rendered on a blocking thread (the collector's state gauges read the store)
/// and streamed in chunks.
pub async fn get_metrics(AxState(state): AxState<ApiState>) -> Response {
    let exposition = state.exposition.clone();
    let rendered = tokio::task::spawn_blocking(move || {
        // The registry's part (which reads the store) is the first chunk: write it here.
        let mut chunks = exposition.chunks();
        let first = chunks.next();
        (first, chunks)
    })
    .await;
    match rendered {
        Ok((first, rest)) => {
            let chunks =
                futures::stream::iter(first.into_iter().chain(rest).map(Ok::<_, Infallible>));
            (
                [(header::CONTENT_TYPE, OPENMETRICS)],
                Body::from_stream(chunks),
            )
                .into_response()
        }
        Err(e) => super::task_failed(e),
    }
}

/// `GET /api/v1/status`: the state of everything and, when this node runs a heartbeat, the
/// cluster (`{node, leader, nodes: [{name, address, started_at, last_heartbeat, leader,
/// alive}]}`).
pub async fn get_status(AxState(state): AxState<ApiState>) -> Response {
    let app = state.app.clone();
    let cluster = state.cluster.clone();
    let read = move || -> Result<serde_json::Value, StoreError> {
        let json_err = |e: serde_json::Error| StoreError::Corrupt(e.to_string());
        let status = app.status()?;
        let mut json = serde_json::to_value(status).map_err(json_err)?;
        if let (Some(member), Some(obj)) = (cluster, json.as_object_mut()) {
            let c = member.status()?;
            obj.insert("cluster".into(), serde_json::to_value(c).map_err(json_err)?);
        }
        Ok(json)
    };
    match tokio::task::spawn_blocking(read).await {
        Ok(Ok(s)) => Json(s).into_response(),
        Ok(Err(e)) => super::failure(&e),
        Err(e) => super::task_failed(e),
    }
}
