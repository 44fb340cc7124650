//! Where the results of a trap's poll go, at once: in central mode appended to the spool
//! straight away and the pusher woken (no wait for the push interval, nor for the spool
//! writer's gathering); standalone into the same channel the scheduler uses.

use crate::spool::Spool;
use driftvakt_common::wire::ProbeResult;
use std::sync::Arc;
use tokio::sync::{mpsc, Notify};

#[derive(Clone)]
pub enum Delivery {
    /// The scheduler's channel (standalone: the results only feed the metrics).
    Channel(mpsc::Sender<Arc<ProbeResult>>),
    /// The spool, and the pusher's wake-up.
    Spool {
        spool: Arc<Spool>,
        wake: Arc<Notify>,
    },
}

impl Delivery {
    pub async fn deliver(&self, results: Vec<Arc<ProbeResult>>) {
        match self {
            Delivery::Channel(tx) => {
                for r in results {
                    let _ = tx.send(r).await;
                }
            }
            Delivery::Spool { spool, wake } => {
                let s = spool.clone();
                let n = results.len();
                match tokio::task::spawn_blocking(move || s.append(&results)).await {
                    Ok(Ok(_)) => wake.notify_one(),
                    Ok(Err(e)) => {
                        tracing::error!(error = %e, lost = n, "cannot spool a trap's poll")
                    }
                    Err(e) => {
                        tracing::error!(error = %e, lost = n, "spooling a trap's poll failed")
                    }
                }
            }
        }
    }
}
