//! Who gets what, and when: the rules between an [`Event`] and the outbox.
//!
//! - Every failure is followed as a [`Failure`] keyed by what failed (`service:ID`, `site:ID`,
//!   `device:ID:KIND`), persisted so a restart keeps it. Its opening notices are held for the
//!   hold-down period; a recovery while they are still unsent cancels them and sends nothing.
//!   A recovery's notices are held too, and a new failure within hold-down cancels them and
//!   reopens the failure: a flapping service gives one message. A new failure after that is a
//!   new outage: the recovery's notices go out even if their channel still holds them.
//! - Inside an active window that applies, nothing is sent; the failure waits as
//!   `Suppressed` and [`super::Notifier::tick`] sends when the window ends if it is still open.
//! - A dark site (node switch down) gives one notice; `Down` alerts for the devices behind it
//!   are dropped while it is dark.
//! - Device alerts go to the service desk in office hours, to on-call outside them if the kind
//!   pages (`page_on_call`), else wait for the next office-hours start. A break inside a
//!   working day (lunch) does not page unless the kind says so (`page_in_breaks`): the alert
//!   waits for the desk.
//! - Per recipient, at most `rate_limit_per_hour` mails an hour: beyond that (one slot is kept
//!   for it) notices are collected into one digest ("Sammanfattning: 183 larm").
//! - An open alert whose text changed (an agent fault's count of unknown devices,
//!   [`Notifier::revise_alert`]) is *revised*: its notices still held are withdrawn and enqueued
//!   again with the new text, and whoever was already told gets the new text as a new notice
//!   (outbox keys carry the revision); a suppressed one is announced with the new text when its
//!   window ends. A revision never pages on-call again.

use super::channel::MessageEvent;
use super::channel::{mail, Audience};
use super::config::Role;
use super::oncall::{next_office_start, OncallCase};
use super::render::{self, date_time_sv, duration_sv, MailParts};
use super::{Notifier, NotifyError, NotifyStore};
use crate::calendar::swedish::class_name_sv;
use crate::calendar::{Calendar, Moment, Subject, Window};
use crate::events::{AlertKind, Event};
use crate::store::outbox::{NewNotice, OutboxId, Status};
use crate::store::{Failure, FailureState};
use chrono::{DateTime, SecondsFormat, Utc};

/// What a failure notice to the editors needs beyond its template variables.
#[derive(Clone, Copy)]
struct EditorNotice<'a> {
    kind: &'static str,
    key_prefix: &'a str,
    municipality: &'a str,
    since: DateTime<Utc>,
    source: &'a str,
}

/// A function's intefunktion case that closed, for the service desk's notice.
struct ClosedCase<'a> {
    /// The failure's id (the service's).
    id: &'a str,
    /// The agreement's item, in Swedish.
    item: &'a str,
    /// The function's name.
    name: &'a str,
    municipality: &'a str,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
}

/// One notice to render and enqueue.
pub(crate) struct Notice<'a> {
    pub key: String,
    pub kind: &'static str,
    pub recipient: &'a str,
    pub municipality: Option<&'a str>,
    pub vars: Vec<(&'static str, String)>,
    pub due_at: DateTime<Utc>,
    /// Subject to the per-recipient rate limit (reports and announcements are not).
    pub limited: bool,
    /// The failure it belongs to (for digest bookkeeping).
    pub source: Option<&'a str>,
    pub oncall_case: Option<OncallCase>,
    /// `(file name, CSV text)` attachments (reports: one per table).
    pub csv: Vec<(String, String)>,
}

pub(crate) fn instant_key(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

impl<S: NotifyStore> Notifier<S> {
    /// Applies the rules to `event`; returns the notices enqueued.
    pub(crate) fn apply(&self, event: Event) -> Result<Vec<OutboxId>, NotifyError> {
        match &event {
            Event::ServiceDown { service_id, .. } => {
                self.open_failure(format!("service:{service_id}"), event.clone())
            }
            Event::SiteDark { site_id, .. } => {
                self.open_failure(format!("site:{site_id}"), event.clone())
            }
            Event::DeviceAlert {
                device_id, kind, ..
            } => {
                if matches!(kind, AlertKind::Down) && self.behind_dark_site(device_id)? {
                    tracing::debug!(device_id, "alert dropped: the site is dark");
                    return Ok(Vec::new());
                }
                self.open_failure(format!("device:{device_id}:{}", kind.tag()), event.clone())
            }
            Event::ServiceUp {
                service_id, until, ..
            } => self.close_failure(&format!("service:{service_id}"), *until),
            Event::SiteBack { site_id, until, .. } => {
                self.close_failure(&format!("site:{site_id}"), *until)
            }
            Event::DeviceAlertCleared {
                device_id,
                kind,
                until,
            } => self.close_failure(&format!("device:{device_id}:{}", kind.tag()), *until),
            Event::WindowAnnouncement {
                window,
                municipalities,
            } => self.announce_window(window, municipalities),
        }
    }

    fn behind_dark_site(&self, device_id: &str) -> Result<bool, NotifyError> {
        Ok(self.store.failures()?.iter().any(|i| {
            !matches!(i.state, FailureState::Closing { .. })
                && matches!(&i.event, Event::SiteDark { unreachable_children, .. }
                    if unreachable_children.iter().any(|c| c == device_id))
        }))
    }

    fn open_failure(&self, key: String, event: Event) -> Result<Vec<OutboxId>, NotifyError> {
        let now = self.clock.now();
        if let Some(mut existing) = self.store.failure(&key)? {
            let FailureState::Closing { at, notices } = &existing.state else {
                return Ok(Vec::new()); // already open or suppressed: a repeat
            };
            // Only a recovery shorter than hold-down is a flap; a longer one is told, even
            // when its notices still wait for their channel (a retry).
            let within_hold_down = now < *at + self.hold_down();
            if within_hold_down && self.cancel_all(notices)? {
                // A flap within hold-down: the recovery was never told, keep the failure open.
                existing.state = FailureState::Open;
                existing.updated_at = now;
                self.store.put_failure(&existing)?;
                return Ok(Vec::new());
            }
            self.store.delete_failure(&key)?;
        }
        let calendar = self.calendar()?;
        if let Some(window) = window_for(&calendar, &event, now) {
            tracing::info!(key, until = %window.end, "inside a service window: not announced");
            let state = FailureState::Suppressed { until: window.end };
            self.store
                .put_failure(&failure(key, event, state, Vec::new(), now))?;
            return Ok(Vec::new());
        }
        let notices = self.announce_open(&calendar, &key, &event, now)?;
        let enqueued = notices.clone();
        self.store
            .put_failure(&failure(key, event, FailureState::Open, notices, now))?;
        Ok(enqueued)
    }

    /// Revises the open device alert `event` is about to what `event` says now (the same alert
    /// with a new text, e.g. an agent fault's count): see the module doc. Returns the new rows;
    /// nothing when its failure is not open or already says this.
    pub fn revise_alert(&self, event: Event) -> Result<Vec<OutboxId>, NotifyError> {
        let Event::DeviceAlert {
            device_id, kind, ..
        } = &event
        else {
            return Ok(Vec::new());
        };
        let key = format!("device:{device_id}:{}", kind.tag());
        let key = key.as_str();
        let Some(mut inc) = self.store.failure(key)? else {
            return Ok(Vec::new());
        };
        if inc.event == event || matches!(inc.state, FailureState::Closing { .. }) {
            return Ok(Vec::new());
        }
        let now = self.clock.now();
        inc.updated_at = now;
        if matches!(inc.state, FailureState::Suppressed { .. }) {
            inc.event = event;
            self.store.put_failure(&inc)?;
            return Ok(Vec::new());
        }
        // Held notices are withdrawn; the sent ones stay in the list, so a recovery is still
        // told to whoever heard of the alert.
        for &id in &inc.notices {
            self.store.cancel(id)?;
        }
        let revision = format!("rev-{}", instant_key(now));
        let calendar = self.calendar()?;
        let ids = self.announce_alert(&calendar, key, &event, now, Some(&revision))?;
        tracing::info!(key, enqueued = ids.len(), "alert revised");
        inc.notices.extend(ids.iter().copied());
        inc.event = event;
        self.store.put_failure(&inc)?;
        Ok(ids)
    }

    /// Cancels every still-pending notice in `ids`; `true` when none of them had been sent.
    fn cancel_all(&self, ids: &[OutboxId]) -> Result<bool, NotifyError> {
        let mut none_sent = true;
        for &id in ids {
            if !self.store.cancel(id)? {
                let status = self.store.get(id)?.map(|r| r.status);
                none_sent &= !matches!(status, Some(Status::Sent | Status::Sending));
            }
        }
        Ok(none_sent)
    }

    fn close_failure(&self, key: &str, until: DateTime<Utc>) -> Result<Vec<OutboxId>, NotifyError> {
        let now = self.clock.now();
        let Some(mut inc) = self.store.failure(key)? else {
            return Ok(Vec::new());
        };
        if let Event::DeviceAlert {
            device_id,
            kind,
            since,
            ..
        } = &inc.event
        {
            // Ends the billable time of the on-call case this alert paged, if it did.
            self.store
                .resolve_oncall_case(device_id, kind.tag(), *since, until)?;
        }
        if !matches!(inc.state, FailureState::Open) {
            if matches!(inc.state, FailureState::Suppressed { .. }) {
                self.store.delete_failure(key)?;
            }
            return Ok(Vec::new());
        }
        let told = self.told_recipients(&inc.notices)?;
        self.store.close_page(key, now)?;
        self.drop_from_digests(key)?;
        if told.is_empty() {
            tracing::info!(key, "recovered before anyone was told: nothing sent");
            self.store.delete_failure(key)?;
            return Ok(Vec::new());
        }
        let notices = self.announce_close(&inc, &told, until, now)?;
        inc.state = FailureState::Closing {
            at: now,
            notices: notices.clone(),
        };
        inc.updated_at = now;
        self.store.put_failure(&inc)?;
        Ok(notices)
    }

    /// Cancels the unsent notices in `ids`; returns the recipients of those already sent (or
    /// being sent).
    fn told_recipients(&self, ids: &[OutboxId]) -> Result<Vec<(String, String)>, NotifyError> {
        let mut told = Vec::new();
        for &id in ids {
            if self.store.cancel(id)? {
                continue;
            }
            if let Some(row) = self.store.get(id)? {
                let pair = (row.channel, row.recipient);
                if matches!(row.status, Status::Sent | Status::Sending) && !told.contains(&pair) {
                    told.push(pair);
                }
            }
        }
        Ok(told)
    }

    fn drop_from_digests(&self, source: &str) -> Result<(), NotifyError> {
        for digest in self.store.remove_digest_items(source)? {
            let Some(row) = self.store.get(digest)? else {
                continue;
            };
            let items = self.store.digest_items(digest)?;
            if items.is_empty() {
                self.store.cancel(digest)?;
            } else {
                self.rerender_digest(&row.recipient, &row.sender, &row.key, digest, &items)?;
            }
        }
        Ok(())
    }

    /// Time-driven work on failures: end-of-window re-alerts and forgetting closed ones.
    pub(crate) fn tick_failures(&self, now: DateTime<Utc>) -> Result<Vec<OutboxId>, NotifyError> {
        let mut out = Vec::new();
        let calendar = self.calendar()?;
        for mut inc in self.store.failures()? {
            match inc.state {
                FailureState::Closing { at, .. } if at + self.hold_down() <= now => {
                    self.store.delete_failure(&inc.key)?;
                }
                FailureState::Suppressed { until } if until <= now => {
                    if let Some(w) = window_for(&calendar, &inc.event, now) {
                        inc.state = FailureState::Suppressed { until: w.end };
                    } else {
                        tracing::info!(key = inc.key, "window ended, still failing: announcing");
                        inc.notices = self.announce_open(&calendar, &inc.key, &inc.event, now)?;
                        out.extend(inc.notices.iter().copied());
                        inc.state = FailureState::Open;
                    }
                    inc.updated_at = now;
                    self.store.put_failure(&inc)?;
                }
                _ => {}
            }
        }
        Ok(out)
    }

    pub(crate) fn hold_down(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.config.hold_down.std()).unwrap_or_default()
    }

    /// When a notice about something that started at `since` may go out.
    fn held_until(&self, since: DateTime<Utc>, now: DateTime<Utc>) -> DateTime<Utc> {
        (since + self.hold_down()).max(now)
    }

    /// Enqueues a failure's notice to each of its municipality's editors, held like every
    /// failure notice, one idempotency key per recipient (`{key_prefix}:{recipient}`).
    fn tell_editors(
        &self,
        n: EditorNotice<'_>,
        vars: Vec<(&'static str, String)>,
        now: DateTime<Utc>,
    ) -> Result<Vec<OutboxId>, NotifyError> {
        let editors = self.config.recipients(n.municipality, Role::Editors);
        self.tell(n, &vars, now, editors.iter(), "")
    }

    /// Enqueues a function's intefunktion notice to its municipality's service desk (the case
    /// is theirs), held like the editors' notice, its own key per recipient
    /// (`{key_prefix}:desk:{recipient}`); a desk address that is also an editor's gets the
    /// editors' störning only.
    fn tell_service_desk(
        &self,
        n: EditorNotice<'_>,
        vars: Vec<(&'static str, String)>,
        now: DateTime<Utc>,
    ) -> Result<Vec<OutboxId>, NotifyError> {
        let editors = self.config.recipients(n.municipality, Role::Editors);
        let desk = self.config.recipients(n.municipality, Role::ServiceDesk);
        let only_desk = desk.iter().filter(|r| !editors.contains(r));
        self.tell(n, &vars, now, only_desk, "desk:")
    }

    /// Enqueues `n` to each of `recipients`, keyed `{key_prefix}:{tag}{recipient}`.
    fn tell<'r>(
        &self,
        n: EditorNotice<'_>,
        vars: &[(&'static str, String)],
        now: DateTime<Utc>,
        recipients: impl Iterator<Item = &'r String>,
        tag: &str,
    ) -> Result<Vec<OutboxId>, NotifyError> {
        let mut ids = Vec::new();
        for r in recipients {
            let notice = Notice {
                key: format!("{}:{tag}{r}", n.key_prefix),
                kind: n.kind,
                recipient: r,
                municipality: Some(n.municipality),
                vars: vars.to_vec(),
                due_at: self.held_until(n.since, now),
                limited: true,
                source: Some(n.source),
                oncall_case: None,
                csv: Vec::new(),
            };
            ids.extend(self.enqueue(notice)?);
        }
        Ok(ids)
    }

    fn announce_open(
        &self,
        calendar: &Calendar,
        key: &str,
        event: &Event,
        now: DateTime<Utc>,
    ) -> Result<Vec<OutboxId>, NotifyError> {
        let tz = calendar.time_zone();
        let mut ids = Vec::new();
        match event {
            Event::ServiceDown {
                service_id,
                service_name,
                municipality,
                site_names,
                site_ids,
                since,
                function,
                case_title,
                ..
            } => {
                let vars = vec![
                    ("service", service_name.clone()),
                    ("where", where_text(site_names, site_ids, municipality)),
                    ("municipality", municipality.clone()),
                    ("since", date_time_sv(*since, tz)),
                ];
                let prefix = format!("service-down:{service_id}:{}", instant_key(*since));
                let notice = EditorNotice {
                    kind: "service_down",
                    key_prefix: &prefix,
                    municipality,
                    since: *since,
                    source: key,
                };
                ids = self.tell_editors(notice, vars, now)?;
                if let Some(item) = function {
                    let vars = vec![
                        ("service", service_name.clone()),
                        ("function", item.clone()),
                        ("municipality", municipality.clone()),
                        ("since", date_time_sv(*since, tz)),
                        ("opened_by", opened_by(case_title.as_deref())),
                    ];
                    let prefix = format!("intefunktion-open:{service_id}:{}", instant_key(*since));
                    let desk = EditorNotice {
                        kind: "intefunktion_open",
                        key_prefix: &prefix,
                        ..notice
                    };
                    ids.extend(self.tell_service_desk(desk, vars, now)?);
                }
            }
            Event::SiteDark {
                site_id,
                site_name,
                municipality,
                since,
                unreachable_children,
                ..
            } => {
                let vars = vec![
                    ("site", site_name.clone()),
                    ("municipality", municipality.clone()),
                    ("since", date_time_sv(*since, tz)),
                    ("children_count", unreachable_children.len().to_string()),
                ];
                let prefix = format!("site-dark:{site_id}:{}", instant_key(*since));
                let notice = EditorNotice {
                    kind: "site_dark",
                    key_prefix: &prefix,
                    municipality,
                    since: *since,
                    source: key,
                };
                ids = self.tell_editors(notice, vars, now)?;
            }
            Event::DeviceAlert { .. } => {
                ids = self.announce_alert(calendar, key, event, now, None)?;
            }
            _ => {}
        }
        Ok(ids)
    }

    /// The notices of a device alert; `revision` (when the alert's text was revised) goes into
    /// their outbox keys, and a revision pages nobody.
    fn announce_alert(
        &self,
        calendar: &Calendar,
        key: &str,
        event: &Event,
        now: DateTime<Utc>,
        revision: Option<&str>,
    ) -> Result<Vec<OutboxId>, NotifyError> {
        let Event::DeviceAlert {
            device_id,
            device_name,
            municipality,
            kind,
            since,
            ..
        } = event
        else {
            return Ok(Vec::new());
        };
        let route = self.route_alert(calendar, municipality, kind, now);
        let vars = alert_vars(event, calendar.time_zone(), route.text);
        let case = route.pages.then(|| OncallCase {
            at: now,
            device_id: device_id.clone(),
            device_name: device_name.clone(),
            kind: kind.tag().to_string(),
            municipality: municipality.clone(),
            since: *since,
            acknowledged_at: None,
            resolved_at: None,
        });
        let due_at = self.held_until(*since, route.not_before.max(now));
        if route.pages && revision.is_some() {
            return Ok(Vec::new()); // the page is open; on-call is not woken for a new count
        }
        if route.pages {
            return self.page_on_call(key, event, &vars, due_at, case);
        }
        let mut base = format!("alert:{device_id}:{}:{}", kind.tag(), instant_key(*since));
        if let Some(rev) = revision {
            base = format!("{base}:{rev}");
        }
        let channels = self
            .config
            .channels_for(municipality, kind.tag(), route.role);
        let mut ids =
            self.team_notices(&base, event, MessageEvent::Alert, &channels, None, due_at)?;
        let mailbox = Some(Audience::Mailbox);
        if !channels
            .iter()
            .any(|c| self.channels.audience(c) == mailbox)
        {
            return Ok(ids);
        }
        for r in self.config.recipients(municipality, route.role) {
            let notice = Notice {
                key: format!("{base}:{r}"),
                kind: "alert",
                recipient: &r,
                municipality: Some(municipality),
                vars: vars.clone(),
                due_at,
                limited: true,
                source: Some(key),
                oncall_case: None,
                csv: Vec::new(),
            };
            ids.extend(self.enqueue(notice)?);
        }
        Ok(ids)
    }

    fn route_alert(
        &self,
        calendar: &Calendar,
        municipality: &str,
        kind: &AlertKind,
        now: DateTime<Utc>,
    ) -> Route {
        let office = Route {
            role: Role::ServiceDesk,
            not_before: now,
            pages: false,
            text: "kontorstid",
        };
        if calendar.is_office_hours(now, Some(municipality)) {
            return office;
        }
        let on_call = self.config.recipients(municipality, Role::OnCall);
        let routing = self.config.alerts.for_kind(kind);
        // A break inside a working day (lunch) is not on-call time: the desk is back soon.
        let in_break = calendar.in_break(now, Some(municipality)) && !routing.page_in_breaks;
        if routing.page_on_call && !on_call.is_empty() && !in_break {
            return Route {
                role: Role::OnCall,
                not_before: now,
                pages: true,
                text: "beredskap",
            };
        }
        Route {
            not_before: next_office_start(calendar, now, Some(municipality)).unwrap_or(now),
            text: "väntade till kontorstid",
            ..office
        }
    }

    /// For a function's failure: the service desk's recipients that are not editors (told the
    /// intefunktion notices, [`Self::tell_service_desk`]), the item and the function's name.
    fn desk_only(&self, event: &Event) -> Option<(Vec<String>, String, String)> {
        let Event::ServiceDown {
            municipality,
            function: Some(item),
            service_name,
            ..
        } = event
        else {
            return None;
        };
        let editors = self.config.recipients(municipality, Role::Editors);
        let desk = self.config.recipients(municipality, Role::ServiceDesk);
        let only: Vec<String> = desk.into_iter().filter(|r| !editors.contains(r)).collect();
        Some((only, item.clone(), service_name.clone()))
    }

    /// Enqueues the service desk's `intefunktion_closed` notice of `case` to `r`.
    fn tell_desk_closed(
        &self,
        case: &ClosedCase<'_>,
        r: &str,
        tz: chrono_tz::Tz,
        now: DateTime<Utc>,
    ) -> Result<Option<OutboxId>, NotifyError> {
        let vars = vec![
            ("service", case.name.to_string()),
            ("function", case.item.to_string()),
            ("municipality", case.municipality.to_string()),
            ("since", date_time_sv(case.since, tz)),
            ("until", date_time_sv(case.until, tz)),
            ("duration", duration_sv(case.until - case.since)),
        ];
        let notice = Notice {
            key: format!(
                "intefunktion-closed:{}:{}:{}:{r}",
                case.id,
                instant_key(case.since),
                instant_key(case.until)
            ),
            kind: "intefunktion_closed",
            recipient: r,
            municipality: Some(case.municipality),
            vars,
            due_at: now + self.hold_down(),
            limited: false,
            source: None,
            oncall_case: None,
            csv: Vec::new(),
        };
        self.enqueue(notice)
    }

    fn announce_close(
        &self,
        inc: &Failure,
        told: &[(String, String)],
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Vec<OutboxId>, NotifyError> {
        let tz = self.calendar()?.time_zone();
        let (kind, key_prefix, id, municipality, since, mut vars) = match &inc.event {
            Event::ServiceDown {
                service_id,
                service_name,
                municipality,
                site_names,
                site_ids,
                since,
                ..
            } => (
                "service_up",
                "service-up",
                service_id.clone(),
                municipality,
                *since,
                vec![
                    ("service", service_name.clone()),
                    ("where", where_text(site_names, site_ids, municipality)),
                ],
            ),
            Event::SiteDark {
                site_id,
                site_name,
                municipality,
                since,
                ..
            } => (
                "site_back",
                "site-back",
                site_id.clone(),
                municipality,
                *since,
                vec![("site", site_name.clone())],
            ),
            Event::DeviceAlert {
                device_id,
                device_name,
                class,
                site_name,
                municipality,
                kind,
                since,
                ..
            } => (
                "alert_cleared",
                "alert-cleared",
                format!("{device_id}:{}", kind.tag()),
                municipality,
                *since,
                vec![
                    ("device", device_name.clone()),
                    ("class", class_name_sv(class).to_string()),
                    ("site", site_name.clone()),
                    ("what", kind.swedish()),
                ],
            ),
            _ => return Ok(Vec::new()),
        };
        vars.extend([
            ("municipality", municipality.clone()),
            ("since", date_time_sv(since, tz)),
            ("until", date_time_sv(until, tz)),
            ("duration", duration_sv(until - since)),
        ]);
        let desk = self.desk_only(&inc.event);
        let mut ids = Vec::new();
        for (channel, r) in told {
            if self.channels.audience(channel) != Some(Audience::Mailbox) {
                let due_at = now + self.hold_down();
                ids.extend(self.resolved_notice(&inc.event, channel, r, until, due_at)?);
                continue;
            }
            if let Some((item, name)) = desk
                .as_ref()
                .filter(|(d, ..)| d.contains(r))
                .map(|(_, i, n)| (i, n))
            {
                let case = ClosedCase {
                    id: &id,
                    item,
                    name,
                    municipality,
                    since,
                    until,
                };
                ids.extend(self.tell_desk_closed(&case, r, tz, now)?);
                continue;
            }
            let notice = Notice {
                key: format!(
                    "{key_prefix}:{id}:{}:{}:{r}",
                    instant_key(since),
                    instant_key(until)
                ),
                kind,
                recipient: r,
                municipality: Some(municipality),
                vars: vars.clone(),
                due_at: now + self.hold_down(),
                limited: false,
                source: None,
                oncall_case: None,
                csv: Vec::new(),
            };
            ids.extend(self.enqueue(notice)?);
        }
        Ok(ids)
    }

    /// Announces `window` to the editors of the municipalities it concerns.
    pub(crate) fn announce_window(
        &self,
        window: &Window,
        municipalities: &[String],
    ) -> Result<Vec<OutboxId>, NotifyError> {
        let now = self.clock.now();
        if !window.active || window.end <= now {
            return Ok(Vec::new());
        }
        let tz = self.calendar()?.time_zone();
        let concerned = self.concerned(window, municipalities);
        let vars = vec![
            ("date", render::date_sv(window.start, tz)),
            ("start", render::time_sv(window.start, tz)),
            ("end", render::time_sv(window.end, tz)),
            ("window_kind", window_kind_sv(window).to_string()),
            ("scope", scope_sv(window)),
            ("reason", window.reason.clone().unwrap_or_default()),
        ];
        let mut ids = Vec::new();
        for m in &concerned {
            for r in self.config.recipients(m, Role::Editors) {
                let notice = Notice {
                    key: format!(
                        "window:{}:{}:{}:{r}",
                        window.kind.as_str(),
                        instant_key(window.start),
                        window.scope
                    ),
                    kind: "window",
                    recipient: &r,
                    municipality: Some(m),
                    vars: vars.clone(),
                    due_at: now,
                    limited: false,
                    source: None,
                    oncall_case: None,
                    csv: Vec::new(),
                };
                ids.extend(self.enqueue(notice)?);
            }
        }
        Ok(ids)
    }

    fn concerned(&self, window: &Window, listed: &[String]) -> Vec<String> {
        if !listed.is_empty() {
            return listed.to_vec();
        }
        match &window.scope {
            crate::calendar::WindowScope::All => {
                self.config.municipalities.keys().cloned().collect()
            }
            crate::calendar::WindowScope::Municipality(m) => vec![m.clone()],
            other => {
                tracing::warn!(scope = %other, "window announcement without municipalities");
                Vec::new()
            }
        }
    }

    /// Renders and enqueues one notice, or adds it to the recipient's digest when the rate
    /// limit is reached. Returns the new row's id, if one was created.
    pub(crate) fn enqueue(&self, notice: Notice) -> Result<Option<OutboxId>, NotifyError> {
        if self.store.exists(&notice.key)? {
            return Ok(None);
        }
        let now = self.clock.now();
        let sender = self.config.from.for_municipality(notice.municipality);
        let rendered = self.templates.render(notice.kind, &notice.vars)?;
        if notice.limited && self.over_limit(notice.recipient, now)? {
            return self.add_to_digest(&notice, sender, &rendered.subject, now);
        }
        let message_id = render::message_id(&notice.key, sender);
        let raw = render::build_message(&MailParts {
            from: sender,
            to: notice.recipient,
            rendered: &rendered,
            message_id: &message_id,
            date: now,
            csv: notice
                .csv
                .iter()
                .map(|(n, c)| (n.as_str(), c.as_str()))
                .collect(),
        })?;
        let new = NewNotice {
            key: notice.key,
            kind: notice.kind.to_string(),
            recipient: notice.recipient.to_string(),
            sender: sender.to_string(),
            subject: rendered.subject,
            message_id,
            raw,
            due_at: notice.due_at,
            oncall_case: notice.oncall_case,
            channel: mail::NAME.to_string(),
        };
        Ok(self.store.enqueue(&new, now)?)
    }

    fn over_limit(&self, recipient: &str, now: DateTime<Utc>) -> Result<bool, NotifyError> {
        let hour_ago = now - chrono::Duration::hours(1);
        let sent = self.store.count_since(recipient, hour_ago)?;
        // One slot stays free for the digest itself.
        Ok(sent + 1 >= u64::from(self.config.rate_limit_per_hour))
    }

    fn add_to_digest(
        &self,
        notice: &Notice,
        sender: &str,
        subject: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<OutboxId>, NotifyError> {
        let tz = self.calendar()?.time_zone();
        let line = format!("{} – {subject}", render::time_sv(now, tz));
        let source = notice.source.unwrap_or(&notice.key);
        if let Some(row) = self.store.pending_digest(notice.recipient)? {
            self.store.add_digest_item(row.id, source, &line)?;
            let items = self.store.digest_items(row.id)?;
            if self.rerender_digest(notice.recipient, &row.sender, &row.key, row.id, &items)? {
                return Ok(None);
            }
        }
        let key = format!("digest:{}:{}", notice.recipient, instant_key(now));
        let delay = chrono::Duration::from_std(self.config.digest_delay.std()).unwrap_or_default();
        let rendered = self.digest_text(std::slice::from_ref(&line))?;
        let message_id = render::message_id(&key, sender);
        let raw = render::build_message(&MailParts {
            from: sender,
            to: notice.recipient,
            rendered: &rendered,
            message_id: &message_id,
            date: now,
            csv: Vec::new(),
        })?;
        let new = NewNotice {
            key,
            kind: "digest".to_string(),
            recipient: notice.recipient.to_string(),
            sender: sender.to_string(),
            subject: rendered.subject,
            message_id,
            raw,
            due_at: now + delay,
            oncall_case: None,
            channel: mail::NAME.to_string(),
        };
        let id = self.store.enqueue(&new, now)?;
        if let Some(id) = id {
            self.store.add_digest_item(id, source, &line)?;
        }
        Ok(id)
    }

    fn digest_text(&self, items: &[String]) -> Result<render::Rendered, NotifyError> {
        Ok(self.templates.render(
            "digest",
            &[
                ("count", items.len().to_string()),
                ("limit", self.config.rate_limit_per_hour.to_string()),
                ("items", items.join("\n")),
            ],
        )?)
    }

    /// Re-renders a pending digest with `items`; `false` when it was no longer pending.
    fn rerender_digest(
        &self,
        recipient: &str,
        sender: &str,
        key: &str,
        id: OutboxId,
        items: &[String],
    ) -> Result<bool, NotifyError> {
        let rendered = self.digest_text(items)?;
        let raw = render::build_message(&MailParts {
            from: sender,
            to: recipient,
            rendered: &rendered,
            message_id: &render::message_id(key, sender),
            date: self.clock.now(),
            csv: Vec::new(),
        })?;
        Ok(self.store.update_pending(id, &rendered.subject, &raw)?)
    }

    pub(crate) fn calendar(&self) -> Result<Calendar, NotifyError> {
        self.calendar.calendar().map_err(NotifyError::Calendar)
    }
}

pub(crate) struct Route {
    role: Role,
    not_before: DateTime<Utc>,
    /// Whether this pages on-call (and so is an on-call case).
    pages: bool,
    text: &'static str,
}

fn failure(
    key: String,
    event: Event,
    state: FailureState,
    notices: Vec<OutboxId>,
    now: DateTime<Utc>,
) -> Failure {
    Failure {
        key,
        event,
        state,
        notices,
        updated_at: now,
    }
}

/// Who opened an intefunktion case, for the service desk's notice: the probes, or the desk
/// itself with its title.
fn opened_by(case_title: Option<&str>) -> String {
    match case_title {
        Some(t) => format!("registrerat av servicedesken: {t}"),
        None => "upptäckt av Driftvakts mätningar".to_string(),
    }
}

/// The active window covering the failure in `event` at `now`, if any.
pub fn window_for(calendar: &Calendar, event: &Event, now: DateTime<Utc>) -> Option<Window> {
    let in_window = |s: Subject| match calendar.at(now, &s) {
        Moment::InWindow(w) => Some(w),
        _ => None,
    };
    match event {
        Event::ServiceDown {
            service_id,
            municipality,
            site_ids,
            ..
        } => {
            let base = Subject {
                service: Some(service_id),
                municipality: Some(municipality),
                ..Subject::ANY
            };
            in_window(base).or_else(|| {
                site_ids.iter().find_map(|s| {
                    in_window(Subject {
                        site: Some(s),
                        ..base
                    })
                })
            })
        }
        Event::SiteDark {
            site_id,
            municipality,
            node_switch,
            ..
        } => in_window(Subject {
            site: Some(site_id),
            municipality: Some(municipality),
            device: Some(node_switch),
            service: None,
        }),
        Event::DeviceAlert {
            device_id,
            site_id,
            municipality,
            ..
        } => in_window(Subject {
            device: Some(device_id),
            site: Some(site_id),
            municipality: Some(municipality),
            service: None,
        }),
        _ => None,
    }
}

fn where_text(site_names: &[String], site_ids: &[String], municipality: &str) -> String {
    let names = if site_names.is_empty() {
        site_ids
    } else {
        site_names
    };
    if names.is_empty() {
        municipality.to_string()
    } else {
        names.join(", ")
    }
}

fn window_kind_sv(w: &Window) -> &'static str {
    match w.kind {
        crate::calendar::WindowKind::Primary => "ordinarie servicefönster",
        crate::calendar::WindowKind::Secondary => "extra servicefönster",
        crate::calendar::WindowKind::Adhoc => "särskilt servicefönster",
    }
}

fn scope_sv(w: &Window) -> String {
    use crate::calendar::WindowScope;
    match &w.scope {
        WindowScope::All | WindowScope::Municipality(_) => "it-tjänster".to_string(),
        WindowScope::Site(s) => format!("it-tjänster i {s}"),
        WindowScope::Device(d) => format!("enheten {d}"),
        WindowScope::Service(s) => format!("tjänsten {s}"),
    }
}

/// The `alert` template's variables for a device alert (none for other events); `route` says
/// whom it went to ("servicedesk", "beredskap"). The first page and every escalation step use
/// the same ones.
pub(super) fn alert_vars(
    event: &Event,
    tz: chrono_tz::Tz,
    route: &str,
) -> Vec<(&'static str, String)> {
    let Event::DeviceAlert {
        device_name,
        class,
        site_name,
        municipality,
        kind,
        since,
        detail,
        ..
    } = event
    else {
        return Vec::new();
    };
    vec![
        ("device", device_name.clone()),
        ("class", class_name_sv(class).to_string()),
        ("site", site_name.clone()),
        ("municipality", municipality.clone()),
        ("what", kind.swedish()),
        ("since", date_time_sv(*since, tz)),
        ("detail", detail.clone()),
        ("route", route.to_string()),
    ]
}
