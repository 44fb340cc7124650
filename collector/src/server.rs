//! The collector's run loop: serves the API on a bound listener until shutdown, and
//! periodically finishes any pending re-derivation (staleness itself is part of the derived
//! timeline: a device is unknown from three intervals after its last result, so status and
//! reports computed at any later time see it without a timer).

use crate::api::{router, ApiState};
use std::future::Future;
use std::time::Duration;
use tokio::net::TcpListener;

/// How often pending re-derivations are retried.
pub const MAINTENANCE_EVERY: Duration = Duration::from_secs(30);

/// Serves the API on `listener` until `shutdown` completes, then finishes in-flight requests.
pub async fn serve(
    state: ApiState,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = state.app.clone();
    let maintenance = tokio::spawn(async move {
        let mut tick = tokio::time::interval(MAINTENANCE_EVERY);
        loop {
            tick.tick().await;
            let a = app.clone();
            match tokio::task::spawn_blocking(move || a.recompute_pending()).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!("re-derivation failed: {e}"),
                Err(e) => tracing::warn!("re-derivation task failed: {e}"),
            }
        }
    });
    let result = axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await;
    maintenance.abort();
    result
}

/// Completes on ctrl-c or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
    tracing::info!("shutting down");
}
