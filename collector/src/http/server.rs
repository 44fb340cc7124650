//! The collector's run loop: serves the API on a bound listener until shutdown, and
//! periodically finishes any pending re-derivation (staleness itself is part of the derived
//! timeline: a device is unknown from three intervals after its last result, so status and
//! reports computed at any later time see it without a timer).

use super::{router, ApiState};
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

/// Completes on ctrl-c or SIGTERM. The SIGTERM handler is installed when this is called, not
/// when it is first polled, so call it before a slow start and a signal during it is kept.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    let term_stream =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    async move {
        let ctrl_c = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        let term = async {
            match term_stream {
                Some(mut s) => {
                    s.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        wait_either(ctrl_c, term).await;
    }
}

async fn wait_either(
    a: impl std::future::Future<Output = ()>,
    b: impl std::future::Future<Output = ()>,
) {
    tokio::select! {
        _ = a => {}
        _ = b => {}
    }
    tracing::info!("shutting down");
}
