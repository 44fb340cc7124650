//! The agent's HTTP listener: `/metrics` (OpenMetrics text, streamed in chunks as
//! [`Exposition`] writes them) and `/healthz`.

use crate::exposition::Exposition;
use axum::body::Body;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::convert::Infallible;
use std::sync::Arc;

/// The content type of `/metrics`.
pub const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The router serving `exposition`.
pub fn router(exposition: Arc<Exposition>) -> Router {
    Router::new()
        .route(
            "/metrics",
            get(move || {
                let exposition = exposition.clone();
                async move { metrics_response(&exposition) }
            }),
        )
        .route("/healthz", get(|| async { "ok\n" }))
}

/// `/metrics`: the chunks are written as the client reads them, never the whole text at once.
pub fn metrics_response(exposition: &Arc<Exposition>) -> Response {
    let chunks = futures::stream::iter(exposition.chunks().map(Ok::<_, Infallible>));
    ([(CONTENT_TYPE, OPENMETRICS)], Body::from_stream(chunks)).into_response()
}

/// Serves until the task is aborted.
pub async fn serve(
    listener: tokio::net::TcpListener,
    exposition: Arc<Exposition>,
) -> std::io::Result<()> {
    axum::serve(listener, router(exposition)).await
}
