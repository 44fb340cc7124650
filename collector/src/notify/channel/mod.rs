//! Alert channels beside mail: the same outbox, retries with backoff, idempotency keys and
//! `failed` rows for every channel; only rendering and sending differ.
//!
//! A channel is rendered when its notice is enqueued (the payload is stored in the outbox row,
//! so a restart sends exactly what was decided) and sent by delivery
//! ([`super::delivery`]). Every channel implements [`Channel`]; [`ChannelConfig`] (what
//! `notify.channels.NAME` says) and [`Configured`] (the channel ready to send) are enums with one
//! variant per channel, so adding one is a file here and a variant in each: the compiler points
//! at every `match` that must learn it.
//!
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
pub mod sms;
pub mod teams;
pub mod webhook;

use super::config::NotifyConfig;
use super::transport::SendError;
pub use crate::inventory::channels::ChannelConfig;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;
use std::future::Future;
use std::path::Path;

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

/// A channel: renders a message into the payload the outbox keeps, and sends a payload.
pub trait Channel: Send + Sync {
    /// The payload for `msg`; `to` is the phone number for personal channels.
    fn render(&self, msg: &AlertMessage, to: Option<&str>) -> Result<Vec<u8>, String>;
    /// Sends a stored payload; `key` is the idempotency key.
    fn send(&self, payload: &[u8], key: &str)
        -> impl Future<Output = Result<(), SendError>> + Send;
}

/// A configured channel, ready to send.
pub enum Configured {
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

    pub fn render(&self, msg: &AlertMessage, to: Option<&str>) -> Result<Vec<u8>, String> {
        match self {
            Configured::Webhook(c) => c.render(msg, to),
            Configured::Sms(c) => c.render(msg, to),
            Configured::Teams(c) => c.render(msg, to),
            Configured::Alertmanager(c) => c.render(msg, to),
        }
    }

    pub async fn send(&self, payload: &[u8], key: &str) -> Result<(), SendError> {
        match self {
            Configured::Webhook(c) => c.send(payload, key).await,
            Configured::Sms(c) => c.send(payload, key).await,
            Configured::Teams(c) => c.send(payload, key).await,
            Configured::Alertmanager(c) => c.send(payload, key).await,
        }
    }
}

/// Every configured channel by name, and the acknowledgement links' signer.
#[derive(Default)]
pub struct Channels {
    by_name: BTreeMap<String, Configured>,
    personal: BTreeMap<String, bool>,
    pub(crate) ack: Option<super::ack::AckLinks>,
}

impl Channels {
    /// Builds every channel of `config`, reading their secrets (relative files from `base`).
    /// The error names the channel and where the secret was looked for, never its value.
    pub fn from_config(config: &NotifyConfig, base: &Path) -> Result<Self, String> {
        let mut out = Channels::default();
        for (name, c) in &config.channels {
            let built =
                Configured::build(c, base).map_err(|e| format!("notify.channels.{name}: {e}"))?;
            out.by_name.insert(name.clone(), built);
            out.personal.insert(name.clone(), c.personal());
        }
        if let Some(ack) = &config.ack {
            out.ack = Some(
                super::ack::AckLinks::new(ack, base).map_err(|e| format!("notify.ack.key: {e}"))?,
            );
        }
        Ok(out)
    }

    pub fn get(&self, name: &str) -> Option<&Configured> {
        self.by_name.get(name)
    }

    /// Whether channel `name` sends to a person's phone; `None` when it is not configured.
    pub fn personal(&self, name: &str) -> Option<bool> {
        self.personal.get(name).copied()
    }
}
