//! Why an SNMP agent did not answer: one SNMPv3 engine-discovery request from a connected
//! socket of its own, sent only after a probe timed out.
//!
//! - The host answers with ICMP port unreachable: the connected socket reports
//!   `ECONNREFUSED`, so nothing listens on that port ([`Silence::Refused`]).
//! - An SNMP agent answers the discovery (any SNMPv3 agent does, with a Report, whatever the
//!   credentials): it is alive but ignored our request, so the community or v3 user, the
//!   context or the device's access list is wrong ([`Silence::IgnoresUs`]).
//! - Nothing at all: the host is down or unreachable, the port is wrong or filtered, or a
//!   v1/v2c-only agent drops a wrong community silently ([`Silence::Nothing`]).
//!
//! The discovery request carries no credentials (empty user, noAuthNoPriv), so it reveals
//! nothing to the device.

use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::UdpSocket;

/// What the follow-up request found out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Silence {
    /// ICMP port unreachable: nothing listens on the port.
    Refused,
    /// An SNMP agent answers, but not to our credentials.
    IgnoresUs,
    /// No answer of any kind.
    Nothing,
}

/// Sends one engine-discovery request to `peer` and waits up to `wait` for any answer.
pub async fn diagnose(peer: SocketAddr, wait: Duration) -> Silence {
    let local: SocketAddr = if peer.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let Ok(socket) = UdpSocket::bind(local).await else {
        return Silence::Nothing;
    };
    if socket.connect(peer).await.is_err() {
        return Silence::Nothing;
    }
    if let Err(e) = socket.send(&discovery_request(peer_id(peer))).await {
        return classify(&e);
    }
    let mut buf = [0u8; 1500];
    match tokio::time::timeout(wait, socket.recv(&mut buf)).await {
        Ok(Ok(n)) if n > 0 => Silence::IgnoresUs,
        Ok(Ok(_)) | Err(_) => Silence::Nothing,
        Ok(Err(e)) => classify(&e),
    }
}

fn classify(e: &std::io::Error) -> Silence {
    if e.kind() == std::io::ErrorKind::ConnectionRefused {
        Silence::Refused
    } else {
        Silence::Nothing
    }
}

/// A message and request id that differ per target (the agent echoes them; nothing relies on it).
fn peer_id(peer: SocketAddr) -> u32 {
    let h = driftvakt_common::hash::fnv1a_64(peer.to_string().as_bytes());
    (h as u32) & 0x7fff_ffff
}

/// SNMPv3 GET with no varbinds, empty engine id and user, reportable: RFC 3414's discovery.
pub fn discovery_request(id: u32) -> Vec<u8> {
    let int32 = |v: u32| tlv(0x02, &minimal(v));
    let mut global = int32(id);
    global.extend(tlv(0x02, &[0x00, 0xff, 0xe3])); // msgMaxSize 65507
    global.extend(tlv(0x04, &[0x04])); // msgFlags: reportable, noAuthNoPriv
    global.extend(tlv(0x02, &[0x03])); // msgSecurityModel: USM
    let mut usm = tlv(0x04, &[]); // msgAuthoritativeEngineID
    usm.extend(tlv(0x02, &[0x00])); // boots
    usm.extend(tlv(0x02, &[0x00])); // time
    for _ in 0..3 {
        usm.extend(tlv(0x04, &[])); // user name, auth params, priv params
    }
    let mut pdu = int32(id);
    pdu.extend(tlv(0x02, &[0x00])); // error-status
    pdu.extend(tlv(0x02, &[0x00])); // error-index
    pdu.extend(tlv(0x30, &[])); // no varbinds
    let mut scoped = tlv(0x04, &[]); // contextEngineID
    scoped.extend(tlv(0x04, &[])); // contextName
    scoped.extend(tlv(0xa0, &pdu));
    let mut msg = tlv(0x02, &[0x03]); // msgVersion 3
    msg.extend(tlv(0x30, &global));
    msg.extend(tlv(0x04, &tlv(0x30, &usm)));
    msg.extend(tlv(0x30, &scoped));
    tlv(0x30, &msg)
}

/// A non-negative INTEGER's content octets, minimal as BER requires (leading zero octets
/// dropped while the next octet's top bit is clear).
fn minimal(v: u32) -> Vec<u8> {
    let bytes = v.to_be_bytes();
    let mut start = 0;
    while start < 3 && bytes[start] == 0 && bytes[start + 1] & 0x80 == 0 {
        start += 1;
    }
    bytes[start..].to_vec()
}

/// BER tag-length-value with a short-form length (everything here is under 128 octets).
fn tlv(tag: u8, body: &[u8]) -> Vec<u8> {
    debug_assert!(body.len() < 128);
    let mut v = Vec::with_capacity(body.len() + 2);
    v.push(tag);
    v.push(body.len() as u8);
    v.extend_from_slice(body);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovery_request_is_well_formed_ber() {
        let m = discovery_request(0x0102_0304);
        assert_eq!(m[0], 0x30);
        assert_eq!(usize::from(m[1]), m.len() - 2);
        // version 3, then the global data with our msgID.
        assert_eq!(&m[2..5], &[0x02, 0x01, 0x03]);
        assert_eq!(&m[5..13], &[0x30, 17, 0x02, 0x04, 1, 2, 3, 4]);
        assert_eq!(minimal(5), [5]);
        assert_eq!(minimal(0x80), [0, 0x80]);
        assert_eq!(minimal(0x0100), [1, 0]);
    }

    #[tokio::test]
    async fn a_closed_port_is_refused_and_a_silent_one_is_nothing() {
        let closed = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = closed.local_addr().unwrap();
        drop(closed);
        assert_eq!(
            diagnose(addr, Duration::from_millis(300)).await,
            Silence::Refused
        );
        let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = silent.local_addr().unwrap();
        assert_eq!(
            diagnose(addr, Duration::from_millis(200)).await,
            Silence::Nothing
        );
    }
}
