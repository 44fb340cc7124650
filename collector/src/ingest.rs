//! Ingest: checks a batch against the inventory, stores it, and re-derives the affected devices.
//!
//! Results may come late and out of order (an agent replaying its spool): they are stored, and
//! each affected device's outages are re-derived from the earliest new result on (see
//! [`App::rederive_device`]). For in-order batches that is a few results per check, so the
//! common case of appending stays cheap; importing months of history works the same way.
//! A batch id seen before is acknowledged as a duplicate and not applied twice (the id and the
//! results are written in one transaction).

use crate::app::App;
use crate::availability::ms;
use crate::inventory::Agent;
use crate::state;
use crate::store::{Applied, StoreError, StoredResult};
use chrono::{DateTime, Utc};
use driftvakt_common::wire::{Batch, ProbeResult};

pub use driftvakt_common::reply::{IngestResponse, Rejected};

/// Why a whole batch was refused.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("unknown agent `{0}`")]
    UnknownAgent(String),
    #[error("batch names agent `{batch}` but the token belongs to `{token}`")]
    AgentMismatch { batch: String, token: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("ingest task failed: {0}")]
    Task(String),
}

impl App {
    /// Ingests a batch from `agent` without HTTP (used by the API and by an in-process agent).
    pub async fn ingest_batch(
        &self,
        agent: &str,
        batch: Batch,
    ) -> Result<IngestResponse, IngestError> {
        let app = self.clone();
        let agent = agent.to_string();
        tokio::task::spawn_blocking(move || app.ingest_blocking(&agent, &batch))
            .await
            .map_err(|e| IngestError::Task(e.to_string()))?
    }

    /// [`App::ingest_batch`] for synchronous callers.
    pub fn ingest_blocking(
        &self,
        agent: &str,
        batch: &Batch,
    ) -> Result<IngestResponse, IngestError> {
        let a = self
            .inventory
            .agent(agent)
            .ok_or_else(|| IngestError::UnknownAgent(agent.to_string()))?;
        if batch.agent != agent {
            return Err(IngestError::AgentMismatch {
                batch: batch.agent.clone(),
                token: agent.to_string(),
            });
        }
        let now = self.now();
        let (stored, rejected) = self.check_results(a, &batch.results, now);
        let _guard = self.write_lock();
        let response = match self
            .store
            .apply_batch(agent, &batch.batch_id, &stored, ms(now))?
        {
            Applied::Duplicate => IngestResponse {
                accepted: 0,
                rejected: Vec::new(),
                duplicate: true,
            },
            Applied::New { pending, .. } => {
                state::recompute(&self.inventory, &*self.store, &pending)?;
                IngestResponse {
                    accepted: stored.len(),
                    rejected,
                    duplicate: false,
                }
            }
        };
        self.metrics.observe(agent, &batch.results, &response);
        Ok(response)
    }

    fn check_results(
        &self,
        agent: &Agent,
        results: &[ProbeResult],
        now: DateTime<Utc>,
    ) -> (Vec<StoredResult>, Vec<Rejected>) {
        let limit = now
            + chrono::Duration::from_std(self.inventory.settings.max_future.std())
                .unwrap_or_default();
        let mut stored = Vec::new();
        let mut rejected = Vec::new();
        for (index, r) in results.iter().enumerate() {
            let reason = match self.inventory.device(&r.target) {
                None => Some("unknown device".to_string()),
                Some(_) if !agent.devices.contains(&r.target) => {
                    Some("device not assigned to this agent".to_string())
                }
                Some(d) if !d.checks.contains(&r.check) => Some(format!(
                    "unknown check `{}` for this device (configured: {})",
                    r.check,
                    d.checks.join(", ")
                )),
                Some(_) if r.time > limit => Some(format!(
                    "time {} is more than {} ahead of the collector's clock",
                    r.time.to_rfc3339(),
                    self.inventory.settings.max_future
                )),
                Some(_) => None,
            };
            match reason {
                Some(reason) => rejected.push(Rejected {
                    index,
                    target: r.target.clone(),
                    reason,
                }),
                None => stored.push(to_stored(&agent.id, r)),
            }
        }
        (stored, rejected)
    }
}

fn to_stored(agent: &str, r: &ProbeResult) -> StoredResult {
    let cause = if !r.ok {
        Some(r.error.clone().unwrap_or_else(|| "failed".to_string()))
    } else if r.degraded() {
        Some(
            r.findings
                .iter()
                .map(|f| f.code.as_str())
                .collect::<Vec<_>>()
                .join(","),
        )
    } else {
        None
    };
    StoredResult {
        agent: agent.to_string(),
        target: r.target.clone(),
        check: r.check.clone(),
        time: ms(r.time),
        ok: r.ok,
        degraded: r.degraded(),
        cause,
        raw: serde_json::to_string(r).unwrap_or_default(),
    }
}
