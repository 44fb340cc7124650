//! SNMP failures that say what to do: a closed port (the host answers ICMP port unreachable)
//! is `connection_refused`; a port where nothing answers at all is a `timeout` that lists what
//! to check. The wrong-community case (an agent that answers SNMPv3 discovery but ignores our
//! community) is in `snmp_snmpd.rs`, against a real snmpd.

use crate::rig;

use driftvakt_agent::probe::FailureReason;
use rig::{probe, prober_for, sim_config, Lab, SimDevice};
use std::net::UdpSocket;
use std::time::{Duration, Instant};

const TIMEOUT: Duration = Duration::from_millis(1500);

fn switch(port: u16, lab: &Lab) -> driftvakt_agent::config::AgentConfig {
    sim_config(
        lab,
        port,
        &[SimDevice {
            id: "sw",
            class: "switch",
            community: "public",
            extra: &[],
        }],
    )
}

#[tokio::test]
async fn a_closed_port_is_connection_refused() {
    let closed = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let lab = Lab::new();
    let cfg = switch(port, &lab);
    let started = Instant::now();
    let o = probe(&prober_for(&cfg), &cfg, "sw", TIMEOUT).await;
    assert_eq!(o.error, Some(FailureReason::ConnectionRefused), "{o:#?}");
    assert!(started.elapsed() < TIMEOUT + Duration::from_millis(300));
    let detail = o.detail.unwrap();
    assert!(
        detail.contains(&format!("nothing listens on UDP port {port}"))
            && detail.contains("ICMP port unreachable")
            && detail.contains("SNMP is enabled"),
        "{detail}"
    );
}

/// A socket that reads and never answers: a dead agent, a filter that drops, or a v1/v2c agent
/// dropping a wrong community look the same from here.
#[tokio::test]
async fn silence_is_a_timeout_that_lists_what_to_check() {
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let lab = Lab::new();
    let cfg = switch(port, &lab);
    let started = Instant::now();
    let o = probe(&prober_for(&cfg), &cfg, "sw", TIMEOUT).await;
    assert!(started.elapsed() < TIMEOUT + Duration::from_millis(300));
    assert_eq!(o.error, Some(FailureReason::Timeout), "{o:#?}");
    let detail = o.detail.unwrap();
    assert!(
        detail.contains("no ICMP port unreachable either")
            && detail.contains("device is up and reachable")
            && detail.contains(&format!("port ({port}, as configured)"))
            && detail.contains("community")
            && detail.contains("access list"),
        "{detail}"
    );
    assert!(
        !detail.contains("public"),
        "no community in messages: {detail}"
    );
    drop(silent);
}
