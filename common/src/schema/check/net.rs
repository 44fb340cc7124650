//! The settings of the `dns`, `sip` and `radius` checks: a name lookup against a named server,
//! SIP OPTIONS to the switchboard, and a RADIUS login for a test account (the wireless
//! network's). What each needs is checked at load by `validate`.

use crate::config::Duration;
use crate::schema::secret::SecretRef;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

check_struct!(
    /// DNS query (A, AAAA, SRV, MX) against a named server or the host's: expected answers or
    /// a minimum count, and the response time.
    DnsCheck {
        /// The name to look up, e.g. `_ldap._tcp.dc._msdcs.kommun.local` (required).
        query: Option<String>,
        /// Record type: `A` (default), `AAAA`, `SRV`, `MX`.
        record: Option<DnsRecord>,
        /// The server asked: `system` (the first `nameserver` of `/etc/resolv.conf`), or an IP
        /// address; default the device's address.
        server: Option<String>,
        /// The server's port (default 53).
        port: Option<u16>,
        /// Answers that must all be in the reply: an address (A, AAAA), a host name (the
        /// target of SRV and MX) or the whole record as `dig` shows it (`10 mx1.kommun.se`,
        /// `0 100 389 dc1.kommun.local`).
        expect: Vec<String>,
        /// The reply must hold at least this many records of the type (default 1).
        min_answers: Option<u32>,
    }
);

/// The record types a `dns` check asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum DnsRecord {
    #[serde(rename = "A")]
    A,
    #[serde(rename = "AAAA")]
    Aaaa,
    #[serde(rename = "SRV")]
    Srv,
    #[serde(rename = "MX")]
    Mx,
}

impl DnsRecord {
    /// The name in the config and in results.
    pub fn as_str(self) -> &'static str {
        match self {
            DnsRecord::A => "A",
            DnsRecord::Aaaa => "AAAA",
            DnsRecord::Srv => "SRV",
            DnsRecord::Mx => "MX",
        }
    }
}

check_struct!(
    /// SIP OPTIONS over UDP, TCP or TLS: the switchboard must answer 200 (or a listed status).
    SipCheck {
        /// `udp` (default), `tcp` or `tls`.
        transport: Option<SipTransport>,
        /// Port (default 5060; 5061 for `tls`).
        port: Option<u16>,
        /// Request-URI (default `sip:ADDRESS`, `sips:ADDRESS` over TLS).
        uri: Option<String>,
        /// Accepted status codes (default 200).
        expect_status: Vec<u16>,
        /// TLS: PEM file with extra CA certificates.
        ca_file: Option<PathBuf>,
        /// TLS: the name the certificate must carry (default the device's address).
        server_name: Option<String>,
        /// TLS: days of certificate validity under which the device is degraded (default 14).
        cert_min_days: Option<u32>,
    }
);

/// How a `sip` check reaches the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SipTransport {
    #[default]
    Udp,
    Tcp,
    Tls,
}

impl SipTransport {
    /// The name in the config, the Via header and results (`UDP`, `TCP`, `TLS`).
    pub fn as_str(self) -> &'static str {
        match self {
            SipTransport::Udp => "UDP",
            SipTransport::Tcp => "TCP",
            SipTransport::Tls => "TLS",
        }
    }
}

check_struct!(
    /// RADIUS Access-Request (PAP, with Message-Authenticator) for a test account: Access-Accept
    /// expected.
    RadiusCheck {
        /// UDP port (default 1812).
        port: Option<u16>,
        /// The shared secret of this client: `{ file: PATH }` or `{ env: NAME }` (required).
        secret: Option<SecretRef>,
        /// The test account's user name (required).
        user: Option<String>,
        /// The test account's password: `{ file: PATH }` or `{ env: NAME }` (required).
        password: Option<SecretRef>,
        /// NAS-Identifier sent with the request (default `driftvakt`).
        nas_identifier: Option<String>,
    }
);

/// What a `dns` check needs beyond its types: a name, a server that is `system` or an address,
/// expected addresses that parse as the record type's.
pub fn validate_dns(d: &DnsCheck) -> Result<(), String> {
    let Some(query) = d.query.as_deref() else {
        return Err("dns check needs `query:` (the name to look up)".into());
    };
    if query.is_empty() || query.len() > 253 || query.split('.').any(|l| l.len() > 63) {
        return Err(format!("dns check query `{query}` is not a domain name"));
    }
    if let Some(server) = d.server.as_deref() {
        if server != "system" && server.parse::<std::net::IpAddr>().is_err() {
            return Err(format!(
                "dns check server `{server}` must be `system` or an IP address"
            ));
        }
        if server == "system" && d.port.is_some() {
            return Err("dns check: `port` cannot be used with `server: system`".into());
        }
    }
    let record = d.record.unwrap_or(DnsRecord::A);
    for e in &d.expect {
        let bad = match record {
            DnsRecord::A => e.parse::<std::net::Ipv4Addr>().is_err(),
            DnsRecord::Aaaa => e.parse::<std::net::Ipv6Addr>().is_err(),
            DnsRecord::Srv | DnsRecord::Mx => e.trim().is_empty(),
        };
        if bad {
            return Err(format!(
                "dns check expects `{e}`, which is not an answer of type {}",
                record.as_str()
            ));
        }
    }
    Ok(())
}

/// What a `sip` check needs: a `sip:`/`sips:` URI, statuses that exist, TLS settings only over
/// TLS.
pub fn validate_sip(c: &SipCheck) -> Result<(), String> {
    if let Some(uri) = &c.uri {
        if !(uri.starts_with("sip:") || uri.starts_with("sips:"))
            || uri.contains(char::is_whitespace)
        {
            return Err(format!(
                "sip check uri `{uri}` must start with sip: or sips:"
            ));
        }
    }
    if let Some(s) = c.expect_status.iter().find(|s| !(100..=699).contains(*s)) {
        return Err(format!(
            "sip check expect_status {s} is not a SIP status (100-699)"
        ));
    }
    let tls_only = [
        ("ca_file", c.ca_file.is_some()),
        ("server_name", c.server_name.is_some()),
        ("cert_min_days", c.cert_min_days.is_some()),
    ];
    if c.transport != Some(SipTransport::Tls) {
        if let Some((key, _)) = tls_only.iter().find(|(_, set)| *set) {
            return Err(format!("sip check: `{key}` needs `transport: tls`"));
        }
    }
    Ok(())
}

/// What a `radius` check needs: the shared secret, the account and its password.
pub fn validate_radius(r: &RadiusCheck) -> Result<(), String> {
    if r.secret.is_none() {
        return Err(
            "radius check needs `secret: { file: PATH }` (the client's shared secret)".into(),
        );
    }
    match r.user.as_deref() {
        None => return Err("radius check needs `user:` (the test account)".into()),
        Some(u) if u.is_empty() || u.len() > 253 => {
            return Err("radius check `user` must be 1 to 253 bytes".into())
        }
        _ => {}
    }
    if r.password.is_none() {
        return Err("radius check needs `password: { file: PATH }` (the test account's)".into());
    }
    if r.nas_identifier
        .as_ref()
        .is_some_and(|n| n.is_empty() || n.len() > 253)
    {
        return Err("radius check `nas_identifier` must be 1 to 253 bytes".into());
    }
    Ok(())
}
