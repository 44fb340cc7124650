//! SIP probe: an OPTIONS request to the switchboard over UDP, TCP or TLS (rustls), 200 (or a
//! listed status) expected. A small codec: the request is the RFC 3261 minimum (Via with a fresh
//! branch and `rport`, From with a tag, To, Call-ID, CSeq, Max-Forwards, Content-Length), and
//! of the answers only the status line, Call-ID and Content-Length are read; provisional (1xx)
//! answers are skipped.
//!
//! Values: `sip_response_seconds` (request sent to final answer), `sip_status`, and over TLS
//! `tls_cert_days_left` (a finding under `cert_min_days`). Failure reasons: `sip_status`,
//! `tls_error` (handshake or certificate, an expired one among them), `protocol_error`, and the
//! socket's.

use super::{resolve, FailureReason, Outcome, Prober, SetupError, Target};
use crate::config::{SipCheck, SipTransport};
use chrono::{DateTime, Utc};
use driftvakt_common::clock::Clock;
use driftvakt_common::readings;
use driftvakt_common::wire::Value;
use rustls::pki_types::ServerName;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The largest answer read (headers and body).
const MAX_ANSWER: usize = 64 * 1024;

pub struct SipProber {
    /// TLS client settings per CA file (`None`: the system's roots only), built on first use.
    tls: Mutex<HashMap<Option<PathBuf>, Arc<rustls::ClientConfig>>>,
    /// The folder relative CA files are read from.
    base: PathBuf,
    /// What certificates' days left are counted from.
    clock: Arc<dyn Clock>,
}

impl Prober for SipProber {
    type Spec = SipCheck;

    async fn probe(&self, target: &Target<'_>, spec: &SipCheck, timeout: Duration) -> Outcome {
        let transport = spec.transport.unwrap_or_default();
        let port = spec.port.unwrap_or(match transport {
            SipTransport::Tls => 5061,
            _ => 5060,
        });
        let ip = match resolve(target).await {
            Ok(ip) => ip,
            Err(o) => return o,
        };
        let server = SocketAddr::new(ip, port);
        let started = Instant::now();
        let work = self.exchange(target, spec, transport, server);
        let (answer, days_left) = match tokio::time::timeout(timeout, work).await {
            Ok(Ok(r)) => r,
            Ok(Err(o)) => return o,
            Err(_) => {
                return Outcome::failure(
                    FailureReason::Timeout,
                    format!(
                        "sip OPTIONS over {} to {server}: no answer within {timeout:?}",
                        transport.as_str()
                    ),
                )
            }
        };
        let elapsed = started.elapsed().as_secs_f64();
        let mut out = judge(spec, &answer, transport, server);
        out.number("sip_response_seconds", elapsed);
        out.number("sip_status", f64::from(answer.status));
        if let Some(days) = days_left {
            out.number(readings::TLS_CERT_DAYS_LEFT, days);
            let min = f64::from(spec.cert_min_days.unwrap_or(14));
            if out.ok && days < min {
                out.finding(
                    readings::TLS_CERTIFICATE_EXPIRING,
                    format!("the switchboard's TLS certificate expires in {days:.0} days (minimum {min:.0})"),
                );
            }
        }
        out
    }
}

impl SipProber {
    pub fn new(base: PathBuf, clock: Arc<dyn Clock>) -> Result<SipProber, SetupError> {
        let prober = SipProber {
            tls: Mutex::new(HashMap::new()),
            base,
            clock,
        };
        Ok(prober)
    }

    /// The TLS client settings for `ca_file` (its certificates and the system's roots).
    fn tls_config(&self, ca_file: Option<&PathBuf>) -> Result<Arc<rustls::ClientConfig>, Outcome> {
        let key = ca_file.map(|f| self.base.join(f));
        let mut configs = self.tls.lock().expect("sip tls map poisoned");
        if let Some(c) = configs.get(&key) {
            return Ok(c.clone());
        }
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls_native_certs::load_native_certs().certs {
            let _ = roots.add(cert);
        }
        if let Some(path) = &key {
            let certs = driftvakt_common::tls::read_certificates(path).map_err(|e| {
                Outcome::failure(FailureReason::ConfigError, format!("sip ca_file: {e}"))
            })?;
            for cert in certs {
                roots.add(cert).map_err(|e| {
                    Outcome::failure(
                        FailureReason::ConfigError,
                        format!("sip ca_file {}: {e}", path.display()),
                    )
                })?;
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| Outcome::failure(FailureReason::AgentError, format!("tls setup: {e}")))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let config = Arc::new(config);
        configs.insert(key, config.clone());
        Ok(config)
    }

    /// Sends OPTIONS and reads the final answer; over TLS also the certificate's days left.
    async fn exchange(
        &self,
        target: &Target<'_>,
        spec: &SipCheck,
        transport: SipTransport,
        server: SocketAddr,
    ) -> Result<(Answer, Option<f64>), Outcome> {
        let io = |what: &str, e: std::io::Error| {
            Outcome::failure(
                FailureReason::from_io(&e),
                format!("sip {what} over {} to {server}: {e}", transport.as_str()),
            )
        };
        match transport {
            SipTransport::Udp => {
                let local: SocketAddr = match server {
                    SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
                    SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
                };
                let socket = tokio::net::UdpSocket::bind(local)
                    .await
                    .map_err(|e| io("bind", e))?;
                socket.connect(server).await.map_err(|e| io("connect", e))?;
                let me = socket.local_addr().map_err(|e| io("bind", e))?;
                let request = Request::new(target, spec, transport, me);
                socket
                    .send(request.text.as_bytes())
                    .await
                    .map_err(|e| io("send", e))?;
                let mut buf = vec![0u8; MAX_ANSWER];
                loop {
                    let n = socket.recv(&mut buf).await.map_err(|e| io("receive", e))?;
                    let answer = parse(&buf[..n], server)?;
                    if answer.call_id.as_deref() == Some(&request.call_id) && answer.status >= 200 {
                        return Ok((answer, None));
                    }
                }
            }
            SipTransport::Tcp => {
                let stream = tokio::net::TcpStream::connect(server)
                    .await
                    .map_err(|e| io("connect", e))?;
                let me = stream.local_addr().map_err(|e| io("connect", e))?;
                let request = Request::new(target, spec, transport, me);
                let answer = over_stream(stream, &request, server).await?;
                Ok((answer, None))
            }
            SipTransport::Tls => {
                let config = self.tls_config(spec.ca_file.as_ref())?;
                let name = spec
                    .server_name
                    .clone()
                    .unwrap_or_else(|| target.address().to_string());
                let name = ServerName::try_from(name.clone()).map_err(|_| {
                    Outcome::failure(
                        FailureReason::ConfigError,
                        format!("`{name}` is not a TLS server name"),
                    )
                })?;
                let stream = tokio::net::TcpStream::connect(server)
                    .await
                    .map_err(|e| io("connect", e))?;
                let me = stream.local_addr().map_err(|e| io("connect", e))?;
                let tls = tokio_rustls::TlsConnector::from(config)
                    .connect(name, stream)
                    .await
                    .map_err(|e| {
                        Outcome::failure(
                            FailureReason::TlsError,
                            format!("sip over TLS to {server}: {e}"),
                        )
                    })?;
                let days = cert_days_left(tls.get_ref().1, self.clock.now());
                let request = Request::new(target, spec, transport, me);
                let answer = over_stream(tls, &request, server).await?;
                Ok((answer, days))
            }
        }
    }
}

/// Days from `now` until the server certificate's notAfter.
fn cert_days_left(conn: &rustls::ClientConnection, now: DateTime<Utc>) -> Option<f64> {
    let der = conn.peer_certificates()?.first()?;
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let not_after = cert.validity().not_after.timestamp();
    Some((not_after - now.timestamp()) as f64 / 86_400.0)
}

/// One OPTIONS request and the Call-ID its answers carry.
struct Request {
    text: String,
    call_id: String,
}

impl Request {
    fn new(
        target: &Target<'_>,
        spec: &SipCheck,
        transport: SipTransport,
        me: SocketAddr,
    ) -> Request {
        let scheme = if transport == SipTransport::Tls {
            "sips"
        } else {
            "sip"
        };
        let host = match target.address().parse::<IpAddr>() {
            Ok(IpAddr::V6(v6)) => format!("[{v6}]"),
            _ => target.address().to_string(),
        };
        let uri = spec
            .uri
            .clone()
            .unwrap_or_else(|| format!("{scheme}:{host}"));
        let token = || format!("{:016x}", rand::random::<u64>());
        let call_id = format!("{}@driftvakt", token());
        let text = format!(
            "OPTIONS {uri} SIP/2.0\r\n\
             Via: SIP/2.0/{transport} {me};branch=z9hG4bK{branch};rport\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:driftvakt@{me_host}>;tag={tag}\r\n\
             To: <{uri}>\r\n\
             Call-ID: {call_id}\r\n\
             CSeq: 1 OPTIONS\r\n\
             Accept: application/sdp\r\n\
             User-Agent: driftvakt-agent/{version}\r\n\
             Content-Length: 0\r\n\r\n",
            transport = transport.as_str(),
            branch = token(),
            me_host = match me.ip() {
                IpAddr::V6(v6) => format!("[{v6}]"),
                IpAddr::V4(v4) => v4.to_string(),
            },
            tag = token(),
            version = env!("CARGO_PKG_VERSION"),
        );
        Request { text, call_id }
    }
}

/// What the probe reads of an answer.
#[derive(Debug, Clone, PartialEq)]
struct Answer {
    status: u16,
    reason: String,
    call_id: Option<String>,
}

/// Writes the request on a stream and reads answers until a final one.
async fn over_stream<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    request: &Request,
    server: SocketAddr,
) -> Result<Answer, Outcome> {
    let io = |e: std::io::Error| {
        Outcome::failure(FailureReason::from_io(&e), format!("sip to {server}: {e}"))
    };
    stream
        .write_all(request.text.as_bytes())
        .await
        .map_err(io)?;
    stream.flush().await.map_err(io)?;
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        // Every complete answer in the buffer, in order.
        while let Some(end) = message_end(&buf) {
            let answer = parse(&buf[..end], server)?;
            buf.drain(..end);
            if answer.status >= 200 {
                return Ok(answer);
            }
        }
        if buf.len() > MAX_ANSWER {
            return Err(Outcome::failure(
                FailureReason::ProtocolError,
                format!("sip answer from {server} is longer than {MAX_ANSWER} bytes"),
            ));
        }
        let n = stream.read(&mut chunk).await.map_err(io)?;
        if n == 0 {
            return Err(Outcome::failure(
                FailureReason::ProtocolError,
                format!("{server} closed the connection without a final answer"),
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// The length of the first whole message in `buf` (headers, blank line, Content-Length body).
fn message_end(buf: &[u8]) -> Option<usize> {
    let head = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let text = String::from_utf8_lossy(&buf[..head]);
    let length = header(&text, &["content-length", "l"])
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(0);
    (buf.len() >= head + length).then_some(head + length)
}

/// A header's value by its names (long and compact form), case-insensitive.
fn header<'a>(text: &'a str, names: &[&str]) -> Option<&'a str> {
    text.lines().skip(1).find_map(|line| {
        let (name, value) = line.split_once(':')?;
        names
            .iter()
            .any(|n| name.trim().eq_ignore_ascii_case(n))
            .then(|| value.trim())
    })
}

/// The status line and Call-ID of an answer.
fn parse(bytes: &[u8], server: SocketAddr) -> Result<Answer, Outcome> {
    let text = String::from_utf8_lossy(bytes);
    let bad = || {
        let first = text.lines().next().unwrap_or_default();
        Outcome::failure(
            FailureReason::ProtocolError,
            format!(
                "{server} answered something that is not SIP: `{}`",
                first.chars().take(80).collect::<String>()
            ),
        )
    };
    let first = text.lines().next().ok_or_else(bad)?;
    let mut parts = first.splitn(3, ' ');
    if parts.next() != Some("SIP/2.0") {
        return Err(bad());
    }
    let status = parts
        .next()
        .and_then(|s| s.parse::<u16>().ok())
        .filter(|s| (100..=699).contains(s))
        .ok_or_else(bad)?;
    Ok(Answer {
        status,
        reason: parts.next().unwrap_or_default().trim().to_string(),
        call_id: header(&text, &["call-id", "i"]).map(str::to_string),
    })
}

/// Success when the status is an expected one.
fn judge(spec: &SipCheck, answer: &Answer, transport: SipTransport, server: SocketAddr) -> Outcome {
    let expected = if spec.expect_status.is_empty() {
        &[200][..]
    } else {
        &spec.expect_status[..]
    };
    if expected.contains(&answer.status) {
        Outcome::success().with_value("sip_reason", Value::Text(answer.reason.clone()))
    } else {
        Outcome::failure(
            FailureReason::SipStatus,
            format!(
                "OPTIONS over {} to {server}: {} {}, expected {expected:?}",
                transport.as_str(),
                answer.status,
                answer.reason
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_split_by_content_length_and_read_by_their_status_line() {
        let server: SocketAddr = "127.0.0.1:5060".parse().unwrap();
        let two = b"SIP/2.0 100 Trying\r\ni: abc\r\nl: 0\r\n\r\nSIP/2.0 200 OK\r\nCall-ID: abc\r\nContent-Length: 4\r\n\r\nbodyNEXT";
        let end = message_end(two).unwrap();
        let a = parse(&two[..end], server).unwrap();
        assert_eq!((a.status, a.call_id.as_deref()), (100, Some("abc")));
        let rest = &two[end..];
        let end = message_end(rest).unwrap();
        assert_eq!(&rest[end..], b"NEXT");
        let b = parse(&rest[..end], server).unwrap();
        assert_eq!((b.status, b.reason.as_str()), (200, "OK"));
        assert_eq!(
            message_end(b"SIP/2.0 200 OK\r\nContent-Length: 9\r\n\r\nshort"),
            None
        );
        let e = parse(b"HTTP/1.1 200 OK\r\n\r\n", server).unwrap_err();
        assert_eq!(e.error, Some(FailureReason::ProtocolError));
    }
}
