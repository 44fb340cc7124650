//! RADIUS probe: an Access-Request for a test account (PAP) to the server behind the wireless
//! network, Access-Accept expected. A small RFC 2865 codec: User-Name, User-Password hidden with
//! the shared secret (RFC 2865 5.2), NAS-Identifier, and Message-Authenticator (RFC 3579 3.2,
//! HMAC-MD5); the answer's Response Authenticator and Message-Authenticator are checked, so an
//! answer made with another secret is not taken for an Accept. The shared secret and the
//! password are read from their files (or variables) at each probe, so a changed one is used at
//! once.
//!
//! Values: `radius_response_seconds`, `radius_code` (2 Accept, 3 Reject, 11 Challenge).
//! Failure reasons: `auth_failed` (Access-Reject: wrong account or password; the server's
//! Reply-Message in the detail), `protocol_error` (an answer that fails its authenticators, i.e.
//! another shared secret, or is malformed), `timeout` (a server drops requests whose
//! Message-Authenticator does not verify, so a wrong shared secret shows as no answer; the detail
//! says so), and the socket's (`connection_refused` when nothing listens).

use super::{resolve, FailureReason, Outcome, Prober, Target};
use crate::config::RadiusCheck;
use driftvakt_common::schema::Secret;
use driftvakt_common::wire::Value;
use hmac::{KeyInit, Mac};
use md5::{Digest, Md5};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::time::{Duration, Instant};

const ACCESS_REQUEST: u8 = 1;
const ACCESS_ACCEPT: u8 = 2;
const ACCESS_REJECT: u8 = 3;
const ACCESS_CHALLENGE: u8 = 11;
const USER_NAME: u8 = 1;
const USER_PASSWORD: u8 = 2;
const REPLY_MESSAGE: u8 = 18;
const NAS_IDENTIFIER: u8 = 32;
const MESSAGE_AUTHENTICATOR: u8 = 80;
/// Header: code, identifier, length, authenticator.
const HEADER: usize = 20;

type HmacMd5 = hmac::Hmac<Md5>;

pub struct RadiusProber {
    /// The folder relative secret files are read from.
    base: PathBuf,
}

impl RadiusProber {
    pub fn new(base: PathBuf) -> RadiusProber {
        RadiusProber { base }
    }

    fn secret(
        &self,
        what: &str,
        r: Option<&driftvakt_common::schema::SecretRef>,
    ) -> Result<Secret, Outcome> {
        let r = r.ok_or_else(|| {
            Outcome::failure(
                FailureReason::ConfigError,
                format!("radius check without {what}"),
            )
        })?;
        r.resolve(&self.base).map_err(|e| {
            Outcome::failure(FailureReason::ConfigError, format!("radius {what}: {e}"))
        })
    }
}

impl Prober for RadiusProber {
    type Spec = RadiusCheck;

    async fn probe(&self, target: &Target<'_>, spec: &RadiusCheck, timeout: Duration) -> Outcome {
        let (secret, password) = match (
            self.secret("secret", spec.secret.as_ref()),
            self.secret("password", spec.password.as_ref()),
        ) {
            (Ok(s), Ok(p)) => (s, p),
            (Err(o), _) | (_, Err(o)) => return o,
        };
        let Some(user) = spec.user.as_deref() else {
            return Outcome::failure(FailureReason::ConfigError, "radius check without user");
        };
        let ip = match resolve(target).await {
            Ok(ip) => ip,
            Err(o) => return o,
        };
        let server = SocketAddr::new(ip, spec.port.unwrap_or(1812));
        let nas = spec.nas_identifier.as_deref().unwrap_or("driftvakt");
        let request = match Request::access(user, password.expose(), nas, secret.expose()) {
            Ok(r) => r,
            Err(o) => return o,
        };
        let started = Instant::now();
        let answer = match tokio::time::timeout(timeout, send(server, &request)).await {
            Ok(Ok(a)) => a,
            Ok(Err(o)) => return o,
            Err(_) => {
                return Outcome::failure(
                    FailureReason::Timeout,
                    format!(
                        "radius to {server}: no answer within {timeout:?} (a server drops requests \
                         whose shared secret is wrong, or from a client it does not know)"
                    ),
                )
            }
        };
        let elapsed = started.elapsed().as_secs_f64();
        judge(&request, &answer, secret.expose(), user, server)
            .with_value("radius_response_seconds", Value::Number(elapsed))
    }
}

/// Sends the request (again once after a second without answer) and reads the answer with its
/// identifier.
async fn send(server: SocketAddr, request: &Request) -> Result<Vec<u8>, Outcome> {
    let io = |e: std::io::Error| {
        Outcome::failure(
            FailureReason::from_io(&e),
            format!("radius to {server}: {e}"),
        )
    };
    let local: SocketAddr = match server {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = tokio::net::UdpSocket::bind(local).await.map_err(io)?;
    socket.connect(server).await.map_err(io)?;
    let mut buf = vec![0u8; 4096];
    loop {
        socket.send(&request.bytes).await.map_err(io)?;
        let wait = tokio::time::timeout(Duration::from_secs(1), async {
            loop {
                let n = socket.recv(&mut buf).await?;
                if n >= HEADER && buf[1] == request.bytes[1] {
                    return Ok::<usize, std::io::Error>(n);
                }
            }
        });
        match wait.await {
            Ok(Ok(n)) => return Ok(buf[..n].to_vec()),
            Ok(Err(e)) => return Err(io(e)),
            Err(_) => continue,
        }
    }
}

/// An Access-Request as sent.
struct Request {
    bytes: Vec<u8>,
}

impl Request {
    fn access(user: &str, password: &str, nas: &str, secret: &str) -> Result<Request, Outcome> {
        if password.len() > 128 {
            return Err(Outcome::failure(
                FailureReason::ConfigError,
                "radius password is longer than PAP's 128 bytes",
            ));
        }
        let authenticator: [u8; 16] = rand::random();
        let mut bytes = vec![ACCESS_REQUEST, rand::random::<u8>(), 0, 0];
        bytes.extend_from_slice(&authenticator);
        attribute(&mut bytes, USER_NAME, user.as_bytes());
        attribute(
            &mut bytes,
            USER_PASSWORD,
            &hide(password.as_bytes(), secret.as_bytes(), &authenticator),
        );
        attribute(&mut bytes, NAS_IDENTIFIER, nas.as_bytes());
        let at = bytes.len() + 2;
        attribute(&mut bytes, MESSAGE_AUTHENTICATOR, &[0; 16]);
        let len = bytes.len() as u16;
        bytes[2..4].copy_from_slice(&len.to_be_bytes());
        let mac = hmac_md5(secret.as_bytes(), &bytes);
        bytes[at..at + 16].copy_from_slice(&mac);
        Ok(Request { bytes })
    }

    fn authenticator(&self) -> &[u8] {
        &self.bytes[4..HEADER]
    }
}

fn attribute(out: &mut Vec<u8>, kind: u8, value: &[u8]) {
    out.push(kind);
    out.push((value.len() + 2) as u8);
    out.extend_from_slice(value);
}

/// User-Password hidden as RFC 2865 5.2 says: padded to 16 bytes, each block XORed with
/// MD5(secret + the previous block, the authenticator first).
fn hide(password: &[u8], secret: &[u8], authenticator: &[u8; 16]) -> Vec<u8> {
    let mut padded = password.to_vec();
    let len = padded.len().max(1).div_ceil(16) * 16;
    padded.resize(len, 0);
    let mut out = Vec::with_capacity(len);
    let mut previous = authenticator.to_vec();
    for block in padded.chunks(16) {
        let b = Md5::new()
            .chain_update(secret)
            .chain_update(&previous)
            .finalize();
        let c: Vec<u8> = block.iter().zip(b.iter()).map(|(p, b)| p ^ b).collect();
        out.extend_from_slice(&c);
        previous = c;
    }
    out
}

fn hmac_md5(key: &[u8], data: &[u8]) -> [u8; 16] {
    let mut mac = HmacMd5::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// The attributes of a packet: (type, value), or `None` when their lengths do not add up.
fn attributes(packet: &[u8]) -> Option<Vec<(u8, usize, &[u8])>> {
    let mut out = Vec::new();
    let mut at = HEADER;
    while at < packet.len() {
        let kind = *packet.get(at)?;
        let len = usize::from(*packet.get(at + 1)?);
        if len < 2 || at + len > packet.len() {
            return None;
        }
        out.push((kind, at + 2, &packet[at + 2..at + len]));
        at += len;
    }
    Some(out)
}

/// Checks the answer's authenticators and code.
fn judge(
    request: &Request,
    answer: &[u8],
    secret: &str,
    user: &str,
    server: SocketAddr,
) -> Outcome {
    let bad = |why: &str| {
        Outcome::failure(
            FailureReason::ProtocolError,
            format!("radius answer from {server}: {why}"),
        )
    };
    let len = usize::from(u16::from_be_bytes([answer[2], answer[3]]));
    if len < HEADER || len > answer.len() {
        return bad("its length field does not match the packet");
    }
    let answer = &answer[..len];
    let Some(attrs) = attributes(answer) else {
        return bad("its attributes are malformed");
    };
    let expected = Md5::new()
        .chain_update(&answer[..4])
        .chain_update(request.authenticator())
        .chain_update(&answer[HEADER..])
        .chain_update(secret.as_bytes())
        .finalize();
    if expected.as_slice() != &answer[4..HEADER] {
        return bad("its Response Authenticator does not verify (the server has another shared secret for this client)");
    }
    if let Some((_, at, value)) = attrs.iter().find(|(k, _, _)| *k == MESSAGE_AUTHENTICATOR) {
        let mut copy = answer.to_vec();
        copy[4..HEADER].copy_from_slice(request.authenticator());
        copy[*at..*at + 16].fill(0);
        if value.len() != 16 || hmac_md5(secret.as_bytes(), &copy) != **value {
            return bad("its Message-Authenticator does not verify");
        }
    }
    let reply: Vec<String> = attrs
        .iter()
        .filter(|(k, _, _)| *k == REPLY_MESSAGE)
        .map(|(_, _, v)| String::from_utf8_lossy(v).into_owned())
        .collect();
    let code = answer[0];
    let said = if reply.is_empty() {
        String::new()
    } else {
        format!(": {}", reply.join(" "))
    };
    let out = match code {
        ACCESS_ACCEPT => Outcome::success(),
        ACCESS_REJECT => Outcome::failure(
            FailureReason::AuthFailed,
            format!("{server} rejected `{user}` (Access-Reject){said}"),
        ),
        ACCESS_CHALLENGE => Outcome::failure(
            FailureReason::AuthFailed,
            format!(
                "{server} challenged `{user}` (Access-Challenge: PAP alone is not accepted){said}"
            ),
        ),
        other => {
            return bad(&format!(
                "code {other} is not an answer to an Access-Request"
            ))
        }
    };
    out.with_value("radius_code", Value::Number(f64::from(code)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 2865 7.1's example: user `nemo`, password `arctangent`, secret `xyzzy5461`.
    #[test]
    fn the_password_is_hidden_as_in_rfc_2865s_example() {
        let authenticator = [
            0x0f, 0x40, 0x3f, 0x94, 0x73, 0x97, 0x80, 0x57, 0xbd, 0x83, 0xd5, 0xcb, 0x98, 0xf4,
            0x22, 0x7a,
        ];
        let hidden = hide(b"arctangent", b"xyzzy5461", &authenticator);
        assert_eq!(
            hidden,
            [
                0x0d, 0xbe, 0x70, 0x8d, 0x93, 0xd4, 0x13, 0xce, 0x31, 0x96, 0xe4, 0x3f, 0x78, 0x2a,
                0x0a, 0xee
            ]
        );
    }

    #[test]
    fn an_answer_made_with_another_secret_is_not_an_accept() {
        let request = Request::access("nemo", "arctangent", "driftvakt", "right").unwrap();
        let server: SocketAddr = "127.0.0.1:1812".parse().unwrap();
        let answer = |secret: &str, code: u8| {
            let mut a = vec![code, request.bytes[1], 0, HEADER as u8];
            a.extend_from_slice(request.authenticator());
            let sum = Md5::new().chain_update(&a).chain_update(secret).finalize();
            a[4..HEADER].copy_from_slice(&sum);
            a
        };
        assert!(
            judge(
                &request,
                &answer("right", ACCESS_ACCEPT),
                "right",
                "nemo",
                server
            )
            .ok
        );
        let wrong = judge(
            &request,
            &answer("wrong", ACCESS_ACCEPT),
            "right",
            "nemo",
            server,
        );
        assert_eq!(wrong.error, Some(FailureReason::ProtocolError));
        let reject = judge(
            &request,
            &answer("right", ACCESS_REJECT),
            "right",
            "nemo",
            server,
        );
        assert_eq!(reject.error, Some(FailureReason::AuthFailed));
    }
}
