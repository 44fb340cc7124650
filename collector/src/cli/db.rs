//! `driftvakt-collector db stats`: what the database holds (rows per table, bytes on disk, the
//! oldest raw result and the retention horizon), as a table or JSON. The same size and oldest
//! result are on `/metrics` (`driftvakt_store_bytes`,
//! `driftvakt_store_oldest_result_timestamp_seconds`).
//!
//! `driftvakt-collector db copy --from PATH_OR_URL --to PATH_OR_URL`: moves an installation
//! between SQLite and PostgreSQL (either way) with nothing lost (see [`crate::store::copy`]),
//! and prints the rows of every table in both.
//!
//! `driftvakt-collector db backup --to FILE` and `db restore --from FILE`: a consistent copy of
//! the SQLite database while collectors write, and putting one back while none runs (see
//! [`crate::store::sqlite::backup`]); each prints the rows per table of what it wrote.

use super::{CliError, CommonArgs};
use crate::availability::{at, ms};
use crate::clock::{Clock, FixedClock};
use crate::store::copy::CopyReport;
use crate::store::sqlite::backup::Copied;
use crate::store::{Database, Location, StoreStats};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use std::fmt::Write as _;
use std::sync::Arc;

/// `db` options.
#[derive(Debug, Clone, clap::Args)]
pub struct DbArgs {
    #[command(subcommand)]
    pub command: DbCommand,
}

/// What `db` does.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum DbCommand {
    /// Rows per table, bytes on disk, the oldest raw result and the retention horizon.
    Stats(StatsArgs),
    /// Copies every table into a new or empty database (SQLite file or postgres:// URL), ids
    /// kept, in one transaction, and prints the rows per table in both.
    Copy(CopyArgs),
    /// Copies the SQLite database into a new file, consistent while collectors write to it
    /// (SQLite's online backup API). PostgreSQL: pg_dump or pgBackRest (see the README).
    Backup(BackupArgs),
    /// Replaces the SQLite database with a backup; refused while a collector runs on it.
    Restore(RestoreArgs),
}

/// `db backup` options.
#[derive(Debug, Clone, clap::Args)]
pub struct BackupArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// The backup file to write (a new file; an existing one is never overwritten).
    #[arg(long, value_name = "FILE")]
    pub to: std::path::PathBuf,
    #[arg(long, value_enum, default_value_t = StatsFormat::Table)]
    pub format: StatsFormat,
}

/// `db restore` options.
#[derive(Debug, Clone, clap::Args)]
pub struct RestoreArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// The backup file (written by `db backup`).
    #[arg(long, value_name = "FILE")]
    pub from: std::path::PathBuf,
    #[arg(long, value_enum, default_value_t = StatsFormat::Table)]
    pub format: StatsFormat,
}

/// `db copy` options.
#[derive(Debug, Clone, clap::Args)]
pub struct CopyArgs {
    /// The database copied from (never written): a SQLite file or postgres://USER@HOST:PORT/DB.
    #[arg(long, value_name = "PATH_OR_URL")]
    pub from: Location,
    /// The database copied into: a new SQLite file, or an empty PostgreSQL database (its tables
    /// are created).
    #[arg(long, value_name = "PATH_OR_URL")]
    pub to: Location,
    #[arg(long, value_enum, default_value_t = StatsFormat::Table)]
    pub format: StatsFormat,
}

/// `db stats` options.
#[derive(Debug, Clone, clap::Args)]
pub struct StatsArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    #[arg(long, value_enum, default_value_t = StatsFormat::Table)]
    pub format: StatsFormat,
    /// Compute the horizon as if it were this instant (RFC 3339); for tests and re-runs.
    #[arg(long)]
    pub now: Option<DateTime<Utc>>,
}

/// Output of `db stats`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StatsFormat {
    Table,
    Json,
}

/// `db stats` as JSON.
#[derive(Debug, Serialize)]
pub struct StatsReport {
    pub database: String,
    pub bytes: u64,
    pub free_pages: u64,
    pub page_size: u64,
    pub rows: std::collections::BTreeMap<String, u64>,
    pub raw_results: u64,
    pub runs: u64,
    /// RFC 3339, or null when no raw result is kept.
    pub oldest_result: Option<String>,
    pub retention: String,
    /// RFC 3339: raw results before it are compacted into runs.
    pub retention_horizon: String,
}

/// Runs `db` and returns what to print.
pub fn run(args: &DbArgs, clock: Arc<dyn Clock>) -> Result<String, CliError> {
    match &args.command {
        DbCommand::Stats(a) => stats(a, clock),
        DbCommand::Copy(a) => copy(a),
        DbCommand::Backup(a) => backup(a),
        DbCommand::Restore(a) => restore(a),
    }
}

/// `db backup`: never creates the database it backs up.
fn backup(a: &BackupArgs) -> Result<String, CliError> {
    let inv = a.common.load()?;
    let location = &inv.settings.database;
    if !location.exists() {
        return Err(CliError::DatabaseMissing(location.clone()));
    }
    let done = Database::open(location)?.backup_to(&a.to)?;
    copied_text("backup", &done, a.format)
}

/// `db restore`.
fn restore(a: &RestoreArgs) -> Result<String, CliError> {
    let inv = a.common.load()?;
    let done = Database::open(&inv.settings.database)?.restore_from(&a.from)?;
    copied_text("restored", &done, a.format)
}

fn copied_text(what: &str, c: &Copied, format: StatsFormat) -> Result<String, CliError> {
    if format == StatsFormat::Json {
        return Ok(serde_json::to_string_pretty(c)? + "\n");
    }
    let mut out = String::new();
    let _ = writeln!(out, "{what} {} -> {} ({} bytes)", c.from, c.to, c.bytes);
    let _ = writeln!(out, "schema version {}\n", c.schema_version);
    let _ = writeln!(out, "{:<36} {:>12}", "table", "rows");
    for t in &c.tables {
        let _ = writeln!(out, "{:<36} {:>12}", t.table, t.rows);
    }
    Ok(out)
}

/// `db copy`: the copy, then its table of rows.
fn copy(a: &CopyArgs) -> Result<String, CliError> {
    let done = crate::store::copy_database(&a.from, &a.to)?;
    Ok(match a.format {
        StatsFormat::Json => serde_json::to_string_pretty(&done)? + "\n",
        StatsFormat::Table => copy_table(&done),
    })
}

fn copy_table(r: &CopyReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "copied {} -> {}", r.from, r.to);
    let _ = writeln!(out, "schema version {}\n", r.schema_version);
    let _ = writeln!(out, "{:<36} {:>12} {:>12}", "table", "from", "to");
    for c in &r.tables {
        let _ = writeln!(out, "{:<36} {:>12} {:>12}", c.table, c.source, c.target);
    }
    let (rows, tables) = (
        r.tables.iter().map(|c| c.target).sum::<u64>(),
        r.tables.len(),
    );
    let _ = writeln!(out, "\n{rows} rows in {tables} tables, the same in both");
    out
}

/// `db stats`.
fn stats(a: &StatsArgs, clock: Arc<dyn Clock>) -> Result<String, CliError> {
    let clock: Arc<dyn Clock> = match a.now {
        Some(t) => Arc::new(FixedClock(t)),
        None => clock,
    };
    let inv = a.common.load()?;
    let path = &inv.settings.database;
    // Never create a database to describe it.
    if !path.exists() {
        return Err(CliError::DatabaseMissing(path.clone()));
    }
    let store = Database::open(path)?.store()?;
    let stats = store.stats(true)?;
    let keep = inv.settings.retention.results;
    let horizon = ms(clock.now()) - keep.std().as_millis() as i64;
    let report = report(path.to_string(), stats, keep.to_string(), horizon);
    Ok(match a.format {
        StatsFormat::Json => serde_json::to_string_pretty(&report)? + "\n",
        StatsFormat::Table => table(&report),
    })
}

fn rfc3339(t: i64) -> String {
    at(t).to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn report(database: String, s: StoreStats, retention: String, horizon: i64) -> StatsReport {
    StatsReport {
        database,
        bytes: s.bytes,
        free_pages: s.free_pages,
        page_size: s.page_size,
        rows: s.rows,
        raw_results: s.raw_results,
        runs: s.runs,
        oldest_result: s.oldest_result.map(rfc3339),
        retention,
        retention_horizon: rfc3339(horizon),
    }
}

fn table(r: &StatsReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "database           {}", r.database);
    let _ = writeln!(
        out,
        "bytes on disk      {} ({:.1} MiB; {} free pages of {} bytes, reused first)",
        r.bytes,
        r.bytes as f64 / 1_048_576.0,
        r.free_pages,
        r.page_size
    );
    let _ = writeln!(
        out,
        "results            {} raw, {} runs",
        r.raw_results, r.runs
    );
    let _ = writeln!(
        out,
        "oldest raw result  {}",
        r.oldest_result.as_deref().unwrap_or("none")
    );
    let _ = writeln!(
        out,
        "retention          {} (horizon {})",
        r.retention, r.retention_horizon
    );
    let _ = writeln!(out, "\n{:<36} {:>12}", "table", "rows");
    for (t, n) in &r.rows {
        let _ = writeln!(out, "{t:<36} {n:>12}");
    }
    out
}
