//! Careless and hostile HTTP clients against the real server, in-process on 127.0.0.1:0 with
//! short timeouts ([`serve_with`]): unauthenticated bodies are refused before they are read,
//! half-sent heads and idle keep-alive connections are closed, at the connection limit a new
//! connection takes the place of a silent one (and is refused only when every connection has a
//! request in progress) without hurting open ones, and the calendar API checks what operators
//! send.

use driftvakt_collector::http::{serve_with, ServerOptions};
use driftvakt_collector_testkit::fixtures::*;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const OPERATOR_TOKEN: &str = "operator-token-0123456789";

struct Server {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    _dir: tempfile::TempDir,
}

impl Server {
    async fn start(options: ServerOptions) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let state = api_state(dir.path(), Some(OPERATOR_TOKEN));
        let task = tokio::spawn(serve_with(
            state,
            listener,
            async {
                let _ = rx.await;
            },
            options,
        ));
        Server {
            addr,
            stop: Some(tx),
            task,
            _dir: dir,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("the server stops within 10 s")
            .unwrap()
            .unwrap();
    }
}

fn options(header: u64, idle: u64, max_connections: usize) -> ServerOptions {
    ServerOptions {
        header_read_timeout: Duration::from_secs(header),
        body_read_timeout: Duration::from_secs(5),
        idle_timeout: Duration::from_secs(idle),
        max_connections,
    }
}

/// Reads one HTTP/1.1 response with a `Content-Length` body: (status, body).
async fn read_response(s: &mut TcpStream) -> std::io::Result<(u16, String)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_string();
            let status: u16 = head[9..12].parse().unwrap();
            let len: usize = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().ok())?
                })
                .unwrap_or(0);
            while buf.len() < end + 4 + len {
                let n = s.read(&mut chunk).await?;
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            return Ok((status, String::from_utf8_lossy(&buf[end + 4..]).to_string()));
        }
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Waits (at most `limit`) for the server to close `s`; returns how long it took.
async fn closed_within(s: &mut TcpStream, limit: Duration) -> Duration {
    let start = Instant::now();
    let mut chunk = [0u8; 1024];
    loop {
        match tokio::time::timeout(limit.saturating_sub(start.elapsed()), s.read(&mut chunk)).await
        {
            Ok(Ok(0)) | Ok(Err(_)) => return start.elapsed(),
            Ok(Ok(_)) => continue,
            Err(_) => panic!("the server kept the connection open for more than {limit:?}"),
        }
    }
}

/// Asserts the connection is still open after `wait` (nothing to read, no EOF).
async fn still_open(s: &mut TcpStream, wait: Duration) {
    let mut chunk = [0u8; 16];
    if let Ok(r) = tokio::time::timeout(wait, s.read(&mut chunk)).await {
        panic!("the connection ended or sent data within {wait:?}: {r:?}");
    }
}

async fn healthz(s: &mut TcpStream) -> (u16, String) {
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .unwrap();
    read_response(s).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unauthenticated_body_is_refused_before_it_is_sent() {
    let server = Server::start(options(10, 60, 64)).await;
    const SIZE: usize = 8 << 20;
    for (auth, expect) in [
        ("", "missing bearer token"),
        (
            "Authorization: Bearer not-a-token-xxxxxxxxxx\r\n",
            "invalid token",
        ),
    ] {
        let mut s = TcpStream::connect(server.addr).await.unwrap();
        let head = format!(
            "POST /api/v1/results HTTP/1.1\r\nHost: t\r\n{auth}Content-Type: application/json\r\nContent-Length: {SIZE}\r\n\r\n"
        );
        s.write_all(head.as_bytes()).await.unwrap();
        let started = Instant::now();
        let (mut rd, mut wr) = s.into_split();
        let sent = Arc::new(AtomicUsize::new(0));
        let counter = sent.clone();
        // The client sends 64 KiB every 5 ms: the whole body would take over half a second.
        let writer = tokio::spawn(async move {
            let chunk = vec![b' '; 64 << 10];
            while counter.load(Ordering::SeqCst) < SIZE {
                if wr.write_all(&chunk).await.is_err() {
                    return;
                }
                counter.fetch_add(chunk.len(), Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        });
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        while !buf.windows(4).any(|w| w == b"\r\n\r\n") || !buf.ends_with(b"}") {
            let n = rd.read(&mut chunk).await.unwrap();
            assert!(n > 0, "the connection closed without an answer");
            buf.extend_from_slice(&chunk[..n]);
        }
        let answered_after = started.elapsed();
        let sent_then = sent.load(Ordering::SeqCst);
        let text = String::from_utf8_lossy(&buf).to_string();
        assert!(text.starts_with("HTTP/1.1 401"), "{text}");
        let body = &text[text.find("\r\n\r\n").unwrap() + 4..];
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["error"], expect, "{text}");
        assert!(
            sent_then < SIZE / 2,
            "the 401 came only after {sent_then} of {SIZE} bytes were sent"
        );
        eprintln!("401 ({expect}) after {answered_after:?}, {sent_then} of {SIZE} bytes sent");
        writer.abort();
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_too_large_body_is_413_as_json_before_it_is_sent() {
    let server = Server::start(options(10, 60, 64)).await;
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    let head = format!(
        "POST /api/v1/results HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        (8 << 20) + 1
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let (status, body) = read_response(&mut s).await.unwrap();
    assert_eq!(status, 413, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(v["error"].as_str().unwrap().contains("limit"), "{v}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_sent_heads_and_silent_connections_are_dropped_after_the_header_timeout() {
    let server = Server::start(options(1, 30, 64)).await;
    let mut silent = TcpStream::connect(server.addr).await.unwrap();
    let mut half = TcpStream::connect(server.addr).await.unwrap();
    half.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n")
        .await
        .unwrap();
    let limit = Duration::from_secs(6);
    let took = closed_within(&mut half, limit).await;
    assert!(took >= Duration::from_millis(700), "closed after {took:?}");
    closed_within(&mut silent, limit).await;
    // A kept-alive connection that starts a head after its first request gets the same time.
    let mut kept = TcpStream::connect(server.addr).await.unwrap();
    assert_eq!(healthz(&mut kept).await.0, 200);
    kept.write_all(b"GET /healthz HTTP/1.1\r\n").await.unwrap();
    closed_within(&mut kept, limit).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_keep_alive_connections_are_closed_after_the_idle_timeout() {
    let server = Server::start(options(1, 3, 64)).await;
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    assert_eq!(healthz(&mut s).await, (200, "ok\n".into()));
    // Longer than the header timeout: an idle connection is not cut by it...
    still_open(&mut s, Duration::from_millis(1800)).await;
    assert_eq!(healthz(&mut s).await.0, 200);
    // ...but by the idle timeout.
    let took = closed_within(&mut s, Duration::from_secs(10)).await;
    assert!(took >= Duration::from_secs(2), "closed after {took:?}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_connection_limit_a_new_client_takes_the_place_of_a_silent_one() {
    let server = Server::start(options(10, 30, 4)).await;
    // An agent-like client with a kept-alive connection.
    let mut client = TcpStream::connect(server.addr).await.unwrap();
    assert_eq!(healthz(&mut client).await.0, 200);
    // Three silent connections fill the limit.
    let mut silent = Vec::new();
    for _ in 0..3 {
        silent.push(TcpStream::connect(server.addr).await.unwrap());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    // One more gets in at once: the oldest silent connection is closed for it.
    let start = Instant::now();
    let mut fresh = TcpStream::connect(server.addr).await.unwrap();
    assert_eq!(healthz(&mut fresh).await, (200, "ok\n".to_string()));
    assert!(
        start.elapsed() < Duration::from_millis(900),
        "{:?}",
        start.elapsed()
    );
    closed_within(&mut silent[0], Duration::from_secs(1)).await;
    still_open(&mut silent[1], Duration::from_millis(100)).await;
    // The open client is unaffected.
    assert_eq!(healthz(&mut client).await.0, 200);
    drop(silent);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_every_connection_has_a_request_in_progress_a_new_one_is_closed_at_once() {
    let server = Server::start(options(10, 30, 4)).await;
    // Four requests in progress: their bodies never come (the body timeout is 5 s).
    let mut busy = Vec::new();
    for _ in 0..4 {
        let mut s = TcpStream::connect(server.addr).await.unwrap();
        let head = format!(
            "POST /api/v1/windows HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {OPERATOR_TOKEN}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
        );
        s.write_all(head.as_bytes()).await.unwrap();
        busy.push(s);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut refused = TcpStream::connect(server.addr).await.unwrap();
    let _ = refused
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        .await;
    let took = closed_within(&mut refused, Duration::from_secs(2)).await;
    assert!(took < Duration::from_millis(900), "closed after {took:?}");
    for s in &mut busy {
        still_open(s, Duration::from_millis(50)).await;
    }
    drop(busy);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_idle_connections_and_returns() {
    let server = Server::start(options(10, 60, 64)).await;
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    assert_eq!(healthz(&mut s).await.0, 200);
    let _silent = TcpStream::connect(server.addr).await.unwrap();
    server.stop().await;
    closed_within(&mut s, Duration::from_secs(2)).await;
}

/// (status, parsed JSON body) of a windows API call; panics when the body is not JSON.
async fn call(
    server: &Server,
    method: reqwest::Method,
    path: &str,
    auth: Option<&str>,
    body: Option<String>,
) -> (u16, serde_json::Value) {
    let mut req = reqwest::Client::new().request(method, server.url(path));
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    if let Some(b) = body {
        req = req.header("content-type", "application/json").body(b);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    let v = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{path}: status {status}, body not JSON ({e}): {text:?}"));
    (status, v)
}

fn window(scope: &str, hours: i64, reason: &str, by: &str) -> String {
    let start = chrono::Utc::now() + chrono::Duration::days(2);
    let end = start + chrono::Duration::hours(hours);
    serde_json::json!({
        "start": start.to_rfc3339(), "end": end.to_rfc3339(),
        "scope": scope, "reason": reason, "by": by,
    })
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_windows_api_checks_what_operators_send_and_answers_json() {
    use reqwest::Method;
    let server = Server::start(options(10, 60, 64)).await;
    let upper = format!("Bearer {OPERATOR_TOKEN}");
    let lower = format!("bearer {OPERATOR_TOKEN}");
    let post = |body: String, auth: String| {
        let s = &server;
        async move { call(s, Method::POST, "/api/v1/windows", Some(&auth), Some(body)).await }
    };

    // Unknown scopes of each kind are refused, naming the scope.
    for scope in [
        "site:nosuch",
        "municipality:Nowhere",
        "device:nosuch",
        "service:nosuch",
    ] {
        let (status, v) = post(window(scope, 2, "Byte av UPS", "bo"), upper.clone()).await;
        assert_eq!(status, 400, "{scope}: {v}");
        assert!(v["error"].as_str().unwrap().contains(scope), "{v}");
    }
    // A hundred years, and a window past the supported years.
    let (status, v) = post(window("site:s1", 24 * 365 * 100, "x", "bo"), upper.clone()).await;
    assert_eq!(status, 400, "{v}");
    assert!(v["error"].as_str().unwrap().contains("at most"), "{v}");
    let far = serde_json::json!({"start": "9999-12-31T20:00:00Z", "end": "+10000-01-01T01:00:00Z",
        "scope": "all", "reason": "x", "by": "bo"});
    let (status, v) = post(far.to_string(), upper.clone()).await;
    assert_eq!(status, 400, "{v}");
    // Reasons: 1 MB is past the body limit, 501 characters past the reason limit, blank refused.
    let (status, v) = post(
        window("site:s1", 2, &"x".repeat(1 << 20), "bo"),
        upper.clone(),
    )
    .await;
    assert_eq!(status, 413, "{v}");
    let (status, v) = post(window("site:s1", 2, &"å".repeat(501), "bo"), upper.clone()).await;
    assert_eq!(status, 400, "{v}");
    assert!(v["error"].as_str().unwrap().contains("500"), "{v}");
    let (status, _) = post(window("site:s1", 2, " ", "bo"), upper.clone()).await;
    assert_eq!(status, 400);
    let (status, v) = post(window("site:s1", 2, "x", &"b".repeat(101)), upper.clone()).await;
    assert_eq!(status, 400, "{v}");
    // Malformed JSON, missing and wrong tokens.
    let (status, _) = post("{".into(), upper.clone()).await;
    assert_eq!(status, 400);
    let (status, _) = call(
        &server,
        Method::POST,
        "/api/v1/windows",
        None,
        Some(window("site:s1", 2, "x", "bo")),
    )
    .await;
    assert_eq!(status, 401);
    let (status, _) = post(window("site:s1", 2, "x", "bo"), "Bearer wrong".into()).await;
    assert_eq!(status, 401);

    // A good window, with the scheme in lower case; 7 days exactly is allowed.
    let (status, v) = post(window("site:s1", 2, "Byte av UPS", "bo"), lower.clone()).await;
    assert_eq!(status, 200, "{v}");
    let id = v["id"].as_i64().unwrap();
    let (status, v) = post(
        window("municipality:Tranemo", 168, "Flytt", "bo"),
        lower.clone(),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    for scope in ["device:ap1", "service:wifi", "all"] {
        let (status, v) = post(window(scope, 1, "x", "bo"), upper.clone()).await;
        assert_eq!(status, 200, "{scope}: {v}");
    }

    // Cancelling: an unknown id is 404, a bad id 400, a known one 200.
    let (status, v) = call(
        &server,
        Method::DELETE,
        "/api/v1/windows/999?by=bo",
        Some(&lower),
        None,
    )
    .await;
    assert_eq!(status, 404, "{v}");
    let (status, _) = call(
        &server,
        Method::DELETE,
        "/api/v1/windows/abc?by=bo",
        Some(&lower),
        None,
    )
    .await;
    assert_eq!(status, 400);
    let (status, _) = call(
        &server,
        Method::DELETE,
        &format!("/api/v1/windows/{id}"),
        Some(&lower),
        None,
    )
    .await;
    assert_eq!(status, 400);
    let (status, v) = call(
        &server,
        Method::DELETE,
        &format!("/api/v1/windows/{id}?by=bo"),
        Some(&lower),
        None,
    )
    .await;
    assert_eq!(status, 200, "{v}");

    // Secondary windows: a date past the supported years, a bad date, and no date there.
    let (status, _) = call(
        &server,
        Method::DELETE,
        "/api/v1/windows/secondary/not-a-date",
        Some(&upper),
        None,
    )
    .await;
    assert_eq!(status, 400);
    let (status, _) = call(
        &server,
        Method::POST,
        "/api/v1/windows/secondary",
        Some(&upper),
        Some(r#"{"date": "2026-13-01", "by": "bo"}"#.into()),
    )
    .await;
    assert_eq!(status, 400);
    // Listings, unknown routes and methods: JSON too.
    let (status, _) = call(
        &server,
        Method::GET,
        "/api/v1/windows?from=2026-01-01&to=2200-01-01",
        None,
        None,
    )
    .await;
    assert_eq!(status, 400);
    let (status, _) = call(&server, Method::GET, "/api/v1/nosuch", None, None).await;
    assert_eq!(status, 404);
    let (status, _) = call(&server, Method::PUT, "/api/v1/windows", None, None).await;
    assert_eq!(status, 405);
    server.stop().await;
}
