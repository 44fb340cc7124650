//! Reading a request body, which handlers do themselves once the caller is authenticated: at
//! most a limit of bytes (`413` past it, at once when `Content-Length` says so) within the
//! body-read timeout (`408` after it), errors as JSON like every other answer.
//!
//! # Bodies in flight ([`BodyBudget`])
//! Agents' bodies are read only within a budget of bytes, so a burst of large bodies (a valid
//! token is enough to send them) cannot take the collector's memory: one agent holds at most
//! `collector.max_body_bytes` in flight (its next body is answered `503` with `Retry-After`
//! at once: an agent sends one batch at a time), and all agents together at most
//! [`TOTAL_BODIES`] times that (a body waits up to [`BUDGET_WAIT`] for room, then `503` with
//! `Retry-After`). A body counts with its `Content-Length` (the limit when it has none) from
//! before it is read until its batch is stored. When the last large body of a burst is done the
//! allocator is asked to give freed memory back to the system ([`release_memory`]).

use super::error;
use axum::body::{Body, Bytes};
use axum::http::{header, request::Parts, StatusCode};
use axum::response::Response;
use futures::StreamExt;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Default time a client has to send a request body, once the handler starts reading it.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// The request-body timeout the accept loop (`super::server`) puts in each request's extensions (handlers use
/// [`BODY_READ_TIMEOUT`] when it is absent, e.g. under a test's `oneshot`).
#[derive(Debug, Clone, Copy)]
pub struct BodyReadTimeout(pub Duration);

/// All agents' bodies in flight together: this many times `collector.max_body_bytes`.
pub const TOTAL_BODIES: usize = 4;
/// How long a body waits for room in the total budget before it is answered `503`.
pub const BUDGET_WAIT: Duration = Duration::from_secs(5);
/// Bodies from this size on are "large": memory is handed back after a burst of them.
const LARGE: usize = 1 << 20;
/// The budget's unit: semaphore permits count KiB.
const UNIT: usize = 1024;

/// Bytes of agents' bodies in flight, per agent and in total (see the module doc).
#[derive(Debug)]
pub struct BodyBudget {
    total: Arc<Semaphore>,
    total_units: usize,
    per_agent: usize,
    agents: Mutex<HashMap<String, usize>>,
    /// How long a body waits for room in the total ([`BUDGET_WAIT`]).
    wait: Duration,
}

/// Room for one body; given back when dropped.
#[derive(Debug)]
pub struct BodyPermit {
    budget: Arc<BodyBudget>,
    agent: String,
    bytes: usize,
    total: Option<OwnedSemaphorePermit>,
}

impl BodyBudget {
    /// A budget for bodies of at most `max_body_bytes` each.
    pub fn new(max_body_bytes: usize) -> Arc<BodyBudget> {
        BodyBudget::waiting(max_body_bytes, BUDGET_WAIT)
    }

    /// A budget whose bodies wait `wait` for room in the total.
    pub fn waiting(max_body_bytes: usize, wait: Duration) -> Arc<BodyBudget> {
        let total_units = (max_body_bytes * TOTAL_BODIES).div_ceil(UNIT);
        Arc::new(BodyBudget {
            total: Arc::new(Semaphore::new(total_units)),
            total_units,
            per_agent: max_body_bytes,
            agents: Mutex::new(HashMap::new()),
            wait,
        })
    }

    fn agents(&self) -> std::sync::MutexGuard<'_, HashMap<String, usize>> {
        self.agents.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Room for a body of `bytes` from `agent`, or the `503` to answer.
    pub async fn admit(
        self: &Arc<Self>,
        agent: &str,
        bytes: usize,
    ) -> Result<BodyPermit, Response> {
        let bytes = bytes.clamp(1, self.per_agent);
        {
            let mut agents = self.agents();
            let held = agents.entry(agent.to_string()).or_default();
            if *held + bytes > self.per_agent {
                let held = *held;
                drop(agents);
                return Err(busy(format!(
                    "agent {agent} already has {held} bytes of request bodies in flight; send one \
                     batch at a time"
                )));
            }
            *held += bytes;
        }
        let mut permit = BodyPermit {
            budget: self.clone(),
            agent: agent.to_string(),
            bytes,
            total: None,
        };
        let units = u32::try_from(bytes.div_ceil(UNIT)).unwrap_or(u32::MAX);
        let room = self.total.clone().acquire_many_owned(units);
        match tokio::time::timeout(self.wait, room).await {
            Ok(Ok(p)) => {
                permit.total = Some(p);
                Ok(permit)
            }
            _ => Err(busy(
                "the collector is reading as many request bodies as it may at once".into(),
            )),
        }
    }
}

impl Drop for BodyPermit {
    fn drop(&mut self) {
        let mut agents = self.budget.agents();
        if let Some(held) = agents.get_mut(&self.agent) {
            *held = held.saturating_sub(self.bytes);
            if *held == 0 {
                agents.remove(&self.agent);
            }
        }
        drop(agents);
        let Some(total) = self.total.take() else {
            return;
        };
        drop(total);
        if self.bytes >= LARGE && self.budget.total.available_permits() == self.budget.total_units {
            // Off the async workers: trimming walks every arena.
            match tokio::runtime::Handle::try_current() {
                Ok(h) => drop(h.spawn_blocking(release_memory)),
                Err(_) => release_memory(),
            }
        }
    }
}

/// `503` with `Retry-After`.
fn busy(message: String) -> Response {
    let mut answer = error(StatusCode::SERVICE_UNAVAILABLE, message);
    answer.headers_mut().insert(
        header::RETRY_AFTER,
        header::HeaderValue::from_static(super::RETRY_AFTER_SECONDS),
    );
    answer
}

/// Hands memory the allocator keeps after freeing back to the system (glibc keeps freed heap
/// in its per-thread arenas; `malloc_trim` returns the free pages of all of them).
pub fn release_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Makes glibc serve allocations from 1 MiB on with their own mappings, returned to the system
/// when freed: a request body's buffer no longer stays in the heap after it is answered.
/// (By default the threshold grows to the largest block freed, up to 32 MiB, after which such
/// buffers come from the heap and stay.)
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt sets a tunable of the allocator; called before the server starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, LARGE as libc::c_int);
    }
}

/// The length a request declares, if any.
pub fn declared_length(parts: &Parts) -> Option<u64> {
    parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
}

/// The body of the request whose head is `parts`, at most `limit` bytes.
pub async fn read(parts: &Parts, body: Body, limit: usize) -> Result<Bytes, Response> {
    let too_large = || {
        error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the request body is larger than the limit of {limit} bytes"),
        )
    };
    let declared = declared_length(parts);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_agent_holds_at_most_its_share_and_all_agents_the_total() {
        let budget = BodyBudget::new(8 << 20);
        let a = budget.admit("a", 8 << 20).await.unwrap();
        let refused = budget.admit("a", 1024).await.unwrap_err();
        assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(refused.headers()[header::RETRY_AFTER], "5");
        drop(a);
        let mut held = Vec::new();
        for agent in ["a", "b", "c", "d"] {
            held.push(budget.admit(agent, 8 << 20).await.unwrap());
        }
        // The total is taken: a fifth agent waits, and gets in once one is done.
        let waiting = tokio::spawn({
            let budget = budget.clone();
            async move { budget.admit("e", 8 << 20).await.map(|_| ()) }
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!waiting.is_finished());
        held.pop();
        assert!(waiting.await.unwrap().is_ok());
        drop(held);
        assert_eq!(budget.total.available_permits(), budget.total_units);
        assert!(budget.agents().is_empty());
    }

    #[tokio::test]
    async fn a_body_waits_for_the_total_at_most_a_while() {
        let budget = BodyBudget::waiting(1 << 20, Duration::from_millis(200));
        let _held: Vec<_> = futures::future::join_all(
            ["a", "b", "c", "d"].map(|agent| budget.admit(agent, 1 << 20)),
        )
        .await;
        let refused = budget.admit("e", 1 << 20).await.unwrap_err();
        assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(budget.agents().get("e").is_none(), "nothing held for it");
    }
}
