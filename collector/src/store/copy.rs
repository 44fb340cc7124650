//! `db copy`: moves an installation between backends (SQLite ⇄ PostgreSQL, or to another file
//! or database of the same kind) with nothing lost.
//!
//! Rules:
//! - the source is never written nor migrated (SQLite is opened read-only, PostgreSQL is read in
//!   one `REPEATABLE READ READ ONLY` transaction, so a running collector cannot tear the copy);
//! - the target is opened the usual way (created and migrated to this program's schema when
//!   new) and must be at the source's schema version and hold no rows in any table;
//! - every table of the schema is copied ([`TABLES`], in an order that respects the foreign
//!   keys), with its ids, except the running cluster's heartbeats and lease ([`RUNTIME`]); the schema's bookkeeping (`dv_schema` with the version or the
//!   compatibility marker, SQLite's `user_version` and `sqlite_sequence`) is not a table to copy; a table of the source or target that [`TABLES`]
//!   does not know stops the copy, so a new migration's table cannot be forgotten;
//! - all of it in one transaction on the target, in which the rows of every table are counted
//!   against the source before the commit; PostgreSQL's id sequences are set to `max(id) + 1`
//!   (SQLite's `AUTOINCREMENT` keeps its own counter as rows with ids are inserted).

use super::{Location, StoreError};
use std::collections::BTreeSet;

/// Every table of the schema, in copy order (a table after those its foreign keys name).
pub const TABLES: &[&str] = &[
    "dv_names",
    "dv_series",
    "dv_obs",
    "dv_latest",
    "dv_batches",
    "dv_outages",
    "dv_flaps",
    "dv_seen",
    "dv_agents",
    "dv_pending",
    "calendar_secondary_activations",
    "calendar_adhoc_windows",
    "notify_outbox",
    "notify_incidents",
    "notify_digest_items",
    "notify_oncall_cases",
    "notify_schedule_marks",
    "notify_pages",
    "alerting_state",
    "manual_incidents",
    "manual_incident_updates",
    "service_updates",
    "oncall_manual_cases",
    "register_changes",
    "intefunktion_cases",
    "audit_log",
    "topology_accepted",
];

/// Tables of the running cluster, known but not copied: which nodes beat and who leads belong
/// to the collectors running on a database, not to the installation; the target keeps its own
/// (nobody leading until a collector starts on it).
pub const RUNTIME: &[&str] = &["cluster_lease", "cluster_nodes"];

/// Rows read and written per step.
pub const CHUNK: usize = 2_000;

/// One stored value, as both backends have them.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Text(String),
    Bytes(Vec<u8>),
}

/// One row, its values in the order of the table's columns.
pub type Row = Vec<Value>;

/// The rows received per chunk while reading a table.
pub type Sink<'a> = dyn FnMut(Vec<Row>) -> Result<(), StoreError> + 'a;

/// One end of a copy (see the module doc): a source reads, a target writes.
pub trait End {
    /// The schema version stored in the database.
    fn version(&mut self) -> Result<i64, StoreError>;
    /// The schema's tables (not views, not bookkeeping), sorted.
    fn tables(&mut self) -> Result<Vec<String>, StoreError>;
    /// A table's columns in their order.
    fn columns(&mut self, table: &str) -> Result<Vec<String>, StoreError>;
    /// A table's rows (inside the open transaction, if any).
    fn count(&mut self, table: &str) -> Result<u64, StoreError>;
    /// Source: starts the consistent read.
    fn begin_read(&mut self) -> Result<(), StoreError>;
    /// Source: every row of `table`, `CHUNK` at a time.
    fn read(&mut self, table: &str, columns: &[String], sink: &mut Sink) -> Result<(), StoreError>;
    /// Target: starts the one transaction.
    fn begin_write(&mut self) -> Result<(), StoreError>;
    /// Target: inserts rows as they are, ids included.
    fn insert(&mut self, table: &str, columns: &[String], rows: &[Row]) -> Result<(), StoreError>;
    /// Target: after a table's rows (PostgreSQL sets the id sequence).
    fn finish_table(&mut self, table: &str) -> Result<(), StoreError>;
    /// Target: commits.
    fn commit(&mut self) -> Result<(), StoreError>;
}

/// Rows of one table in the source and, after the copy, in the target.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Counted {
    pub table: String,
    pub source: u64,
    pub target: u64,
}

/// What a copy did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CopyReport {
    pub from: String,
    pub to: String,
    pub schema_version: i64,
    pub tables: Vec<Counted>,
}

pub(super) fn refuse(message: String) -> StoreError {
    StoreError::Copy(message)
}

/// Refuses to copy a database onto itself.
pub(super) fn check_distinct(from: &Location, to: &Location) -> Result<(), StoreError> {
    if from == to {
        return Err(refuse(format!(
            "--from and --to are the same database ({from})"
        )));
    }
    Ok(())
}

/// Copies everything from `source` (at `from`) into `target` (at `to`), both opened by
/// [`super::copy_database`] (see the module doc).
pub(super) fn copy_ends(
    from: &Location,
    to: &Location,
    mut source: Box<dyn End>,
    mut target: Box<dyn End>,
) -> Result<CopyReport, StoreError> {
    let version = check_versions(&mut *source, &mut *target)?;
    check_tables(&mut *source, "source")?;
    check_tables(&mut *target, "target")?;
    check_empty(&mut *target)?;
    source.begin_read()?;
    target.begin_write()?;
    let mut tables = Vec::new();
    for table in TABLES {
        tables.push(copy_table(&mut *source, &mut *target, table)?);
    }
    if let Some(c) = tables.iter().find(|c| c.source != c.target) {
        return Err(refuse(format!(
            "table {} has {} rows in the source but {} in the target after the copy; nothing \
             was committed",
            c.table, c.source, c.target
        )));
    }
    target.commit()?;
    Ok(CopyReport {
        from: from.to_string(),
        to: to.to_string(),
        schema_version: version,
        tables,
    })
}

fn copy_table(
    source: &mut dyn End,
    target: &mut dyn End,
    table: &str,
) -> Result<Counted, StoreError> {
    let columns = source.columns(table)?;
    let theirs = target.columns(table)?;
    if as_set(&columns) != as_set(&theirs) {
        return Err(refuse(format!(
            "table {table} has columns {columns:?} in the source but {theirs:?} in the target"
        )));
    }
    let counted = source.count(table)?;
    source.read(table, &columns, &mut |rows| {
        target.insert(table, &columns, &rows)
    })?;
    target.finish_table(table)?;
    Ok(Counted {
        table: table.to_string(),
        source: counted,
        target: target.count(table)?,
    })
}

fn as_set(v: &[String]) -> BTreeSet<&str> {
    v.iter().map(String::as_str).collect()
}

fn check_versions(source: &mut dyn End, target: &mut dyn End) -> Result<i64, StoreError> {
    let (s, t) = (source.version()?, target.version()?);
    if s == 0 {
        return Err(refuse(
            "the source holds no collector database (schema version 0)".into(),
        ));
    }
    if s != t {
        return Err(refuse(format!(
            "the source is at schema version {s}, the target at {t}: both must be at the same \
             version (start this version's collector once on the source, which migrates it, \
             then copy again)"
        )));
    }
    Ok(s)
}

/// The tables of `end` must be exactly [`TABLES`] and [`RUNTIME`].
fn check_tables(end: &mut dyn End, which: &str) -> Result<(), StoreError> {
    let found = end.tables()?;
    let known: BTreeSet<&str> = TABLES.iter().chain(RUNTIME).copied().collect();
    if let Some(t) = found.iter().find(|t| !known.contains(t.as_str())) {
        return Err(refuse(format!(
            "the {which} has table {t}, which db copy does not know: add it to \
             store::copy::TABLES"
        )));
    }
    let found = as_set(&found);
    if let Some(t) = TABLES.iter().find(|t| !found.contains(*t)) {
        return Err(refuse(format!("the {which} has no table {t}")));
    }
    Ok(())
}

fn check_empty(target: &mut dyn End) -> Result<(), StoreError> {
    for table in TABLES {
        let n = target.count(table)?;
        if n > 0 {
            return Err(refuse(format!(
                "the target already has rows in table {table} ({n}): copy only into a new or \
                 empty database"
            )));
        }
    }
    Ok(())
}

/// `"a", "b"` for SQL (names come from [`TABLES`] and the schema, never from input).
pub fn column_list(columns: &[String]) -> String {
    columns
        .iter()
        .map(|c| format!("\"{c}\""))
        .collect::<Vec<_>>()
        .join(", ")
}
