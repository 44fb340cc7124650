//! Delivery of spooled results to the collector.
//!
//! # HTTP contract (agent side; the collector implements the other side)
//!
//! **Push.** `POST {collector.url}/api/v1/results` with `Authorization: Bearer <token>`,
//! `Content-Type: application/json` and a [`driftvakt_common::wire::Batch`] as body
//! (`{"agent": ID, "batch_id": "{agent}-{incarnation}-{first_seq}-{last_seq}", "results":
//! [ProbeResult, ...]}`; the incarnation is the spool's, see [`crate::spool`]). The collector
//! answers:
//! - `200` with `{"accepted": N, "rejected": [{"index": i, "target": "...", "reason": "..."}],
//!   "duplicate": bool}`. A batch id seen before is acknowledged with `"duplicate": true` and not
//!   applied twice. A batch with rejected results is logged at warn as one line (how many of its
//!   results were rejected and the first three reasons); the batch counts as delivered and the
//!   spool cursor moves past it.
//! - `400` malformed body, `413` body too large, and any other `4xx` except `401`, `408` and
//!   `429`: the batch is *quarantined*: the whole batch as sent (agent, id and every result) is
//!   written to `spool.dir/quarantine/{batch_id}.json` (`{batch_id}.N.json` when that name is
//!   taken: a quarantined file is never overwritten), the cursor moves past it,
//!   `driftvakt_agent_batches_quarantined_total` counts it, an error is logged, and the next
//!   batches flow.
//! - `409 Conflict`: the collector already has a batch with this id but different content
//!   (JSON body naming the batch). Never a confirmation: the results are not deleted but
//!   quarantined as above, with an error line naming the batch id and the collector's answer,
//!   counted in `driftvakt_agent_push_failures_total{reason="conflict"}`.
//! - `401` bad token: a configuration error. Logged as an error on every attempt; the agent backs
//!   off and keeps the data.
//! - `408`, `429`, `5xx`, connection errors, timeouts and an unreadable `200` body are transient:
//!   back off and send the same batch (same id) again.
//!
//! **Assignment** (used by [`crate::assignment`]). `GET {collector.url}/api/v1/assignment` with
//! the bearer token and `If-None-Match: "<etag>"` when an assignment is known. `304` means
//! unchanged; `200` carries an `ETag` header and the JSON body
//! `{"agent": ID, "devices": [...], "snmp_credentials": [...], "defaults": {...}}`: the agent
//! YAML's sections for this agent, as JSON.
//!
//! # Behaviour
//! The pusher reads only from the spool (never from memory), so a restart resumes exactly at the
//! cursor. Every `push_interval` it sends every full window and then the open one (see
//! [`crate::spool`]); failures back off exponentially (from `backoff_initial` doubling up to
//! `backoff_max`, default 60 s) with full jitter (a random delay between zero and the bound).
//! TLS is rustls; an extra CA file and a client certificate and key (mutual TLS) are optional.
//!
//! # Several collectors
//! `agent.collector.urls` lists collectors that share one database (`url` is a list of one).
//! The agent pushes to and fetches its assignment from one at a time; a connection failure, a
//! timeout or a 5xx moves it on to the next (round robin), and the spool keeps everything
//! meanwhile: the failed batch is sent to the next collector with the same id, and the shared
//! database applies a batch id once, whichever node received it. A 4xx is the agent's own
//! problem (token, body) and does not move it; neither does throttling (408, 429). The URL in
//! use is logged at every move and shown by `driftvakt_agent_collector_in_use{url}`; moves are
//! counted in `driftvakt_agent_collector_switches_total`.

use crate::config::{CollectorSettings, Secret};
use crate::metrics::SpoolMetrics;
use crate::spool::{write_atomically, Spool, SpoolBatch, SpoolError};
use driftvakt_common::clock::Clock;
use driftvakt_common::wire::Batch;
use rand::Rng;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Setting up the collector client failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("collector token: {0}")]
    Token(String),
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid TLS material in {path}: {source}")]
    Tls {
        path: PathBuf,
        #[source]
        source: reqwest::Error,
    },
    #[error("cannot build the HTTP client: {0}")]
    Build(#[source] reqwest::Error),
}

/// An HTTP client for the collectors, with their base URLs, the one in use and the bearer
/// token. Clones share the URL in use, so the pusher and the assignment fetcher move on
/// together.
#[derive(Debug, Clone)]
pub struct CollectorClient {
    http: reqwest::Client,
    bases: Arc<[String]>,
    current: Arc<AtomicUsize>,
    token: Secret,
    metrics: Option<SpoolMetrics>,
}

/// The collector's answer to a delivered batch: the wire type both sides share.
pub use driftvakt_common::reply::{IngestResponse as PushReply, Rejected as RejectedResult};

/// What became of one push.
#[derive(Debug)]
pub enum PushOutcome {
    Delivered(PushReply),
    /// 401: the token is wrong, or (client certificates on) the connection's certificate does
    /// not name this agent; `message` is the collector's reason.
    Unauthorized {
        message: String,
    },
    /// A 4xx that will not change on retry: quarantine the batch.
    Rejected {
        status: u16,
        body: String,
    },
    /// 409: the collector has a different batch under this id. Quarantine, never confirm.
    Conflict {
        body: String,
    },
    /// Try again later; `reason` is the metric label; `retry_after` the collector's
    /// `Retry-After` (seconds form), if it sent one.
    Transient {
        reason: &'static str,
        detail: String,
        retry_after: Option<Duration>,
    },
}

impl CollectorClient {
    /// Builds the client from `agent.collector`; relative paths are resolved against `base`.
    pub fn new(settings: &CollectorSettings, base: &Path) -> Result<CollectorClient, ClientError> {
        let token = settings.token.resolve(base).map_err(ClientError::Token)?;
        let resolve = |p: &PathBuf| {
            if p.is_absolute() {
                p.clone()
            } else {
                base.join(p)
            }
        };
        // Only the system's store, never roots compiled into the binary; only the private CA
        // when one is given.
        let mut builder = client_builder()
            .tls_built_in_webpki_certs(false)
            .tls_built_in_native_certs(settings.ca.is_none());
        if let Some(ca) = &settings.ca {
            let path = resolve(ca);
            let pem = read(&path)?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|source| ClientError::Tls { path, source })?;
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        if let (Some(cert), Some(key)) = (&settings.cert, &settings.key) {
            let (cert, key) = (resolve(cert), resolve(key));
            let mut pem = read(&cert)?;
            pem.push(b'\n');
            pem.extend(read(&key)?);
            let identity = reqwest::Identity::from_pem(&pem)
                .map_err(|source| ClientError::Tls { path: cert, source })?;
            builder = builder.identity(identity);
        }
        let http = builder.build().map_err(ClientError::Build)?;
        Ok(CollectorClient::with_urls(http, &settings.urls(), token))
    }

    /// A client from an already built `reqwest::Client` (tests, custom TLS).
    pub fn from_parts(http: reqwest::Client, url: &str, token: Secret) -> CollectorClient {
        CollectorClient::with_urls(http, &[url.to_string()], token)
    }

    /// A client for several collectors, starting with the first of `urls` (at least one).
    pub fn with_urls(http: reqwest::Client, urls: &[String], token: Secret) -> CollectorClient {
        let bases: Vec<String> = urls
            .iter()
            .map(|u| u.trim_end_matches('/').to_string())
            .collect();
        assert!(!bases.is_empty(), "a collector client needs a URL");
        CollectorClient {
            http,
            bases: bases.into(),
            current: Arc::new(AtomicUsize::new(0)),
            token,
            metrics: None,
        }
    }

    /// A plain client for `url` with default TLS settings.
    pub fn plain(url: &str, token: Secret) -> Result<CollectorClient, ClientError> {
        let http = client_builder().build().map_err(ClientError::Build)?;
        Ok(CollectorClient::from_parts(http, url, token))
    }

    /// A plain client for several collectors with default TLS settings.
    pub fn plain_urls(urls: &[String], token: Secret) -> Result<CollectorClient, ClientError> {
        let http = client_builder().build().map_err(ClientError::Build)?;
        Ok(CollectorClient::with_urls(http, urls, token))
    }

    /// Reports the collector in use in `metrics` (`driftvakt_agent_collector_in_use`) from now on.
    pub fn with_metrics(mut self, metrics: SpoolMetrics) -> CollectorClient {
        metrics.collector_in_use(&self.bases, self.current_index());
        self.metrics = Some(metrics);
        self
    }

    /// The index of the collector in use.
    pub fn current_index(&self) -> usize {
        self.current.load(Ordering::SeqCst) % self.bases.len()
    }

    /// The base URL of the collector in use.
    pub fn url(&self) -> &str {
        &self.bases[self.current_index()]
    }

    /// Moves on to the next collector (round robin) after the one at `failed` failed with
    /// `why`; nothing when another request already moved on, or with one collector.
    pub fn move_on(&self, failed: usize, why: &str) {
        let n = self.bases.len();
        let next = (failed + 1) % n;
        if n < 2
            || self
                .current
                .compare_exchange(failed, next, Ordering::SeqCst, Ordering::SeqCst)
                .is_err()
        {
            return;
        }
        tracing::warn!(
            failed = %self.bases[failed],
            next = %self.bases[next],
            reason = why,
            "the collector failed; moving on to the next one (results stay in the spool)"
        );
        if let Some(m) = &self.metrics {
            m.collector_switches.inc();
            m.collector_in_use(&self.bases, next);
        }
    }

    /// A request to `path` under the URL of the collector in use, with the bearer token.
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.request_to(self.current_index(), method, path)
    }

    fn request_to(
        &self,
        at: usize,
        method: reqwest::Method,
        path: &str,
    ) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.bases[at]))
            .bearer_auth(self.token.expose())
    }

    /// Sends one batch to the collector in use and classifies the answer; a connection
    /// failure, a timeout or a 5xx moves on to the next collector (the batch is sent there on
    /// the next attempt, with the same id).
    pub async fn push(&self, batch: &Batch) -> PushOutcome {
        let at = self.current_index();
        let outcome = self.push_to(at, batch).await;
        if let PushOutcome::Transient { reason, detail, .. } = &outcome {
            if moves_on(reason) {
                self.move_on(at, detail);
            }
        }
        outcome
    }

    async fn push_to(&self, at: usize, batch: &Batch) -> PushOutcome {
        let sent = self
            .request_to(at, reqwest::Method::POST, "/api/v1/results")
            .json(batch)
            .send()
            .await;
        let response = match sent {
            Ok(r) => r,
            Err(e) => return transport_failure(&e),
        };
        let status = response.status().as_u16();
        match status {
            200..=299 => match response.json::<PushReply>().await {
                Ok(reply) => PushOutcome::Delivered(reply),
                Err(e) => PushOutcome::Transient {
                    reason: "bad_response",
                    detail: format!("status {status} with an unreadable body: {e}"),
                    retry_after: None,
                },
            },
            401 => PushOutcome::Unauthorized {
                message: error_message(response).await,
            },
            409 => PushOutcome::Conflict {
                body: response.text().await.unwrap_or_default(),
            },
            408 | 429 => PushOutcome::Transient {
                reason: "throttled",
                detail: format!("status {status}"),
                retry_after: retry_after(&response),
            },
            400..=499 => PushOutcome::Rejected {
                status,
                body: response.text().await.unwrap_or_default(),
            },
            _ => PushOutcome::Transient {
                reason: "server_error",
                detail: format!("status {status}"),
                retry_after: retry_after(&response),
            },
        }
    }
}

/// Whether a transient failure is the collector's (connection, timeout, 5xx): then the agent
/// moves on to the next collector. Throttling (408, 429) and unreadable answers do not move it.
pub fn moves_on(reason: &str) -> bool {
    matches!(reason, "connect" | "timeout" | "server_error")
}

fn client_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .use_rustls_tls()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(60))
        .user_agent(concat!("driftvakt-agent/", env!("CARGO_PKG_VERSION")))
}

fn read(path: &Path) -> Result<Vec<u8>, ClientError> {
    std::fs::read(path).map_err(|source| ClientError::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn transport_failure(e: &reqwest::Error) -> PushOutcome {
    let reason = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect"
    } else {
        "server_error"
    };
    PushOutcome::Transient {
        reason,
        detail: error_chain(e),
        retry_after: None,
    }
}

/// The `error` of a JSON error answer (`{"error": ...}`), else its body.
async fn error_message(response: reqwest::Response) -> String {
    let body = response.text().await.unwrap_or_default();
    serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["error"].as_str().map(str::to_string))
        .unwrap_or(body)
}

/// The `Retry-After` of an answer in its seconds form (a collector whose database is briefly
/// unreachable sends `503` with it); the date form is not used by the collector.
fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    let value = response.headers().get(reqwest::header::RETRY_AFTER)?;
    let seconds: u64 = value.to_str().ok()?.trim().parse().ok()?;
    Some(Duration::from_secs(seconds))
}

/// An error and its causes on one line.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// The wait after a failed pass: the collector's `Retry-After` when it sent one (at most
/// `max`; the backoff still grows, for failures without it), else the backoff's next delay.
fn retry_delay(e: &PassError, backoff: &mut Backoff, max: Duration) -> Duration {
    let jittered = backoff.next_delay();
    match e {
        PassError::Push {
            retry_after: Some(after),
            ..
        } => (*after).min(max),
        _ => jittered,
    }
}

/// Exponential backoff with full jitter.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration) -> Backoff {
        Backoff {
            initial,
            max,
            attempt: 0,
        }
    }

    /// The bound of the next delay: `initial * 2^attempt`, at most `max`.
    pub fn bound(&self) -> Duration {
        let factor = 1u32 << self.attempt.min(20);
        self.initial.saturating_mul(factor).min(self.max)
    }

    /// A random delay between zero and the bound; the bound doubles for the next failure.
    pub fn next_delay(&mut self) -> Duration {
        let bound = self.bound();
        self.attempt = self.attempt.saturating_add(1);
        let ms = u64::try_from(bound.as_millis()).unwrap_or(u64::MAX);
        Duration::from_millis(rand::rng().random_range(0..=ms))
    }

    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

/// Timing of the push loop.
#[derive(Debug, Clone, Copy)]
pub struct PusherOptions {
    pub push_interval: Duration,
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
}

impl PusherOptions {
    /// `push_interval` from the configuration, backoff from 1 s up to 60 s.
    pub fn new(push_interval: Duration) -> PusherOptions {
        PusherOptions {
            push_interval,
            backoff_initial: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
        }
    }
}

/// Why a push pass stopped early.
#[derive(Debug, thiserror::Error)]
pub enum PassError {
    #[error("{0}")]
    Spool(#[from] SpoolError),
    #[error("push failed ({reason}): {detail}")]
    Push {
        reason: &'static str,
        detail: String,
        /// The collector's `Retry-After`, if it sent one.
        retry_after: Option<Duration>,
    },
}

/// Moves results from the spool to the collector.
pub struct Pusher {
    client: CollectorClient,
    spool: Arc<Spool>,
    agent: String,
    quarantine: PathBuf,
    opts: PusherOptions,
    metrics: SpoolMetrics,
    /// What the spool's age and the last push's time are read from.
    clock: Arc<dyn Clock>,
    /// Wakes the push loop before `push_interval` (a trap's poll was spooled).
    wake: Option<Arc<tokio::sync::Notify>>,
}

impl Pusher {
    /// `quarantine` is the folder refused batches are written to (`spool.dir/quarantine`).
    pub fn new(
        client: CollectorClient,
        spool: Arc<Spool>,
        agent: &str,
        quarantine: PathBuf,
        opts: PusherOptions,
        metrics: SpoolMetrics,
        clock: Arc<dyn Clock>,
    ) -> Pusher {
        Pusher {
            client,
            spool,
            agent: agent.to_string(),
            quarantine,
            opts,
            metrics,
            clock,
            wake: None,
        }
    }

    /// A pass also runs as soon as `wake` is notified, not only every `push_interval`.
    pub fn with_wake(mut self, wake: Arc<tokio::sync::Notify>) -> Pusher {
        self.wake = Some(wake);
        self
    }

    /// Pushes forever: a pass every `push_interval` (or when woken, see [`Pusher::with_wake`]),
    /// backing off after failures.
    pub async fn run(self) {
        let mut backoff = Backoff::new(self.opts.backoff_initial, self.opts.backoff_max);
        loop {
            let wait = match self.pass().await {
                Ok(_) => {
                    backoff.reset();
                    self.opts.push_interval
                }
                Err(e) => {
                    let delay = retry_delay(&e, &mut backoff, self.opts.backoff_max);
                    tracing::warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "push to the collector failed; results stay in the spool");
                    delay
                }
            };
            match &self.wake {
                Some(wake) => tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = wake.notified() => {}
                },
                None => tokio::time::sleep(wait).await,
            }
        }
    }

    /// Sends every batch the spool has now, up to and including the open window; returns the
    /// number of batches delivered or quarantined.
    pub async fn pass(&self) -> Result<usize, PassError> {
        let mut done = 0;
        loop {
            let now = self.clock.now();
            self.blocking(move |s| s.refresh_age_metric(now)).await?;
            let Some(batch) = self.blocking(|s| s.read_batch(true)).await? else {
                return Ok(done);
            };
            self.push_one(&batch).await?;
            done += 1;
            if batch.partial {
                let now = self.clock.now();
                self.blocking(move |s| s.refresh_age_metric(now)).await?;
                return Ok(done);
            }
        }
    }

    async fn push_one(&self, batch: &SpoolBatch) -> Result<(), PassError> {
        let wire = batch.to_batch(&self.agent);
        match self.client.push(&wire).await {
            PushOutcome::Delivered(reply) => {
                log_reply(&wire, &reply);
                self.confirm(batch).await?;
                self.metrics
                    .last_successful_push_timestamp_seconds
                    .set(self.clock.now().timestamp_millis() as f64 / 1000.0);
                Ok(())
            }
            PushOutcome::Rejected { status, body } => {
                self.metrics.push_failed("rejected");
                let file = self.quarantine(&wire)?;
                tracing::error!(
                    batch_id = %wire.batch_id,
                    status,
                    results = wire.results.len(),
                    answer = %snippet(&body),
                    file = %file.display(),
                    "the collector refused a batch; quarantined it and moving on"
                );
                self.confirm(batch).await?;
                self.metrics.batches_quarantined.inc();
                Ok(())
            }
            PushOutcome::Conflict { body } => {
                self.metrics.push_failed("conflict");
                let file = self.quarantine(&wire)?;
                tracing::error!(
                    batch_id = %wire.batch_id,
                    status = 409,
                    results = wire.results.len(),
                    answer = %snippet(&body),
                    file = %file.display(),
                    "the collector already has a different batch with id {}: not confirmed; its results are kept in quarantine and the spool moves on",
                    wire.batch_id
                );
                self.confirm(batch).await?;
                self.metrics.batches_quarantined.inc();
                Ok(())
            }
            PushOutcome::Unauthorized { message } => {
                self.metrics.push_failed("unauthorized");
                tracing::error!(
                    url = %self.client.url(),
                    "the collector refused the agent (401: {message}): check agent.collector.token \
                     and the client certificate (agent.collector.cert); results are kept in the spool"
                );
                Err(PassError::Push {
                    reason: "unauthorized",
                    detail: "401 Unauthorized".into(),
                    retry_after: None,
                })
            }
            PushOutcome::Transient {
                reason,
                detail,
                retry_after,
            } => {
                self.metrics.push_failed(reason);
                Err(PassError::Push {
                    reason,
                    detail,
                    retry_after,
                })
            }
        }
    }

    async fn confirm(&self, batch: &SpoolBatch) -> Result<(), PassError> {
        let b = batch.clone();
        self.blocking(move |s| s.ack(&b)).await?;
        Ok(())
    }

    /// Writes a refused batch, whole, to `quarantine/{batch_id}.json` (or `{batch_id}.N.json`
    /// when that file exists); returns the file written.
    fn quarantine(&self, batch: &Batch) -> Result<PathBuf, SpoolError> {
        std::fs::create_dir_all(&self.quarantine).map_err(|source| SpoolError::Io {
            path: self.quarantine.clone(),
            source,
        })?;
        let name = file_safe(&batch.batch_id);
        let mut path = self.quarantine.join(format!("{name}.json"));
        let mut n = 1;
        while path.exists() {
            path = self.quarantine.join(format!("{name}.{n}.json"));
            n += 1;
        }
        let json = serde_json::to_vec_pretty(batch)?;
        write_atomically(&path, &json)?;
        Ok(path)
    }

    /// Runs a spool call on a blocking thread.
    async fn blocking<T: Send + 'static>(&self, f: impl FnOnce(&Spool) -> T + Send + 'static) -> T {
        let spool = self.spool.clone();
        tokio::task::spawn_blocking(move || f(&spool))
            .await
            .expect("spool task panicked")
    }
}

/// The start of a collector's answer, for a log line.
fn snippet(body: &str) -> String {
    body.chars().take(500).collect()
}

fn log_reply(batch: &Batch, reply: &PushReply) {
    if reply.duplicate {
        tracing::info!(batch_id = %batch.batch_id, "collector already had this batch");
    }
    if let Some(line) = rejections_line(batch, reply) {
        tracing::warn!(
            batch_id = %batch.batch_id,
            accepted = reply.accepted,
            rejected = reply.rejected.len(),
            "{line}"
        );
    }
}

/// How many rejected results a batch log line shows.
const REJECTIONS_SHOWN: usize = 3;

/// One line for a batch the collector stored only in part: how many of its results were
/// rejected and the first reasons; `None` when none was.
fn rejections_line(batch: &Batch, reply: &PushReply) -> Option<String> {
    if reply.rejected.is_empty() {
        return None;
    }
    let first: Vec<String> = reply
        .rejected
        .iter()
        .take(REJECTIONS_SHOWN)
        .map(|r| {
            let target: String = r.target.chars().take(64).collect();
            format!("results[{}] `{target}`: {}", r.index, r.reason)
        })
        .collect();
    let more = reply.rejected.len().saturating_sub(REJECTIONS_SHOWN);
    Some(format!(
        "the collector rejected {} of {} results in this batch (they are not stored; the rest \
         are): {}{}",
        reply.rejected.len(),
        batch.results.len(),
        first.join("; "),
        if more > 0 {
            format!("; and {more} more")
        } else {
            String::new()
        }
    ))
}

/// Keeps letters, digits, `-`, `_` and `.`; anything else becomes `_`.
fn file_safe(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_collector_s_retry_after_sets_the_wait() {
        let max = Duration::from_secs(60);
        let mut b = Backoff::new(Duration::from_secs(1), max);
        let asked = |secs| PassError::Push {
            reason: "server_error",
            detail: "status 503".into(),
            retry_after: Some(Duration::from_secs(secs)),
        };
        assert_eq!(retry_delay(&asked(5), &mut b, max), Duration::from_secs(5));
        assert_eq!(retry_delay(&asked(3600), &mut b, max), max);
        let plain = PassError::Push {
            reason: "connect",
            detail: "refused".into(),
            retry_after: None,
        };
        // Two failures above: the bound is now 4 s.
        assert!(retry_delay(&plain, &mut b, max) <= Duration::from_secs(4));
    }

    #[test]
    fn backoff_doubles_to_its_cap_with_jitter_below_the_bound() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
        let mut bounds = Vec::new();
        for _ in 0..10 {
            let bound = b.bound();
            assert!(b.next_delay() <= bound);
            bounds.push(bound.as_secs());
        }
        assert_eq!(bounds, [1, 2, 4, 8, 16, 32, 60, 60, 60, 60]);
        b.reset();
        assert_eq!(b.bound(), Duration::from_secs(1));
    }

    #[test]
    fn a_batch_with_rejections_is_one_line_with_the_count_and_first_reasons() {
        let result = |target: &str| driftvakt_common::wire::ProbeResult {
            target: target.into(),
            check: "icmp".into(),
            time: "2026-03-17T17:00:00Z".parse().unwrap(),
            ok: true,
            duration_ms: 1.0,
            error: None,
            detail: None,
            findings: vec![],
            values: Default::default(),
        };
        let batch = Batch {
            agent: "a1".into(),
            batch_id: "a1-x-1-10".into(),
            results: (0..10).map(|i| result(&format!("sw-{i}"))).collect(),
        };
        let mut reply = PushReply {
            accepted: 10,
            rejected: vec![],
            duplicate: false,
            duplicate_results: 0,
        };
        assert_eq!(rejections_line(&batch, &reply), None);
        reply.accepted = 5;
        reply.rejected = (0..5)
            .map(|i| RejectedResult {
                index: i,
                target: format!("sw-{i}"),
                reason: "older than the collector accepts (raise collector.max_past)".into(),
            })
            .collect();
        let line = rejections_line(&batch, &reply).unwrap();
        assert!(line.contains("rejected 5 of 10 results"), "{line}");
        assert!(line.contains("results[0] `sw-0`: older than"), "{line}");
        assert!(line.contains("results[2] `sw-2`"), "{line}");
        assert!(!line.contains("results[3]"), "{line}");
        assert!(line.ends_with("and 2 more"), "{line}");
    }

    #[test]
    fn batch_ids_become_safe_file_names() {
        assert_eq!(file_safe("ulricehamn-1-1-499"), "ulricehamn-1-1-499");
        assert_eq!(file_safe("a/../b-1-2"), "a_.._b-1-2");
    }
}
