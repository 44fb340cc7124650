//! What the HTTP channels share: a client with the channel's timeout, and the classification
//! of answers into delivered, temporary and permanent. Errors never carry the URL.

use crate::notify::transport::SendError;
use driftvakt_common::config::Validator;
use reqwest::{Client, RequestBuilder, StatusCode};

/// A client with `timeout` for the whole request.
pub fn client(timeout: std::time::Duration) -> Result<Client, String> {
    Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .build()
        .map_err(|e| format!("HTTP client: {e}"))
}

/// Sends `req`: 2xx is delivered; 408, 429, 5xx and transport errors are temporary; other
/// answers are permanent. `what` names the channel kind in errors.
pub async fn send(req: RequestBuilder, what: &str) -> Result<(), SendError> {
    let resp = req
        .send()
        .await
        .map_err(|e| SendError::Temporary(format!("{what}: {}", e.without_url())))?;
    classify(resp.status(), what)
}

pub fn classify(status: StatusCode, what: &str) -> Result<(), SendError> {
    if status.is_success() {
        return Ok(());
    }
    let msg = format!("{what}: HTTP {status}");
    if status.is_server_error()
        || status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
    {
        Err(SendError::Temporary(msg))
    } else {
        Err(SendError::Permanent(msg))
    }
}

/// An `http://` or `https://` URL.
pub fn check_url(key: &str, url: &str, v: &mut Validator) {
    if reqwest::Url::parse(url)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .is_none()
    {
        v.error_at_key(
            key,
            format!("invalid URL {url:?}: write http://… or https://…"),
        );
    }
}
