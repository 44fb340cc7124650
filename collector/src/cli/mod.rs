//! The command line: one file per subcommand (`run`, `report`, `calendar`, `notify`,
//! `incident`, `oncall`, `intefunktion`, `db`, `healthcheck`, `inventory`, `user`), the
//! options they share ([`CommonArgs`]) and the one error type they return ([`CliError`]). The
//! binary's `main.rs` only parses and dispatches; nothing else in the collector imports this
//! module.
//!
//! This is the composition root: each subcommand opens the database once
//! ([`crate::store::Database::open`]) and hands the stores it needs down; nothing below `cli/` opens one.

pub mod calendar;
pub mod check;
pub mod db;
pub mod healthcheck;
pub mod incident;
pub mod intefunktion;
pub mod inventory;
pub mod notify;
pub mod oncall;
pub mod report;
pub mod run;
pub mod topology;
pub mod user;

use crate::clock::Clock;
use crate::inventory::Inventory;
use crate::notify::transport::TransportError;
use crate::store::{Location, StoreError, WindowStore};
use crate::windows::{CalendarError, CalendarService};
use chrono::NaiveDate;
use driftvakt_common::config::{ConfigError, ConfigErrors};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// Options shared by `run`, `report` and `check-config`.
#[derive(Debug, Clone, clap::Args)]
pub struct CommonArgs {
    /// The inventory YAML file.
    #[arg(long, short = 'c')]
    pub config: PathBuf,
    /// Address to listen on (overrides `collector.listen`).
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// The database: a SQLite file or postgres://USER@HOST:PORT/DB (overrides
    /// `collector.database`).
    #[arg(long)]
    pub database: Option<Location>,
}

impl CommonArgs {
    /// Loads the inventory and applies the command-line overrides.
    pub fn load(&self) -> Result<Inventory, CliError> {
        let mut inv = Inventory::load(&self.config)?;
        if let Some(l) = self.listen {
            inv.settings.listen = l;
        }
        if let Some(d) = &self.database {
            inv.set_database(d.clone());
        }
        Ok(inv)
    }
}

/// `--config` and `--database` of a command with subcommands that needs the collector's file
/// (`incident`): accepted before and after the subcommand (`incident --config F add …` and
/// `incident add --config F …`), as clap allows only optional arguments to be global.
#[derive(Debug, Clone, clap::Args)]
pub struct GlobalConfigArgs {
    /// The collector's YAML file.
    #[arg(long, short = 'c', global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The database: a SQLite file or postgres://USER@HOST:PORT/DB (overrides
    /// `collector.database`).
    #[arg(long, global = true, value_name = "PATH_OR_URL")]
    pub database: Option<Location>,
}

impl GlobalConfigArgs {
    /// As [`CommonArgs`]; `--config` is required.
    pub fn common(&self) -> Result<CommonArgs, CliError> {
        let config = self.config.clone().ok_or_else(|| {
            CliError::Usage("--config FILE (the collector's YAML file) is required".into())
        })?;
        Ok(CommonArgs {
            config,
            listen: None,
            database: self.database.clone(),
        })
    }
}

/// Options shared by the tools that work on one section and the database (`calendar`,
/// `notify`): the YAML file, the database, and a pinned "now".
#[derive(Debug, Clone, clap::Args)]
pub struct ToolArgs {
    /// The collector's YAML file (its `notify:`, `calendar:` and `collector.database`), or a
    /// file with just the section's key and `database:` (defaults apply without it).
    #[arg(long, short = 'c', global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The database, a SQLite file or postgres://USER@HOST:PORT/DB (overrides `database:` in
    /// --config).
    #[arg(long, global = true, value_name = "PATH_OR_URL")]
    pub database: Option<Location>,
    /// Act as if it were this instant (RFC 3339); for tests and rehearsals.
    #[arg(long, global = true, hide = true)]
    pub now: Option<chrono::DateTime<chrono::FixedOffset>>,
}

impl ToolArgs {
    /// `clock`, or a clock pinned at `--now`.
    pub fn clock(&self, clock: Arc<dyn Clock>) -> Arc<dyn Clock> {
        match self.now {
            Some(t) => Arc::new(crate::clock::FixedClock(t.with_timezone(&chrono::Utc))),
            None => clock,
        }
    }
}

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Config(#[from] ConfigErrors),
    #[error(transparent)]
    ConfigFile(#[from] ConfigError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Report(#[from] crate::report::ReportError),
    #[error(transparent)]
    Calendar(#[from] CalendarError),
    #[error(transparent)]
    Transport(#[from] TransportError),
    #[error(transparent)]
    Render(#[from] crate::notify::render::RenderError),
    #[error("the test mail was not sent: {0}")]
    Send(String),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("server: {0}")]
    Serve(std::io::Error),
    #[error(
        "this command needs a database: pass --database PATH or set `database:` in the --config file"
    )]
    NoDatabase,
    #[error("database {0} does not exist")]
    DatabaseMissing(Location),
    #[error("--to {to} is before --from {from}")]
    EmptyRange { from: NaiveDate, to: NaiveDate },
    #[error("year {0} is out of range")]
    BadYear(i32),
    #[error("cannot write output: {0}")]
    Io(#[from] std::io::Error),
    #[error("cannot encode JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("{0}")]
    Usage(String),
}

/// Keys only the collector's own file has at its top level.
const COLLECTOR_KEYS: [&str; 7] = [
    "collector",
    "sites",
    "devices",
    "services",
    "agents",
    "include",
    "snmp_credentials",
];

/// The collector's own file, loaded and checked as `run` loads it, when `path` is one (a
/// top-level key only it has, and no `database:` of a section file); `None` for a file with
/// just a section and `database:`.
pub fn collector_file(path: &std::path::Path) -> Result<Option<Inventory>, CliError> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let top: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with([' ', '\t', '#', '-']))
        .filter_map(|l| l.split_once(':').map(|(k, _)| k.trim()))
        .collect();
    let collectors = top.iter().any(|k| COLLECTOR_KEYS.contains(k));
    if !collectors || top.contains(&"database") {
        return Ok(None);
    }
    Ok(Some(Inventory::load(path)?))
}

/// The database of a tool's YAML file (`database:`, a path or a URL) or of `--database`.
pub fn tool_database(
    arg: Option<Location>,
    file: Option<PathBuf>,
) -> Result<Option<Location>, CliError> {
    match (arg, file) {
        (Some(l), _) => Ok(Some(l)),
        (None, Some(p)) => p
            .to_string_lossy()
            .parse()
            .map(Some)
            .map_err(|e| CliError::Usage(format!("database: {e}"))),
        (None, None) => Ok(None),
    }
}

/// The calendar with operators' activations and ad-hoc windows in `windows` (the collector's
/// database).
pub fn calendar_service(
    inv: &Inventory,
    windows: Arc<dyn WindowStore>,
    clock: Arc<dyn Clock>,
) -> CalendarService<Arc<dyn WindowStore>> {
    CalendarService::new(inv.calendar.clone().unwrap_or_default(), windows, clock)
}
