//! The SQLite backend: opening the collector's database, the executor of [`crate::store::exec`], and
//! one file per table group (named like `pg/`'s). Every table lives in the same file, opened the same
//! way: WAL (readers never block the writer), `synchronous=FULL` (what was acknowledged survives a
//! power cut; only devices' re-derived outages, which pending marks bring back, commit lazily: see
//! `SqliteStore::replace_outages`), foreign keys on, a 5 s busy timeout for the moments two writers meet, statements
//! prepared once per connection (`prepare_cached`, with room for every statement of a push), and the
//! schema brought up to date by the one migration sequence ([`migrations`]) before the
//! connection is handed out. A database written by a newer program is refused unless its
//! compatibility marker says this program may run on it ([`crate::store::schema`]).
//!
//! Incremental auto-vacuum: pages freed by compaction are reused first and can be returned to the
//! file system in small steps (`PRAGMA incremental_vacuum`), so the file stops growing once the
//! retention is reached. A new file gets the mode before its first table; an older file is
//! switched once, at its first open by this version, with a `VACUUM` (it rewrites the file, so
//! it needs as much free disk as the file's size and takes a while on a big one).

mod announced;
mod audit;
pub mod backup;
mod batch;
mod cluster;
mod compact;
pub mod copy;
mod incidents;
mod intefunktion;
pub mod migrations;
mod notify;
mod oncall;
mod oncall_pages;
mod register;
mod results;
mod service_updates;
mod topology;
mod windows;

pub use announced::SqliteAnnouncedStore;
pub use audit::SqliteAuditStore;
pub use cluster::{send_epoch_of, SqliteClusterStore};
pub use incidents::SqliteIncidentStore;
pub use intefunktion::SqliteIntefunktionStore;
pub use notify::SqliteNotifyStore;
pub use oncall::SqliteOncallCaseStore;
pub use register::SqliteRegisterStore;
pub use results::SqliteStore;
pub use service_updates::SqliteServiceUpdateStore;
pub use topology::SqliteTopologyStore;
pub use windows::SqliteWindowStore;

use super::exec::{Arg, Cells, Exec};
use super::schema::{self, SchemaState};
use super::StoreError;
pub use crate::inventory::database::check_location;
use migrations::{MIGRATIONS, SCHEMA_VERSION};
use rusqlite::types::ToSqlOutput;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior};
use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// Opens (creating if needed) the database file at `path`, migrated to the current schema.
pub fn open(path: &Path) -> Result<Connection, StoreError> {
    check_location(path).map_err(|message| StoreError::Open {
        path: path.display().to_string(),
        message,
    })?;
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    let fresh: i64 = conn.pragma_query_value(None, "page_count", |r| r.get(0))?;
    if fresh == 0 {
        conn.pragma_update(None, "auto_vacuum", "INCREMENTAL")?;
    }
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    let conn = prepare(conn)?;
    ensure_incremental_vacuum(&conn)?;
    Ok(conn)
}

/// `auto_vacuum` 2 is INCREMENTAL.
const INCREMENTAL: i64 = 2;

/// Switches a file written before incremental auto-vacuum to it (one `VACUUM`, outside any
/// transaction); a no-op once done.
fn ensure_incremental_vacuum(conn: &Connection) -> Result<(), StoreError> {
    let mode: i64 = conn.pragma_query_value(None, "auto_vacuum", |r| r.get(0))?;
    if mode == INCREMENTAL {
        return Ok(());
    }
    conn.pragma_update(None, "auto_vacuum", "INCREMENTAL")?;
    conn.execute_batch("VACUUM")?;
    Ok(())
}

/// A private in-memory database with the current schema (tests).
pub fn open_in_memory() -> Result<Connection, StoreError> {
    prepare(Connection::open_in_memory()?)
}

/// Statements each connection keeps prepared (`prepare_cached`). rusqlite keeps 16 by default;
/// one push alone runs about 25 distinct statements (storing the batch, re-deriving its
/// devices), so with 16 each push would parse and plan most of them again.
const STATEMENT_CACHE: usize = 128;

fn prepare(mut conn: Connection) -> Result<Connection, StoreError> {
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    conn.pragma_update(None, "foreign_keys", "ON")?;
    migrate(&mut conn)?;
    Ok(conn)
}

/// The schema version stored in the file.
pub fn schema_version(conn: &Connection) -> Result<i64, StoreError> {
    Ok(conn.pragma_query_value(None, "user_version", |r| r.get(0))?)
}

/// The schema's compatibility marker ([`schema`]), if the file has one.
pub fn oldest_compatible(conn: &Connection) -> Result<Option<i64>, StoreError> {
    if schema_version(conn)? < schema::MARKER_SINCE {
        return Ok(None);
    }
    Ok(conn
        .query_row("SELECT oldest_compatible FROM dv_schema", [], |r| r.get(0))
        .optional()?)
}

/// The file's schema as this program finds it.
pub fn schema_state(conn: &Connection) -> Result<SchemaState, StoreError> {
    Ok(SchemaState {
        version: schema_version(conn)?,
        oldest_compatible: oldest_compatible(conn)?,
        supported: SCHEMA_VERSION,
    })
}

/// Runs the migrations the file lacks, each in one IMMEDIATE transaction with its version bump
/// and compatibility marker; the version is read again inside the transaction, so several
/// connections opening the same file at once apply each migration exactly once. A newer file
/// is left as it is when its marker lets this program run on it ([`schema::check_newer`]).
fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    loop {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let version = schema_version(&tx)?;
        if version > SCHEMA_VERSION {
            return schema::check_newer(version, oldest_compatible(&tx)?, SCHEMA_VERSION);
        }
        let Some(sql) = MIGRATIONS.get(version as usize) else {
            return Ok(());
        };
        let next = version + 1;
        tx.execute_batch(sql)?;
        if next >= schema::MARKER_SINCE {
            tx.execute_batch("DELETE FROM dv_schema")?;
            tx.execute(
                "INSERT INTO dv_schema (oldest_compatible) VALUES (?1)",
                [schema::oldest_compatible(next)],
            )?;
        }
        tx.pragma_update(None, "user_version", next)?;
        tx.commit()?;
    }
}

/// One connection to the database behind a mutex. Each store keeps its own (WAL lets readers
/// run beside the writer); all of them are opened, migrated and locked the same way.
#[derive(Debug)]
pub struct Handle(Mutex<Connection>);

impl Handle {
    /// Opens (creating if needed) the database at `path`, migrated (see [`open`]).
    pub fn open(path: &Path) -> Result<Handle, StoreError> {
        Ok(Handle(Mutex::new(open(path)?)))
    }

    /// A private in-memory database with the current schema (tests).
    pub fn in_memory() -> Result<Handle, StoreError> {
        Ok(Handle(Mutex::new(open_in_memory()?)))
    }

    /// The connection (see [`lock`]).
    pub fn lock(&self) -> MutexGuard<'_, Connection> {
        lock(&self.0)
    }
}

/// SQL written once for both backends, with PostgreSQL's placeholders (`$1`), in SQLite's
/// (`?1`: the same numbered parameter). Such SQL has no other `$`.
pub(crate) fn placeholders(sql: &str) -> String {
    sql.replace('$', "?")
}

/// The connection behind a mutex; a panic while it was held leaves SQLite consistent, so a
/// poisoned lock is taken over rather than propagated.
pub fn lock(conn: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    conn.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs `f` in one IMMEDIATE transaction on `conn` (see [`crate::store::exec`]).
pub(crate) fn transaction<R>(
    conn: &mut Connection,
    f: impl FnOnce(&mut dyn Exec) -> Result<R, StoreError>,
) -> Result<R, StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let out = f(&mut SqliteExec(&tx))?;
    tx.commit()?;
    Ok(out)
}

/// [`Exec`] on an open SQLite transaction.
struct SqliteExec<'a>(&'a rusqlite::Transaction<'a>);

impl rusqlite::ToSql for Arg<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Arg::Int(v) => ToSqlOutput::from(*v),
            Arg::Text(s) => ToSqlOutput::from(*s),
        })
    }
}

impl Exec for SqliteExec<'_> {
    fn exec(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<u64, StoreError> {
        let mut stmt = self.0.prepare_cached(&placeholders(sql))?;
        Ok(stmt.execute(rusqlite::params_from_iter(args))? as u64)
    }

    fn int(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<Option<i64>, StoreError> {
        let mut stmt = self.0.prepare_cached(&placeholders(sql))?;
        Ok(stmt
            .query_row(rusqlite::params_from_iter(args), |r| r.get(0))
            .optional()?)
    }
}

impl Cells for rusqlite::Row<'_> {
    fn int(&self, i: usize) -> Result<i64, StoreError> {
        Ok(self.get(i)?)
    }

    fn text(&self, i: usize) -> Result<String, StoreError> {
        Ok(self.get(i)?)
    }

    fn opt_text(&self, i: usize) -> Result<Option<String>, StoreError> {
        Ok(self.get(i)?)
    }

    fn bytes(&self, i: usize) -> Result<Vec<u8>, StoreError> {
        Ok(self.get(i)?)
    }
}

/// Every row of `sql` (with `p`), each decoded by `decode`.
pub(crate) fn decoded<T>(
    conn: &Connection,
    sql: &str,
    p: impl rusqlite::Params,
    decode: impl Fn(&dyn Cells) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    let mut stmt = conn.prepare_cached(sql)?;
    let mut rows = stmt.query(p)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(decode(row)?);
    }
    Ok(out)
}
