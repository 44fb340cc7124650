//! Driftmeddelanden and alerts: the right mail to the right people, once, in Swedish.
//!
//! Alerting turns device and service state into [`Event`]s and hands them to
//! [`Notifier::handle`], which decides (see [`policy`]), renders ([`render`]) and *enqueues*
//! durably in the outbox (`store::outbox`, kept by the store like every table) — it never
//! sends. The notifier runs its own loops ([`run`], started by [`spawn`]):
//! [`Notifier::deliver_due`] sends what is due, each row through its channel ([`channel`]), with
//! retry ([`delivery`]), at once after [`Notifier::deliver_soon`]; [`Notifier::tick`] does
//! time-driven work: window announcements, end-of-window re-alerts and cron-scheduled reports
//! ([`schedule`]). Its Prometheus metrics are in [`metrics`]. Time comes from an injected
//! [`Clock`], the calendar from a [`CalendarSource`].
//!
//! Every channel is one [`channel::Channel`]: the built-in `mail` (templated messages through
//! the [`MailTransport`] given to [`Notifier::new`]: SMTP or `.eml` files in the outbox
//! folder, [`transport`], [`outbox_dir`]) and, as `notify.routes` says for device alerts,
//! webhook, SMS, Teams and Alertmanager, all through the same outbox; on-call pages escalate
//! and are acknowledged ([`escalation`], [`ack`]).
//!
//! When several collectors share the database, only the leader runs the notifier's loops, and a
//! [`Fence`] (the `cluster` module's node) is asked before every send: a node that lost its
//! lease sends nothing more (see `cluster` for the guarantee).

pub mod ack;
pub mod channel;
pub mod delivery;
pub mod escalation;
pub mod metrics;
pub mod oncall;
pub mod policy;
pub mod render;
pub mod run;
pub mod schedule;
pub mod transport;
pub mod update;

pub use crate::events::{AlertKind, Event};
/// The `notify:` section's types, kept with the rest of the configuration in `inventory`.
pub use crate::inventory::notify as config;
pub use crate::store::outbox;
pub use crate::store::{
    AckError, NotifyStore, OncallPage, OncallPageStore, OutboxId, OutboxRow, OutboxStats,
    OutboxStore, PolicyStore, SqliteNotifyStore, Status, StoreError,
};
pub use channel::Channels;
pub use config::{NotifyConfig, NotifyFile, Role};
pub use delivery::DeliveryStats;
pub use escalation::Acknowledge;
pub use metrics::NotifyMetrics;
pub use oncall::{current_tertial, OncallCase, TertialCount};
pub use run::{oncall_this_tertial, spawn, DELIVER_EVERY, TICK_EVERY};
pub use schedule::ReportSource;
pub use transport::{
    outbox_dir, ConfiguredTransport, FileTransport, MailTransport, SendError, SmtpTransport,
};

use crate::clock::Clock;
use chrono::{DateTime, Utc};
use render::Templates;
use std::sync::Arc;

/// Why the notifier could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Render(#[from] render::RenderError),
    #[error("calendar: {0}")]
    Calendar(String),
    #[error("configuration: {0}")]
    Config(String),
    #[error("report: {0}")]
    Report(String),
}

pub use crate::calendar::CalendarSource;

/// What one [`Notifier::tick`] enqueued.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TickReport {
    pub announcements: Vec<OutboxId>,
    /// Incidents whose window ended while they were still failing.
    pub after_window: Vec<OutboxId>,
    pub reports: Vec<OutboxId>,
    /// On-call pages sent to the next contact (not acknowledged in time).
    pub escalated: Vec<OutboxId>,
}

/// The notifier: decides, renders and enqueues; delivers separately.
pub struct Notifier<S> {
    pub(crate) config: NotifyConfig,
    pub(crate) calendar: Arc<dyn CalendarSource>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) store: S,
    pub(crate) templates: Templates,
    pub(crate) reports: Option<Arc<dyn ReportSource>>,
    pub(crate) channels: Arc<Channels>,
    pub(crate) fence: Option<Arc<dyn Fence>>,
    /// Wakes the delivery loop ([`Notifier::deliver_soon`]).
    pub(crate) deliver_now: Arc<tokio::sync::Notify>,
}

/// What the notifier asks before anything leaves the process when several collectors share the
/// database (`cluster::Member` implements it). Without one, the notifier acts alone. Failures
/// of the database answer `false`: when in doubt, do not send.
pub trait Fence: Send + Sync {
    /// Whether this node may act now: it still holds the leader lease (a database check, not a
    /// cached flag).
    fn may_act(&self) -> bool;
    /// Marks the claimed outbox row `id` as being sent under this node's lease, in one
    /// transaction with the lease check; `false`: do not send it.
    fn begin_send(&self, id: OutboxId) -> bool;
    /// Gives a claimed row that was not sent back to pending.
    fn give_back(&self, id: OutboxId);
}

impl<S: NotifyStore> Notifier<S> {
    /// A notifier on `store` whose `mail` channel sends through `mail` (SMTP, the `.eml`
    /// folder, or what a test injects).
    pub fn new(
        config: NotifyConfig,
        calendar: Arc<dyn CalendarSource>,
        clock: Arc<dyn Clock>,
        store: S,
        mail: Arc<dyn MailTransport>,
    ) -> Self {
        let templates = Templates::new(config.templates_dir.clone());
        Notifier {
            config,
            calendar,
            clock,
            store,
            templates,
            reports: None,
            channels: Arc::new(Channels::default().with_mail(mail)),
            fence: None,
            deliver_now: Arc::new(tokio::sync::Notify::new()),
        }
    }

    /// Sends only while `fence` says this node leads (see [`Fence`]).
    pub fn with_fence(mut self, fence: Arc<dyn Fence>) -> Self {
        self.fence = Some(fence);
        self
    }

    /// Whether this node may act now: always without a fence, else the fence's lease check.
    pub fn may_act(&self) -> bool {
        self.fence.as_ref().is_none_or(|f| f.may_act())
    }

    /// Connects the alert channels beside mail and the acknowledgement links
    /// ([`Channels::from_config`]); `mail` stays the one given to [`Notifier::new`].
    pub fn with_channels(mut self, channels: Channels) -> Self {
        self.channels = Arc::new(channels.with_mail_of(&self.channels));
        self
    }

    /// Connects the report renderer used by scheduled reports.
    pub fn with_reports(mut self, source: Arc<dyn ReportSource>) -> Self {
        self.reports = Some(source);
        self
    }

    /// Decides what `event` means, renders and enqueues the notices (durably, before
    /// returning); returns the new outbox rows. Never sends.
    pub fn handle(&self, event: Event) -> Result<Vec<OutboxId>, NotifyError> {
        let name = event.name();
        let ids = self.apply(event)?;
        tracing::debug!(event = name, enqueued = ids.len(), "event handled");
        Ok(ids)
    }

    /// Asks the delivery loop ([`spawn`]) for a round now rather than at its next
    /// [`DELIVER_EVERY`] (kept until the loop next waits).
    pub fn deliver_soon(&self) {
        self.deliver_now.notify_one();
    }

    /// Time-driven work; call it every minute or so: announcements of coming windows,
    /// notices for failures that outlasted their window, scheduled reports.
    pub fn tick(&self) -> Result<TickReport, NotifyError> {
        let now = self.clock.now();
        Ok(TickReport {
            after_window: self.tick_failures(now)?,
            announcements: self.tick_announcements(now)?,
            reports: self.tick_reports(now)?,
            escalated: self.tick_escalations(now)?,
        })
    }

    /// Outbox counts: pending, sent, failed, cancelled.
    pub fn stats(&self) -> Result<OutboxStats, NotifyError> {
        Ok(self.store.stats()?)
    }

    /// On-call cases with a page sent in `[from, to)`.
    pub fn oncall_cases(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<OncallCase>, NotifyError> {
        Ok(self.store.oncall_cases(from, to)?)
    }

    /// On-call cases in `[from, to)` counted per tertial (local time).
    pub fn oncall_cases_per_tertial(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<TertialCount>, NotifyError> {
        let cases = self.oncall_cases(from, to)?;
        Ok(oncall::count_per_tertial(&cases, &self.calendar()?))
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    pub fn config(&self) -> &NotifyConfig {
        &self.config
    }
}
