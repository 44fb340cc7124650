//! Ingest: checks a batch against the inventory, stores it, and re-derives the affected devices.
//!
//! Results may come late and out of order (an agent replaying its spool): they are stored, and
//! each affected device's outages are re-derived from the earliest new result on (see
//! [`App::rederive_device`]). For in-order batches that is a few results per check, so the
//! common case of appending stays cheap; importing months of history works the same way.
//! A batch id seen before is acknowledged as a duplicate and not applied twice (the id and the
//! results are written in one transaction).

use crate::availability::{ms, FOREVER};
use crate::inventory::{Agent, Inventory};
use crate::state::{derive, service_timeline, Observation, State, Timeline};
use crate::store::{
    Applied, EntityKind, Flap, Outage, Replacement, Store, StoreError, StoredResult,
};
use chrono::{DateTime, Utc};
use driftvakt_common::wire::{Batch, ProbeResult};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// Where the collector gets the current time (injected so tests control it).
pub type NowFn = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// The system clock.
pub fn system_clock() -> NowFn {
    Arc::new(Utc::now)
}

/// The answer to a batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestResponse {
    /// Results stored now (0 for a duplicate batch).
    pub accepted: usize,
    pub rejected: Vec<Rejected>,
    /// The batch id was seen before; nothing was applied.
    pub duplicate: bool,
}

/// A result that was not stored, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejected {
    pub index: usize,
    pub target: String,
    pub reason: String,
}

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

/// The collector's shared state: inventory, store, clock. Cheap to clone.
#[derive(Clone)]
pub struct App {
    pub inventory: Arc<Inventory>,
    pub store: Arc<dyn Store>,
    now: NowFn,
    /// Serializes writers (ingest and recomputation).
    write: Arc<Mutex<()>>,
    /// Ingest counters and each device's latest readings, for `/metrics`.
    pub metrics: crate::metrics::IngestMetrics,
}

impl App {
    /// Builds the state and finishes any re-derivation a crash left pending.
    pub fn new(inventory: Inventory, store: Arc<dyn Store>, now: NowFn) -> Result<App, StoreError> {
        let app = App {
            metrics: crate::metrics::IngestMetrics::new(&inventory),
            inventory: Arc::new(inventory),
            store,
            now,
            write: Arc::new(Mutex::new(())),
        };
        app.recompute_pending()?;
        Ok(app)
    }

    /// The injected current time.
    pub fn now(&self) -> DateTime<Utc> {
        (self.now)()
    }

    /// The agent whose token this is (constant-time comparison against every agent).
    pub fn authenticate(&self, token: &str) -> Option<&Agent> {
        let mut found = None;
        for a in &self.inventory.agents {
            if constant_time_eq(a.token.expose().as_bytes(), token.as_bytes()) {
                found = Some(a);
            }
        }
        found
    }

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
        let _guard = self.write.lock().unwrap_or_else(|e| e.into_inner());
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
                self.recompute(&pending)?;
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

    /// Re-derives every device left pending (for example by a crash between storing and
    /// deriving).
    pub fn recompute_pending(&self) -> Result<(), StoreError> {
        let _guard = self.write.lock().unwrap_or_else(|e| e.into_inner());
        self.recompute(&self.store.pending()?)
    }

    /// Re-derives the given devices (id and earliest changed time) and stores the outcome in
    /// one transaction. The caller holds the write lock.
    fn recompute(&self, pending: &BTreeMap<String, i64>) -> Result<(), StoreError> {
        if pending.is_empty() {
            return Ok(());
        }
        let replacements = pending
            .iter()
            .map(|(device, from)| self.rederive_device(device, *from))
            .collect::<Result<Vec<_>, _>>()?;
        self.store.replace_outages(&replacements)?;
        let changed: BTreeMap<String, i64> =
            replacements.into_iter().map(|r| (r.id, r.from)).collect();
        let services = self.rederive_services(&changed)?;
        self.store.replace_outages(&services)
    }

    /// Re-derives the stored outages of services whose members (or their ancestors) changed,
    /// from the earliest changed time on. These are a record for alerting and history; the
    /// report and status compute services from device outages themselves.
    fn rederive_services(
        &self,
        changed: &BTreeMap<String, i64>,
    ) -> Result<Vec<Replacement>, StoreError> {
        let inv = &self.inventory;
        let affected: Vec<_> = inv
            .services
            .iter()
            .filter(|s| s.members.iter().any(|m| self.lineage_changed(m, changed)))
            .collect();
        let Some(earliest) = changed.values().min().copied() else {
            return Ok(Vec::new());
        };
        let widest = inv
            .devices
            .iter()
            .map(|d| d.rules.interval_ms)
            .max()
            .unwrap_or(0);
        // Each service's start, moved back over any stored outage covering it; then every
        // device timeline is loaded once, from the earliest of them (not once per service).
        let mut starts = Vec::with_capacity(affected.len());
        for s in affected {
            let mut from = earliest.saturating_sub(widest);
            loop {
                let covering =
                    self.store
                        .outages(EntityKind::Service, Some(&s.id), from, from + 1)?;
                match covering.iter().map(|o| o.start).min() {
                    Some(start) if start < from => from = start,
                    _ => break,
                }
            }
            starts.push((s, from));
        }
        let Some(load_from) = starts.iter().map(|(_, from)| *from).min() else {
            return Ok(Vec::new());
        };
        let devices = crate::report::load_timelines(inv, &*self.store, load_from, FOREVER)?;
        let mut out = Vec::new();
        for (s, from) in starts {
            let members: Vec<&Timeline> = s.members.iter().filter_map(|m| devices.get(m)).collect();
            let tl = service_timeline(s.rule.need(), &members, from, FOREVER);
            let mut outages = Vec::new();
            for (set, kind) in [
                (&tl.down, State::Down),
                (&tl.unknown, State::Unknown),
                (&tl.degraded, State::Degraded),
            ] {
                outages.extend(set.as_slice().iter().map(|span| Outage {
                    entity: EntityKind::Service,
                    id: s.id.clone(),
                    start: span.start,
                    end: (span.end < FOREVER).then_some(span.end),
                    kind,
                    cause: None,
                }));
            }
            out.push(Replacement {
                entity: EntityKind::Service,
                id: s.id.clone(),
                from,
                outages,
                flaps: Vec::new(),
            });
        }
        Ok(out)
    }

    /// Whether `device` or one of its ancestors is in `changed`.
    fn lineage_changed(&self, device: &str, changed: &BTreeMap<String, i64>) -> bool {
        let mut cur = Some(device.to_string());
        let mut steps = 0;
        while let Some(id) = cur {
            if changed.contains_key(&id) || steps > self.inventory.devices.len() {
                return changed.contains_key(&id);
            }
            cur = self.inventory.device(&id).and_then(|d| d.parent.clone());
            steps += 1;
        }
        false
    }

    /// Re-derives a device's outages and flaps from `earliest` on.
    ///
    /// The re-derivation starts at an *anchor* no later than `earliest` minus the stale time,
    /// moved back to the start of any stored outage that covers it, so the state just before
    /// the anchor is plain up. Results are loaded from each agent's last success before the
    /// anchor (so runs of failures in progress are seen whole); outages from the anchor on
    /// are replaced.
    pub fn rederive_device(&self, device: &str, earliest: i64) -> Result<Replacement, StoreError> {
        let Some(d) = self.inventory.device(device) else {
            // No longer in the inventory: keep what is stored, clear the pending mark.
            return Ok(Replacement {
                entity: EntityKind::Device,
                id: device.to_string(),
                from: FOREVER,
                outages: Vec::new(),
                flaps: Vec::new(),
            });
        };
        let rules = &d.rules;
        let stale = rules.stale_ms().max(rules.slowest_interval_ms * 3);
        let mut anchor = earliest.saturating_sub(stale);
        loop {
            let covering =
                self.store
                    .outages(EntityKind::Device, Some(device), anchor, anchor + 1)?;
            match covering.iter().map(|o| o.start).min() {
                Some(start) if start < anchor => anchor = start,
                _ => break,
            }
        }
        let load_from = self
            .store
            .last_ok_before(device, &rules.primary_check, anchor)?
            .unwrap_or(i64::MIN)
            .min(anchor.saturating_sub(stale));
        let observations: Vec<Observation> = self
            .store
            .results(device, load_from)?
            .into_iter()
            .map(observation)
            .collect();
        let derived = derive(rules, &observations);
        let outages: Vec<Outage> = derived
            .segments
            .into_iter()
            .filter(|s| s.end > anchor)
            .map(|s| Outage {
                entity: EntityKind::Device,
                id: device.to_string(),
                start: s.start.max(anchor),
                end: (s.end < FOREVER).then_some(s.end),
                kind: s.state,
                cause: s.cause,
            })
            .collect();
        let flaps: Vec<Flap> = derived
            .flaps
            .into_iter()
            .filter(|f| f.end >= anchor)
            .map(|f| Flap {
                device: device.to_string(),
                agent: f.agent,
                start: f.start,
                end: f.end,
                failures: f.failures,
            })
            .collect();
        Ok(Replacement {
            entity: EntityKind::Device,
            id: device.to_string(),
            from: anchor,
            outages,
            flaps,
        })
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

fn observation(r: StoredResult) -> Observation {
    Observation {
        agent: r.agent,
        check: r.check,
        time: r.time,
        ok: r.ok,
        degraded: r.degraded,
        cause: r.cause,
    }
}

/// Compares two byte strings in time that depends only on their lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
