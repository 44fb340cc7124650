//! The notifier's own loops ([`spawn`]): delivery of what is due every [`DELIVER_EVERY`] and
//! at once when asked ([`Notifier::deliver_soon`]: alerting asks after handing events over, so
//! a new notice goes out without waiting for the next round), with the notifier's metrics
//! ([`NotifyMetrics`]: outbox counts, sent mails, the current tertial's on-call cases) updated
//! after each round; and [`Notifier::tick`] every [`TICK_EVERY`] (announcements of coming
//! windows, failures that outlasted their window, scheduled reports, escalations). With a
//! [`super::Fence`] (several collectors on one database) each round first asks whether this
//! node still leads.

use super::metrics::NotifyMetrics;
use super::oncall::current_tertial;
use super::{Notifier, NotifyError, NotifyStore};
use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;

/// How often the notifier's time-driven work runs.
pub const TICK_EVERY: Duration = Duration::from_secs(30);
/// How often due notices are sent.
pub const DELIVER_EVERY: Duration = Duration::from_secs(5);

/// Starts delivery (updating `metrics`) and the tick; abort the returned tasks to stop.
pub fn spawn<S>(notifier: Arc<Notifier<S>>, metrics: NotifyMetrics) -> Vec<JoinHandle<()>>
where
    S: NotifyStore + 'static,
{
    vec![
        tokio::spawn(delivery_loop(notifier.clone(), metrics)),
        tokio::spawn(tick_loop(notifier)),
    ]
}

/// On-call cases in the current tertial.
pub fn oncall_this_tertial<S: NotifyStore>(
    notifier: &Notifier<S>,
    now: DateTime<Utc>,
) -> Result<u64, NotifyError> {
    let p = current_tertial(now);
    Ok(notifier.oncall_cases(p.from, p.to)?.len() as u64)
}

async fn delivery_loop<S>(notifier: Arc<Notifier<S>>, metrics: NotifyMetrics)
where
    S: NotifyStore + 'static,
{
    let mut every = tokio::time::interval(DELIVER_EVERY);
    let now_asked = notifier.deliver_now.clone();
    loop {
        tokio::select! {
            _ = every.tick() => {}
            _ = now_asked.notified() => {}
        }
        let round = notifier.deliver_due().await;
        metrics.delivered(round.sent);
        let counts = notifier.stats().and_then(|s| {
            let oncall = oncall_this_tertial(&notifier, notifier.clock.now())?;
            Ok((s, oncall))
        });
        match counts {
            Ok((stats, oncall)) => metrics.update(&stats, oncall),
            Err(e) => tracing::warn!(error = %e, "notifier metrics not updated"),
        }
    }
}

async fn tick_loop<S>(notifier: Arc<Notifier<S>>)
where
    S: NotifyStore + 'static,
{
    let mut every = tokio::time::interval(TICK_EVERY);
    loop {
        every.tick().await;
        let n = notifier.clone();
        let ticked = move || n.may_act().then(|| n.tick()).transpose();
        match tokio::task::spawn_blocking(ticked).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "notifier tick failed"),
            Err(e) => tracing::error!(error = %e, "notifier tick task failed"),
        }
    }
}
