//! The collector's shared state, [`App`]: the inventory, the one store, the one clock, the lock
//! that serializes writers, and the ingest counters. Everything that runs (the HTTP server, the
//! embedded agent, alerting, metrics, the CLI) holds a clone; nothing here reads the wall clock,
//! "now" always comes from the injected [`Clock`].

use crate::clock::Clock;
use crate::inventory::Inventory;
use crate::metrics::IngestMetrics;
use crate::state;
use crate::store::{Store, StoreError};
use chrono::{DateTime, Utc};
use std::sync::{Arc, Mutex, MutexGuard};

/// The collector's shared state: inventory, store, clock. Cheap to clone.
#[derive(Clone)]
pub struct App {
    pub inventory: Arc<Inventory>,
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    /// Serializes writers (ingest and recomputation).
    write: Arc<Mutex<()>>,
    /// Ingest counters and each device's latest readings, for `/metrics`.
    pub metrics: IngestMetrics,
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
        };
        app.recompute_pending()?;
        Ok(app)
    }

    /// The injected current time.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// The current state of every device and service (see [`state::status`]).
    pub fn status(&self) -> Result<state::Status, StoreError> {
        state::status(&self.inventory, &*self.store, self.now())
    }

    /// What the collector's metrics read (the same inventory, store, clock and counters).
    pub fn metrics_sources(&self) -> crate::metrics::Sources {
        crate::metrics::Sources {
            inventory: self.inventory.clone(),
            store: self.store.clone(),
            clock: self.clock.clone(),
            metrics: self.metrics.clone(),
        }
    }

    /// The writers' lock: held while a batch is stored and its devices re-derived. A panic
    /// while it was held leaves the store consistent (every write is one transaction), so a
    /// poisoned lock is taken over.
    pub fn write_lock(&self) -> MutexGuard<'_, ()> {
        self.write.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Re-derives every device left pending (for example by a crash between storing and
    /// deriving).
    pub fn recompute_pending(&self) -> Result<(), StoreError> {
        self.recompute(&self.store.pending()?)
    }

    /// Re-derives the given devices and the services they affect, one step at a time under
    /// the writers' lock (see [`state::recompute`]).
    pub fn recompute(
        &self,
        pending: &std::collections::BTreeMap<String, i64>,
    ) -> Result<(), StoreError> {
        state::recompute(&self.inventory, &*self.store, pending, || self.write_lock())
    }
}
