//! On-call pages through every channel, escalation, acknowledgement.
//!
//! A device alert that pages on-call goes to the first contact of the municipality's on-call
//! list through the channels its route names (mail to the contact's address, SMS to their
//! phone, team channels once), each with an acknowledgement link ([`super::ack`]) when
//! `notify.ack` is configured. The page is recorded (`store::oncall_pages`); unacknowledged after
//! `escalate_after`, [`super::Notifier::tick`] sends it to the next contact, and the team
//! channels hear who has it now; then the next. An acknowledgement (the link, or
//! `POST /api/v1/alerts/{id}/ack`) or the recovery stops the chain; the acknowledgement is
//! written into the on-call case and told to the team channels.

use super::channel::Audience;
use super::channel::{AlertMessage, MessageEvent};
use super::config::Role;
use super::oncall::OncallCase;
use super::policy::{instant_key, Notice};
use super::{Notifier, NotifyError, NotifyStore};
use crate::events::Event;
use crate::store::outbox::{NewNotice, OutboxId};
use crate::store::{AckError, OncallPage};
use chrono::{DateTime, Utc};

/// What the acknowledgement page shows besides the alert itself: whose link it is and who has
/// been paged so far.
#[derive(Debug, Clone)]
pub struct LinkView {
    pub page: OncallPage,
    /// The on-call contact the link was sent to.
    pub contact: String,
    /// The contacts paged so far (the escalation chain up to the page's step), in order.
    pub paged: Vec<String>,
}

/// What the HTTP API needs to acknowledge alerts (object-safe; the notifier implements it).
pub trait Acknowledge: Send + Sync {
    /// The page a link is for, if the link is valid and unexpired (nothing changes).
    fn link_page(&self, token: &str) -> Result<OncallPage, AckError>;
    /// The page a link is for with whose link it is and who has been paged (nothing changes).
    fn link_view(&self, token: &str) -> Result<LinkView, AckError>;
    /// Acknowledges by link, as the contact the link was sent to.
    fn ack_link(&self, token: &str) -> Result<OncallPage, AckError>;
    /// Acknowledges alert `id` for an operator.
    fn ack_operator(&self, id: i64, by: &str) -> Result<OncallPage, AckError>;
}

impl<S: NotifyStore> Acknowledge for Notifier<S> {
    fn link_page(&self, token: &str) -> Result<OncallPage, AckError> {
        let links = self.channels.ack.as_ref().ok_or(AckError::BadToken)?;
        let (id, _) = links.verify(token, self.clock.now())?;
        self.store.page(id)?.ok_or(AckError::Unknown(id))
    }

    fn link_view(&self, token: &str) -> Result<LinkView, AckError> {
        let links = self.channels.ack.as_ref().ok_or(AckError::BadToken)?;
        let (id, step) = links.verify(token, self.clock.now())?;
        let page = self.store.page(id)?.ok_or(AckError::Unknown(id))?;
        let contacts = self.config.contacts(municipality(&page.event));
        let name = |i: u32| contacts.get(i as usize).map(|c| c.name().to_string());
        Ok(LinkView {
            contact: name(step).unwrap_or_else(|| "beredskapen".to_string()),
            paged: (0..=page.step).filter_map(name).collect(),
            page,
        })
    }

    fn ack_link(&self, token: &str) -> Result<OncallPage, AckError> {
        let links = self.channels.ack.as_ref().ok_or(AckError::BadToken)?;
        let (id, step) = links.verify(token, self.clock.now())?;
        let page = self.store.page(id)?.ok_or(AckError::Unknown(id))?;
        let by = self
            .config
            .contacts(municipality(&page.event))
            .get(step as usize)
            .map_or_else(|| "beredskapen".to_string(), |c| c.name().to_string());
        self.acknowledge(id, &by)
    }

    fn ack_operator(&self, id: i64, by: &str) -> Result<OncallPage, AckError> {
        self.acknowledge(id, by)
    }
}

fn municipality(event: &Event) -> &str {
    match event {
        Event::DeviceAlert { municipality, .. } => municipality,
        _ => "",
    }
}

impl<S: NotifyStore> Notifier<S> {
    /// Acknowledges page `id` now by `by`, and tells the team channels who has it.
    pub fn acknowledge(&self, id: i64, by: &str) -> Result<OncallPage, AckError> {
        let now = self.clock.now();
        let page = self.store.acknowledge(id, now, by)?;
        tracing::info!(alert = id, by, "alert acknowledged");
        if let Err(e) = self.tell_acknowledged(&page, by, now) {
            tracing::warn!(alert = id, error = %e, "the acknowledgement was not told to the team");
        }
        Ok(page)
    }

    fn tell_acknowledged(
        &self,
        page: &OncallPage,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<(), NotifyError> {
        let Event::DeviceAlert {
            municipality, kind, ..
        } = &page.event
        else {
            return Ok(());
        };
        for ch in self
            .config
            .channels_for(municipality, kind.tag(), Role::OnCall)
        {
            if self.channels.audience(&ch) != Some(Audience::Team) {
                continue;
            }
            let mut msg = self.message(&page.event, MessageEvent::Acknowledged, "on_call", now)?;
            msg.id = format!("ack:{}:{ch}", page.id);
            msg.alert_id = Some(page.id);
            msg.contact = Some(by.to_string());
            self.enqueue_channel(&msg, &ch, &ch, None, now, None)?;
        }
        Ok(())
    }

    /// Pages the first on-call contact and records the page for escalation.
    pub(crate) fn page_on_call(
        &self,
        key: &str,
        event: &Event,
        vars: &[(&'static str, String)],
        due_at: DateTime<Utc>,
        case: Option<OncallCase>,
    ) -> Result<Vec<OutboxId>, NotifyError> {
        let Event::DeviceAlert {
            municipality,
            since,
            ..
        } = event
        else {
            return Ok(Vec::new());
        };
        let contacts = self.config.contacts(municipality).len();
        let next = (contacts > 1).then(|| due_at + self.escalate_after());
        let page = self.store.open_page(key, *since, event, next)?;
        self.page_step(&page, 0, vars, due_at, case)
    }

    fn escalate_after(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.config.escalate_after.std()).unwrap_or_default()
    }

    /// Sends `page` to the contact at `step` through the on-call channels.
    fn page_step(
        &self,
        page: &OncallPage,
        step: u32,
        vars: &[(&'static str, String)],
        due_at: DateTime<Utc>,
        case: Option<OncallCase>,
    ) -> Result<Vec<OutboxId>, NotifyError> {
        let Event::DeviceAlert {
            device_id,
            municipality,
            kind,
            since,
            ..
        } = &page.event
        else {
            return Ok(Vec::new());
        };
        let now = self.clock.now();
        let Some(contact) = self
            .config
            .contacts(municipality)
            .get(step as usize)
            .cloned()
        else {
            return Ok(Vec::new());
        };
        let ack_url = self
            .channels
            .ack
            .as_ref()
            .map(|a| a.link(page.id, step, now));
        let base = format!("alert:{device_id}:{}:{}", kind.tag(), instant_key(*since));
        let event_kind = if step == 0 {
            MessageEvent::Alert
        } else {
            MessageEvent::Escalated
        };
        let mut msg = self.message(&page.event, event_kind, "on_call", now)?;
        msg.alert_id = Some(page.id);
        msg.contact = Some(contact.name().to_string());
        msg.ack_url = ack_url.clone();
        let mut ids = Vec::new();
        for ch in self
            .config
            .channels_for(municipality, kind.tag(), Role::OnCall)
        {
            let (recipient, to) = match self.channels.audience(&ch) {
                None => {
                    return Err(NotifyError::Config(format!(
                        "channel {ch} is not configured"
                    )))
                }
                Some(Audience::Mailbox) => {
                    let Some(mail) = contact.mail() else { continue };
                    let mut vars = vars.to_vec();
                    vars.push(("ack_url", ack_url.clone().unwrap_or_default()));
                    let key = match step {
                        0 => format!("{base}:{mail}"),
                        n => format!("{base}:{mail}:{n}"),
                    };
                    let notice = Notice {
                        key,
                        kind: "alert",
                        recipient: mail,
                        municipality: Some(municipality),
                        vars,
                        due_at,
                        limited: true,
                        source: Some(&page.incident_key),
                        oncall_case: case.clone(),
                        csv: Vec::new(),
                    };
                    ids.extend(self.enqueue(notice)?);
                    continue;
                }
                Some(Audience::Phone) => match contact.phone() {
                    Some(phone) => (phone.to_string(), Some(phone)),
                    None => continue,
                },
                Some(Audience::Team) => (ch.clone(), None),
            };
            msg.id = format!("{base}:{ch}:{recipient}:{step}");
            ids.extend(self.enqueue_channel(&msg, &ch, &recipient, to, due_at, case.clone())?);
        }
        Ok(ids)
    }

    /// The team-channel notices (audience [`Audience::Team`]) among `channels` for `event`; their
    /// outbox keys are `{base}:{channel}`.
    pub(crate) fn team_notices(
        &self,
        base: &str,
        event: &Event,
        what: MessageEvent,
        channels: &[String],
        contact: Option<&str>,
        due_at: DateTime<Utc>,
    ) -> Result<Vec<OutboxId>, NotifyError> {
        if !matches!(event, Event::DeviceAlert { .. }) {
            return Ok(Vec::new());
        }
        let now = self.clock.now();
        let mut ids = Vec::new();
        for ch in channels {
            if matches!(
                self.channels.audience(ch),
                Some(Audience::Mailbox | Audience::Phone)
            ) {
                continue;
            }
            let mut msg = self.message(event, what, "service_desk", now)?;
            msg.id = format!("{base}:{ch}");
            msg.contact = contact.map(str::to_string);
            ids.extend(self.enqueue_channel(&msg, ch, ch, None, due_at, None)?);
        }
        Ok(ids)
    }

    /// The recovery of `event` through `channel` to `recipient` (who had been told).
    pub(crate) fn resolved_notice(
        &self,
        event: &Event,
        channel: &str,
        recipient: &str,
        until: DateTime<Utc>,
        due_at: DateTime<Utc>,
    ) -> Result<Option<OutboxId>, NotifyError> {
        let Event::DeviceAlert {
            device_id,
            kind,
            since,
            ..
        } = event
        else {
            return Ok(None);
        };
        let now = self.clock.now();
        let mut msg = self.message(event, MessageEvent::Resolved, "on_call", now)?;
        msg.until = Some(until);
        msg.text = self.text("alert_cleared", event, Some(until))?;
        msg.id = format!(
            "alert-cleared:{device_id}:{}:{}:{}:{channel}:{recipient}",
            kind.tag(),
            instant_key(*since),
            instant_key(until)
        );
        let to = (self.channels.audience(channel) == Some(Audience::Phone)).then_some(recipient);
        self.enqueue_channel(&msg, channel, recipient, to, due_at, None)
    }

    /// Escalates every page whose time has come; returns the notices enqueued.
    pub(crate) fn tick_escalations(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<OutboxId>, NotifyError> {
        let mut out = Vec::new();
        for page in self.store.due_pages(now)? {
            let contacts = self.config.contacts(municipality(&page.event)).len() as u32;
            let step = page.step + 1;
            if step >= contacts {
                self.store.set_step(page.id, page.step, None)?;
                continue;
            }
            let next = (step + 1 < contacts).then(|| now + self.escalate_after());
            self.store.set_step(page.id, step, next)?;
            let vars = self.vars(&page.event, "beredskap")?;
            let ids = self.page_step(&page, step, &vars, now, None)?;
            tracing::info!(alert = page.id, step, "not acknowledged: escalated");
            if let Some(mut inc) = self.store.failure(&page.incident_key)? {
                inc.notices.extend(ids.iter().copied());
                self.store.put_failure(&inc)?;
            }
            out.extend(ids);
        }
        Ok(out)
    }

    /// The alert template's variables for `event`.
    fn vars(&self, event: &Event, route: &str) -> Result<Vec<(&'static str, String)>, NotifyError> {
        Ok(super::policy::alert_vars(
            event,
            self.calendar()?.time_zone(),
            route,
        ))
    }

    /// The Swedish one-liner: the subject of `alert` (or `alert_cleared` with `until`).
    fn text(
        &self,
        kind: &str,
        event: &Event,
        until: Option<DateTime<Utc>>,
    ) -> Result<String, NotifyError> {
        let mut vars = self.vars(event, "beredskap")?;
        if let (Some(until), Event::DeviceAlert { since, .. }) = (until, event) {
            let tz = self.calendar()?.time_zone();
            vars.push(("until", super::render::date_time_sv(until, tz)));
            vars.push(("duration", super::render::duration_sv(until - *since)));
        }
        Ok(self.templates.render(kind, &vars)?.subject)
    }

    fn message(
        &self,
        event: &Event,
        what: MessageEvent,
        role: &str,
        now: DateTime<Utc>,
    ) -> Result<AlertMessage, NotifyError> {
        let Event::DeviceAlert {
            device_id,
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
            return Err(NotifyError::Config(
                "only device alerts go to channels".into(),
            ));
        };
        Ok(AlertMessage {
            version: 1,
            id: String::new(),
            event: what,
            at: now,
            alert_id: None,
            kind: kind.tag().to_string(),
            what: kind.swedish(),
            device_id: device_id.clone(),
            device_name: device_name.clone(),
            class: class.clone(),
            site: site_name.clone(),
            municipality: municipality.clone(),
            since: *since,
            until: None,
            detail: detail.clone(),
            role: role.to_string(),
            contact: None,
            ack_url: None,
            text: self.text("alert", event, None)?,
        })
    }

    /// Renders `msg` for `channel` and enqueues it (idempotent on `msg.id`).
    fn enqueue_channel(
        &self,
        msg: &AlertMessage,
        channel: &str,
        recipient: &str,
        to: Option<&str>,
        due_at: DateTime<Utc>,
        case: Option<OncallCase>,
    ) -> Result<Option<OutboxId>, NotifyError> {
        if self.store.exists(&msg.id)? {
            return Ok(None);
        }
        let ch = self
            .channels
            .get(channel)
            .ok_or_else(|| NotifyError::Config(format!("channel {channel} is not configured")))?;
        let raw = ch
            .render(msg, to)
            .map_err(|e| NotifyError::Config(format!("channel {channel}: {e}")))?;
        let kind = if msg.event == MessageEvent::Resolved {
            "alert_cleared"
        } else {
            "alert"
        };
        let new = NewNotice {
            key: msg.id.clone(),
            kind: kind.to_string(),
            recipient: recipient.to_string(),
            sender: "driftvakt".to_string(),
            subject: msg.text.clone(),
            message_id: msg.id.clone(),
            raw,
            due_at,
            oncall_case: case,
            channel: channel.to_string(),
        };
        Ok(self.store.enqueue(&new, self.clock.now())?)
    }
}
