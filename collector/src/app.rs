//! The collector's shared state, [`App`]: the inventory, the one store, the one clock, the lock
//! that serializes writers with the queue of batches waiting for it (stored together: group
//! commit), the ingest counters, and the signal of what re-derivation changed.
//! Everything that runs (the HTTP server, the embedded agent, alerting, metrics, the CLI) holds
//! a clone; nothing here reads the wall clock, "now" always comes from the injected [`Clock`].
//!
//! **The change signal.** After each re-derivation that changed something ([`state::Changes`]:
//! devices whose outages changed or whose new results failed or carry findings, services
//! re-derived), [`App::recompute`] publishes it on a `tokio::sync::watch` channel; [`App::subscribe`] gives a receiver (alerting
//! checks when it fires). A watch keeps only the latest value: a subscriber that was busy sees
//! the last change, not each one, which is enough for one that re-reads the state anyway.

use crate::availability::ms;
use crate::clock::Clock;
use crate::inventory::Inventory;
use crate::state::{self, Changes, IngestMetrics};
use crate::store::{Compacted, Store, StoreError};
use chrono::{DateTime, Utc};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::watch;

/// Series compacted per step of a pruning pass (one short transaction each, under the writers'
/// lock: a few milliseconds for an hour's results of each).
const COMPACT_STEP: usize = 16;
/// Batch ids forgotten per step.
const BATCH_STEP: usize = 2_000;
/// Free pages returned to the file system per pass (4 KiB each).
const RELEASE_PAGES: u32 = 4_096;

/// Batches stored in one transaction at most (group commit): 32 agents' batches of 500.
const GROUP_MAX: usize = 32;

/// What one pruning pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    /// The retention horizon (Unix ms): raw results before it were compacted into runs.
    pub horizon: i64,
    pub series: usize,
    /// Result rows merged away.
    pub removed: usize,
    pub batches: usize,
}

/// The collector's shared state: inventory, store, clock. Cheap to clone.
#[derive(Clone)]
pub struct App {
    pub inventory: Arc<Inventory>,
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    /// Serializes writers (ingest and recomputation).
    write: Arc<Mutex<()>>,
    /// The batches waiting for the writers' lock, stored together (group commit; see
    /// [`state::group`]).
    pub(crate) batches: Arc<state::BatchQueue>,
    /// Ingest counters and each device's latest readings, for `/metrics`.
    pub metrics: IngestMetrics,
    /// Each device's recent results and outages in memory (see [`state::tails`]); `None`
    /// when other writers share the store, so every re-derivation reads it.
    pub tails: Option<Arc<state::Tails>>,
    /// The latest re-derivation's changes (see the module doc).
    changes: Arc<watch::Sender<Changes>>,
}

impl App {
    /// Builds the state and finishes any re-derivation a crash left pending.
    pub fn new(
        inventory: Inventory,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
    ) -> Result<App, StoreError> {
        let app = App {
            metrics: IngestMetrics::new(&inventory),
            inventory: Arc::new(inventory),
            store,
            clock,
            write: Arc::new(Mutex::new(())),
            batches: Arc::new(state::BatchQueue::new(GROUP_MAX)),
            tails: Some(Arc::new(state::Tails::new())),
            changes: Arc::new(watch::Sender::new(Changes::default())),
        };
        app.recompute_pending()?;
        Ok(app)
    }

    /// The tails while they are in use (see [`state::Tails::share`]).
    pub fn live_tails(&self) -> Option<&state::Tails> {
        self.tails.as_deref().filter(|t| t.active())
    }

    /// The injected current time.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// The current state of every device and service (see [`state::status`]).
    pub fn status(&self) -> Result<state::Status, StoreError> {
        state::status(&self.inventory, &*self.store, self.now())
    }

    /// The writers' lock: held while a batch is stored and its devices re-derived. A panic
    /// while it was held leaves the store consistent (every write is one transaction), so a
    /// poisoned lock is taken over.
    pub fn write_lock(&self) -> MutexGuard<'_, ()> {
        self.write.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The retention horizon now: raw results before it are compacted (Unix ms).
    pub fn retention_horizon(&self) -> i64 {
        let keep = self.inventory.settings.retention.results.std().as_millis() as i64;
        ms(self.now()).saturating_sub(keep)
    }

    /// One pruning pass (see `store`'s module doc): compacts the raw results of every series
    /// older than the retention horizon into runs, a few series per step, each step its own
    /// short transaction, so ingest is never blocked for long; then forgets batch ids received
    /// before the horizon and returns some free pages to the file system. Derived history is
    /// not touched, and re-derivation from any time gives the same outages afterwards.
    pub fn prune(&self) -> Result<Pruned, StoreError> {
        let horizon = self.retention_horizon();
        let inv = self.inventory.clone();
        let gap_of = move |device: &str| inv.device(device).map(|d| d.rules.stale_ms());
        let mut done = Pruned {
            horizon,
            ..Pruned::default()
        };
        loop {
            let step: Compacted =
                self.between_writes(|| self.store.compact(horizon, &gap_of, COMPACT_STEP))?;
            done.series += step.series;
            done.removed += step.removed;
            if !step.more {
                break;
            }
        }
        loop {
            let n = self.between_writes(|| self.store.prune_batches(horizon, BATCH_STEP))?;
            done.batches += n;
            if n < BATCH_STEP {
                break;
            }
        }
        self.between_writes(|| self.store.release_free_pages(RELEASE_PAGES))?;
        Ok(done)
    }

    /// Runs one step of background work under the writers' lock, then lets a waiting writer
    /// in: ingest waits for at most one short step, never for a whole pass (without the lock,
    /// SQLite's busy handler would sleep and retry while the next step takes the file again).
    fn between_writes<T>(&self, step: impl FnOnce() -> T) -> T {
        let out = {
            let _writer = self.write_lock();
            step()
        };
        std::thread::sleep(std::time::Duration::from_millis(1));
        out
    }

    /// Runs [`App::prune`] in the background every `every` (the first pass right away).
    pub fn spawn_pruner(&self, every: std::time::Duration) -> tokio::task::JoinHandle<()> {
        let app = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let a = app.clone();
                match tokio::task::spawn_blocking(move || a.prune()).await {
                    Ok(Ok(p)) if p.series + p.batches > 0 => tracing::info!(
                        series = p.series,
                        removed = p.removed,
                        batches = p.batches,
                        "pruned raw results before the retention horizon"
                    ),
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => tracing::warn!(error = %e, "pruning failed; retried later"),
                    Err(e) => tracing::warn!(error = %e, "pruning task failed"),
                }
            }
        })
    }

    /// Re-derives every device left pending (for example by a crash between storing and
    /// deriving).
    pub fn recompute_pending(&self) -> Result<(), StoreError> {
        let pending = self.store.pending()?;
        if let Some(t) = self.live_tails() {
            t.mark_pending(&pending);
        }
        self.recompute(&pending)
    }

    /// Re-derives the given devices and the services they affect, one step at a time under
    /// the writers' lock (see [`state::recompute`]), and signals what changed, if anything, to
    /// the subscribers ([`App::subscribe`]).
    pub fn recompute(
        &self,
        pending: &std::collections::BTreeMap<String, i64>,
    ) -> Result<(), StoreError> {
        self.recompute_noting(pending, &Default::default(), Changes::default())
    }

    /// [`App::recompute`], signalling `noted` (what ingest saw in the results) with what the
    /// re-derivation changed; `settled` are the devices whose outages ingest already changed in
    /// the batch's transaction (see [`state::recompute`]).
    pub(crate) fn recompute_noting(
        &self,
        pending: &std::collections::BTreeMap<String, i64>,
        settled: &std::collections::BTreeMap<String, i64>,
        mut changes: Changes,
    ) -> Result<(), StoreError> {
        changes.merge(state::recompute(
            &self.inventory,
            &*self.store,
            self.live_tails(),
            pending,
            settled,
            || self.write_lock(),
        )?);
        if !changes.is_empty() {
            self.changes.send_replace(changes);
        }
        Ok(())
    }

    /// Signals a change of `service` from `at` on that no re-derivation made (an operator
    /// registered or changed an intefunktion case about it), so the subscribers (alerting)
    /// look at once instead of at their next round.
    pub fn signal_service(&self, service: &str, at: chrono::DateTime<chrono::Utc>) {
        let mut changes = Changes::default();
        changes
            .services
            .insert(service.to_string(), at.timestamp_millis());
        self.changes.send_replace(changes);
    }

    /// A receiver of what each re-derivation changed from now on (see the module doc): its
    /// `changed()` resolves after the next re-derivation that changed something.
    pub fn subscribe(&self) -> watch::Receiver<Changes> {
        self.changes.subscribe()
    }
}
