//! Benchmark targets: distinct loopback addresses (every 127.x.y.z answers ICMP on Linux) and
//! the agent configuration that probes them.

use std::fmt::Write as _;
use std::net::Ipv4Addr;

/// The `i`-th target address: 127.1.x.y with y in 1..=250, so no address ends in .0 or .255.
pub fn address(i: usize) -> Ipv4Addr {
    let x = i / 250;
    let y = i % 250 + 1;
    assert!(x < 256 * 250, "too many targets");
    Ipv4Addr::new(127, 1 + (x / 256) as u8, (x % 256) as u8, y as u8)
}

/// The first `n` target addresses.
pub fn addresses(n: usize) -> Vec<Ipv4Addr> {
    (0..n).map(address).collect()
}

/// The device id of target `i` in generated configurations.
pub fn device_id(i: usize) -> String {
    format!("t{i}")
}

/// The index of a generated device id.
pub fn device_index(id: &str) -> Option<usize> {
    id.strip_prefix('t')?.parse().ok()
}

/// Which check every generated device gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Icmp,
    Http,
    Tcp,
    /// The switch profile (ifTable/ifXTable walks) against one snmpd: every "target" is one walk
    /// of the same device.
    Snmp,
    /// An A query to one unbound (a local zone): every "target" is one query to it.
    Dns,
    /// SIP OPTIONS over UDP to one kamailio.
    Sip,
    /// A RADIUS PAP Access-Request (Accept) to one FreeRADIUS.
    Radius,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Icmp => "icmp",
            Kind::Http => "http",
            Kind::Tcp => "tcp",
            Kind::Snmp => "snmp",
            Kind::Dns => "dns",
            Kind::Sip => "sip",
            Kind::Radius => "radius",
        }
    }

    /// Whether every target is the same server on `host` (SNMP, DNS, SIP, RADIUS), not a
    /// loopback address of its own.
    pub fn one_server(self) -> bool {
        matches!(self, Kind::Snmp | Kind::Dns | Kind::Sip | Kind::Radius)
    }
}

/// Settings of a generated agent configuration.
#[derive(Debug, Clone)]
pub struct ConfigSpec {
    pub kind: Kind,
    pub targets: usize,
    /// Port of the loopback HTTP or TCP server (unused for ICMP).
    pub port: u16,
    pub concurrency: usize,
    pub interval_ms: u64,
    pub timeout_ms: u64,
    /// ICMP echo requests per probe; `None` leaves the agent's default.
    pub icmp_count: Option<u16>,
    /// The snmpd every SNMP device points at (SNMP only; `port` is its UDP port).
    pub host: Ipv4Addr,
}

/// The SNMP v2c community of the benchmark's snmpd, and the file the agent reads it from
/// (relative to the generated configuration).
pub const SNMP_COMMUNITY: &str = "public";
pub const SNMP_COMMUNITY_FILE: &str = "community";

/// The RADIUS server's shared secret, the test account and its password, and the files the
/// agent reads the secret and password from (relative to the generated configuration).
pub const RADIUS_SECRET: &str = "bench-radius-secret";
pub const RADIUS_USER: &str = "bench";
pub const RADIUS_PASSWORD: &str = "bench-password";
pub const RADIUS_SECRET_FILE: &str = "radius.secret";
pub const RADIUS_PASSWORD_FILE: &str = "radius.password";

/// The DNS zone the benchmark's unbound serves, and the one record asked for.
pub const DNS_ZONE: &str = "bench.test.";
pub const DNS_RECORD: &str = "www.bench.test. IN A 192.0.2.10";

/// The agent YAML for `spec`: one device per target, each with one check.
pub fn agent_yaml(spec: &ConfigSpec) -> String {
    let mut out = format!("agent:\n  id: bench\n  concurrency: {}\n", spec.concurrency);
    if spec.kind == Kind::Snmp {
        let _ = write!(
            out,
            "snmp_credentials:\n  - id: bench\n    version: v2c\n    community: {{ file: {SNMP_COMMUNITY_FILE} }}\n"
        );
    }
    out.push_str("devices:\n");
    let class = match spec.kind {
        Kind::Snmp => "switch",
        Kind::Dns | Kind::Sip | Kind::Radius => "service",
        _ => "screen",
    };
    for i in 0..spec.targets {
        let ip = if spec.kind.one_server() {
            spec.host
        } else {
            address(i)
        };
        let _ = write!(
            out,
            "  - id: {}\n    class: {class}\n    address: {ip}\n    interval: {}ms\n    timeout: {}ms\n    checks:\n",
            device_id(i),
            spec.interval_ms,
            spec.timeout_ms,
        );
        out.push_str(&check_yaml(spec, ip));
    }
    out
}

fn check_yaml(spec: &ConfigSpec, ip: Ipv4Addr) -> String {
    match spec.kind {
        Kind::Icmp => match spec.icmp_count {
            Some(n) => format!("      - kind: icmp\n        count: {n}\n"),
            None => "      - icmp\n".to_string(),
        },
        Kind::Http => format!(
            "      - kind: http\n        url: http://{ip}:{}/\n",
            spec.port
        ),
        Kind::Tcp => format!("      - kind: tcp\n        port: {}\n", spec.port),
        Kind::Snmp => format!(
            "      - kind: snmp\n        credentials: bench\n        port: {}\n        retries: 1\n",
            spec.port
        ),
        Kind::Dns => format!(
            "      - kind: dns\n        query: www.bench.test\n        expect: [192.0.2.10]\n        port: {}\n",
            spec.port
        ),
        Kind::Sip => format!("      - kind: sip\n        port: {}\n", spec.port),
        Kind::Radius => format!(
            "      - kind: radius\n        port: {}\n        user: {RADIUS_USER}\n        secret: {{ file: {RADIUS_SECRET_FILE} }}\n        password: {{ file: {RADIUS_PASSWORD_FILE} }}\n",
            spec.port
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_distinct_loopback() {
        let all = addresses(70_000);
        let set: std::collections::HashSet<_> = all.iter().collect();
        assert_eq!(set.len(), all.len());
        assert!(all.iter().all(|a| a.is_loopback()));
        assert!(all
            .iter()
            .all(|a| a.octets()[3] != 0 && a.octets()[3] != 255));
        assert_eq!(address(0), Ipv4Addr::new(127, 1, 0, 1));
        assert_eq!(device_index(&device_id(42)), Some(42));
    }
}
