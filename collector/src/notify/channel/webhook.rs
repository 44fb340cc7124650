//! Generic webhook: `POST` of the [`AlertMessage`] as JSON (documented in the README) with
//! `X-Driftvakt-Signature: sha256=<hex HMAC-SHA256 of the body with the secret>` and
//! `Idempotency-Key: <the message id>`, so a receiver can check who sent it and drop a repeat.

use super::{http, AlertMessage, Audience, Channel, Parcel};
pub use crate::inventory::channels::WebhookConfig;
use crate::notify::ack::hmac_sha256_hex;
use crate::notify::transport::SendError;
use driftvakt_common::schema::Secret;
use std::path::Path;

pub struct Webhook {
    url: String,
    secret: Secret,
    client: http::Client,
}

impl Webhook {
    pub fn new(c: &WebhookConfig, base: &Path) -> Result<Self, String> {
        Ok(Webhook {
            url: c.url.clone(),
            secret: c.secret.resolve(base)?,
            client: http::client(c.timeout.std())?,
        })
    }
}

impl Channel for Webhook {
    fn audience(&self) -> Audience {
        Audience::Team
    }

    fn render(&self, msg: &AlertMessage, _to: Option<&str>) -> Result<Vec<u8>, String> {
        serde_json::to_vec(msg).map_err(|e| e.to_string())
    }

    async fn send(&self, parcel: &Parcel<'_>) -> Result<(), SendError> {
        let payload = parcel.payload;
        let key = parcel.key;
        let signature = hmac_sha256_hex(self.secret.expose().as_bytes(), payload);
        let req = self
            .client
            .post(&self.url)
            .header("content-type", "application/json")
            .header("x-driftvakt-signature", format!("sha256={signature}"))
            .header("idempotency-key", key)
            .body(payload.to_vec());
        self.client.send(req, "webhook").await
    }
}
