//! Acknowledgement links: `{public_url}/ack/{token}` in every on-call alert. The token is
//! `{alert id}.{step}.{expires, Unix seconds}.{signature}`, the signature the first 16 bytes of
//! HMAC-SHA256 over `driftvakt-ack-v1:{id}.{step}.{expires}` with `notify.ack.key` (so the key
//! signs nothing else), in hex. It works until it expires and only once: the alert is
//! acknowledged at most once (see `store::oncall_pages`). The step says whose link it was.

use super::config::AckConfig;
use crate::store::AckError;
use chrono::{DateTime, Utc};
use driftvakt_common::schema::Secret;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use std::path::Path;

const PURPOSE: &str = "driftvakt-ack-v1:";

/// HMAC-SHA256 of `data` with `key`, in lower-case hex.
pub fn hmac_sha256_hex(key: &[u8], data: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes any key");
    mac.update(data);
    hex(&mac.finalize().into_bytes())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Makes and checks acknowledgement links.
pub struct AckLinks {
    key: Secret,
    public_url: String,
    valid_for: chrono::Duration,
}

impl AckLinks {
    pub fn new(c: &AckConfig, base: &Path) -> Result<Self, String> {
        let key = c.key.resolve(base)?;
        if key.expose().len() < 16 {
            return Err("the key must be at least 16 bytes".into());
        }
        Ok(AckLinks {
            key,
            public_url: c.public_url.trim_end_matches('/').to_string(),
            valid_for: chrono::Duration::from_std(c.valid_for.std()).unwrap_or_default(),
        })
    }

    fn sign(&self, body: &str) -> String {
        let full = hmac_sha256_hex(
            self.key.expose().as_bytes(),
            format!("{PURPOSE}{body}").as_bytes(),
        );
        full[..32].to_string()
    }

    /// The link for alert `id` at escalation `step`, valid from `now`.
    pub fn link(&self, id: i64, step: u32, now: DateTime<Utc>) -> String {
        let body = format!("{id}.{step}.{}", (now + self.valid_for).timestamp());
        format!("{}/ack/{body}.{}", self.public_url, self.sign(&body))
    }

    /// The alert id and step of a valid, unexpired `token`.
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<(i64, u32), AckError> {
        let (body, sig) = token.rsplit_once('.').ok_or(AckError::BadToken)?;
        let expected = self.sign(body);
        if !constant_time_eq(expected.as_bytes(), sig.as_bytes()) {
            return Err(AckError::BadToken);
        }
        let mut parts = body.split('.');
        let mut next = || parts.next().ok_or(AckError::BadToken);
        let id: i64 = next()?.parse().map_err(|_| AckError::BadToken)?;
        let step: u32 = next()?.parse().map_err(|_| AckError::BadToken)?;
        let expires: i64 = next()?.parse().map_err(|_| AckError::BadToken)?;
        if now.timestamp() >= expires {
            return Err(AckError::Expired);
        }
        Ok((id, step))
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
