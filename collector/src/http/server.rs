//! The collector's run loop: serves the API on a bound listener until shutdown, and
//! periodically finishes any pending re-derivation (staleness itself is part of the derived
//! timeline: a device is unknown from three intervals after its last result, so status and
//! reports computed at any later time see it without a timer).
//!
//! # The accept loop, and what it refuses
//! Careless and hostile clients must not take the collector down, so the loop (hyper's HTTP/1
//! connection driver under our own accept loop, not `axum::serve`) bounds what a client can hold:
//!
//! - **Connections:** at most [`ServerOptions::max_connections`] at once (default
//!   [`MAX_CONNECTIONS`], lowered to the open-file soft limit minus [`FD_RESERVE`] for the
//!   database, mail and log files). When all are taken, a new connection *evicts* one that holds
//!   a slot without using it ([`Connections::evict`]): the oldest that has not sent a complete
//!   request yet, else the one idle the longest between keep-alive requests; a connection with a
//!   request in progress is never evicted. The new connection waits (at most [`EVICT_WAIT`])
//!   for the slot to be freed; while [`MAX_WAITING`] wait, the loop accepts nothing more (the
//!   next ones wait in the kernel's listen queue). Only when nothing can be evicted is a new
//!   connection closed at once. Either is logged at most every [`LOG_EVERY`]. So strangers
//!   that open idle or trickling sockets by the thousand cannot keep an agent or `/healthz` out:
//!   each new connection that sends its request head at once (as agents, probes and browsers
//!   do) gets in.
//! - **Request heads:** a new connection must send its first complete request head within
//!   [`ServerOptions::header_read_timeout`] (default [`HEADER_READ_TIMEOUT`]); a later request on
//!   a kept-alive connection within that time of its first byte.
//! - **Bodies:** the handlers that take a body read it themselves, after the token is checked,
//!   within [`ServerOptions::body_read_timeout`] (default [`BODY_READ_TIMEOUT`]; see
//!   [`super::body`]).
//! - **Idle keep-alive connections:** closed after [`ServerOptions::idle_timeout`] (default
//!   [`IDLE_TIMEOUT`]) without a request; a request in progress whose connection moves no byte
//!   for that long is dropped too.
//!
//! hyper's own `header_read_timeout` starts when the connection starts waiting for a request
//! head, which includes the idle wait between keep-alive requests (hyper 1.x,
//! `proto/h1/conn.rs`, `poll_read_head`); so it alone cannot give a short header timeout and a
//! longer idle one. A per-connection watchdog ([`Activity`]) enforces both; hyper's timer is set
//! to the longer of the two as a backstop.
//!
//! The collector raises its open-file soft limit to the hard limit when it starts serving
//! ([`raise_open_file_limit`]).

use super::body::{BodyReadTimeout, BODY_READ_TIMEOUT};
use super::tls::{ClientCertificate, TlsServer};
use super::{router, ApiState};
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify, Semaphore};

/// How often pending re-derivations are retried.
pub const MAINTENANCE_EVERY: Duration = Duration::from_secs(30);

/// Default time a client has to send a request head (see the module doc).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Default time a kept-alive connection may wait for its next request.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Default connection limit, when the open-file limit allows it.
pub const MAX_CONNECTIONS: usize = 1024;
/// Open files kept free of connections: the database (and its WAL), the calendar and notify
/// databases, outbox files, logs, the embedded agents' sockets.
pub const FD_RESERVE: u64 = 64;
/// At most one warning per this interval about refused connections (and per peer about failed
/// authentications), the next one saying how many were suppressed.
pub const LOG_EVERY: Duration = Duration::from_secs(10);
/// How long a new connection waits for the slot of the connection it evicted.
pub const EVICT_WAIT: Duration = Duration::from_secs(2);
/// New connections waiting for an evicted connection's slot at once (each holds a descriptor
/// from the [`FD_RESERVE`]).
pub const MAX_WAITING: usize = 16;

/// The server's limits and timeouts ([`serve_with`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerOptions {
    pub header_read_timeout: Duration,
    pub body_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
}

impl Default for ServerOptions {
    /// The defaults, with the connection limit fitted to the current open-file soft limit.
    fn default() -> Self {
        ServerOptions::for_open_files(open_file_limit().map(|(soft, _)| soft))
    }
}

impl ServerOptions {
    /// The defaults for a process that may open `soft_limit` files (`None`: unknown).
    pub fn for_open_files(soft_limit: Option<u64>) -> Self {
        let max_connections = match soft_limit {
            Some(n) => (MAX_CONNECTIONS as u64)
                .min(n.saturating_sub(FD_RESERVE))
                .max(1) as usize,
            None => MAX_CONNECTIONS,
        };
        ServerOptions {
            header_read_timeout: HEADER_READ_TIMEOUT,
            body_read_timeout: BODY_READ_TIMEOUT,
            idle_timeout: IDLE_TIMEOUT,
            max_connections,
        }
    }
}

/// The open-file limit (soft, hard), if it can be read.
pub fn open_file_limit() -> Option<(u64, u64)> {
    let mut l = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we pass.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut l) };
    #[allow(clippy::unnecessary_cast)] // rlim_t is not u64 everywhere
    (rc == 0).then_some((l.rlim_cur as u64, l.rlim_max as u64))
}

/// Raises the open-file soft limit to the hard limit and logs both; returns the soft limit now
/// in force.
pub fn raise_open_file_limit() -> Option<u64> {
    let (soft, hard) = open_file_limit()?;
    if soft >= hard {
        tracing::info!("open files: limit {soft} (hard limit {hard})");
        return Some(soft);
    }
    let l = libc::rlimit {
        rlim_cur: hard as libc::rlim_t,
        rlim_max: hard as libc::rlim_t,
    };
    // SAFETY: setrlimit reads the struct we pass.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &l) } == 0 {
        tracing::info!("open files: soft limit raised from {soft} to the hard limit {hard}");
        Some(hard)
    } else {
        let e = std::io::Error::last_os_error();
        tracing::warn!("open files: cannot raise the soft limit {soft} to {hard}: {e}");
        Some(soft)
    }
}

/// Serves the API on `listener` until `shutdown` completes, then finishes in-flight requests:
/// raises the open-file limit, then [`serve_with`] the default [`ServerOptions`].
pub async fn serve(
    state: ApiState,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let soft = raise_open_file_limit();
    super::body::tune_allocator();
    let options = ServerOptions::for_open_files(soft);
    serve_with(state, listener, shutdown, options).await
}

/// Serves the API on `listener` with `options` until `shutdown` completes; then stops
/// accepting, lets each connection finish its request in progress and returns when all have
/// closed.
pub async fn serve_with(
    state: ApiState,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    options: ServerOptions,
) -> std::io::Result<()> {
    serve_listener(state, listener, shutdown, options, None).await
}

/// As [`serve`], over TLS when `tls` is given (HTTPS; see [`super::tls`]).
pub async fn serve_tls(
    state: ApiState,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    tls: Option<Arc<TlsServer>>,
) -> std::io::Result<()> {
    let soft = raise_open_file_limit();
    super::body::tune_allocator();
    let options = ServerOptions::for_open_files(soft);
    serve_listener(state, listener, shutdown, options, tls).await
}

async fn serve_listener(
    state: ApiState,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    options: ServerOptions,
    tls: Option<Arc<TlsServer>>,
) -> std::io::Result<()> {
    tracing::info!(
        "HTTP: at most {} connections; request heads within {:?}, bodies within {:?}, idle \
         connections closed after {:?}",
        options.max_connections,
        options.header_read_timeout,
        options.body_read_timeout,
        options.idle_timeout
    );
    let app = state.app.clone();
    let maintenance = tokio::spawn(async move {
        let mut tick = tokio::time::interval(MAINTENANCE_EVERY);
        loop {
            tick.tick().await;
            let a = app.clone();
            match tokio::task::spawn_blocking(move || a.recompute_pending()).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!("re-derivation failed: {e}"),
                Err(e) => tracing::warn!("re-derivation task failed: {e}"),
            }
        }
    });
    let router = router(state);
    let options = Arc::new(options);
    let slots = Arc::new(Semaphore::new(options.max_connections));
    let conns = Arc::new(Connections::default());
    let waiting = Arc::new(AtomicUsize::new(0));
    let waited = Arc::new(Notify::new());
    let (stop_tx, stop_rx) = watch::channel(false);
    let refusals = RateLimited::new(LOG_EVERY);
    tokio::pin!(shutdown);
    'accept: loop {
        // Enough new connections wait for evicted ones' slots: the next stay in the listen
        // queue (no descriptor) until one of them is in.
        while waiting.load(Ordering::SeqCst) >= MAX_WAITING {
            tokio::select! {
                _ = &mut shutdown => break 'accept,
                _ = waited.notified() => {}
            }
        }
        let (stream, peer) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(c) => c,
                Err(e) => {
                    // EMFILE and the like: wait rather than spin; connections end meanwhile.
                    if let Some(more) = refusals.hit("accept") {
                        tracing::warn!("accepting a connection failed: {e}{}", suppressed(more));
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let (router, options, stop) = (router.clone(), options.clone(), stop_rx.clone());
        let conns2 = conns.clone();
        let tls = tls.clone();
        if let Ok(slot) = slots.clone().try_acquire_owned() {
            tokio::spawn(async move {
                connection(stream, peer, router, &options, stop, &conns2, tls).await;
                drop(slot);
            });
            continue;
        }
        let Some(victim) = conns.evict() else {
            drop(stream);
            if let Some(more) = refusals.hit("limit") {
                tracing::warn!(
                    "{} connections open (the limit), all busy: closed a new one from {peer}{}",
                    options.max_connections,
                    suppressed(more)
                );
            }
            continue;
        };
        if let Some(more) = refusals.hit("evict") {
            tracing::warn!(
                "{} connections open (the limit): closed one from {} that {} to let in a new \
                 one from {peer}{}",
                options.max_connections,
                victim.peer,
                victim.why,
                suppressed(more)
            );
        }
        let (slots, waiting, waited) = (slots.clone(), waiting.clone(), waited.clone());
        waiting.fetch_add(1, Ordering::SeqCst);
        tokio::spawn(async move {
            let slot = tokio::time::timeout(EVICT_WAIT, slots.acquire_owned()).await;
            waiting.fetch_sub(1, Ordering::SeqCst);
            waited.notify_one();
            let Ok(Ok(slot)) = slot else {
                return; // still full (or stopping): the new connection is closed
            };
            connection(stream, peer, router, &options, stop, &conns2, tls).await;
            drop(slot);
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    // Every connection holds a slot until it has closed.
    let _ = slots.acquire_many(options.max_connections as u32).await;
    maintenance.abort();
    Ok(())
}

/// ", and N more since the last warning" when some were suppressed.
pub(crate) fn suppressed(more: u64) -> String {
    if more == 0 {
        String::new()
    } else {
        format!(" ({more} more since the last such warning)")
    }
}

/// Serves one connection until it closes, the watchdog closes it, it is evicted, or shutdown.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: axum::Router,
    options: &ServerOptions,
    stop: watch::Receiver<bool>,
    conns: &Connections,
    tls: Option<Arc<TlsServer>>,
) {
    let activity = Arc::new(Activity::new(Instant::now()));
    let id = conns.add(peer, activity.clone());
    let stream = Tracked {
        inner: stream,
        activity: activity.clone(),
    };
    let body_timeout = BodyReadTimeout(options.body_read_timeout);
    match tls {
        None => {
            let service = service(router, peer, body_timeout, activity.clone(), None);
            let conn = http1(options).serve_connection(TokioIo::new(stream), service);
            drive(
                conn,
                |c| c.graceful_shutdown(),
                peer,
                options,
                stop,
                &activity,
            )
            .await;
        }
        Some(tls) => {
            let served = (router, body_timeout, stop);
            tls_connection(&tls, stream, peer, served, options, &activity).await;
        }
    }
    conns.remove(id);
}

/// The TLS side of [`connection`]: the handshake, then HTTP/2 or HTTP/1.1 as ALPN chose.
async fn tls_connection(
    tls: &TlsServer,
    stream: Tracked,
    peer: SocketAddr,
    (router, body_timeout, stop): (axum::Router, BodyReadTimeout, watch::Receiver<bool>),
    options: &ServerOptions,
    activity: &Arc<Activity>,
) {
    let Some(stream) = handshake(tls, stream, peer, options, activity).await else {
        return;
    };
    let certificate = tls.client_certificate(stream.get_ref().1);
    let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
    let service = service(router, peer, body_timeout, activity.clone(), certificate);
    let io = TokioIo::new(stream);
    if h2 {
        let mut builder = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
        builder.timer(TokioTimer::new());
        let conn = builder.serve_connection(io, service);
        drive(
            conn,
            |c| c.graceful_shutdown(),
            peer,
            options,
            stop,
            activity,
        )
        .await;
    } else {
        let conn = http1(options).serve_connection(io, service);
        drive(
            conn,
            |c| c.graceful_shutdown(),
            peer,
            options,
            stop,
            activity,
        )
        .await;
    }
}

/// The TLS handshake, within the request-head timeout (a client that never finishes it holds
/// its slot no longer than one that never sends a request) and unless evicted meanwhile;
/// failures are logged (rate-limited): they are what a wrong CA or an expired certificate
/// looks like from here.
async fn handshake(
    tls: &TlsServer,
    stream: Tracked,
    peer: SocketAddr,
    options: &ServerOptions,
    activity: &Activity,
) -> Option<tokio_rustls::server::TlsStream<Tracked>> {
    static FAILURES: std::sync::OnceLock<RateLimited<std::net::IpAddr>> =
        std::sync::OnceLock::new();
    let evicted = async {
        while !activity.evicted.load(Ordering::SeqCst) {
            activity.changed.notified().await;
        }
    };
    let accept = tokio::time::timeout(options.header_read_timeout, tls.acceptor().accept(stream));
    let why = tokio::select! {
        done = accept => match done {
            Ok(Ok(stream)) => return Some(stream),
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("not finished within {:?}", options.header_read_timeout),
        },
        _ = evicted => "evicted for a new connection".to_string(),
    };
    let limit = FAILURES.get_or_init(|| RateLimited::new(LOG_EVERY));
    if let Some(more) = limit.hit(peer.ip()) {
        tracing::warn!(
            "TLS handshake with {peer} failed: {why}{}",
            suppressed(more)
        );
    }
    None
}

fn http1(options: &ServerOptions) -> hyper::server::conn::http1::Builder {
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(options.header_read_timeout.max(options.idle_timeout));
    builder
}

/// The router for one connection's requests, each with the peer, the body timeout and the
/// client certificate's names in its extensions; tells `activity` when requests start and end.
fn service(
    router: axum::Router,
    peer: SocketAddr,
    body_timeout: BodyReadTimeout,
    act: Arc<Activity>,
    certificate: Option<ClientCertificate>,
) -> impl hyper::service::Service<
    hyper::Request<Incoming>,
    Response = axum::response::Response,
    Error = std::convert::Infallible,
    Future = impl Future<Output = Result<axum::response::Response, std::convert::Infallible>>
                 + Send
                 + 'static,
> + Clone {
    hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        act.request_started();
        req.extensions_mut().insert(ConnectInfo(peer));
        req.extensions_mut().insert(body_timeout);
        if let Some(c) = &certificate {
            req.extensions_mut().insert(c.clone());
        }
        let mut router = router.clone();
        let act = act.clone();
        async move {
            let response = tower_service::Service::call(&mut router, req.map(Body::new)).await;
            act.response_ready();
            response
        }
    })
}

/// Drives a connection (HTTP/1 or HTTP/2; `graceful` asks it to finish) under the watchdog.
async fn drive<C>(
    conn: C,
    graceful: impl Fn(Pin<&mut C>),
    peer: SocketAddr,
    options: &ServerOptions,
    mut stop: watch::Receiver<bool>,
    activity: &Activity,
) where
    C: Future<Output = Result<(), hyper::Error>>,
{
    tokio::pin!(conn);
    let mut stopping = false;
    loop {
        let (deadline, why) = activity.deadline(options);
        tokio::select! {
            done = conn.as_mut() => {
                if let Err(e) = done {
                    tracing::debug!("connection from {peer}: {e}");
                }
                return;
            }
            _ = stop.wait_for(|s| *s), if !stopping => {
                stopping = true;
                graceful(conn.as_mut());
            }
            _ = activity.changed.notified() => {
                if activity.evicted.load(Ordering::SeqCst) {
                    tracing::debug!("closing the connection from {peer}: evicted for a new one");
                    return;
                }
            }
            _ = tokio::time::sleep_until(deadline.into()) => {
                if activity.deadline(options).0 <= Instant::now() {
                    tracing::debug!("closing the connection from {peer}: {why}");
                    return;
                }
            }
        }
    }
}

/// What a connection is doing, for its watchdog.
#[derive(Debug, Clone, Copy)]
enum Phase {
    /// Waiting for a request head since `since`; its first byte came at `first_byte`.
    Waiting {
        since: Instant,
        first_byte: Option<Instant>,
        served: u64,
    },
    /// `active` requests are being handled (more than one only on HTTP/2); the connection last
    /// moved a byte at `last_io`.
    Busy {
        last_io: Instant,
        served: u64,
        active: u32,
    },
}

/// A connection's phase, updated by its I/O and its requests.
struct Activity {
    phase: Mutex<Phase>,
    /// Signalled when the deadline may have moved earlier, or the connection was evicted.
    changed: Notify,
    /// Set when the connection is to close for a new one ([`Connections::evict`]).
    evicted: AtomicBool,
}

impl Activity {
    fn new(now: Instant) -> Activity {
        Activity {
            phase: Mutex::new(Phase::Waiting {
                since: now,
                first_byte: None,
                served: 0,
            }),
            changed: Notify::new(),
            evicted: AtomicBool::new(false),
        }
    }

    /// How much this connection deserves its slot, lower first evicted: `None` while a request
    /// is in progress (never evicted); else whether it has completed a request, and since when
    /// it waits.
    fn eviction_rank(&self) -> Option<(bool, Instant)> {
        match *self.lock() {
            Phase::Waiting { since, served, .. } => Some((served > 0, since)),
            Phase::Busy { .. } => None,
        }
    }

    /// Marks the connection evicted unless a request has started on it meanwhile; why it was.
    fn try_evict(&self) -> Option<&'static str> {
        let why = match *self.lock() {
            Phase::Waiting { served: 0, .. } => "had not sent a complete request",
            Phase::Waiting { .. } => "was idle between requests",
            Phase::Busy { .. } => return None,
        };
        self.evicted.store(true, Ordering::SeqCst);
        self.changed.notify_one();
        Some(why)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Phase> {
        self.phase.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn moved(&self) {
        let mut p = self.lock();
        let now = Instant::now();
        match &mut *p {
            Phase::Waiting {
                first_byte: first @ None,
                ..
            } => {
                *first = Some(now);
                drop(p);
                self.changed.notify_one();
            }
            Phase::Waiting { .. } => {}
            Phase::Busy { last_io, .. } => *last_io = now,
        }
    }

    fn wrote(&self) {
        if let Phase::Busy { last_io, .. } = &mut *self.lock() {
            *last_io = Instant::now();
        }
    }

    fn request_started(&self) {
        let mut p = self.lock();
        *p = match *p {
            Phase::Waiting { served, .. } => Phase::Busy {
                last_io: Instant::now(),
                served,
                active: 1,
            },
            Phase::Busy { served, active, .. } => Phase::Busy {
                last_io: Instant::now(),
                served,
                active: active + 1,
            },
        };
    }

    fn response_ready(&self) {
        let mut p = self.lock();
        *p = match *p {
            Phase::Busy {
                last_io,
                served,
                active,
            } if active > 1 => Phase::Busy {
                last_io,
                served: served + 1,
                active: active - 1,
            },
            Phase::Waiting { served, .. } | Phase::Busy { served, .. } => Phase::Waiting {
                since: Instant::now(),
                first_byte: None,
                served: served + 1,
            },
        };
        drop(p);
        self.changed.notify_one();
    }

    /// When the connection is to be closed unless something happens, and why.
    fn deadline(&self, o: &ServerOptions) -> (Instant, &'static str) {
        match *self.lock() {
            Phase::Waiting {
                since, served: 0, ..
            } => (since + o.header_read_timeout, "no request head in time"),
            Phase::Waiting {
                first_byte: Some(t),
                ..
            } => (
                t + o.header_read_timeout,
                "no complete request head in time",
            ),
            Phase::Waiting { since, .. } => (since + o.idle_timeout, "idle"),
            Phase::Busy { last_io, .. } => (last_io + o.idle_timeout, "no progress"),
        }
    }
}

/// The open connections, for eviction when every slot is taken.
#[derive(Default)]
struct Connections {
    open: Mutex<HashMap<u64, (SocketAddr, Arc<Activity>)>>,
    next: AtomicU64,
}

/// A connection chosen to make room.
struct Evicted {
    peer: SocketAddr,
    why: &'static str,
}

impl Connections {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, (SocketAddr, Arc<Activity>)>> {
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn add(&self, peer: SocketAddr, activity: Arc<Activity>) -> u64 {
        let id = self.next.fetch_add(1, Ordering::SeqCst);
        self.lock().insert(id, (peer, activity));
        id
    }

    fn remove(&self, id: u64) {
        self.lock().remove(&id);
    }

    /// Tells the connection that least deserves its slot to close (see the module doc), and
    /// forgets it; `None` when every connection has a request in progress.
    fn evict(&self) -> Option<Evicted> {
        let mut open = self.lock();
        // A request may start on the chosen one meanwhile: then the next is taken.
        for _ in 0..8 {
            let (&id, _) = open
                .iter()
                .filter_map(|(id, (_, a))| a.eviction_rank().map(|r| (id, r)))
                .min_by_key(|(_, r)| *r)?;
            let (peer, activity) = open.get(&id)?.clone();
            if let Some(why) = activity.try_evict() {
                open.remove(&id);
                return Some(Evicted { peer, why });
            }
        }
        None
    }
}

/// A TCP stream that tells its connection's [`Activity`] when bytes move.
struct Tracked {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Tracked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.moved();
        }
        r
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.wrote();
        }
        r
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.wrote();
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// At most one "yes" per key per interval; the next "yes" says how many were suppressed.
pub(crate) struct RateLimited<K> {
    every: Duration,
    seen: Mutex<HashMap<K, (Instant, u64)>>,
}

/// Keys kept before old ones are forgotten (a scan of many peers must not grow the map).
const RATE_LIMIT_KEYS: usize = 4096;

impl<K: Eq + Hash> RateLimited<K> {
    pub(crate) fn new(every: Duration) -> Self {
        RateLimited {
            every,
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// `Some(suppressed since the last line)` when a line may be logged for `key` now.
    pub(crate) fn hit(&self, key: K) -> Option<u64> {
        let now = Instant::now();
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.len() >= RATE_LIMIT_KEYS {
            seen.retain(|_, (at, _)| now.duration_since(*at) < self.every);
        }
        match seen.get_mut(&key) {
            Some((at, more)) if now.duration_since(*at) < self.every => {
                *more += 1;
                None
            }
            Some((at, more)) => {
                let n = *more;
                (*at, *more) = (now, 0);
                Some(n)
            }
            None => {
                seen.insert(key, (now, 0));
                Some(0)
            }
        }
    }
}

/// Completes on ctrl-c or SIGTERM. The SIGTERM handler is installed when this is called, not
/// when it is first polled, so call it before a slow start and a signal during it is kept.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    let term_stream =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    async move {
        let ctrl_c = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        let term = async {
            match term_stream {
                Some(mut s) => {
                    s.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        wait_either(ctrl_c, term).await;
    }
}

async fn wait_either(
    a: impl std::future::Future<Output = ()>,
    b: impl std::future::Future<Output = ()>,
) {
    tokio::select! {
        _ = a => {}
        _ = b => {}
    }
    tracing::info!("shutting down");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_connection_limit_fits_the_open_file_limit() {
        assert_eq!(
            ServerOptions::for_open_files(Some(1 << 20)).max_connections,
            1024
        );
        assert_eq!(
            ServerOptions::for_open_files(Some(1024)).max_connections,
            960
        );
        assert_eq!(ServerOptions::for_open_files(Some(10)).max_connections, 1);
        assert_eq!(ServerOptions::for_open_files(None).max_connections, 1024);
    }

    #[test]
    fn rate_limited_says_how_many_were_suppressed() {
        let r = RateLimited::new(Duration::from_millis(200));
        assert_eq!(r.hit("a"), Some(0));
        assert_eq!(r.hit("a"), None);
        assert_eq!(r.hit("a"), None);
        assert_eq!(r.hit("b"), Some(0));
        std::thread::sleep(Duration::from_millis(250));
        assert_eq!(r.hit("a"), Some(2));
    }

    #[test]
    fn eviction_takes_the_oldest_without_a_request_then_the_longest_idle_never_a_busy_one() {
        let conns = Connections::default();
        let t0 = Instant::now();
        let peer = |n: u8| SocketAddr::from(([127, 0, 0, n], 1000));
        let busy = Arc::new(Activity::new(t0));
        busy.request_started();
        let idle = Arc::new(Activity::new(t0));
        idle.request_started();
        idle.response_ready();
        let old = Arc::new(Activity::new(t0 + Duration::from_millis(5)));
        let young = Arc::new(Activity::new(t0 + Duration::from_millis(10)));
        for (n, a) in [(1, &busy), (2, &idle), (3, &young), (4, &old)] {
            conns.add(peer(n), (*a).clone());
        }
        let order: Vec<_> = std::iter::from_fn(|| conns.evict())
            .map(|e| (e.peer, e.why))
            .collect();
        assert_eq!(
            order,
            [
                (peer(4), "had not sent a complete request"),
                (peer(3), "had not sent a complete request"),
                (peer(2), "was idle between requests"),
            ]
        );
        assert!(old.evicted.load(Ordering::SeqCst) && young.evicted.load(Ordering::SeqCst));
        assert!(
            !busy.evicted.load(Ordering::SeqCst),
            "a request in progress is never evicted"
        );
    }

    #[test]
    fn a_new_connection_gets_the_header_timeout_a_served_one_the_idle_timeout() {
        let o = ServerOptions::for_open_files(None);
        let t0 = Instant::now();
        let a = Activity::new(t0);
        assert_eq!(a.deadline(&o).0, t0 + o.header_read_timeout);
        a.request_started();
        a.response_ready();
        let (d, why) = a.deadline(&o);
        assert_eq!(why, "idle");
        assert!(d >= t0 + o.idle_timeout);
        a.moved();
        assert_eq!(a.deadline(&o).1, "no complete request head in time");
    }
}
