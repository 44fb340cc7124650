//! Storage: every table of the collector and every line of SQL, behind narrow traits, so the
//! rest of the collector does not know the database. Two backends with the same file names:
//! SQLite ([`sqlite`]: one file, the default) and PostgreSQL ([`pg`]), each with its own
//! migration sequence, numbered alike; neither imports the other. What both share is written
//! once in the neutral files of this folder: each table group's trait and types, column lists,
//! row decoding ([`exec::Cells`]), value codecs ([`columns`]) and the multi-step protocols
//! written over the executor seam ([`exec`]). [`Location`] says which backend,
//! [`Database::open`] opens either and hands out the stores behind their traits ([`Stores`]
//! all at once); one [`StoreError`]. Only the composition root (`cli/`) opens the database,
//! once per process. Beside its schema version a database keeps a compatibility marker
//! ([`schema`]), so that two releases of the pair run side by side on it during an upgrade.
//!
//! - [`Store`] (this file; `SqliteStore`, `PgStore`): results, batches, outages, flaps;
//! - [`WindowStore`]: operators' decisions on service windows;
//! - [`OutboxStore`] and [`PolicyStore`] (`SqliteNotifyStore`, `PgNotifyStore`): the notifier's
//!   outbox, incidents, digests, on-call cases and schedule marks;
//! - [`OncallPageStore`] (the same two): on-call pages, their escalation step and
//!   acknowledgement;
//! - [`RegisterStore`]: the inventory register's past (owner, status and municipality of a device
//!   from a day on: [`register`]);
//! - [`AnnouncedStore`]: what alerting has announced; [`ServiceUpdateStore`]: updates of
//!   service disturbances; [`TopologyStore`]: topology proposals an operator accepted;
//! - [`ClusterStore`]: the collectors' heartbeats, the leader lease with its fencing epoch, and
//!   the fenced steps of the outbox ([`cluster`]);
//! - [`IncidentStore`]: incidents registered by hand (read by the report and alerting through
//!   [`Store::manual_incidents`]); [`OncallCaseStore`]: on-call cases registered by hand.
//!
//! The store depends only on the pure modules (`availability`, `calendar`, `events`) for the
//! types it keeps, and on `inventory` for [`Location`] (configuration, re-exported here).
//!
//! What is kept: results (compact rows, see below), seen batch ids (idempotent ingest), derived
//! outages of devices and services, flaps, per-device first/last result, agents' last contact,
//! each check's latest result as received (for `/metrics` after a restart), and pending
//! recomputations (devices whose results changed but whose outages are not yet re-derived;
//! written in the same transaction as the results, so a crash in between is repaired at
//! start-up). Times are Unix milliseconds. [`SqliteStore`] is the default backend; every backend
//! must pass the suites in `tests/core/core_store.rs` and `tests/core/store_notify.rs`.
//!
//! # Results: raw within the retention, runs before it
//! A result is kept as one small row per probe (agent, device and check interned into one
//! *series* id; outcome flags; cause id; the whole result only when it carries findings, which
//! alerting reads) for `collector.retention.results`. Older rows are *compacted* in the
//! background ([`Store::compact`]): each series' rows before the horizon become *runs* of equal
//! outcome (first time, last time, count), broken wherever two results are further apart than the
//! device's stale time. A run is exactly what the state machine needs (see
//! `state::machine::Observation`), so re-derivation from any time stays exact while a healthy
//! network costs one row per check for as long as it stays healthy: the runs are the checkpoint
//! of each check's state at the horizon, and they grow with what happens, not with every probe.

pub mod announced;
pub mod audit;
pub mod cluster;
pub mod columns;
mod compact;
pub mod copy;
pub mod exec;
pub mod incidents;
pub mod intefunktion;
pub mod oncall;
pub mod oncall_pages;
mod open;
pub mod outbox;
pub mod pg;
pub mod policy;
pub mod register;
mod results;
pub mod schema;
pub mod service_updates;
pub mod sqlite;
pub mod topology;
pub mod windows;

pub use crate::inventory::database::{Location, PgConfig};
pub use announced::{Announced, AnnouncedStore};
pub use audit::{AuditEntry, AuditStore};
pub use cluster::{ClusterStore, LeaseRow, NodeBeat};
pub use incidents::{IncidentStore, IncidentUpdate, ManualIncident, NewManualIncident};
pub use intefunktion::{IntefunktionStore, ManualIntefunktionCase, NewIntefunktionCase};
pub use oncall::{ManualOncallCase, NewManualOncallCase, OncallCaseStore};
pub use oncall_pages::{AckError, OncallPage, OncallPageStore};
pub use open::{copy_database, schema_tables, Database, NotifyStore, Stores};
pub use outbox::{NewNotice, OncallCase, OutboxId, OutboxRow, OutboxStats, OutboxStore, Status};
pub use policy::{Failure, FailureState, PolicyStore};
pub use register::{RegisterChange, RegisterStore};
pub use schema::SchemaState;
pub use service_updates::{ServiceUpdate, ServiceUpdateStore};
pub use sqlite::{
    SqliteAnnouncedStore, SqliteClusterStore, SqliteIncidentStore, SqliteIntefunktionStore,
    SqliteNotifyStore, SqliteOncallCaseStore, SqliteRegisterStore, SqliteServiceUpdateStore,
    SqliteStore, SqliteTopologyStore, SqliteWindowStore,
};
pub use topology::{AcceptedParent, TopologyStore};
pub use windows::WindowStore;

use chrono::{DateTime, NaiveDate, Utc};

use std::collections::{BTreeMap, BTreeSet};

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("PostgreSQL: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    #[error("database {path}: {message}")]
    Open { path: String, message: String },
    /// The database server cannot be reached now (refused, reset, shutting down): worth
    /// retrying later, unlike the other variants ([`StoreError::is_unavailable`]).
    #[error("database {path} unreachable: {message}")]
    Unavailable { path: String, message: String },
    #[error("database schema version {found} is newer than this program ({supported})")]
    SchemaTooNew { found: i64, supported: i64 },
    /// A newer schema whose compatibility marker ([`schema`]) excludes this program.
    #[error(
        "database schema version {found} is newer than this program ({supported}) and needs a \
         program of schema version {oldest} or later (a later release removed or changed what \
         this one uses): install that release, or restore the backup taken before the upgrade"
    )]
    SchemaIncompatible {
        found: i64,
        supported: i64,
        oldest: i64,
    },
    #[error("db copy: {0}")]
    Copy(String),
    /// `db backup` or `db restore` could not go on (the message says why and what to do).
    #[error("{0}")]
    Backup(String),
    #[error("file: {0}")]
    Io(#[from] std::io::Error),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("the secondary window on {date} is already activated (by {by} at {at})")]
    AlreadyActivated {
        date: NaiveDate,
        by: String,
        at: DateTime<Utc>,
    },
    #[error("the secondary window on {0} is not activated")]
    NotActivated(NaiveDate),
    #[error("no ad-hoc window with id {0}")]
    UnknownWindow(i64),
    #[error("no incident with id {0}")]
    UnknownIncident(i64),
    #[error("incident {id} was already closed (at {at})")]
    IncidentClosed { id: i64, at: DateTime<Utc> },
    #[error("ad-hoc window {id} was already cancelled (by {by} at {at})")]
    AlreadyCancelled {
        id: i64,
        by: String,
        at: DateTime<Utc>,
    },
}

impl StoreError {
    /// Whether the database could not be reached (a connection that could not be opened, was
    /// closed under the request, or a server shutting down or starting up): the request may
    /// succeed later, so HTTP answers 503 with `Retry-After` rather than 500.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Unavailable { .. } => true,
            StoreError::Postgres(e) => {
                // Class 08: connection exception; 57P01-57P03: admin or crash shutdown,
                // cannot connect now; 25006: a standby (a failover is under way).
                let code = e.code().map(|c| c.code());
                e.is_closed()
                    || self.is_read_only()
                    || code.is_some_and(|c| c.starts_with("08") || c.starts_with("57P0"))
                    || std::error::Error::source(e)
                        .is_some_and(|s| s.downcast_ref::<std::io::Error>().is_some())
            }
            _ => false,
        }
    }
}

impl StoreError {
    /// Whether a PostgreSQL server refused a write because it is a standby (SQLSTATE 25006,
    /// `read_only_sql_transaction`): the connection outlived a failover and must be replaced.
    pub fn is_read_only(&self) -> bool {
        matches!(self, StoreError::Postgres(e)
            if e.code() == Some(&tokio_postgres::error::SqlState::READ_ONLY_SQL_TRANSACTION))
    }
}

/// An error that may stand for a [`StoreError`] (wrapped in a service's own error type): the
/// HTTP layer asks it whether the database was unreachable, so that every route answers `503`
/// with `Retry-After` for it, whatever error type its work returns.
pub trait StoreCause: std::fmt::Display {
    /// The store error behind this one, if any.
    fn store_error(&self) -> Option<&StoreError>;
}

impl StoreCause for StoreError {
    fn store_error(&self) -> Option<&StoreError> {
        Some(self)
    }
}

impl StoreCause for AckError {
    fn store_error(&self) -> Option<&StoreError> {
        match self {
            AckError::Store(e) => Some(e),
            _ => None,
        }
    }
}

/// One result as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredResult {
    pub agent: String,
    pub target: String,
    pub check: String,
    pub time: i64,
    pub ok: bool,
    pub degraded: bool,
    /// Error, or finding codes when degraded.
    pub cause: Option<String>,
    /// The whole result as received (JSON). Ingest hands it in (for the batch digest and the
    /// latest readings); the store gives it back only for results with findings (`degraded`),
    /// and empty otherwise.
    pub raw: String,
    /// The last time of a compacted run of equal results starting at `time` (`time` for a single
    /// result).
    pub until: i64,
    /// How many results the run holds (1 for a single result).
    pub count: u32,
}

impl StoredResult {
    /// One result (not a run) as ingest builds it.
    #[allow(clippy::too_many_arguments)]
    pub fn single(
        agent: &str,
        target: &str,
        check: &str,
        time: i64,
        ok: bool,
        degraded: bool,
        cause: Option<String>,
        raw: String,
    ) -> StoredResult {
        StoredResult {
            agent: agent.to_string(),
            target: target.to_string(),
            check: check.to_string(),
            time,
            ok,
            degraded,
            cause,
            raw,
            until: time,
            count: 1,
        }
    }
}

/// What one step of [`Store::compact`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Compacted {
    /// Series whose rows before the horizon were turned into runs.
    pub series: usize,
    /// Rows removed (results merged into runs).
    pub removed: usize,
    /// Whether series are left to compact (call again).
    pub more: bool,
}

/// Rows per table and the size of the database, for `db stats` and `/metrics`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct StoreStats {
    /// Bytes on disk: the database file and its write-ahead log.
    pub bytes: u64,
    /// Pages on the free list (reused before the file grows).
    pub free_pages: u64,
    pub page_size: u64,
    /// Rows per table, by table name.
    pub rows: BTreeMap<String, u64>,
    /// Raw (not yet compacted) result rows and compacted runs.
    pub raw_results: u64,
    pub runs: u64,
    /// The time of the oldest raw result (Unix ms), if any.
    pub oldest_result: Option<i64>,
}

/// Whether an outage is a device's or a service's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EntityKind {
    Device,
    Service,
}

impl EntityKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EntityKind::Device => "device",
            EntityKind::Service => "service",
        }
    }
}

pub use crate::availability::Health;

/// A stored outage (down, unreachable, unknown or degraded interval).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outage {
    pub entity: EntityKind,
    pub id: String,
    pub start: i64,
    /// `None` while open.
    pub end: Option<i64>,
    /// What the entity was during the outage (never `Up`).
    pub kind: Health,
    pub cause: Option<String>,
}

/// A stored flap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flap {
    pub device: String,
    pub agent: String,
    pub start: i64,
    pub end: i64,
    pub failures: u32,
}

/// Re-derived outages and flaps of one entity from `from` on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replacement {
    pub entity: EntityKind,
    pub id: String,
    pub from: i64,
    pub outages: Vec<Outage>,
    pub flaps: Vec<Flap>,
}

/// What ingest settled inside a batch's own transaction ([`Store::apply_batch_settling`]):
/// devices re-derived in memory from the batch's results. The store writes `write` in the
/// batch's transaction and marks none of `devices` pending.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settled {
    /// Device replacements to write with the results (their pending marks are left alone).
    pub write: Vec<Replacement>,
    /// Every device settled: written, or found to leave the stored outages as they are.
    pub devices: BTreeSet<String>,
}

/// Settles devices of a batch inside its transaction: called once, after the results were
/// inserted, with [`Applied::New`] (every device with inserted results in `pending`).
pub type Settle<'a> = dyn FnMut(&Applied) -> Settled + 'a;

/// [`Settle`] for a group of batches ([`Store::apply_batches_settling`]): called once per new
/// batch, in the group's order, with the batch's index in the group.
pub type SettleGroup<'a> = dyn FnMut(usize, &Applied) -> Settled + 'a;

/// One batch of a group handed to [`Store::apply_batches_settling`].
#[derive(Debug, Clone, Copy)]
pub struct NewBatch<'a> {
    pub agent: &'a str,
    pub batch_id: &'a str,
    pub results: &'a [StoredResult],
    /// When the collector received it (Unix ms).
    pub received: i64,
}

/// The outcome of applying a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// The batch id was seen before with the same content; nothing was written.
    Duplicate,
    /// The batch id was seen before with other content; nothing was written.
    Conflict,
    /// Results were stored; per device, the earliest time whose state must be re-derived
    /// (after [`Store::apply_batch_settling`]: only the devices it did not settle).
    /// `skipped` are the results (by index) that were not stored because one with the same
    /// agent, target, check and time already was.
    New {
        inserted: usize,
        pending: BTreeMap<String, i64>,
        skipped: Vec<Skipped>,
    },
}

/// A result not stored because the store already had one for its agent, target, check and time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// Its index in the applied slice.
    pub index: usize,
    /// `None` when the stored one is the same result; otherwise what differs.
    pub conflict: Option<String>,
}

/// The content digest of a batch's results (FNV-1a 128 over each result's agent and raw JSON),
/// kept with its id so a re-sent batch can be told from another batch under the same id.
pub fn batch_digest(results: &[StoredResult]) -> String {
    let mut bytes = Vec::new();
    for r in results {
        bytes.extend_from_slice(r.agent.as_bytes());
        bytes.push(0);
        bytes.extend_from_slice(r.raw.as_bytes());
        bytes.push(0);
    }
    format!("{:032x}", driftvakt_common::hash::fnv1a_128(&bytes))
}

/// First and last result time of one device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seen {
    pub first: i64,
    pub last: i64,
}

/// The storage the collector needs. Methods are synchronous; async callers use
/// `spawn_blocking`. Writers are serialized by the caller.
pub trait Store: Send + Sync {
    /// Stores a batch's results and marks its id as seen, atomically. A repeated batch id
    /// changes nothing and returns [`Applied::Duplicate`] when its content (see
    /// [`batch_digest`]) is the same and [`Applied::Conflict`] when it is not; a result with the
    /// same agent, target, check and time as a stored one is skipped and reported.
    fn apply_batch(
        &self,
        agent: &str,
        batch_id: &str,
        results: &[StoredResult],
        received: i64,
    ) -> Result<Applied, StoreError> {
        self.apply_batch_settling(agent, batch_id, results, received, &mut |_| {
            Settled::default()
        })
    }

    /// [`Store::apply_batch`], settling devices in the same transaction: once the results are
    /// inserted, `settle` says which devices it re-derived (from memory) and what to write for
    /// them; those replacements are written with the results (one commit) and those devices
    /// are not marked pending. The `pending` returned holds only the devices left to
    /// re-derive. A device's pending mark written before is left as it is.
    fn apply_batch_settling(
        &self,
        agent: &str,
        batch_id: &str,
        results: &[StoredResult],
        received: i64,
        settle: &mut Settle<'_>,
    ) -> Result<Applied, StoreError> {
        let batch = NewBatch {
            agent,
            batch_id,
            results,
            received,
        };
        let mut applied = self.apply_batches_settling(&[batch], &mut |_, a| settle(a))?;
        applied
            .pop()
            .ok_or_else(|| StoreError::Corrupt("a group of one batch applied none".into()))
    }

    /// Group commit: [`Store::apply_batch_settling`] for several batches in ONE transaction
    /// with one commit (one wait for the disk), each batch applied as it would be alone, in
    /// order (a later batch sees what an earlier one stored: a repeated id in the group is a
    /// duplicate), `settle` called once per new batch with its index. All or nothing: on an
    /// error nothing of the group is stored, and the caller may apply the batches one by one
    /// (so that one bad batch does not take its group-mates down). Returns one [`Applied`]
    /// per batch, in order.
    fn apply_batches_settling(
        &self,
        batches: &[NewBatch<'_>],
        settle: &mut SettleGroup<'_>,
    ) -> Result<Vec<Applied>, StoreError>;

    /// Devices waiting for re-derivation, with the earliest affected time.
    fn pending(&self) -> Result<BTreeMap<String, i64>, StoreError>;

    /// The earliest affected time of one device waiting for re-derivation.
    fn pending_of(&self, device: &str) -> Result<Option<i64>, StoreError> {
        Ok(self.pending()?.get(device).copied())
    }

    /// The time of a device's first stored result.
    fn first_seen(&self, device: &str) -> Result<Option<i64>, StoreError> {
        Ok(self.seen()?.get(device).map(|s| s.first))
    }

    /// A device's results at or after `from`, ordered by time.
    fn results(&self, device: &str, from: i64) -> Result<Vec<StoredResult>, StoreError>;

    /// The earliest, over the agents that reported `check` for `device` before `before`, of each
    /// agent's last successful result before `before`; `None` when some agent has none, `before`
    /// when no agent reported before it.
    fn last_ok_before(
        &self,
        device: &str,
        check: &str,
        before: i64,
    ) -> Result<Option<i64>, StoreError>;

    /// Outages overlapping `[from, to)`, of one entity or all of a kind, ordered by start.
    fn outages(
        &self,
        entity: EntityKind,
        id: Option<&str>,
        from: i64,
        to: i64,
    ) -> Result<Vec<Outage>, StoreError>;

    /// Applies re-derived outages and flaps of several entities in one transaction: for each,
    /// replaces its outages (and, for devices, flaps) starting at or after `from` and clears its
    /// pending mark.
    fn replace_outages(&self, replacements: &[Replacement]) -> Result<(), StoreError>;

    /// Flaps of one device (or all) starting in `[from, to)`.
    fn flaps(&self, device: Option<&str>, from: i64, to: i64) -> Result<Vec<Flap>, StoreError>;

    /// First and last result time per device.
    fn seen(&self) -> Result<BTreeMap<String, Seen>, StoreError>;

    /// Last contact per agent.
    fn agents_seen(&self) -> Result<BTreeMap<String, i64>, StoreError>;

    /// Incidents registered by hand overlapping `[from, to)` (see [`incidents`]); a backend
    /// without them has none.
    fn manual_incidents(&self, from: i64, to: i64) -> Result<Vec<ManualIncident>, StoreError> {
        let _ = (from, to);
        Ok(Vec::new())
    }
    /// Intefunktion cases registered by hand overlapping `[from, to)` (see [`intefunktion`]),
    /// oldest first; a backend without them has none.
    fn intefunktion_cases(
        &self,
        from: i64,
        to: i64,
    ) -> Result<Vec<ManualIntefunktionCase>, StoreError> {
        let _ = (from, to);
        Ok(Vec::new())
    }
    /// The latest result of each check of `device` (per agent) as received, with its raw JSON.
    fn latest(&self, device: &str) -> Result<Vec<StoredResult>, StoreError>;

    /// One step of compaction: up to `max_series` series with raw rows before `horizon` get
    /// those rows merged into runs (see the module doc); `gap_of(device)` is the largest gap
    /// inside a run (the device's stale time; `None`: the device is gone, its rows are merged
    /// with gap 0, i.e. kept as single results). One transaction.
    fn compact(
        &self,
        horizon: i64,
        gap_of: &dyn Fn(&str) -> Option<i64>,
        max_series: usize,
    ) -> Result<Compacted, StoreError>;

    /// Forgets up to `limit` batch ids received before `before` (the replay horizon); returns
    /// how many. A batch replayed after that is applied result by result, and every result the
    /// store already holds (raw or inside a run) is skipped as a duplicate.
    fn prune_batches(&self, before: i64, limit: usize) -> Result<usize, StoreError>;

    /// Returns up to `pages` free pages to the file system (incremental vacuum).
    fn release_free_pages(&self, pages: u32) -> Result<(), StoreError>;

    /// Rows per table, bytes on disk and the oldest raw result; `full` counts every table's
    /// rows (slow on a big file), otherwise only `bytes` and `oldest_result` are filled.
    fn stats(&self, full: bool) -> Result<StoreStats, StoreError>;
}
