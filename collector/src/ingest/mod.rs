//! Ingest: checks a batch against the inventory, stores it, and re-derives the affected devices.
//!
//! Results may come late and out of order (an agent replaying its spool): they are stored, and
//! each affected device's outages are re-derived from the earliest new result on (see
//! [`App::rederive_device`]). For in-order batches that is a few results per check, so the
//! common case of appending stays cheap; importing months of history works the same way.
//! With live tails, the devices of an in-order batch are re-derived from memory inside the
//! batch's own transaction ([`state::settle`]): results and outages in one commit, no pending
//! mark; the others are marked pending and re-derived after it ([`state::recompute`]).
//! A batch id seen before is acknowledged as a duplicate and not applied twice (the id and the
//! results are written in one transaction).
//!
//! **Group commit.** The batches that wait for the writers' lock at the same moment are stored
//! together ([`state::group`]): one transaction, one wait for the disk, then each is answered
//! (only once it is durable). A group that fails is stored again batch by batch, so one bad
//! batch fails alone.
//!
//! A batch is refused whole (400) only for what belongs to the batch: its agent, its id, the
//! number of its results. Everything about one result (an id or a name the wire refuses, an
//! unknown device, a time out of bounds) rejects that result alone, with its reason in the
//! reply, and its batch-mates are stored.

use crate::app::App;
use crate::availability::{at, ms};
use crate::inventory::Agent;
use crate::state::{self, observation, Changes, Observation, Queued};
use crate::store::{Applied, NewBatch, Settled, Skipped, StoreError, StoredResult};
use chrono::{DateTime, Utc};
use driftvakt_common::limits::{self, LimitError};
use driftvakt_common::wire::{Batch, ProbeResult};
use std::collections::BTreeMap;

pub use driftvakt_common::reply::{IngestResponse, Rejected};

/// Why a whole batch was refused.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("unknown agent `{0}`")]
    UnknownAgent(String),
    #[error("batch names agent `{batch}` but the token belongs to `{token}`")]
    AgentMismatch { batch: String, token: String },
    #[error("invalid batch: {0}")]
    Invalid(#[from] LimitError),
    #[error(
        "batch `{batch_id}` was stored before with other content; nothing was applied \
         (a batch id names one batch for good: a new batch needs a new id)"
    )]
    Conflict { batch_id: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("ingest task failed: {0}")]
    Task(String),
}

impl crate::store::StoreCause for IngestError {
    fn store_error(&self) -> Option<&StoreError> {
        match self {
            IngestError::Store(e) => Some(e),
            _ => None,
        }
    }
}

/// A batch's results sorted by [`App::check_results`]: those to store, each with its index in
/// the batch, and those refused.
type Checked = (Vec<(usize, StoredResult)>, Vec<Rejected>);

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
        // The batch as a whole (agent, id, size) or nothing; each result's own fields apart, so
        // one bad result is refused alone and its batch-mates are stored.
        limits::check_envelope(batch)?;
        let now = self.now();
        let (checked, mut rejected) = self.check_results(a, &batch.results, now)?;
        let (indices, stored): (Vec<usize>, Vec<StoredResult>) = checked.into_iter().unzip();
        let queued = Queued {
            agent: agent.to_string(),
            batch_id: batch.batch_id.clone(),
            results: stored,
            received: ms(now),
        };
        let (queued, outcome) = self.batches.submit(
            queued,
            || self.write_lock(),
            |group| self.store_group(group),
        );
        let stored = queued.results;
        let (applied, settled) = outcome?;
        let response = match applied {
            Applied::Duplicate => IngestResponse {
                accepted: 0,
                rejected: Vec::new(),
                duplicate: true,
                duplicate_results: 0,
            },
            Applied::Conflict => {
                return Err(IngestError::Conflict {
                    batch_id: batch.batch_id.clone(),
                })
            }
            Applied::New {
                inserted,
                pending,
                skipped,
            } => {
                self.recompute_noting(&pending, &settled, Changes::noted(&stored))?;
                let mut duplicate_results = 0;
                for s in skipped {
                    let r = &stored[s.index];
                    match s.conflict {
                        None => duplicate_results += 1,
                        Some(reason) => rejected.push(Rejected {
                            index: indices[s.index],
                            target: r.target.clone(),
                            reason,
                        }),
                    }
                }
                rejected.sort_by_key(|r| r.index);
                IngestResponse {
                    accepted: inserted,
                    rejected,
                    duplicate: false,
                    duplicate_results,
                }
            }
        };
        self.metrics.observe(agent, &batch.results, &response);
        let walked = batch
            .results
            .iter()
            .any(|r| r.values.contains_key(driftvakt_common::readings::NEIGHBORS));
        if walked && !response.duplicate {
            self.update_topology();
        }
        Ok(response)
    }

    /// Recomputes the discovered parents from every device's latest neighbour walk and sets
    /// them on the inventory; a device whose discovered parent changed (re-cabled, moved) is
    /// logged and kept as a move with its service-desk line (see [`crate::topology::moved`]).
    fn update_topology(&self) {
        let reports = self.metrics.topology_reports();
        let view = crate::topology::view(&self.inventory, &reports);
        self.inventory
            .set_discovered(crate::topology::discovered_with_source(&view.proposed));
        let found = crate::topology::discovered(&view.proposed);
        let before = self.metrics.replace_found(found.clone());
        for m in crate::topology::moved(&before, &found) {
            tracing::info!(device = %m.device, from = %m.from, to = %m.to, "{}", m.line());
            self.metrics.record_move(m);
        }
    }

    /// Sorts a batch's results into those to store (with their index in the batch) and those
    /// refused, each with its reason.
    fn check_results(
        &self,
        agent: &Agent,
        results: &[ProbeResult],
        now: DateTime<Utc>,
    ) -> Result<Checked, StoreError> {
        let settings = &self.inventory.settings;
        let limit = now + chrono::Duration::from_std(settings.max_future.std()).unwrap_or_default();
        let max_past = chrono::Duration::from_std(settings.max_past.std()).unwrap_or_default();
        let mut earliest: BTreeMap<&str, DateTime<Utc>> = BTreeMap::new();
        let mut stored = Vec::new();
        let mut rejected = Vec::new();
        for (index, r) in results.iter().enumerate() {
            if self.inventory.device(&r.target).is_some()
                && !earliest.contains_key(r.target.as_str())
            {
                let first = self.first_seen(&r.target)?.map(at).unwrap_or(now);
                earliest.insert(&r.target, first.min(now) - max_past);
            }
            let floor = earliest.get(r.target.as_str()).copied();
            let invalid = limits::check_result(&format!("results[{index}]"), r).err();
            let reason = match self.inventory.device(&r.target) {
                _ if invalid.is_some() => invalid.map(|e| format!("invalid result: {e}")),
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
                    settings.max_future
                )),
                Some(_) if floor.is_some_and(|f| r.time < f) => Some(format!(
                    "time {} is more than {} before the device's first result (or now): \
                     older than the collector accepts (raise collector.max_past to import \
                     older history)",
                    r.time.to_rfc3339(),
                    settings.max_past
                )),
                Some(_) => None,
            };
            match reason {
                Some(reason) => rejected.push(Rejected {
                    index,
                    target: r.target.clone(),
                    reason,
                }),
                None => stored.push((index, to_stored(&agent.id, r))),
            }
        }
        Ok((stored, rejected))
    }
}

impl App {
    /// A device's first stored result (Unix ms), from the tails once read.
    fn first_seen(&self, device: &str) -> Result<Option<i64>, StoreError> {
        let Some(tails) = self.live_tails() else {
            return self.store.first_seen(device);
        };
        if let Some(first) = tails.first_seen(device) {
            return Ok(Some(first));
        }
        let first = self.store.first_seen(device)?;
        if let Some(f) = first {
            tails.set_first_seen(device, f);
        }
        Ok(first)
    }

    /// Stores a group of batches (under the writers' lock) in one transaction ([`state::group`])
    /// and, with live tails, settles in it the devices the tails can re-derive from memory
    /// ([`state::settle`]). What the tails learn at the commit (pending marks, replaced outages)
    /// they learn batch by batch inside the transaction, so that a later batch of the group
    /// sees what an earlier one did; if the transaction does not commit, the group's devices
    /// are forgotten by the tails, and a group of several is stored again batch by batch, each
    /// in its own transaction, so one bad batch fails alone. Returns, per batch, what was
    /// applied (its `pending`: the devices left to re-derive) and, per device whose stored
    /// outages the transaction changed, its replacement's start.
    fn store_group(&self, group: &[Queued]) -> Vec<state::group::Stored> {
        let tails = self.live_tails();
        let mut changed = vec![BTreeMap::new(); group.len()];
        let mut settle = |i: usize, applied: &Applied| match (tails, applied) {
            (
                Some(tails),
                Applied::New {
                    pending, skipped, ..
                },
            ) => {
                self.append_to_tails(tails, &group[i].results, skipped);
                let (settled, derived) = state::settle(&self.inventory, tails, pending);
                let mut left = pending.clone();
                left.retain(|device, _| !settled.devices.contains(device));
                tails.mark_pending(&left);
                for r in &derived {
                    if tails.replaced(r) {
                        changed[i].insert(r.id.clone(), r.from);
                    }
                }
                settled
            }
            _ => Settled::default(),
        };
        let batches: Vec<NewBatch<'_>> = group
            .iter()
            .map(|q| NewBatch {
                agent: &q.agent,
                batch_id: &q.batch_id,
                results: &q.results,
                received: q.received,
            })
            .collect();
        let e = match self.store.apply_batches_settling(&batches, &mut settle) {
            Ok(applied) => {
                self.metrics.committed(group.len());
                return applied.into_iter().zip(changed).map(Ok).collect();
            }
            Err(e) => e,
        };
        if let Some(tails) = tails {
            // The results handed to the tails were not stored after all.
            for r in group.iter().flat_map(|q| &q.results) {
                tails.forget(&r.target);
            }
        }
        if group.len() == 1 {
            return vec![Err(e)];
        }
        tracing::warn!(
            batches = group.len(),
            error = %e,
            "storing a group of batches in one transaction failed; storing each alone"
        );
        group
            .iter()
            .flat_map(|q| self.store_group(std::slice::from_ref(q)))
            .collect()
    }

    /// Hands the results a batch inserted (not those skipped as already stored) to the tails,
    /// inside the batch's transaction: [`App::store_group`] forgets the devices again if it
    /// does not commit.
    fn append_to_tails(&self, tails: &state::Tails, stored: &[StoredResult], skipped: &[Skipped]) {
        let skip: std::collections::HashSet<usize> = skipped.iter().map(|s| s.index).collect();
        let mut by_device: BTreeMap<&str, Vec<Observation>> = BTreeMap::new();
        for (i, r) in stored.iter().enumerate() {
            if !skip.contains(&i) {
                by_device
                    .entry(r.target.as_str())
                    .or_default()
                    .push(observation(r));
            }
        }
        for (device, results) in by_device {
            let gap = self
                .inventory
                .device(device)
                .map_or(0, |d| d.rules.stale_ms());
            tails.append(device, results, gap);
        }
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
    StoredResult::single(
        agent,
        &r.target,
        &r.check,
        ms(r.time),
        r.ok,
        r.degraded(),
        cause,
        serde_json::to_string(r).unwrap_or_default(),
    )
}
