//! Alerting: turns the core's device and service state into notifier [`Event`]s, exactly once
//! per transition, checking when the core signals a change ([`App::subscribe`]).
//!
//! # How transitions are found
//! [`Alerting::check`] computes what is wrong *now* from the stored state ([`snapshot`]:
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
//! # The check loop ([`spawn`])
//! A check after every re-derivation that changed something (the core's signal,
//! [`App::subscribe`]: ingest tells alerting explicitly, at most every [`MIN_CHECK_GAP`]) and at
//! least every 30 s (staleness and windows are functions of time); the events go to the
//! notifier, which is then asked to deliver at once. Delivery, the notifier's tick and its
//! metrics are the notifier's own loops (`notify::run`). With several collectors on one
//! database the loops run on the leader only, and each check first asks the notifier's fence
//! whether this node still leads ([`Notifier::may_act`]).

pub mod condition;
pub mod intefunktion;
pub mod manual;
pub mod snapshot;
pub mod updates;

pub use crate::store::{Announced, AnnouncedStore};
pub use condition::{Condition, Conditions, Course};
pub use snapshot::Snapshot;

use crate::app::App;
use crate::availability::Period;
use crate::calendar::CalendarSource;
use crate::notify::{AlertKind, Event, Notifier, NotifyError, NotifyStore};
use crate::state::Changes;
use crate::store::{ServiceUpdateStore, StoreError};
use chrono::{DateTime, Utc};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How often the state is checked even without new results.
pub const CHECK_EVERY: Duration = Duration::from_secs(30);
/// The least time between two checks (ingest may come every second).
pub const MIN_CHECK_GAP: Duration = Duration::from_secs(2);

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
pub struct Alerting<S> {
    app: App,
    notifier: Arc<Notifier<S>>,
    announced: Arc<dyn AnnouncedStore>,
    /// Operators' updates of probed disturbances (told as "uppdatering", [`updates`]).
    updates: Arc<dyn ServiceUpdateStore>,
}

/// What to do with one announced condition.
enum Action {
    Keep,
    Close(DateTime<Utc>),
}

impl<S: NotifyStore> Alerting<S> {
    /// Alerting for `app`, remembering what it announced in `announced` and telling the
    /// operators' `updates` (both on the database the composition root opened).
    pub fn new(
        app: App,
        notifier: Arc<Notifier<S>>,
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

    pub fn notifier(&self) -> &Arc<Notifier<S>> {
        &self.notifier
    }

    /// The core this alerting watches.
    pub fn app(&self) -> &App {
        &self.app
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

/// Starts the check: after re-derivations that changed something (`changes`, from
/// [`App::subscribe`]; at most every [`MIN_CHECK_GAP`]) and at least every [`CHECK_EVERY`];
/// after each check the notifier is asked to deliver at once ([`Notifier::deliver_soon`]; the
/// notifier runs its own loops, [`crate::notify::spawn`]). Abort the returned task to stop.
pub fn spawn<S>(alerting: Arc<Alerting<S>>, changes: watch::Receiver<Changes>) -> JoinHandle<()>
where
    S: NotifyStore + 'static,
{
    tokio::spawn(check_loop(alerting, changes))
}

async fn check_loop<S>(alerting: Arc<Alerting<S>>, mut changes: watch::Receiver<Changes>)
where
    S: NotifyStore + 'static,
{
    loop {
        let a = alerting.clone();
        let checked = move || a.notifier.may_act().then(|| a.check()).transpose();
        match tokio::task::spawn_blocking(checked).await {
            Ok(Ok(Some(_))) => alerting.notifier.deliver_soon(),
            Ok(Ok(None)) => tracing::debug!("alerting check skipped: this node does not lead"),
            Ok(Err(e)) => tracing::error!(error = %e, "alerting check failed"),
            Err(e) => tracing::error!(error = %e, "alerting check task failed"),
        }
        tokio::time::sleep(MIN_CHECK_GAP).await;
        // A closed channel (the core is gone) leaves the every-CHECK_EVERY round.
        let woken = tokio::time::timeout(CHECK_EVERY, changes.changed()).await;
        if let Ok(Err(_)) = woken {
            tokio::time::sleep(CHECK_EVERY).await;
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
