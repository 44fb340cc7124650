//! Plain HTTP/1.0 over a loopback socket, for tests that must see the bytes (or must not pull
//! an HTTP client into a blocking test).

use std::io::{Read, Write};
use std::time::Duration;

/// One HTTP/1.0 exchange on 127.0.0.1:`port`: (status, head, body), if it answers within 2 s.
pub fn http(port: u16, request: &str) -> Option<(u16, String, String)> {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    s.write_all(request.as_bytes()).ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.split(' ').nth(1)?.parse().ok()?;
    Some((status, head.to_string(), body.to_string()))
}

/// The body of `GET path` on 127.0.0.1:`port`, if it answers 200.
pub fn get(port: u16, path: &str) -> Option<String> {
    let (status, _, body) = http(
        port,
        &format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n"),
    )?;
    (status == 200).then_some(body)
}

/// `POST path` with a JSON body and `token` as bearer: (status, head, body).
pub fn post_json(port: u16, path: &str, token: &str, json: &str) -> Option<(u16, String, String)> {
    http(
        port,
        &format!(
            "POST {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{json}",
            json.len()
        ),
    )
}

/// `GET http://{addr}{path}` over HTTP/1.1 with `Connection: close`; the status code, or none.
pub fn http_status(addr: &str, path: &str) -> Option<u16> {
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    buf.split_whitespace().nth(1)?.parse().ok()
}
