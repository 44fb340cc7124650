//! Malformed datagrams (fixed seed) never take the receiver down: random bytes, and a valid
//! v1, v2c and v3 notification cut, flipped and stretched; afterwards a valid trap is still
//! handled.

use crate::agent::{Agent, COMMUNITY};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::net::UdpSocket;

const SEED: u64 = 31;
const DATAGRAMS: usize = 5_000;

fn tlv(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vec![tag];
    match body.len() {
        n if n < 128 => v.push(n as u8),
        n if n < 256 => v.extend([0x81, n as u8]),
        n => v.extend([0x82, (n >> 8) as u8, n as u8]),
    }
    v.extend_from_slice(body);
    v
}

fn int(n: u32) -> Vec<u8> {
    tlv(0x02, &n.to_be_bytes())
}

fn oid(arcs: &[u32]) -> Vec<u8> {
    let mut body = vec![(arcs[0] * 40 + arcs[1]) as u8];
    for &a in &arcs[2..] {
        let mut chunk = vec![(a & 0x7f) as u8];
        let mut rest = a >> 7;
        while rest > 0 {
            chunk.push(0x80 | (rest & 0x7f) as u8);
            rest >>= 7;
        }
        chunk.reverse();
        body.extend(chunk);
    }
    tlv(0x06, &body)
}

const UNKNOWN: [u32; 9] = [1, 3, 6, 1, 4, 1, 99999, 0, 1];

/// A v2c trap (sysUpTime, snmpTrapOID) as a sender writes it.
fn v2c_trap(trap_oid: &[u32]) -> Vec<u8> {
    let uptime = [oid(&[1, 3, 6, 1, 2, 1, 1, 3, 0]), tlv(0x43, &[1, 2, 3])].concat();
    let trap = [oid(&[1, 3, 6, 1, 6, 3, 1, 1, 4, 1, 0]), oid(trap_oid)].concat();
    let list = tlv(0x30, &[tlv(0x30, &uptime), tlv(0x30, &trap)].concat());
    let pdu = tlv(0xa7, &[int(7), int(0), int(0), list].concat());
    tlv(
        0x30,
        &[int(1), tlv(0x04, COMMUNITY.as_bytes()), pdu].concat(),
    )
}

/// A v1 trap (enterprise, agent address, generic, specific, timestamp, no varbinds).
fn v1_trap() -> Vec<u8> {
    let body = [
        oid(&[1, 3, 6, 1, 4, 1, 99999]),
        tlv(0x40, &[127, 0, 0, 1]),
        int(6),
        int(1),
        tlv(0x43, &[9]),
        tlv(0x30, &[]),
    ]
    .concat();
    tlv(
        0x30,
        &[int(0), tlv(0x04, COMMUNITY.as_bytes()), tlv(0xa4, &body)].concat(),
    )
}

/// A v3 message header with an unknown user (noAuthNoPriv) around a scoped v2 trap.
fn v3_trap() -> Vec<u8> {
    let global = tlv(0x30, &[int(5), int(1400), tlv(0x04, &[0]), int(3)].concat());
    let usm = tlv(
        0x30,
        &[
            tlv(0x04, &[0x80, 0, 0x1f, 0x88, 4, b'x']),
            int(1),
            int(1),
            tlv(0x04, b"nobody"),
            tlv(0x04, &[]),
            tlv(0x04, &[]),
        ]
        .concat(),
    );
    let inner = v2c_trap(&UNKNOWN);
    let pdu_at = inner.iter().rposition(|b| *b == 0xa7).unwrap_or(0);
    let scoped = tlv(
        0x30,
        &[tlv(0x04, &[]), tlv(0x04, &[]), inner[pdu_at..].to_vec()].concat(),
    );
    tlv(0x30, &[int(3), global, tlv(0x04, &usm), scoped].concat())
}

fn mutate(rng: &mut StdRng, base: &[u8]) -> Vec<u8> {
    let mut p = base.to_vec();
    match rng.random_range(0..5) {
        0 => p.truncate(rng.random_range(0..p.len())),
        1 => {
            for _ in 0..rng.random_range(1..6) {
                let i = rng.random_range(0..p.len());
                p[i] ^= 1 << rng.random_range(0..8);
            }
        }
        2 => {
            let i = rng.random_range(0..p.len());
            p[i] = [0x00, 0x7f, 0x80, 0x81, 0x84, 0xff][rng.random_range(0..6)];
        }
        3 => {
            let i = rng.random_range(0..p.len());
            let junk: Vec<u8> = (0..rng.random_range(1..40)).map(|_| rng.random()).collect();
            p.splice(i..i, junk);
        }
        _ => p.extend((0..rng.random_range(1..200)).map(|_| rng.random::<u8>())),
    }
    p
}

#[test]
fn malformed_datagrams_never_take_the_receiver_down() {
    // A device without a reachable SNMP agent: its traps are counted unconfirmed.
    let device = "  - id: dev\n    class: switch\n    address: 127.0.0.1\n    interval: 1h\n    \
                  checks:\n      - kind: snmp\n        port: 9\n        credentials: sim\n        \
                  timeout: 200ms\n";
    let agent = Agent::start("none", device, "    flood_limit: 10000\n");
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let to = ("127.0.0.1", agent.trap_port);
    let bases = [v2c_trap(&UNKNOWN), v1_trap(), v3_trap()];
    let mut rng = StdRng::seed_from_u64(SEED);
    for n in 0..DATAGRAMS {
        let packet = if rng.random_bool(0.2) {
            let len = rng.random_range(0..600);
            (0..len).map(|_| rng.random()).collect()
        } else {
            let base = &bases[rng.random_range(0..bases.len())];
            mutate(&mut rng, base)
        };
        socket.send_to(&packet, to).expect("send");
        if n % 500 == 0 {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
    // Some mutations are still valid (a v1 generic trap flipped to coldStart): let their
    // polls end, then a valid linkDown from the device is still handled (unconfirmed: no
    // SNMP agent answers for it).
    let settled = settle(&agent);
    assert!(
        agent.traps("unknown_oid") >= 1,
        "the packets mutated into valid ones were counted"
    );
    socket
        .send_to(&v2c_trap(&[1, 3, 6, 1, 6, 3, 1, 1, 5, 3]), to)
        .expect("send");
    agent.wait_count("unconfirmed", settled + 1);
}

/// Waits until the unconfirmed count stays the same for 2 s; returns it.
fn settle(agent: &Agent) -> u64 {
    let mut last = agent.traps("unconfirmed");
    for _ in 0..30 {
        std::thread::sleep(std::time::Duration::from_secs(2));
        let now = agent.traps("unconfirmed");
        if now == last {
            return now;
        }
        last = now;
    }
    panic!("the count did not settle: {}", agent.metrics());
}
