//! Reading a request body, which handlers do themselves once the caller is authenticated: at
//! most a limit of bytes (`413` past it, at once when `Content-Length` says so) within the
//! body-read timeout (`408` after it), errors as JSON like every other answer.

use super::error;
use super::server::{BodyReadTimeout, BODY_READ_TIMEOUT};
use axum::body::{Body, Bytes};
use axum::http::{header, request::Parts, StatusCode};
use axum::response::Response;
use futures::StreamExt;

/// The body of the request whose head is `parts`, at most `limit` bytes.
pub async fn read(parts: &Parts, body: Body, limit: usize) -> Result<Bytes, Response> {
    let too_large = || {
        error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the request body is larger than the limit of {limit} bytes"),
        )
    };
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let timeout = parts
        .extensions
        .get::<BodyReadTimeout>()
        .map_or(BODY_READ_TIMEOUT, |t| t.0);
    let reading = async {
        let mut stream = body.into_data_stream();
        let mut buf = Vec::with_capacity(declared.unwrap_or(0) as usize);
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| {
                error(
                    StatusCode::BAD_REQUEST,
                    format!("reading the request body failed: {e}"),
                )
            })?;
            if buf.len() + chunk.len() > limit {
                return Err(too_large());
            }
            buf.extend_from_slice(&chunk);
        }
        Ok(Bytes::from(buf))
    };
    match tokio::time::timeout(timeout, reading).await {
        Ok(r) => r,
        Err(_) => Err(error(
            StatusCode::REQUEST_TIMEOUT,
            format!("the request body was not sent within {timeout:?}"),
        )),
    }
}
