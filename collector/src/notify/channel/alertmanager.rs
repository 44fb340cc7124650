//! Prometheus Alertmanager: `POST {url}/api/v2/alerts` with one alert (labels `alertname`,
//! `device`, `kind`, `municipality`, `site`: the same for the alert and its resolution), resolved by posting it again with
//! `endsAt` set to when it ended. Alertmanager resolves an alert by itself at `endsAt`; a
//! firing alert is sent once with `endsAt` `firing_for` ahead (default 7d), so it stays firing
//! until Driftvakt resolves it.

use super::{http, AlertMessage, Audience, Channel, MessageEvent, Parcel};
pub use crate::inventory::channels::AlertmanagerConfig;
use crate::notify::transport::SendError;
use chrono::SecondsFormat;
use serde_json::json;
use std::path::Path;

pub struct Alertmanager {
    endpoint: String,
    firing_for: chrono::Duration,
    client: http::Client,
}

impl Alertmanager {
    pub fn new(c: &AlertmanagerConfig, _base: &Path) -> Result<Self, String> {
        Ok(Alertmanager {
            endpoint: format!("{}/api/v2/alerts", c.url.trim_end_matches('/')),
            firing_for: chrono::Duration::from_std(c.firing_for.std()).unwrap_or_default(),
            client: http::client(c.timeout.std())?,
        })
    }
}

impl Channel for Alertmanager {
    fn audience(&self) -> Audience {
        Audience::Team
    }

    fn render(&self, msg: &AlertMessage, _to: Option<&str>) -> Result<Vec<u8>, String> {
        let ts = |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(SecondsFormat::Secs, true);
        let ends = match (msg.event, msg.until) {
            (MessageEvent::Resolved, Some(until)) => until,
            _ => msg.at + self.firing_for,
        };
        let mut annotations = json!({
            "summary": msg.text,
            "description": msg.detail,
            "role": msg.role,
        });
        if let Some(url) = &msg.ack_url {
            annotations["ack_url"] = json!(url);
        }
        if let Some(c) = &msg.contact {
            annotations["contact"] = json!(c);
        }
        let alert = json!([{
            "labels": {
                "alertname": "DriftvaktAlert",
                "device": msg.device_id,
                "kind": msg.kind,
                "municipality": msg.municipality,
                "site": msg.site,
            },
            "annotations": annotations,
            "startsAt": ts(msg.since),
            "endsAt": ts(ends),
        }]);
        serde_json::to_vec(&alert).map_err(|e| e.to_string())
    }

    async fn send(&self, parcel: &Parcel<'_>) -> Result<(), SendError> {
        let payload = parcel.payload;
        let req = self
            .client
            .post(&self.endpoint)
            .header("content-type", "application/json")
            .body(payload.to_vec());
        self.client.send(req, "alertmanager").await
    }
}
