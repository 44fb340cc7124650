//! The HTTP probe's checks for the agreement's functions against servers started here: the
//! web filter's block (a block page, a block status, a refused connection; `not_blocked`
//! when the test URL gets through), a JSON time with a maximum age (`value_too_old`,
//! `body_mismatch` when it is missing), and a login form whose session cookie goes with the
//! GET (`login_failed` with a wrong password).

use crate::probes::{device, num, probe_all_with};
use chrono::{DateTime, Utc};
use driftvakt_common::clock::{Clock, FixedClock};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// One request as the server saw it.
struct Request {
    method: String,
    path: String,
    cookie: String,
    body: String,
}

/// Status, extra header lines and body.
type Answer = (u16, String, String);

/// An HTTP/1.1 server on 127.0.0.1 answering each request by `route`; returns its port.
async fn server(route: impl Fn(&Request) -> Answer + Send + Sync + 'static) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let route = Arc::new(route);
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let route = route.clone();
            tokio::spawn(async move {
                let Some(req) = read_request(&mut s).await else {
                    return;
                };
                let (status, headers, body) = route(&req);
                let msg = format!(
                    "HTTP/1.1 {status} X\r\nContent-Length: {}\r\n{headers}Connection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(msg.as_bytes()).await;
                let _ = s.shutdown().await;
            });
        }
    });
    port
}

async fn read_request(s: &mut tokio::net::TcpStream) -> Option<Request> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match s.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let header = |name: &str| -> String {
        head.lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
            })
            .unwrap_or_default()
    };
    let length: usize = header("content-length").parse().unwrap_or(0);
    while buf.len() < head_end + length {
        match s.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let mut words = head.split_whitespace();
    Some(Request {
        method: words.next()?.to_string(),
        path: words.next()?.to_string(),
        cookie: header("cookie"),
        body: String::from_utf8_lossy(&buf[head_end..head_end + length]).to_string(),
    })
}

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn http_check(lines: &str) -> String {
    format!("      - kind: http\n{lines}")
}

fn yaml(devices: &[String]) -> String {
    format!("agent:\n  id: t\ndevices:\n{}", devices.concat())
}

#[tokio::test]
async fn the_web_filter_blocks_its_test_urls_and_a_missing_block_fails_as_not_blocked() {
    // The filter as a proxy-like server: its block page for one test URL, 451 for another,
    // the page itself for a URL it should have blocked.
    let port = server(|r| match r.path.as_str() {
        "/porr.example" => (
            200,
            String::new(),
            "<h1>Webbplatsen är blockerad</h1>".into(),
        ),
        "/spel.example" => (451, String::new(), "Unavailable".into()),
        _ => (200, String::new(), "<h1>Välkommen till sidan</h1>".into()),
    })
    .await;
    let refused = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port() // closed when `l` drops here
    };
    let block = "        expect_block: { body_contains: Webbplatsen är blockerad }\n";
    let url = |p: &str| format!("        url: http://127.0.0.1:{port}{p}\n");
    let r = probe_all_with(
        &yaml(&[
            device(
                "page",
                "service",
                "127.0.0.1",
                &http_check(&(url("/porr.example") + block)),
            ),
            device(
                "status",
                "service",
                "127.0.0.1",
                &http_check(&(url("/spel.example") + block)),
            ),
            device(
                "refused",
                "service",
                "127.0.0.1",
                &http_check(&format!(
                    "        url: http://127.0.0.1:{refused}/\n{block}"
                )),
            ),
            device(
                "through",
                "service",
                "127.0.0.1",
                &http_check(&(url("/vanlig.example") + block)),
            ),
        ]),
        Arc::new(FixedClock(utc("2026-11-27T14:00:00Z"))),
    )
    .await;
    for blocked in &r[..3] {
        assert!(blocked.ok, "{blocked:?}");
        assert_eq!(num(blocked, "http_blocked"), 1.0, "{blocked:?}");
    }
    assert!(!r[3].ok);
    assert_eq!(r[3].error.as_deref(), Some("not_blocked"), "{:?}", r[3]);
    assert_eq!(num(&r[3], "http_blocked"), 0.0);
}

#[tokio::test]
async fn a_json_time_older_than_its_maximum_age_fails_as_value_too_old() {
    let port = server(|r| match r.path.as_str() {
        "/av" => (
            200,
            String::new(),
            r#"{"definitions": {"updated": "2026-11-27T13:00:00Z"}}"#.into(),
        ),
        "/backup" => (200, String::new(), r#"{"last": 1764028800}"#.into()),
        _ => (200, String::new(), r#"{"other": 1}"#.into()),
    })
    .await;
    let check = |path: &str, pointer: &str, max_age: &str| {
        http_check(&format!(
            "        url: http://127.0.0.1:{port}{path}\n        json_value: {{ pointer: {pointer}, max_age: {max_age} }}\n"
        ))
    };
    let clock: Arc<dyn Clock> = Arc::new(FixedClock(utc("2026-11-27T14:00:00Z")));
    let r = probe_all_with(
        &yaml(&[
            device(
                "av",
                "service",
                "127.0.0.1",
                &check("/av", "/definitions/updated", "1d"),
            ),
            // 1764028800 is 2025-11-25T00:00:00Z: a year and more without a backup.
            device(
                "backup",
                "service",
                "127.0.0.1",
                &check("/backup", "/last", "2d"),
            ),
            device(
                "missing",
                "service",
                "127.0.0.1",
                &check("/none", "/definitions/updated", "1d"),
            ),
        ]),
        clock,
    )
    .await;
    assert!(r[0].ok, "{:?}", r[0]);
    assert_eq!(num(&r[0], "http_json_value_age_seconds"), 3600.0);
    assert!(!r[1].ok);
    assert_eq!(r[1].error.as_deref(), Some("value_too_old"), "{:?}", r[1]);
    assert!(num(&r[1], "http_json_value_age_seconds") > 2.0 * 86_400.0);
    assert_eq!(r[2].error.as_deref(), Some("body_mismatch"), "{:?}", r[2]);
}

#[tokio::test]
async fn a_login_form_opens_the_session_and_a_wrong_password_fails_as_login_failed() {
    let port = server(|r| match (r.method.as_str(), r.path.as_str()) {
        ("POST", "/login")
            if r.body == "username=svc-driftvakt&password=r%C3%A4tt+l%C3%B6senord" =>
        {
            (
                302,
                "Set-Cookie: session=abc123; Path=/; HttpOnly\r\nLocation: /guides\r\n".into(),
                String::new(),
            )
        }
        ("POST", "/login") => (401, String::new(), "Fel lösenord".into()),
        ("GET", "/guides") if r.cookie == "session=abc123" => {
            (200, String::new(), "<h1>Guider</h1>".into())
        }
        _ => (401, String::new(), "Logga in".into()),
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let right = dir.path().join("right.pw");
    let wrong = dir.path().join("wrong.pw");
    std::fs::write(&right, "rätt lösenord\n").unwrap();
    std::fs::write(&wrong, "fel\n").unwrap();
    let check = |password: &std::path::Path| {
        http_check(&format!(
            "        url: http://127.0.0.1:{port}/guides\n        body_contains: Guider\n        login: {{ url: http://127.0.0.1:{port}/login, username: svc-driftvakt, password_file: {} }}\n",
            password.display()
        ))
    };
    let r = probe_all_with(
        &yaml(&[
            device("right", "service", "127.0.0.1", &check(&right)),
            device("wrong", "service", "127.0.0.1", &check(&wrong)),
            device(
                "nologin",
                "service",
                "127.0.0.1",
                &http_check(&format!("        url: http://127.0.0.1:{port}/guides\n")),
            ),
        ]),
        Arc::new(FixedClock(utc("2026-11-27T14:00:00Z"))),
    )
    .await;
    assert!(r[0].ok, "{:?}", r[0]);
    assert!(!r[1].ok);
    assert_eq!(r[1].error.as_deref(), Some("login_failed"), "{:?}", r[1]);
    assert_eq!(r[2].error.as_deref(), Some("http_status"), "{:?}", r[2]);
}
