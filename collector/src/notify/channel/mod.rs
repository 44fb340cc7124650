//! Alert channels, mail among them: the same outbox, retries with backoff, idempotency keys,
//! `failed` rows, routing, escalation and acknowledgement for every channel; only rendering,
//! sending and whom a channel reaches ([`Audience`]) differ.
//!
//! A channel is rendered when its notice is enqueued (the payload is stored in the outbox row,
//! so a restart sends exactly what was decided) and sent by delivery ([`super::delivery`],
//! the same call for every channel: [`Configured::send`] with the row as a [`Parcel`]).
//!
//! # Adding a channel
//! A file here with a type implementing [`Channel`] (its [`Audience`], `render` of an
//! [`AlertMessage`] into the payload, `send` of a payload; copy `webhook.rs`), its config
//! struct and one variant of [`ChannelConfig`] (`inventory/channels.rs`, what
//! `notify.channels.NAME` says), and one variant of [`Configured`] (the channel ready to send)
//! built in `Configured::build`: the compiler then points at every `match` that must learn it.
//! The policy decides by audience, never by a channel's name.
//!
//! - [`mail`]: the built-in channel `mail` (always there, not configured under
//!   `notify.channels`), messages rendered from the templates, sent through the injected
//!   [`super::MailTransport`] (SMTP or `.eml` files);
//! - [`webhook`]: JSON (see the README), `X-Driftvakt-Signature: sha256=HMAC(body)`;
//! - [`sms`]: a templated HTTP request to any SMS gateway, text at most 160 GSM characters;
//! - [`teams`]: an Adaptive Card in Swedish to a Teams incoming webhook or Workflows URL;
//! - [`alertmanager`]: `POST /api/v2/alerts`, resolved with `endsAt`.
//!
//! HTTP answers: 2xx is delivered; 408, 429 and 5xx, timeouts and refused connections are
//! temporary (retried with backoff, without limit); other 4xx are permanent (`failed` after
//! `retry.max_attempts`). Error texts never carry a URL (a Teams URL is a secret).

pub mod alertmanager;
pub mod http;
pub mod mail;
pub mod sms;
pub mod teams;
pub mod webhook;

use super::config::NotifyConfig;
use super::transport::{MailTransport, SendError};
pub use crate::inventory::channels::ChannelConfig;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;
use std::future::Future;
use std::path::Path;
use std::sync::Arc;

/// What happened, as a channel tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageEvent {
    /// The alert, to the first contact or the service desk.
    Alert,
    /// Not acknowledged in time: now with the next contact.
    Escalated,
    /// Someone has it.
    Acknowledged,
    /// The alert is over.
    Resolved,
}

/// A device alert, channel-neutral (the webhook body is exactly this, as JSON).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertMessage {
    /// Payload version.
    pub version: u32,
    /// The idempotency key: the same message re-sent after a crash has the same id.
    pub id: String,
    pub event: MessageEvent,
    /// When the message was made.
    pub at: DateTime<Utc>,
    /// The alert's id for `POST /api/v1/alerts/{id}/ack` (on-call alerts only).
    pub alert_id: Option<i64>,
    /// `down`, `on_battery`, ...
    pub kind: String,
    /// What the alert says, in Swedish.
    pub what: String,
    pub device_id: String,
    pub device_name: String,
    pub class: String,
    pub site: String,
    pub municipality: String,
    pub since: DateTime<Utc>,
    pub until: Option<DateTime<Utc>>,
    pub detail: String,
    /// `on_call` or `service_desk`.
    pub role: String,
    /// Who has it now (on-call), or who acknowledged it.
    pub contact: Option<String>,
    /// The acknowledgement link (on-call alerts, when `notify.ack` is configured).
    pub ack_url: Option<String>,
    /// One line in Swedish (the mail's subject).
    pub text: String,
}

/// Whom a channel reaches, which decides how the policy addresses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// Mail: the role's addresses (editors, service desk, on-call) or the on-call contact's own,
    /// each notice rendered from the templates.
    Mailbox,
    /// A person's phone (SMS): the on-call contact; never the service desk.
    Phone,
    /// The team's own channel (webhook, Teams, Alertmanager): one notice to the channel.
    Team,
}

/// A stored notice as delivery hands it to its channel.
#[derive(Debug, Clone, Copy)]
pub struct Parcel<'a> {
    /// The rendered payload (a whole message for mail).
    pub payload: &'a [u8],
    /// The idempotency key.
    pub key: &'a str,
    pub sender: &'a str,
    pub recipient: &'a str,
}

/// A channel: whom it reaches, renders a message into the payload the outbox keeps, and sends
/// a payload.
pub trait Channel: Send + Sync {
    fn audience(&self) -> Audience;
    /// The payload for `msg`; `to` is the phone number for personal channels.
    fn render(&self, msg: &AlertMessage, to: Option<&str>) -> Result<Vec<u8>, String>;
    /// Sends a stored payload (`parcel.key` is the idempotency key).
    fn send(&self, parcel: &Parcel<'_>) -> impl Future<Output = Result<(), SendError>> + Send;
}

/// A channel ready to send.
pub enum Configured {
    Mail(mail::Mail),
    Webhook(webhook::Webhook),
    Sms(Box<sms::Sms>),
    Teams(teams::Teams),
    Alertmanager(alertmanager::Alertmanager),
}

impl Configured {
    fn build(c: &ChannelConfig, base: &Path) -> Result<Self, String> {
        Ok(match c {
            ChannelConfig::Webhook(c) => Configured::Webhook(webhook::Webhook::new(c, base)?),
            ChannelConfig::Sms(c) => Configured::Sms(Box::new(sms::Sms::new(c, base)?)),
            ChannelConfig::Teams(c) => Configured::Teams(teams::Teams::new(c, base)?),
            ChannelConfig::Alertmanager(c) => {
                Configured::Alertmanager(alertmanager::Alertmanager::new(c, base)?)
            }
        })
    }

    pub fn audience(&self) -> Audience {
        match self {
            Configured::Mail(c) => c.audience(),
            Configured::Webhook(c) => c.audience(),
            Configured::Sms(c) => c.audience(),
            Configured::Teams(c) => c.audience(),
            Configured::Alertmanager(c) => c.audience(),
        }
    }

    pub fn render(&self, msg: &AlertMessage, to: Option<&str>) -> Result<Vec<u8>, String> {
        match self {
            Configured::Mail(c) => c.render(msg, to),
            Configured::Webhook(c) => c.render(msg, to),
            Configured::Sms(c) => c.render(msg, to),
            Configured::Teams(c) => c.render(msg, to),
            Configured::Alertmanager(c) => c.render(msg, to),
        }
    }

    pub async fn send(&self, parcel: &Parcel<'_>) -> Result<(), SendError> {
        match self {
            Configured::Mail(c) => c.send(parcel).await,
            Configured::Webhook(c) => c.send(parcel).await,
            Configured::Sms(c) => c.send(parcel).await,
            Configured::Teams(c) => c.send(parcel).await,
            Configured::Alertmanager(c) => c.send(parcel).await,
        }
    }
}

/// Every channel by name (`mail` among them once a transport is given, [`Channels::with_mail`]),
/// and the acknowledgement links' signer.
#[derive(Default)]
pub struct Channels {
    by_name: BTreeMap<String, Configured>,
    pub(crate) ack: Option<super::ack::AckLinks>,
}

impl Channels {
    /// Builds every channel under `notify.channels` of `config`, reading their secrets
    /// (relative files from `base`). The error names the channel and where the secret was
    /// looked for, never its value. The notifier adds `mail` with its transport.
    pub fn from_config(config: &NotifyConfig, base: &Path) -> Result<Self, String> {
        let mut out = Channels::default();
        for (name, c) in &config.channels {
            let built =
                Configured::build(c, base).map_err(|e| format!("notify.channels.{name}: {e}"))?;
            out.by_name.insert(name.clone(), built);
        }
        if let Some(ack) = &config.ack {
            out.ack = Some(
                super::ack::AckLinks::new(ack, base).map_err(|e| format!("notify.ack.key: {e}"))?,
            );
        }
        Ok(out)
    }

    /// These channels and `mail` through `transport`.
    pub fn with_mail(mut self, transport: Arc<dyn MailTransport>) -> Self {
        let mail = Configured::Mail(mail::Mail::new(transport));
        self.by_name.insert(mail::NAME.to_string(), mail);
        self
    }

    /// These channels with `other`'s `mail` (the notifier keeps its transport when handed new
    /// channels).
    pub(crate) fn with_mail_of(mut self, other: &Channels) -> Self {
        if let Some(Configured::Mail(m)) = other.by_name.get(mail::NAME) {
            self.by_name
                .insert(mail::NAME.to_string(), Configured::Mail(m.clone()));
        }
        self
    }

    pub fn get(&self, name: &str) -> Option<&Configured> {
        self.by_name.get(name)
    }

    /// Whom channel `name` reaches; `None` when there is no such channel.
    pub fn audience(&self, name: &str) -> Option<Audience> {
        self.get(name).map(Configured::audience)
    }
}
