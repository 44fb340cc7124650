//! `driftvakt-collector run`: load the inventory, open the database, serve until SIGTERM.
//! With a `notify:` section it also runs the notifier ([`start_notifier`]): alerting checks
//! after every ingest, delivery, the time-driven tick, and the notifier's metrics.

use super::{calendar_service, CliError, CommonArgs};
use crate::alerting::{self, Alerting, AppReports, NotifyMetrics, SignallingStore};
use crate::app::App;
use crate::clock::Clock;
use crate::http::{serve, shutdown_signal, ApiState};
use crate::inventory::Inventory;
use crate::notify::{Acknowledge, Channels, ConfiguredTransport, Notifier};
use crate::store::{Database, WindowStore};
use crate::windows::CalendarService;
use driftvakt_common::schema::Secret;
use std::sync::Arc;

/// `run` options.
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Seconds between recomputations of the availability metrics on `/metrics`.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    pub availability_every: u64,
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

/// Runs the collector until ctrl-c or SIGTERM, with `clock` as its one source of "now".
pub async fn run(args: RunArgs, clock: Arc<dyn Clock>) -> Result<(), CliError> {
    // First: a SIGTERM during start-up is kept and honoured once serving.
    let stop = shutdown_signal();
    let inv = args.common.load()?;
    for w in super::check::preflight(&inv, clock.as_ref())? {
        tracing::warn!("{w}");
    }
    let store = Database::open(&inv.settings.database)?.store()?;
    let addr = inv.settings.listen;
    let db = inv.settings.database.clone();
    let changed = Arc::new(tokio::sync::Notify::new());
    let store = SignallingStore::new(store, changed.clone());
    let app = App::new(inv, Arc::new(store), clock.clone())?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| CliError::Listen { addr, source })?;
    tracing::info!(
        "listening on {}, database {}",
        listener.local_addr().map_err(CliError::Serve)?,
        db
    );
    let mut registry = prometheus_client::registry::Registry::default();
    let embedded = crate::embedded::start_all(&app, &mut registry)
        .map_err(|e| CliError::Usage(format!("embedded agent: {e}")))?;
    let calendar = Arc::new(calendar_service(&app.inventory, clock)?);
    let every = std::time::Duration::from_secs(args.availability_every);
    let metrics = crate::metrics::start(
        &mut registry,
        &app.metrics_sources(),
        calendar.clone(),
        every,
    );
    let (notifier, alerts) = start_notifier(&app, calendar.clone(), &mut registry, changed)?;
    let pruner = app.spawn_pruner(std::time::Duration::from_secs(60));
    let state = ApiState {
        alerts,
        calendar,
        operator_token: operator_token(&app.inventory)?,
        registry: Arc::new(registry),
        app,
    };
    let served = serve(state, listener, stop).await;
    for task in embedded
        .into_iter()
        .chain([metrics, pruner])
        .chain(notifier)
    {
        task.abort();
    }
    served.map_err(CliError::Serve)
}

/// The notifier's tasks, and what acknowledges its alerts.
pub type Started = (
    Vec<tokio::task::JoinHandle<()>>,
    Option<Arc<dyn Acknowledge>>,
);

/// Starts the notifier when the inventory has a `notify:` section: alerting checks after every
/// stored change and every 30 s, delivery every 5 s (SMTP, or `.eml` files in
/// `notify.outbox_dir`, default `outbox` next to the database), the tick every 30 s, and the
/// metrics in `registry`. Returns the tasks (abort to stop); none without `notify:`.
pub fn start_notifier(
    app: &App,
    calendar: Arc<CalendarService<Arc<dyn WindowStore>>>,
    registry: &mut prometheus_client::registry::Registry,
    changed: Arc<tokio::sync::Notify>,
) -> Result<Started, CliError> {
    let Some(mut config) = app.inventory.notify.clone() else {
        tracing::info!("no `notify:` section: no driftmeddelanden or alerts are sent");
        return Ok((Vec::new(), None));
    };
    let db = &app.inventory.settings.database;
    config.outbox_dir = alerting::outbox_dir(&config, db);
    let notify_err = |e: &dyn std::fmt::Display| CliError::Usage(format!("notify: {e}"));
    if let Some(dir) = &config.templates_dir {
        crate::notify::render::check_templates(dir).map_err(|e| notify_err(&e))?;
    }
    let transport = ConfiguredTransport::from_config(&config).map_err(|e| notify_err(&e))?;
    match &config.smtp {
        Some(s) => tracing::info!("notify: mails go to the SMTP relay {}:{}", s.host, s.port),
        None => tracing::info!(
            "notify: mails are written to {}",
            config.outbox_dir.display()
        ),
    }
    let base = app
        .inventory
        .path
        .parent()
        .unwrap_or(std::path::Path::new("."));
    let channels = Channels::from_config(&config, base).map_err(|e| notify_err(&e))?;
    for name in config.channels.keys() {
        tracing::info!("notify: alert channel {name} configured");
    }
    let database = Database::open(db).map_err(|e| notify_err(&e))?;
    let open_store = || database.notify().map_err(|e| notify_err(&e));
    let reports = AppReports {
        app: app.clone(),
        calendar: calendar.clone(),
        oncall: open_store()?,
    };
    let notifier = Notifier::new(
        config,
        calendar,
        app.clock.clone(),
        open_store()?,
        transport,
    )
    .with_reports(Arc::new(reports))
    .with_channels(channels);
    let notifier = Arc::new(notifier);
    let acks: Arc<dyn Acknowledge> = notifier.clone();
    let alerting = Alerting::new(app.clone(), notifier, db).map_err(|e| notify_err(&e))?;
    let metrics = NotifyMetrics::register(registry);
    Ok((
        alerting::spawn(Arc::new(alerting), changed, metrics),
        Some(acks),
    ))
}
