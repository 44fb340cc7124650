//! `driftvakt-collector run`: load the inventory, open the database, serve until SIGTERM.

use crate::api::ApiState;
use crate::calendar::{CalendarService, SqliteWindowStore};
use crate::clock::SystemClock;
use crate::ingest::{system_clock, App};
use crate::inventory::Inventory;
use crate::server::{serve, shutdown_signal};
use crate::store::SqliteStore;
use driftvakt_agent::config::Secret;
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
    /// SQLite database file (overrides `collector.database`).
    #[arg(long)]
    pub database: Option<PathBuf>,
}

impl CommonArgs {
    /// Loads the inventory and applies the command-line overrides.
    pub fn load(&self) -> Result<Inventory, CliError> {
        let mut inv = Inventory::load(&self.config)?;
        if let Some(l) = self.listen {
            inv.settings.listen = l;
        }
        if let Some(d) = &self.database {
            inv.settings.database = d.clone();
        }
        Ok(inv)
    }
}

/// `run` options.
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Seconds between recomputations of the availability metrics on `/metrics`.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    pub availability_every: u64,
}

/// Errors of the command-line entry points.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Config(#[from] driftvakt_common::config::ConfigErrors),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Report(#[from] crate::report::ReportError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("server: {0}")]
    Serve(std::io::Error),
    #[error("{0}")]
    Usage(String),
}

/// The calendar with operators' activations and ad-hoc windows, on the collector's database.
pub fn calendar_service(inv: &Inventory) -> Result<CalendarService<SqliteWindowStore>, CliError> {
    let store = SqliteWindowStore::open(&inv.settings.database)
        .map_err(|e| CliError::Usage(format!("calendar store: {e}")))?;
    Ok(CalendarService::new(
        inv.calendar.clone().unwrap_or_default(),
        store,
        Arc::new(SystemClock),
    ))
}

fn operator_token(inv: &Inventory) -> Result<Option<Secret>, CliError> {
    let Some(r) = &inv.settings.operator_token else {
        return Ok(None);
    };
    let base = inv.path.parent().unwrap_or(std::path::Path::new("."));
    r.resolve(base)
        .map(Some)
        .map_err(|e| CliError::Usage(format!("collector.operator_token: {e}")))
}

/// Runs the collector until ctrl-c or SIGTERM.
pub async fn run(args: RunArgs) -> Result<(), CliError> {
    let inv = args.common.load()?;
    let store = SqliteStore::open(&inv.settings.database)?;
    let addr = inv.settings.listen;
    let db = inv.settings.database.clone();
    let app = App::new(inv, Arc::new(store), system_clock())?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| CliError::Listen { addr, source })?;
    tracing::info!(
        "listening on {}, database {}",
        listener.local_addr().map_err(CliError::Serve)?,
        db.display()
    );
    let mut registry = prometheus_client::registry::Registry::default();
    let embedded = crate::embedded::start_all(&app, &mut registry)
        .map_err(|e| CliError::Usage(format!("embedded agent: {e}")))?;
    let calendar = Arc::new(calendar_service(&app.inventory)?);
    let every = std::time::Duration::from_secs(args.availability_every);
    let metrics = crate::metrics::start(&mut registry, &app, calendar.clone(), every);
    let state = ApiState {
        calendar,
        operator_token: operator_token(&app.inventory)?,
        registry: Arc::new(registry),
        app,
    };
    let served = serve(state, listener, shutdown_signal()).await;
    for task in embedded.into_iter().chain([metrics]) {
        task.abort();
    }
    served.map_err(CliError::Serve)
}
