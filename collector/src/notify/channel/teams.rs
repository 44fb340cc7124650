//! Microsoft Teams: an Adaptive Card in Swedish, posted to an incoming webhook or a Workflows
//! ("When a Teams webhook request is received") URL, with a "Kvittera" button for on-call
//! alerts. The URL carries its own signature, so it is a secret (`{ env: }` or `{ file: }`).

use super::{http, AlertMessage, Audience, Channel, MessageEvent, Parcel};
pub use crate::inventory::channels::TeamsConfig;
use crate::notify::render::date_time_sv;
use crate::notify::transport::SendError;
use driftvakt_common::schema::Secret;
use serde_json::json;
use std::path::Path;

pub struct Teams {
    url: Secret,
    client: http::Client,
}

impl Teams {
    pub fn new(c: &TeamsConfig, base: &Path) -> Result<Self, String> {
        Ok(Teams {
            url: c.url.resolve(base)?,
            client: http::client(c.timeout.std())?,
        })
    }
}

/// The card's title line and its colour.
fn headline(msg: &AlertMessage) -> (String, &'static str) {
    let who = msg.contact.as_deref().unwrap_or("beredskapen");
    match msg.event {
        MessageEvent::Alert => (msg.text.clone(), "attention"),
        MessageEvent::Escalated => (format!("Eskalerat till {who}: {}", msg.text), "attention"),
        MessageEvent::Acknowledged => (format!("Kvitterat av {who}: {}", msg.text), "accent"),
        MessageEvent::Resolved => (msg.text.clone(), "good"),
    }
}

/// The Teams message: one Adaptive Card (schema 1.4) in Swedish.
pub fn card(msg: &AlertMessage) -> serde_json::Value {
    let tz = chrono_tz::Europe::Stockholm;
    let (title, color) = headline(msg);
    let mut facts = vec![
        json!({"title": "Enhet", "value": format!(
            "{} ({})",
            msg.device_name,
            crate::calendar::swedish::class_name_sv(&msg.class)
        )}),
        json!({"title": "Plats", "value": format!("{}, {}", msg.site, msg.municipality)}),
        json!({"title": "Larm", "value": msg.what}),
        json!({"title": "Sedan", "value": date_time_sv(msg.since, tz)}),
    ];
    if let Some(until) = msg.until {
        facts.push(json!({"title": "Upphörde", "value": date_time_sv(until, tz)}));
    }
    if !msg.detail.is_empty() {
        facts.push(json!({"title": "Detalj", "value": msg.detail}));
    }
    if let Some(c) = &msg.contact {
        facts.push(json!({"title": "Hos", "value": c}));
    }
    let mut content = json!({
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "lang": "sv",
        "body": [
            {"type": "TextBlock", "text": title, "weight": "Bolder", "size": "Medium",
             "color": color, "wrap": true},
            {"type": "FactSet", "facts": facts}
        ]
    });
    if let (Some(url), MessageEvent::Alert | MessageEvent::Escalated) = (&msg.ack_url, msg.event) {
        content["actions"] = json!([{"type": "Action.OpenUrl", "title": "Kvittera", "url": url}]);
    }
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": content
        }]
    })
}

impl Channel for Teams {
    fn audience(&self) -> Audience {
        Audience::Team
    }

    fn render(&self, msg: &AlertMessage, _to: Option<&str>) -> Result<Vec<u8>, String> {
        serde_json::to_vec(&card(msg)).map_err(|e| e.to_string())
    }

    async fn send(&self, parcel: &Parcel<'_>) -> Result<(), SendError> {
        let payload = parcel.payload;
        let req = self
            .client
            .post(self.url.expose())
            .header("content-type", "application/json")
            .body(payload.to_vec());
        self.client.send(req, "teams").await
    }
}
