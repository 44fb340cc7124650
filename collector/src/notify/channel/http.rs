//! What the HTTP channels share: a client with the channel's timeout, and the classification
//! of answers into delivered, temporary and permanent. Errors never carry the URL.

use crate::notify::transport::SendError;
use reqwest::{RequestBuilder, StatusCode};
use std::time::{Duration, Instant};

/// How long a request whose timer fired late (the process was frozen, SIGSTOP or a suspended
/// VM) still waits for an answer that may already sit in its socket.
const FROZEN_GRACE: Duration = Duration::from_secs(2);
/// A timer that fires this much after its time was late: the process did not run meanwhile.
const LATE_BY: Duration = Duration::from_millis(500);

/// A channel's HTTP client and its timeout for the whole request.
///
/// The timeout is this module's own timer, not reqwest's: after a freeze every timer fires at
/// once on waking, and the server's answer (received by the kernel while the process slept)
/// would be thrown away as a timeout. Then a leader woken after a takeover would put the
/// row back and the new leader would deliver it a second time. Here a timer that fired late
/// gives the request [`FROZEN_GRACE`] to read what already came; only a server that never
/// answered is a timeout (see the `cluster` module doc on the window that remains).
#[derive(Debug, Clone)]
pub struct Client {
    inner: reqwest::Client,
    timeout: Duration,
}

/// A client with `timeout` for the whole request.
pub fn client(timeout: Duration) -> Result<Client, String> {
    let inner = reqwest::Client::builder()
        .connect_timeout(timeout)
        .build()
        .map_err(|e| format!("HTTP client: {e}"))?;
    Ok(Client { inner, timeout })
}

impl Client {
    pub fn post(&self, url: &str) -> RequestBuilder {
        self.inner.post(url)
    }

    pub fn request(&self, method: reqwest::Method, url: &str) -> RequestBuilder {
        self.inner.request(method, url)
    }

    /// Sends `req`: 2xx is delivered; 408, 429, 5xx and transport errors are temporary; other
    /// answers are permanent. `what` names the channel kind in errors.
    pub async fn send(&self, req: RequestBuilder, what: &str) -> Result<(), SendError> {
        let started = Instant::now();
        let mut call = std::pin::pin!(req.send());
        let answer = match tokio::time::timeout(self.timeout, &mut call).await {
            Ok(answer) => answer,
            Err(_) if started.elapsed() > self.timeout + LATE_BY => {
                tracing::warn!(
                    channel = what,
                    late = ?started.elapsed(),
                    "the request's timer fired late (was the process frozen?): reading \
                     the answer that may already have come"
                );
                tokio::time::timeout(FROZEN_GRACE, &mut call)
                    .await
                    .map_err(|_| timed_out(what))?
            }
            Err(_) => return Err(timed_out(what)),
        };
        let resp =
            answer.map_err(|e| SendError::Temporary(format!("{what}: {}", e.without_url())))?;
        classify(resp.status(), what)
    }
}

fn timed_out(what: &str) -> SendError {
    SendError::Temporary(format!("{what}: no answer within the timeout"))
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    /// A server on 127.0.0.1 that answers 200 to one request at once; `arrived` is set when the
    /// request has been read.
    fn answering_server(arrived: Arc<AtomicBool>) -> u16 {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut buf = [0u8; 4096];
            let mut seen = Vec::new();
            while !String::from_utf8_lossy(&seen).contains("payload") {
                let n = conn.read(&mut buf).unwrap();
                if n == 0 {
                    return;
                }
                seen.extend_from_slice(&buf[..n]);
            }
            conn.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                .unwrap();
            arrived.store(true, Ordering::SeqCst);
            std::thread::sleep(Duration::from_secs(10));
        });
        port
    }

    /// The process freezes (here: the runtime's only thread blocks) after the request went
    /// out, for longer than the timeout, while the server answers: on waking the answer is
    /// read, not taken for a timeout.
    #[test]
    fn an_answer_that_came_while_frozen_is_delivered() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let arrived = Arc::new(AtomicBool::new(false));
        let port = answering_server(arrived.clone());
        let c = client(Duration::from_millis(500)).unwrap();
        let outcome = rt.block_on(async move {
            let url = format!("http://127.0.0.1:{port}/hook");
            let sending = tokio::spawn(async move {
                let req = c.post(&url).body("payload");
                c.send(req, "webhook").await
            });
            while !arrived.load(Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            // Frozen: nothing on this runtime runs for three timeouts.
            std::thread::sleep(Duration::from_millis(1500));
            sending.await.unwrap()
        });
        assert!(outcome.is_ok(), "{outcome:?}");
    }

    #[test]
    fn a_server_that_never_answers_is_a_timeout() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let c = client(Duration::from_millis(300)).unwrap();
        let started = Instant::now();
        let outcome = rt.block_on(async move {
            let req = c.post(&format!("http://127.0.0.1:{port}/")).body("x");
            c.send(req, "webhook").await
        });
        drop(listener);
        assert!(matches!(outcome, Err(SendError::Temporary(ref m)) if m.contains("timeout")));
        assert!(started.elapsed() < Duration::from_secs(2));
    }
}
