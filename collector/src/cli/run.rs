//! `driftvakt-collector run`: load the inventory, open the database, serve until SIGTERM.
//! The database is opened here, once: its stores ([`Stores`]) go to `App`, the HTTP state,
//! the cluster member, alerting and the notifier.
//! With a `notify:` section it also runs the notifier ([`build_notifier`]): alerting checks
//! after every re-derivation that changed something (`App::subscribe`), delivery, the
//! time-driven tick, and the notifier's metrics. Every node
//! beats in the cluster ([`crate::cluster`]); the notifier's loops run only while this node
//! holds the leader lease, and every send is fenced by it. A clean stop releases the lease.

use super::{calendar_service, CliError, CommonArgs};
use crate::alerting::{self, Alerting, AppReports};
use crate::app::App;
use crate::clock::Clock;
use crate::cluster::{ClusterMetrics, Lead, Member};
use crate::http::tls::{TlsMetrics, TlsServer};
use crate::http::{serve_tls, shutdown_signal, ApiState};
use crate::inventory::Inventory;
use crate::notify::{
    self, Acknowledge, Channels, ConfiguredTransport, Fence, MailTransport, Notifier, NotifyMetrics,
};
use crate::store::{Database, NotifyStore, Stores, WindowStore};
use crate::windows::CalendarService;
use driftvakt_agent::exposition::Exposition;
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

pub(super) fn operator_token(inv: &Inventory) -> Result<Option<Secret>, CliError> {
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
    let database = Database::open(&inv.settings.database)?;
    for w in database.durability_warnings()? {
        tracing::warn!("database {}: {w}", inv.settings.database);
    }
    // Held while running: `db restore` refuses a SQLite file a collector runs on.
    let _run_lock = database.run_lock()?;
    let stores = database.stores()?;
    // Topology proposals an operator accepted win over `parent:` lines.
    let accepted = (stores.topology.accepted()?.into_iter())
        .map(|a| (a.device, a.parent))
        .collect();
    inv.set_accepted(accepted);
    if let Some(note) = database.schema()?.newer_note() {
        tracing::info!("{note}");
    }
    // The register's past: the YAML's owners and statuses as of today, where they changed.
    let recorded = crate::register::sync(
        &*stores.register,
        &inv,
        crate::register::local_day(clock.now()),
    )?;
    if !recorded.is_empty() {
        tracing::info!(devices = recorded.len(), "register changes recorded");
    }
    let addr = inv.settings.listen;
    let db = inv.settings.database.clone();
    let app = App::new(inv, stores.results.clone(), clock.clone())?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| CliError::Listen { addr, source })?;
    tracing::info!(
        "listening on {}, database {}",
        listener.local_addr().map_err(CliError::Serve)?,
        db
    );
    let mut exposition = Exposition::default();
    let (tls, reloader) = start_tls(&app, exposition.registry_mut(), clock.clone())?;
    let embedded = crate::embedded::start_all(&app, &mut exposition)
        .map_err(|e| CliError::Usage(format!("embedded agent: {e}")))?;
    let calendar = Arc::new(calendar_service(
        &app.inventory,
        stores.windows.clone(),
        clock,
    ));
    let every = std::time::Duration::from_secs(args.availability_every);
    let registry = exposition.registry_mut();
    let metrics = crate::metrics::start(registry, &metrics_sources(&app), calendar.clone(), every);
    let member = cluster_member(&app, &listener, stores.cluster.clone());
    let cluster_metrics = ClusterMetrics::register(registry);
    let fence: Arc<dyn Fence> = member.clone();
    let parts = build_notifier(&app, &stores, calendar.clone(), registry, Some(fence))?;
    let alerts = parts.as_ref().map(|p| p.acks.clone());
    let lead: Lead = match parts {
        Some(p) => Box::new(move || p.spawn()),
        None => Box::new(Vec::new),
    };
    let beat = app.inventory.settings.cluster.heartbeat.std();
    let shared = watch_for_peers(&app, member.clone(), cluster_metrics.clone(), beat);
    let heartbeat = crate::cluster::spawn(member.clone(), cluster_metrics, lead);
    let pruner = app.spawn_pruner(std::time::Duration::from_secs(60));
    let state = ApiState {
        alerts,
        calendar,
        operator_token: operator_token(&app.inventory)?,
        exposition: Arc::new(exposition),
        app,
        stores,
        cluster: Some(member.clone()),
        pages: Arc::default(),
    };
    let served = serve_tls(state, listener, stop, tls).await;
    for task in embedded
        .into_iter()
        .chain([metrics, pruner, heartbeat, shared])
        .chain(reloader)
    {
        task.abort();
    }
    if let Err(e) = tokio::task::spawn_blocking(move || member.resign()).await {
        tracing::warn!(error = %e, "the leader lease was not released");
    }
    served.map_err(CliError::Serve)
}

/// HTTPS when `collector.tls` is set: the certificate in service, its reloader (SIGHUP, changed
/// files) and `driftvakt_collector_tls_cert_days_left`. Without it, a warning when the collector listens
/// in plain HTTP beyond loopback (agents' tokens and results would cross the network in clear).
#[allow(clippy::type_complexity)]
fn start_tls(
    app: &App,
    registry: &mut prometheus_client::registry::Registry,
    clock: Arc<dyn Clock>,
) -> Result<(Option<Arc<TlsServer>>, Option<tokio::task::JoinHandle<()>>), CliError> {
    let settings = &app.inventory.settings;
    let Some(files) = &settings.tls else {
        if let Some(w) = plain_http_warning(settings.listen) {
            tracing::warn!("{w}");
        }
        return Ok((None, None));
    };
    let base = app
        .inventory
        .path
        .parent()
        .unwrap_or(std::path::Path::new("."));
    let server = TlsServer::new(files.resolved(base), clock.now())
        .map_err(|e| CliError::Usage(format!("collector.tls: {e}")))?;
    let metrics = TlsMetrics::register(registry);
    let reloader = server
        .spawn_reloader(clock, metrics)
        .map_err(CliError::Serve)?;
    tracing::info!("serving HTTPS (HTTP/2 and HTTP/1.1)");
    Ok((Some(server), Some(reloader)))
}

/// The warning for plain HTTP on `listen`: none on loopback.
fn plain_http_warning(listen: std::net::SocketAddr) -> Option<String> {
    (!listen.ip().is_loopback()).then(|| {
        format!(
            "listening on {listen} in plain HTTP: agents' tokens and results cross the network \
             unencrypted; set collector.tls (see the README's TLS section)"
        )
    })
}

/// Turns the in-memory tails off (`state::Tails::share`) once another node beats in the same
/// database (or a twin under this node's name): from then on every re-derivation reads the
/// store, which both write.
fn watch_for_peers(
    app: &App,
    member: Arc<Member>,
    metrics: ClusterMetrics,
    every: std::time::Duration,
) -> tokio::task::JoinHandle<()> {
    let app = app.clone();
    metrics.tails.set(i64::from(app.live_tails().is_some()));
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            if metrics.nodes.get() > 1 || member.has_twin() {
                metrics.tails.set(0);
                if let Some(t) = &app.tails {
                    if t.share() {
                        tracing::info!(
                            "another collector node shares the database: re-derivation reads \
                             the store for every device"
                        );
                    }
                }
                return;
            }
        }
    })
}

/// This node in the cluster: `collector.node` (default the host name), its listening address,
/// the lease timing, the cluster's tables in the database (`store`).
fn cluster_member(
    app: &App,
    listener: &tokio::net::TcpListener,
    store: Arc<dyn crate::store::ClusterStore>,
) -> Arc<Member> {
    let settings = &app.inventory.settings;
    let name = crate::cluster::node_name(settings.node.as_deref());
    let address = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    tracing::info!(
        node = name,
        "cluster node; the leader runs alerting and the notifier"
    );
    Arc::new(Member::new(
        name,
        address,
        settings.cluster,
        store,
        app.clock.clone(),
    ))
}

/// The notifier's tasks, and what acknowledges its alerts.
pub type Started = (
    Vec<tokio::task::JoinHandle<()>>,
    Option<Arc<dyn Acknowledge>>,
);

/// Starts the notifier at once, without a cluster fence (see [`build_notifier`]); returns the
/// tasks (abort to stop); none without `notify:`.
pub fn start_notifier(
    app: &App,
    stores: &Stores,
    calendar: Arc<CalendarService<Arc<dyn WindowStore>>>,
    registry: &mut prometheus_client::registry::Registry,
) -> Result<Started, CliError> {
    Ok(
        match build_notifier(app, stores, calendar, registry, None)? {
            Some(parts) => (parts.spawn(), Some(parts.acks.clone())),
            None => (Vec::new(), None),
        },
    )
}

/// The notifier and alerting, built and registered but not running: [`NotifierParts::spawn`]
/// starts their loops (on the leader, at every election).
pub struct NotifierParts {
    alerting: Arc<Alerting<Arc<dyn NotifyStore>>>,
    metrics: NotifyMetrics,
    /// Acknowledges alerts (any node may: it only writes the database).
    pub acks: Arc<dyn Acknowledge>,
}

impl NotifierParts {
    /// Alerting checks after every re-derivation that changed something (the core's signal,
    /// `App::subscribe`) and every 30 s, delivery every 5 s, the tick every 30 s (abort the
    /// tasks to stop).
    pub fn spawn(&self) -> Vec<tokio::task::JoinHandle<()>> {
        let changes = self.alerting.app().subscribe();
        let notifier = self.alerting.notifier().clone();
        let mut tasks = notify::spawn(notifier, self.metrics.clone());
        tasks.push(alerting::spawn(self.alerting.clone(), changes));
        tasks
    }
}

/// Builds the notifier when the inventory has a `notify:` section: SMTP, or `.eml` files in
/// `notify.outbox_dir` (default `outbox` next to the database), the channels, alerting on
/// `stores`, and the metrics in `registry`; every send asks `fence` first when given. `None`
/// without `notify:`.
pub fn build_notifier(
    app: &App,
    stores: &Stores,
    calendar: Arc<CalendarService<Arc<dyn WindowStore>>>,
    registry: &mut prometheus_client::registry::Registry,
    fence: Option<Arc<dyn Fence>>,
) -> Result<Option<NotifierParts>, CliError> {
    let Some(mut config) = app.inventory.notify.clone() else {
        tracing::info!("no `notify:` section: no driftmeddelanden or alerts are sent");
        return Ok(None);
    };
    let db = &app.inventory.settings.database;
    config.outbox_dir = notify::outbox_dir(&config, db);
    let notify_err = |e: &dyn std::fmt::Display| CliError::Usage(format!("notify: {e}"));
    if let Some(dir) = &config.templates_dir {
        crate::notify::render::check_templates(dir).map_err(|e| notify_err(&e))?;
    }
    let transport: Arc<dyn MailTransport> =
        Arc::new(ConfiguredTransport::from_config(&config).map_err(|e| notify_err(&e))?);
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
    let reports = AppReports {
        app: app.clone(),
        calendar: calendar.clone(),
        oncall: stores.notify.clone(),
        registered: stores.oncall_cases.clone(),
    };
    let mut notifier = Notifier::new(
        config,
        calendar,
        app.clock.clone(),
        stores.notify.clone(),
        transport,
    )
    .with_reports(Arc::new(reports))
    .with_channels(channels);
    if let Some(fence) = fence {
        notifier = notifier.with_fence(fence);
    }
    let notifier = Arc::new(notifier);
    let acks: Arc<dyn Acknowledge> = notifier.clone();
    let alerting = Alerting::new(
        app.clone(),
        notifier,
        stores.announced.clone(),
        stores.service_updates.clone(),
    );
    Ok(Some(NotifierParts {
        alerting: Arc::new(alerting),
        metrics: NotifyMetrics::register(registry),
        acks,
    }))
}

/// What the collector's metrics read: the app's inventory, store, clock and ingest counters.
fn metrics_sources(app: &App) -> crate::metrics::Sources {
    crate::metrics::Sources {
        inventory: app.inventory.clone(),
        store: app.store.clone(),
        clock: app.clock.clone(),
        metrics: app.metrics.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::plain_http_warning;

    #[test]
    fn plain_http_is_a_warning_beyond_loopback_only() {
        for quiet in ["127.0.0.1:8480", "[::1]:8480", "127.0.0.2:80"] {
            assert_eq!(plain_http_warning(quiet.parse().unwrap()), None, "{quiet}");
        }
        for loud in ["0.0.0.0:8480", "[::]:8480", "192.0.2.7:8480"] {
            let w = plain_http_warning(loud.parse().unwrap()).unwrap();
            assert!(
                w.contains("plain HTTP") && w.contains("collector.tls"),
                "{w}"
            );
        }
    }
}
