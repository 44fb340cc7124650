//! Alerting: turns the core's device and service state into notifier [`Event`]s, exactly once
//! per transition, and runs the notifier's loops.
//!
//! # How transitions are found
//! [`Alerting::check`] computes what is wrong *now* from the stored state ([`conditions`]:
//! services down, dark sites, device alerts, each with its start) and compares it with what
//! has been announced (table `alerting_state`, [`record`]). A condition not yet announced is
//! handed to the notifier as its opening event and recorded; an announced one that no longer
//! holds is handed over as its closing event (with the instant it ended) and forgotten. The
//! comparison is by key (`service:ID`, `site:ID`, `device:ID:KIND`) and start:
//!
//! - the same key whose stored interval still contains the announced start is the same outage,
//!   even if late results moved its start: nothing is sent;
//! - the same key whose announced interval has ended, with a new one running, is a recovery
//!   followed by a new outage (missed between two checks): closing, then opening;
//! - an announced condition whose interval was re-derived away by late results is closed now:
//!   the notifier then cancels its notices if they were still held, so nobody hears of it;
//! - an announced agent fault that still holds but counts other devices now is *revised*
//!   ([`Notifier::revise_alert`]): its held notices say the count that is true when they are
//!   sent, and whoever was told gets the new count.
//!
//! Because both sides are persisted in the same database, a restart re-derives the same
//! conditions and finds them announced: nothing is repeated. The two writes (the notifier's
//! enqueue, then our row) are not one transaction; a crash between them repeats the call on
//! the next check, which the notifier ignores (its incident is already open or closing, and
//! its outbox keys are built from entity, start and recipient).
//!
//! # Late and replayed results
//! Only what holds *now* is announced. An outage that a replayed spool reveals only after it
//! had already ended is never announced: a störning and an åtgärdat about something that is
//! over tell the intranet editors nothing; it is in the availability report. An outage found
//! late that is still going on is announced at once (its hold-down counted from its real start).
//!
//! # The loops ([`spawn`])
//! A check after every stored change (the store is wrapped in [`SignallingStore`]) and at least
//! every 30 s (staleness and windows are functions of time), delivery every few seconds,
//! [`Notifier::tick`] every 30 s, and the notifier's metrics ([`metrics`]). With several
//! collectors on one database the loops run on the leader only, and each round first asks the
//! notifier's fence whether this node still leads ([`Notifier::may_act`]).

pub mod conditions;
pub mod manual;
pub mod metrics;
pub mod updates;

pub use crate::store::{Announced, AnnouncedStore};
pub use conditions::{Condition, Conditions, Course, Snapshot};
pub use metrics::NotifyMetrics;

use crate::app::App;
use crate::availability::Period;
use crate::calendar::CalendarSource;
use crate::notify::{
    AlertKind, Event, MailTransport, Notifier, NotifyConfig, NotifyError, NotifyStore,
};
use crate::store::{
    Applied, Compacted, EntityKind, Flap, Outage, Replacement, Seen, ServiceUpdateStore, Store,
    StoreError, StoreStats, StoredResult,
};
use chrono::{DateTime, Datelike, Utc};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// How often the state is checked even without new results.
pub const CHECK_EVERY: Duration = Duration::from_secs(30);
/// The least time between two checks (ingest may come every second).
pub const MIN_CHECK_GAP: Duration = Duration::from_secs(2);
/// How often the notifier's time-driven work runs.
pub const TICK_EVERY: Duration = Duration::from_secs(30);
/// How often due mails are sent.
pub const DELIVER_EVERY: Duration = Duration::from_secs(5);

/// Why a check failed.
#[derive(Debug, thiserror::Error)]
pub enum AlertingError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Notify(#[from] NotifyError),
}

/// What one check handed to the notifier.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckReport {
    /// Keys of the conditions announced now.
    pub opened: Vec<String>,
    /// Keys of the announced conditions that ended.
    pub closed: Vec<String>,
    /// Keys of the announced conditions whose text was revised (an agent fault's count).
    pub revised: Vec<String>,
    /// Outbox rows the notifier created.
    pub enqueued: usize,
}

/// The core's state wired to a notifier.
pub struct Alerting<S, T> {
    app: App,
    notifier: Arc<Notifier<S, T>>,
    announced: Arc<dyn AnnouncedStore>,
    /// Operators' updates of probed disturbances (told as "uppdatering", [`updates`]).
    updates: Arc<dyn ServiceUpdateStore>,
}

/// What to do with one announced condition.
enum Action {
    Keep,
    Close(DateTime<Utc>),
}

impl<S: NotifyStore, T> Alerting<S, T> {
    /// Alerting for `app`, remembering what it announced in `announced` and telling the
    /// operators' `updates` (both on the database the composition root opened).
    pub fn new(
        app: App,
        notifier: Arc<Notifier<S, T>>,
        announced: Arc<dyn AnnouncedStore>,
        updates: Arc<dyn ServiceUpdateStore>,
    ) -> Self {
        Alerting {
            app,
            notifier,
            announced,
            updates,
        }
    }

    pub fn notifier(&self) -> &Arc<Notifier<S, T>> {
        &self.notifier
    }

    /// Compares what is wrong now with what was announced and tells the notifier the
    /// differences (see the module doc). Synchronous (SQLite): async callers use
    /// `spawn_blocking`.
    pub fn check(&self) -> Result<CheckReport, AlertingError> {
        let now = self.app.now();
        let snapshot = Snapshot::load(&self.app, now)?;
        let current = snapshot.conditions()?;
        let mut report = CheckReport::default();
        let mut still_open = BTreeSet::new();
        for a in self.announced.all()? {
            match decide(&snapshot, &a, &current, now) {
                Action::Keep => {
                    still_open.insert(a.key.clone());
                    if let Some(event) = current.get(&a.key).and_then(|c| revised(&a.event, c)) {
                        self.revise(&a, event, &mut report)?;
                    }
                }
                Action::Close(until) => self.close(&a, until, &mut report)?,
            }
        }
        for c in &current.list {
            if !still_open.contains(&c.key) {
                self.open(c, &mut report)?;
            }
        }
        report.enqueued += updates::tell(&self.app, &self.notifier, &self.updates, now)?;
        Ok(report)
    }

    fn open(&self, c: &Condition, report: &mut CheckReport) -> Result<(), AlertingError> {
        let ids = self.notifier.handle(c.event.clone())?;
        tracing::info!(key = c.key, since = %c.since, enqueued = ids.len(), "alert opened");
        self.announced.put(&Announced {
            key: c.key.clone(),
            since: c.since,
            event: c.event.clone(),
        })?;
        report.opened.push(c.key.clone());
        report.enqueued += ids.len();
        Ok(())
    }

    fn revise(
        &self,
        a: &Announced,
        event: Event,
        report: &mut CheckReport,
    ) -> Result<(), AlertingError> {
        let ids = self.notifier.revise_alert(event.clone())?;
        tracing::info!(key = a.key, enqueued = ids.len(), "alert revised");
        self.announced.put(&Announced {
            key: a.key.clone(),
            since: a.since,
            event,
        })?;
        report.revised.push(a.key.clone());
        report.enqueued += ids.len();
        Ok(())
    }

    fn close(
        &self,
        a: &Announced,
        until: DateTime<Utc>,
        report: &mut CheckReport,
    ) -> Result<(), AlertingError> {
        if let Some(event) = closing_event(&a.event, until) {
            let ids = self.notifier.handle(event)?;
            tracing::info!(key = a.key, %until, enqueued = ids.len(), "alert closed");
            report.enqueued += ids.len();
        }
        self.announced.delete(&a.key)?;
        report.closed.push(a.key.clone());
        Ok(())
    }
}

/// Keep or close an announced condition (see the module doc).
fn decide(snapshot: &Snapshot, a: &Announced, current: &Conditions, now: DateTime<Utc>) -> Action {
    if snapshot.frozen(&a.key, &a.event) {
        return Action::Keep; // unknown now: neither recovered nor re-announced
    }
    let desired = current.get(&a.key);
    match (desired, snapshot.course(&a.key, a.since)) {
        (Some(_), Course::Ongoing) => Action::Keep,
        (Some(_), Course::Ended(end)) => Action::Close(end),
        // Finding runs: a later start means a result without the finding came in between.
        (Some(c), Course::Unknown) if finding_device(&a.key).is_some() && c.since > a.since => {
            Action::Close(c.since)
        }
        (Some(_), Course::Unknown) => Action::Keep,
        (None, Course::Ended(end)) => Action::Close(end.min(now)),
        (None, _) => Action::Close(now),
    }
}

/// The announced agent fault as it reads now, when its count of devices (or where they are)
/// changed: `current`'s event with the announced start, which keys its notices.
fn revised(announced: &Event, current: &Condition) -> Option<Event> {
    let Event::DeviceAlert {
        kind: AlertKind::AgentFault { .. },
        since,
        ..
    } = announced
    else {
        return None;
    };
    let mut event = current.event.clone();
    if let Event::DeviceAlert { since: s, .. } = &mut event {
        *s = *since;
    }
    (event != *announced).then_some(event)
}

/// The device of a finding alert's key (`device:ID:KIND` with a kind other than `down`).
fn finding_device(key: &str) -> Option<&str> {
    let rest = key.strip_prefix("device:")?;
    let (device, kind) = rest.rsplit_once(':')?;
    (kind != "down").then_some(device)
}

/// The event that ends the condition `open` announced.
pub fn closing_event(open: &Event, until: DateTime<Utc>) -> Option<Event> {
    match open.clone() {
        Event::ServiceDown {
            service_id,
            service_name,
            municipality,
            since,
            ..
        } => Some(Event::ServiceUp {
            service_id,
            service_name,
            municipality,
            since,
            until,
        }),
        Event::SiteDark {
            site_id,
            site_name,
            municipality,
            since,
            ..
        } => Some(Event::SiteBack {
            site_id,
            site_name,
            municipality,
            since,
            until,
        }),
        Event::DeviceAlert {
            device_id, kind, ..
        } => Some(Event::DeviceAlertCleared {
            device_id,
            kind,
            until,
        }),
        _ => None,
    }
}

/// Where the file transport writes: `notify.outbox_dir`, relative paths (the default is
/// `outbox`) taken from the database's folder.
pub fn outbox_dir(config: &NotifyConfig, database: &crate::store::Location) -> PathBuf {
    if config.outbox_dir.is_absolute() {
        return config.outbox_dir.clone();
    }
    // Next to a SQLite file; in the working folder for PostgreSQL.
    database
        .sqlite_path()
        .and_then(Path::parent)
        .unwrap_or(Path::new("."))
        .join(&config.outbox_dir)
}

/// The current tertial (Europe/Stockholm) as a period.
pub fn current_tertial(now: DateTime<Utc>) -> Period {
    let local = now.with_timezone(&chrono_tz::Europe::Stockholm);
    let t = crate::notify::oncall::tertial_of_month(local.month());
    Period::parse(&format!("{}-T{t}", local.year())).expect("a valid tertial")
}

/// On-call cases in the current tertial.
pub fn oncall_this_tertial<S: NotifyStore, T>(
    notifier: &Notifier<S, T>,
    now: DateTime<Utc>,
) -> Result<u64, NotifyError> {
    let p = current_tertial(now);
    Ok(notifier.oncall_cases(p.from, p.to)?.len() as u64)
}

/// Starts the loops: check after stored changes (`changed`; at most every [`MIN_CHECK_GAP`])
/// and at least every [`CHECK_EVERY`],
/// delivery every [`DELIVER_EVERY`] (updating `metrics`), tick every [`TICK_EVERY`]. Abort the
/// returned tasks to stop.
pub fn spawn<S, T>(
    alerting: Arc<Alerting<S, T>>,
    changed: Arc<Notify>,
    metrics: NotifyMetrics,
) -> Vec<JoinHandle<()>>
where
    S: NotifyStore + 'static,
    T: MailTransport + 'static,
{
    let notifier = alerting.notifier.clone();
    // Delivery runs at once after a check (a new notice goes out without waiting for the next
    // round), and every DELIVER_EVERY for retries and held notices that come due.
    let deliver_now = Arc::new(Notify::new());
    vec![
        tokio::spawn(check_loop(alerting, changed, deliver_now.clone())),
        tokio::spawn(delivery_loop(notifier.clone(), metrics, deliver_now)),
        tokio::spawn(tick_loop(notifier)),
    ]
}

async fn check_loop<S, T>(
    alerting: Arc<Alerting<S, T>>,
    changed: Arc<Notify>,
    deliver_now: Arc<Notify>,
) where
    S: NotifyStore + 'static,
    T: Send + Sync + 'static,
{
    loop {
        let a = alerting.clone();
        let checked = move || a.notifier.may_act().then(|| a.check()).transpose();
        match tokio::task::spawn_blocking(checked).await {
            Ok(Ok(Some(_))) => deliver_now.notify_one(),
            Ok(Ok(None)) => tracing::debug!("alerting check skipped: this node does not lead"),
            Ok(Err(e)) => tracing::error!(error = %e, "alerting check failed"),
            Err(e) => tracing::error!(error = %e, "alerting check task failed"),
        }
        tokio::time::sleep(MIN_CHECK_GAP).await;
        let _ = tokio::time::timeout(CHECK_EVERY, changed.notified()).await;
    }
}

async fn delivery_loop<S, T>(
    notifier: Arc<Notifier<S, T>>,
    metrics: NotifyMetrics,
    deliver_now: Arc<Notify>,
) where
    S: NotifyStore + 'static,
    T: MailTransport + 'static,
{
    let mut every = tokio::time::interval(DELIVER_EVERY);
    loop {
        tokio::select! {
            _ = every.tick() => {}
            _ = deliver_now.notified() => {}
        }
        let round = notifier.deliver_due().await;
        metrics.delivered(round.sent);
        let counts = notifier.stats().and_then(|s| {
            let oncall = oncall_this_tertial(&notifier, notifier.clock.now())?;
            Ok((s, oncall))
        });
        match counts {
            Ok((stats, oncall)) => metrics.update(&stats, oncall),
            Err(e) => tracing::warn!(error = %e, "notifier metrics not updated"),
        }
    }
}

async fn tick_loop<S, T>(notifier: Arc<Notifier<S, T>>)
where
    S: NotifyStore + 'static,
    T: Send + Sync + 'static,
{
    let mut every = tokio::time::interval(TICK_EVERY);
    loop {
        every.tick().await;
        let n = notifier.clone();
        let ticked = move || n.may_act().then(|| n.tick()).transpose();
        match tokio::task::spawn_blocking(ticked).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "notifier tick failed"),
            Err(e) => tracing::error!(error = %e, "notifier tick task failed"),
        }
    }
}

/// The availability report for scheduled report mails (HTML with each table attached as a CSV
/// file), with the period's on-call cases.
pub struct AppReports<S> {
    pub app: App,
    pub calendar: Arc<dyn CalendarSource>,
    /// Where the on-call cases are read.
    pub oncall: S,
    /// The on-call cases registered by hand.
    pub registered: Arc<dyn crate::store::OncallCaseStore>,
}

impl<S: crate::notify::PolicyStore> crate::notify::ReportSource for AppReports<S> {
    fn render(
        &self,
        period: &str,
        now: DateTime<Utc>,
    ) -> Result<(String, Vec<(String, String)>), String> {
        let period = Period::parse(period).map_err(|e| e.to_string())?;
        let calendar = self.calendar.calendar()?;
        let inv = &self.app.inventory;
        let mut r = crate::report::build(inv, &*self.app.store, &calendar, &period, now)
            .map_err(|e| e.to_string())?;
        crate::report::add_oncall_cases(&mut r, &self.oncall, &*self.registered)
            .map_err(|e| e.to_string())?;
        let tables = crate::report::csv_tables(&r)
            .into_iter()
            .map(|(name, csv)| (name.to_string(), csv))
            .collect();
        Ok((
            crate::report::render(&r, crate::report::Format::Html),
            tables,
        ))
    }
}

/// A [`Store`] that signals `changed` whenever derived state was replaced (after every
/// ingest), so the alerting check runs right after new results without a hook in ingest.
pub struct SignallingStore {
    inner: Arc<dyn Store>,
    changed: Arc<Notify>,
}

impl SignallingStore {
    pub fn new(inner: Arc<dyn Store>, changed: Arc<Notify>) -> Self {
        SignallingStore { inner, changed }
    }
}

impl Store for SignallingStore {
    fn apply_batch(
        &self,
        agent: &str,
        batch_id: &str,
        results: &[StoredResult],
        received: i64,
    ) -> Result<Applied, StoreError> {
        self.inner.apply_batch(agent, batch_id, results, received)
    }
    fn pending(&self) -> Result<BTreeMap<String, i64>, StoreError> {
        self.inner.pending()
    }
    fn pending_of(&self, device: &str) -> Result<Option<i64>, StoreError> {
        self.inner.pending_of(device)
    }
    fn first_seen(&self, device: &str) -> Result<Option<i64>, StoreError> {
        self.inner.first_seen(device)
    }
    fn results(&self, device: &str, from: i64) -> Result<Vec<StoredResult>, StoreError> {
        self.inner.results(device, from)
    }
    fn last_ok_before(
        &self,
        device: &str,
        check: &str,
        before: i64,
    ) -> Result<Option<i64>, StoreError> {
        self.inner.last_ok_before(device, check, before)
    }
    fn outages(
        &self,
        entity: EntityKind,
        id: Option<&str>,
        from: i64,
        to: i64,
    ) -> Result<Vec<Outage>, StoreError> {
        self.inner.outages(entity, id, from, to)
    }
    fn replace_outages(&self, replacements: &[Replacement]) -> Result<(), StoreError> {
        self.inner.replace_outages(replacements)?;
        if !replacements.is_empty() {
            self.changed.notify_one();
        }
        Ok(())
    }
    fn flaps(&self, device: Option<&str>, from: i64, to: i64) -> Result<Vec<Flap>, StoreError> {
        self.inner.flaps(device, from, to)
    }
    fn seen(&self) -> Result<BTreeMap<String, Seen>, StoreError> {
        self.inner.seen()
    }
    fn agents_seen(&self) -> Result<BTreeMap<String, i64>, StoreError> {
        self.inner.agents_seen()
    }
    fn manual_incidents(
        &self,
        from: i64,
        to: i64,
    ) -> Result<Vec<crate::store::ManualIncident>, StoreError> {
        self.inner.manual_incidents(from, to)
    }
    fn latest(&self, device: &str) -> Result<Vec<StoredResult>, StoreError> {
        self.inner.latest(device)
    }
    fn compact(
        &self,
        horizon: i64,
        gap_of: &dyn Fn(&str) -> Option<i64>,
        max_series: usize,
    ) -> Result<Compacted, StoreError> {
        self.inner.compact(horizon, gap_of, max_series)
    }
    fn prune_batches(&self, before: i64, limit: usize) -> Result<usize, StoreError> {
        self.inner.prune_batches(before, limit)
    }
    fn release_free_pages(&self, pages: u32) -> Result<(), StoreError> {
        self.inner.release_free_pages(pages)
    }
    fn stats(&self, full: bool) -> Result<StoreStats, StoreError> {
        self.inner.stats(full)
    }
}
