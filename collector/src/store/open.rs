//! The one way the collector opens its database: [`Database::open`] takes a [`Location`] (a
//! SQLite file or a PostgreSQL URL) and hands out every store on it behind its trait
//! (`Arc<dyn Store>`, `Arc<dyn WindowStore>`, …), so every command works on both backends.
//!
//! Only the composition root (`cli/`) opens it, once per process, and hands the stores down;
//! `run` opens them all at once ([`Database::stores`]) for `App`, the HTTP state, alerting
//! and the notifier. On SQLite each store is one connection of its own (WAL lets readers run
//! beside the writer; each connection is behind a mutex), opened and migrated when the store
//! is made; on PostgreSQL all the stores of one database share one connection pool.

use super::copy::{self, CopyReport, End};
use super::pg::{self, Pool};
use super::sqlite::backup::{self, Copied, RunLock};
use super::sqlite::copy::SqliteEnd;
use super::{
    AnnouncedStore, AuditStore, ClusterStore, IncidentStore, IntefunktionStore, Location,
    OncallCaseStore, OncallPageStore, OutboxStore, PolicyStore, RegisterStore, SchemaState,
    ServiceUpdateStore, SqliteAnnouncedStore, SqliteClusterStore, SqliteIncidentStore,
    SqliteIntefunktionStore, SqliteNotifyStore, SqliteOncallCaseStore, SqliteRegisterStore,
    SqliteServiceUpdateStore, SqliteStore, SqliteTopologyStore, SqliteWindowStore, Store,
    StoreError, TopologyStore, WindowStore,
};
use std::path::PathBuf;
use std::sync::Arc;

/// What `db backup` and `db restore` say about a PostgreSQL database.
const PG_BACKUP: &str = "db backup and db restore are for SQLite; back up PostgreSQL with its \
    own tools (pg_dump and pg_restore, or pgBackRest with WAL archiving; see the README)";

/// Everything the notifier keeps: the outbox, the policy's state (followed failures, digests,
/// on-call cases, schedule marks) and on-call pages. One trait, re-exported as
/// `notify::NotifyStore`.
pub trait NotifyStore: OutboxStore + PolicyStore + OncallPageStore {}

impl<S: OutboxStore + PolicyStore + OncallPageStore + ?Sized> NotifyStore for S {}

/// Every store on one database, each opened once ([`Database::stores`]). Cheap to clone: the
/// clones share the stores.
#[derive(Clone)]
pub struct Stores {
    /// Results, batches, outages, flaps.
    pub results: Arc<dyn Store>,
    /// Operators' service windows.
    pub windows: Arc<dyn WindowStore>,
    /// The notifier's outbox, policy state and pages.
    pub notify: Arc<dyn NotifyStore>,
    /// Incidents registered by hand.
    pub incidents: Arc<dyn IncidentStore>,
    /// On-call cases registered by hand.
    pub oncall_cases: Arc<dyn OncallCaseStore>,
    /// Intefunktion cases registered by hand.
    pub intefunktion: Arc<dyn IntefunktionStore>,
    /// What alerting has announced.
    pub announced: Arc<dyn AnnouncedStore>,
    /// Updates of service disturbances.
    pub service_updates: Arc<dyn ServiceUpdateStore>,
    /// The cluster's heartbeats and leader lease.
    pub cluster: Arc<dyn ClusterStore>,
    /// The inventory register's past.
    pub register: Arc<dyn RegisterStore>,
    /// The audit log of the operator web.
    pub audit: Arc<dyn AuditStore>,
    /// Topology proposals an operator accepted.
    pub topology: Arc<dyn TopologyStore>,
}

/// An opened database (see the module doc). Cheap to clone.
#[derive(Debug, Clone)]
pub enum Database {
    Sqlite(PathBuf),
    Postgres(Arc<Pool>),
}

impl Database {
    /// Opens the database at `location`: a SQLite file is created (with its folder) and
    /// migrated as each store opens; a PostgreSQL database is connected to and migrated now.
    pub fn open(location: &Location) -> Result<Database, StoreError> {
        match location {
            Location::Sqlite(path) => {
                super::sqlite::check_location(path).map_err(|message| StoreError::Open {
                    path: path.display().to_string(),
                    message,
                })?;
                Ok(Database::Sqlite(path.clone()))
            }
            Location::Postgres(config) => Ok(Database::Postgres(Arc::new(Pool::open(config)?))),
        }
    }

    /// Why a batch confirmed to an agent could be lost on this database (PostgreSQL's
    /// settings, [`pg::Durability::warnings`]); none for SQLite, which syncs each commit.
    pub fn durability_warnings(&self) -> Result<Vec<String>, StoreError> {
        match self {
            Database::Sqlite(_) => Ok(Vec::new()),
            Database::Postgres(pool) => Ok(pool.durability()?.warnings()),
        }
    }

    /// `db backup`: a consistent copy of a SQLite database into the new file `to`, while
    /// collectors may write ([`super::sqlite::backup`]). PostgreSQL is backed up with its own
    /// tools (the error says which).
    pub fn backup_to(&self, to: &std::path::Path) -> Result<Copied, StoreError> {
        match self {
            Database::Sqlite(path) => backup::backup(path, to),
            Database::Postgres(_) => Err(StoreError::Backup(PG_BACKUP.to_string())),
        }
    }

    /// `db restore`: the SQLite database replaced by the backup `from`; refused while a
    /// collector runs on it.
    pub fn restore_from(&self, from: &std::path::Path) -> Result<Copied, StoreError> {
        match self {
            Database::Sqlite(path) => backup::restore(from, path),
            Database::Postgres(_) => Err(StoreError::Backup(format!(
                "{PG_BACKUP}; or `db copy --from {} --to URL` into an empty database",
                from.display()
            ))),
        }
    }

    /// The lock `run` holds on a SQLite database while it runs, so that `db restore` refuses
    /// ([`RunLock`]); none on PostgreSQL.
    pub fn run_lock(&self) -> Result<Option<RunLock>, StoreError> {
        match self {
            Database::Sqlite(path) => RunLock::shared(path).map(Some),
            Database::Postgres(_) => Ok(None),
        }
    }

    /// Its schema as this program finds it, migrated or left newer ([`SchemaState`]).
    pub fn schema(&self) -> Result<SchemaState, StoreError> {
        match self {
            Database::Sqlite(path) => super::sqlite::schema_state(&super::sqlite::open(path)?),
            Database::Postgres(pool) => pool.run(async |c| pg::migrations::schema_state(c).await),
        }
    }

    /// Where it is (a PostgreSQL URL without password).
    pub fn location(&self) -> Location {
        match self {
            Database::Sqlite(p) => Location::Sqlite(p.clone()),
            Database::Postgres(pool) => Location::Postgres(pool.config().clone()),
        }
    }

    /// Every store, each opened once (on SQLite one connection each).
    pub fn stores(&self) -> Result<Stores, StoreError> {
        Ok(Stores {
            results: self.store()?,
            windows: self.windows()?,
            notify: self.notify()?,
            incidents: self.incidents()?,
            oncall_cases: self.oncall_cases()?,
            intefunktion: self.intefunktion()?,
            announced: self.announced()?,
            service_updates: self.service_updates()?,
            cluster: self.cluster()?,
            register: self.register()?,
            audit: self.audit()?,
            topology: self.topology()?,
        })
    }

    /// Topology proposals an operator accepted.
    pub fn topology(&self) -> Result<Arc<dyn TopologyStore>, StoreError> {
        Ok(match self {
            Database::Sqlite(p) => Arc::new(SqliteTopologyStore::open(p)?),
            Database::Postgres(pool) => Arc::new(pg::PgTopologyStore::new(pool.clone())),
        })
    }

    /// Results, batches, outages, flaps.
    pub fn store(&self) -> Result<Arc<dyn Store>, StoreError> {
        Ok(match self {
            Database::Sqlite(p) => Arc::new(SqliteStore::open(p)?),
            Database::Postgres(pool) => Arc::new(pg::PgStore::new(pool.clone())),
        })
    }

    /// Operators' service windows.
    pub fn windows(&self) -> Result<Arc<dyn WindowStore>, StoreError> {
        Ok(match self {
            Database::Sqlite(p) => Arc::new(SqliteWindowStore::open(p)?),
            Database::Postgres(pool) => Arc::new(pg::PgWindowStore::new(pool.clone())),
        })
    }

    /// The notifier's outbox, policy state and pages.
    pub fn notify(&self) -> Result<Arc<dyn NotifyStore>, StoreError> {
        Ok(match self {
            Database::Sqlite(p) => Arc::new(SqliteNotifyStore::open(p)?),
            Database::Postgres(pool) => Arc::new(pg::PgNotifyStore::new(pool.clone())),
        })
    }

    /// Incidents registered by hand.
    pub fn incidents(&self) -> Result<Arc<dyn IncidentStore>, StoreError> {
        Ok(match self {
            Database::Sqlite(p) => Arc::new(SqliteIncidentStore::open(p)?),
            Database::Postgres(pool) => Arc::new(pg::PgIncidentStore::new(pool.clone())),
        })
    }

    /// On-call cases registered by hand.
    pub fn oncall_cases(&self) -> Result<Arc<dyn OncallCaseStore>, StoreError> {
        Ok(match self {
            Database::Sqlite(p) => Arc::new(SqliteOncallCaseStore::open(p)?),
            Database::Postgres(pool) => Arc::new(pg::PgOncallCaseStore::new(pool.clone())),
        })
    }

    /// The inventory register's past.
    pub fn register(&self) -> Result<Arc<dyn RegisterStore>, StoreError> {
        Ok(match self {
            Database::Sqlite(p) => Arc::new(SqliteRegisterStore::open(p)?),
            Database::Postgres(pool) => Arc::new(pg::PgRegisterStore::new(pool.clone())),
        })
    }

    /// Intefunktion cases registered by hand.
    pub fn intefunktion(&self) -> Result<Arc<dyn IntefunktionStore>, StoreError> {
        Ok(match self {
            Database::Sqlite(p) => Arc::new(SqliteIntefunktionStore::open(p)?),
            Database::Postgres(pool) => Arc::new(pg::PgIntefunktionStore::new(pool.clone())),
        })
    }

    /// The audit log of the operator web.
    pub fn audit(&self) -> Result<Arc<dyn AuditStore>, StoreError> {
        Ok(match self {
            Database::Sqlite(p) => Arc::new(super::sqlite::SqliteAuditStore::open(p)?),
            Database::Postgres(pool) => Arc::new(pg::PgAuditStore::new(pool.clone())),
        })
    }

    /// What alerting has announced.
    pub fn announced(&self) -> Result<Arc<dyn AnnouncedStore>, StoreError> {
        Ok(match self {
            Database::Sqlite(p) => Arc::new(SqliteAnnouncedStore::open(p)?),
            Database::Postgres(pool) => Arc::new(pg::PgAnnouncedStore::new(pool.clone())),
        })
    }

    /// Updates of service disturbances.
    pub fn service_updates(&self) -> Result<Arc<dyn ServiceUpdateStore>, StoreError> {
        Ok(match self {
            Database::Sqlite(p) => Arc::new(SqliteServiceUpdateStore::open(p)?),
            Database::Postgres(pool) => Arc::new(pg::PgServiceUpdateStore::new(pool.clone())),
        })
    }

    /// The cluster's heartbeats and leader lease.
    pub fn cluster(&self) -> Result<Arc<dyn ClusterStore>, StoreError> {
        Ok(match self {
            Database::Sqlite(p) => Arc::new(SqliteClusterStore::open(p)?),
            Database::Postgres(pool) => Arc::new(pg::PgClusterStore::new(pool.clone())),
        })
    }
}

/// `db copy`: copies everything from `from` into `to` (see [`super::copy`]).
pub fn copy_database(from: &Location, to: &Location) -> Result<CopyReport, StoreError> {
    copy::check_distinct(from, to)?;
    copy::copy_ends(from, to, copy_source(from)?, copy_target(to)?)
}

/// The tables of the schema at `location` (for the test that keeps [`copy::TABLES`] complete).
pub fn schema_tables(location: &Location) -> Result<Vec<String>, StoreError> {
    copy_source(location)?.tables()
}

fn copy_source(location: &Location) -> Result<Box<dyn End>, StoreError> {
    match location {
        Location::Sqlite(path) => {
            if !path.is_file() {
                return Err(copy::refuse(format!(
                    "the source {} does not exist",
                    path.display()
                )));
            }
            Ok(Box::new(SqliteEnd::read_only(path)?))
        }
        Location::Postgres(config) => Ok(Box::new(pg::copy::PgEnd::connect(config)?)),
    }
}

fn copy_target(location: &Location) -> Result<Box<dyn End>, StoreError> {
    match location {
        Location::Sqlite(path) => {
            // Created with its folder and migrated the usual way.
            Ok(Box::new(SqliteEnd::migrated(path)?))
        }
        Location::Postgres(config) => Ok(Box::new(pg::copy::PgEnd::migrated(config)?)),
    }
}
