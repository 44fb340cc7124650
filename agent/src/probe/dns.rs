//! DNS probe: one query (A, AAAA, SRV, MX) to a named server, the device itself or the host's
//! resolver, over UDP (again over TCP when the answer is truncated). Messages are encoded and
//! decoded by `hickory-proto`; the probe checks the response code, that every expected answer
//! is there and that there are at least `min_answers` records of the type.
//!
//! Values: `dns_response_seconds` (query sent to answer read), `dns_answers` (records of the
//! asked type). Failure reasons: `dns_rcode` (NXDOMAIN, SERVFAIL, REFUSED, ...),
//! `answer_mismatch` (an expected answer missing, or too few), `protocol_error` (an answer
//! that does not decode), and the socket's (`connection_refused`, `timeout`, ...).

use super::{resolve, FailureReason, Outcome, Prober, Target};
use crate::config::{DnsCheck, DnsRecord};
use driftvakt_common::wire::Value;
use hickory_proto::op::{Message, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Where the host's resolvers are listed.
const RESOLV_CONF: &str = "/etc/resolv.conf";

pub struct DnsProber;

impl Prober for DnsProber {
    type Spec = DnsCheck;

    async fn probe(&self, target: &Target<'_>, spec: &DnsCheck, timeout: Duration) -> Outcome {
        let Some(query) = spec.query.as_deref() else {
            return Outcome::failure(FailureReason::ConfigError, "dns check without query");
        };
        let record = spec.record.unwrap_or(DnsRecord::A);
        let server = match server(target, spec).await {
            Ok(s) => s,
            Err(o) => return o,
        };
        let request = match request(query, record) {
            Ok(r) => r,
            Err(o) => return o,
        };
        let started = Instant::now();
        let deadline = started + timeout;
        let reply = match exchange(server, &request, deadline).await {
            Ok(r) => r,
            Err(o) => return o,
        };
        let elapsed = started.elapsed().as_secs_f64();
        judge(&reply, spec, record, server)
            .with_value("dns_response_seconds", Value::Number(elapsed))
    }
}

/// The server to ask: `server:` (an address, or `system`), else the device's address; port
/// `port:` or 53.
async fn server(target: &Target<'_>, spec: &DnsCheck) -> Result<SocketAddr, Outcome> {
    let port = spec.port.unwrap_or(53);
    match spec.server.as_deref() {
        Some("system") => {
            let text = std::fs::read_to_string(RESOLV_CONF).unwrap_or_default();
            system_server(&text).ok_or_else(|| {
                Outcome::failure(
                    FailureReason::ConfigError,
                    format!("server: system, but {RESOLV_CONF} names no nameserver"),
                )
            })
        }
        Some(ip) => ip
            .parse::<IpAddr>()
            .map(|ip| SocketAddr::new(ip, port))
            .map_err(|_| {
                Outcome::failure(
                    FailureReason::ConfigError,
                    format!("dns server `{ip}` is not an IP address"),
                )
            }),
        None => resolve(target).await.map(|ip| SocketAddr::new(ip, port)),
    }
}

/// The first `nameserver` of a resolv.conf text, on port 53.
fn system_server(resolv_conf: &str) -> Option<SocketAddr> {
    resolv_conf.lines().find_map(|line| {
        let mut words = line.split_whitespace();
        (words.next()? == "nameserver")
            .then(|| words.next()?.split('%').next()?.parse::<IpAddr>().ok())
            .flatten()
            .map(|ip| SocketAddr::new(ip, 53))
    })
}

fn record_type(record: DnsRecord) -> RecordType {
    match record {
        DnsRecord::A => RecordType::A,
        DnsRecord::Aaaa => RecordType::AAAA,
        DnsRecord::Srv => RecordType::SRV,
        DnsRecord::Mx => RecordType::MX,
    }
}

/// The query as a message with recursion desired.
fn request(query: &str, record: DnsRecord) -> Result<Message, Outcome> {
    let name = Name::from_ascii(query)
        .map(|mut n| {
            n.set_fqdn(true);
            n
        })
        .map_err(|e| {
            Outcome::failure(FailureReason::ConfigError, format!("query `{query}`: {e}"))
        })?;
    let mut message = Message::query();
    message.metadata.recursion_desired = true;
    message.add_query(Query::query(name, record_type(record)));
    Ok(message)
}

/// Sends `request` over UDP and reads the reply with its id; over TCP when that is truncated.
async fn exchange(
    server: SocketAddr,
    request: &Message,
    deadline: Instant,
) -> Result<Message, Outcome> {
    let bytes = request.to_vec().map_err(|e| {
        Outcome::failure(
            FailureReason::AgentError,
            format!("cannot encode the query: {e}"),
        )
    })?;
    let id = request.metadata.id;
    let within = |what: &str| {
        Outcome::failure(
            FailureReason::Timeout,
            format!("{what} {server}: no answer within the timeout"),
        )
    };
    let reply = tokio::time::timeout_at(deadline.into(), udp(server, &bytes, id))
        .await
        .map_err(|_| within("dns over udp to"))??;
    if !reply.metadata.truncation {
        return Ok(reply);
    }
    tokio::time::timeout_at(deadline.into(), tcp(server, &bytes, id))
        .await
        .map_err(|_| within("dns over tcp to"))?
}

fn io_failure(what: &str, server: SocketAddr, e: &std::io::Error) -> Outcome {
    Outcome::failure(FailureReason::from_io(e), format!("{what} {server}: {e}"))
}

fn decode(bytes: &[u8], server: SocketAddr) -> Result<Message, Outcome> {
    Message::from_vec(bytes).map_err(|e| {
        Outcome::failure(
            FailureReason::ProtocolError,
            format!("answer from {server} does not decode: {e}"),
        )
    })
}

async fn udp(server: SocketAddr, bytes: &[u8], id: u16) -> Result<Message, Outcome> {
    let local: SocketAddr = match server {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let io = |e: std::io::Error| io_failure("dns over udp to", server, &e);
    let socket = tokio::net::UdpSocket::bind(local).await.map_err(io)?;
    socket.connect(server).await.map_err(io)?;
    socket.send(bytes).await.map_err(io)?;
    let mut buf = vec![0u8; 4096];
    loop {
        let n = socket.recv(&mut buf).await.map_err(io)?;
        // A late answer to someone else's query on a reused port is not ours.
        if n >= 2 && u16::from_be_bytes([buf[0], buf[1]]) == id {
            return decode(&buf[..n], server);
        }
    }
}

async fn tcp(server: SocketAddr, bytes: &[u8], id: u16) -> Result<Message, Outcome> {
    let io = |e: std::io::Error| io_failure("dns over tcp to", server, &e);
    let mut stream = tokio::net::TcpStream::connect(server).await.map_err(io)?;
    let mut framed = (bytes.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(bytes);
    stream.write_all(&framed).await.map_err(io)?;
    let len = stream.read_u16().await.map_err(io)?;
    let mut buf = vec![0u8; usize::from(len)];
    stream.read_exact(&mut buf).await.map_err(io)?;
    let reply = decode(&buf, server)?;
    if reply.metadata.id != id {
        return Err(Outcome::failure(
            FailureReason::ProtocolError,
            format!("answer from {server} carries another query's id"),
        ));
    }
    Ok(reply)
}

/// The reply's records of the asked type, as text: `192.0.2.1`, `10 mx1.kommun.se`,
/// `0 100 389 dc1.kommun.local` (names lower case, without the final dot).
fn answers(reply: &Message, record: DnsRecord) -> Vec<String> {
    let name = |n: &Name| n.to_ascii().trim_end_matches('.').to_ascii_lowercase();
    reply
        .answers
        .iter()
        .filter_map(|r| match (&r.data, record) {
            (RData::A(a), DnsRecord::A) => Some(a.0.to_string()),
            (RData::AAAA(a), DnsRecord::Aaaa) => Some(a.0.to_string()),
            (RData::MX(mx), DnsRecord::Mx) => {
                Some(format!("{} {}", mx.preference, name(&mx.exchange)))
            }
            (RData::SRV(s), DnsRecord::Srv) => Some(format!(
                "{} {} {} {}",
                s.priority,
                s.weight,
                s.port,
                name(&s.target)
            )),
            _ => None,
        })
        .collect()
}

/// An expected answer as the answers are written: addresses in their canonical form, names
/// lower case without the final dot, single spaces.
fn normalise(expected: &str) -> String {
    if let Ok(ip) = expected.trim().parse::<IpAddr>() {
        return ip.to_string();
    }
    expected
        .split_whitespace()
        .map(|w| w.trim_end_matches('.').to_ascii_lowercase())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether `expected` is `answer`, or (SRV, MX) the host name it points at.
fn matches(answer: &str, expected: &str) -> bool {
    answer == expected || answer.rsplit(' ').next() == Some(expected)
}

/// Success, or why the reply is not what the check expects.
fn judge(reply: &Message, spec: &DnsCheck, record: DnsRecord, server: SocketAddr) -> Outcome {
    let code = reply.metadata.response_code;
    if code != ResponseCode::NoError {
        let name = format!("{code:?}").to_uppercase();
        let mut o = Outcome::failure(
            FailureReason::DnsRcode,
            format!(
                "{server} answered {name} ({code}) for {} {}",
                record.as_str(),
                query_name(spec)
            ),
        );
        o.values.insert("dns_rcode".into(), Value::Text(name));
        return o;
    }
    let found = answers(reply, record);
    let missing: Vec<&str> = spec
        .expect
        .iter()
        .filter(|e| !found.iter().any(|a| matches(a, &normalise(e))))
        .map(String::as_str)
        .collect();
    let min = spec.min_answers.unwrap_or(1) as usize;
    let count = found.len() as f64;
    let outcome = if !missing.is_empty() {
        Outcome::failure(
            FailureReason::AnswerMismatch,
            format!(
                "{} {} from {server}: expected {} missing; the answer has [{}]",
                record.as_str(),
                query_name(spec),
                missing.join(", "),
                found.join(", ")
            ),
        )
    } else if found.len() < min {
        Outcome::failure(
            FailureReason::AnswerMismatch,
            format!(
                "{} {} from {server}: {} records, expected at least {min}",
                record.as_str(),
                query_name(spec),
                found.len()
            ),
        )
    } else {
        Outcome::success()
    };
    outcome.with_value("dns_answers", Value::Number(count))
}

fn query_name(spec: &DnsCheck) -> &str {
    spec.query.as_deref().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_system_server_is_the_first_nameserver_line() {
        let conf =
            "# made by hand\nsearch kommun.local\nnameserver fe80::1%eth0\nnameserver 10.0.0.53\n";
        assert_eq!(system_server(conf), Some("[fe80::1]:53".parse().unwrap()));
        assert_eq!(
            system_server("options edns0\nnameserver 192.0.2.53\n"),
            Some("192.0.2.53:53".parse().unwrap())
        );
        assert_eq!(system_server("search x\n"), None);
    }

    #[test]
    fn expected_answers_match_whole_records_or_their_host() {
        assert_eq!(normalise(" 10  MX1.Kommun.se. "), "10 mx1.kommun.se");
        assert_eq!(normalise("2001:DB8::0:1"), "2001:db8::1");
        assert!(matches("0 100 389 dc1.kommun.local", "dc1.kommun.local"));
        assert!(matches(
            "0 100 389 dc1.kommun.local",
            "0 100 389 dc1.kommun.local"
        ));
        assert!(!matches("0 100 389 dc1.kommun.local", "dc2.kommun.local"));
        assert!(matches("192.0.2.1", "192.0.2.1"));
    }
}
