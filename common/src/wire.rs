//! The probe result and the batch an agent pushes to the collector (`POST /api/v1/results`).
//!
//! A result is one run of one check against one device: when it started (UTC), how long it took,
//! whether it succeeded, a machine-readable reason when it did not, whether it found the device
//! degraded (for example a UPS below its required runtime), and typed values (RTT, SNMP readings).
//!
//! # Whose fault a failure is
//! A failed result's `error` is one of the [`ErrorKind`] strings. Most say something about the
//! device (`timeout`, `connection_refused`, ...). Some say only that the *agent* could not probe
//! it: [`ErrorKind::is_agent_fault`] is true for `permission_denied` (e.g. no privilege to open
//! an ICMP socket), `agent_resources` (out of file descriptors, sockets or memory: EMFILE,
//! ENFILE, ENOBUFS, ENOMEM), `agent_error` (the agent could not start the probe, or it failed
//! inside the agent) and `config_error` (the check's settings cannot be used). Such a result says
//! nothing about the device, so the collector treats the device as `unknown`, never as down:
//! see [`ProbeResult::is_agent_fault`]. The strings are the wire format; an unknown string from
//! a newer agent parses to `None` and counts as the device's.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// One run of one check against one device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeResult {
    /// Device id from the inventory.
    pub target: String,
    /// Check name (`icmp`, `snmp`, `http`, `tcp`, or a name given in the config).
    pub check: String,
    /// When the probe started, UTC.
    pub time: DateTime<Utc>,
    /// Whether the device answered as expected.
    pub ok: bool,
    /// Wall time the probe took, in milliseconds.
    pub duration_ms: f64,
    /// Machine-readable failure reason (`timeout`, `connection_refused`, ...), null on success.
    #[serde(default)]
    pub error: Option<String>,
    /// Human-readable detail to go with `error` (never contains secrets).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Findings that make an answering device degraded (`ups_on_battery`, `uplink_down`, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<Finding>,
    /// Typed readings: numbers, text, flags, and labelled series (per interface, per supply).
    #[serde(default)]
    pub values: BTreeMap<String, Value>,
}

impl ProbeResult {
    /// The failure reason, when it is one this version knows.
    pub fn error_kind(&self) -> Option<ErrorKind> {
        self.error.as_deref().and_then(ErrorKind::parse)
    }

    /// True when the result failed because of the agent itself, not the device: the device's
    /// state is unknown from this result, not down.
    pub fn is_agent_fault(&self) -> bool {
        !self.ok && self.error_kind().is_some_and(ErrorKind::is_agent_fault)
    }

    /// True when the device answered but a finding marks it degraded.
    pub fn degraded(&self) -> bool {
        self.ok && !self.findings.is_empty()
    }

    /// A numeric reading, if present.
    pub fn number(&self, key: &str) -> Option<f64> {
        match self.values.get(key) {
            Some(Value::Number(n)) => Some(*n),
            Some(Value::Bool(b)) => Some(if *b { 1.0 } else { 0.0 }),
            _ => None,
        }
    }
}

/// Why a probe failed: the `error` string of a [`ProbeResult`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ErrorKind {
    Timeout,
    ConnectionRefused,
    Unreachable,
    DnsFailure,
    /// The agent's host refused the operation (no privilege for ICMP, a local firewall).
    PermissionDenied,
    TlsError,
    HttpStatus,
    BodyMismatch,
    /// The web filter let a test URL through that it should block.
    NotBlocked,
    /// A time the device reports (antivirus definitions, the last backup) is older than allowed.
    ValueTooOld,
    /// A login form refused the service account.
    LoginFailed,
    PacketLoss,
    SnmpAuth,
    SnmpError,
    NoSuchObject,
    /// The check's settings cannot be used (no port, a bad URL, unknown credentials).
    ConfigError,
    IoError,
    /// The agent ran out of file descriptors, sockets or memory (EMFILE, ENFILE, ENOBUFS, ENOMEM).
    AgentResources,
    /// The agent could not start the probe, or the probe failed inside the agent.
    AgentError,
    /// A DNS server answered the query with an error code (NXDOMAIN, SERVFAIL, REFUSED, ...).
    DnsRcode,
    /// A DNS answer lacks an expected record, or has fewer records than required.
    AnswerMismatch,
    /// A SIP server answered OPTIONS with a status other than 200.
    SipStatus,
    /// A login probe's account was refused (LDAP bind, IMAP LOGIN, SMTP AUTH, SMB session,
    /// RADIUS Access-Reject).
    AuthFailed,
    /// The LDAP test account is not a member of the group (the role's permissions).
    NotMember,
    /// The server answered outside its protocol or refused a step other than the login (no
    /// STARTTLS offered, a bad greeting, an unexpected reply, a RADIUS answer failing its
    /// authenticator).
    ProtocolError,
    /// A file step failed: the share or folder is missing, writing, reading back or deleting
    /// was refused, or what was read back differs from what was written.
    FileError,
}

/// Whose fault a failed result is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fault {
    /// The device (or the network to it) did not answer as expected.
    Device,
    /// The agent could not probe; the result says nothing about the device.
    Agent,
}

impl ErrorKind {
    /// Every kind, in wire order.
    pub const ALL: [ErrorKind; 26] = [
        ErrorKind::Timeout,
        ErrorKind::ConnectionRefused,
        ErrorKind::Unreachable,
        ErrorKind::DnsFailure,
        ErrorKind::PermissionDenied,
        ErrorKind::TlsError,
        ErrorKind::HttpStatus,
        ErrorKind::BodyMismatch,
        ErrorKind::NotBlocked,
        ErrorKind::ValueTooOld,
        ErrorKind::LoginFailed,
        ErrorKind::PacketLoss,
        ErrorKind::SnmpAuth,
        ErrorKind::SnmpError,
        ErrorKind::NoSuchObject,
        ErrorKind::ConfigError,
        ErrorKind::IoError,
        ErrorKind::AgentResources,
        ErrorKind::AgentError,
        ErrorKind::DnsRcode,
        ErrorKind::AnswerMismatch,
        ErrorKind::SipStatus,
        ErrorKind::AuthFailed,
        ErrorKind::NotMember,
        ErrorKind::ProtocolError,
        ErrorKind::FileError,
    ];

    /// The string on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Timeout => "timeout",
            ErrorKind::ConnectionRefused => "connection_refused",
            ErrorKind::Unreachable => "unreachable",
            ErrorKind::DnsFailure => "dns_failure",
            ErrorKind::PermissionDenied => "permission_denied",
            ErrorKind::TlsError => "tls_error",
            ErrorKind::HttpStatus => "http_status",
            ErrorKind::BodyMismatch => "body_mismatch",
            ErrorKind::NotBlocked => "not_blocked",
            ErrorKind::ValueTooOld => "value_too_old",
            ErrorKind::LoginFailed => "login_failed",
            ErrorKind::PacketLoss => "packet_loss",
            ErrorKind::SnmpAuth => "snmp_auth",
            ErrorKind::SnmpError => "snmp_error",
            ErrorKind::NoSuchObject => "no_such_object",
            ErrorKind::ConfigError => "config_error",
            ErrorKind::IoError => "io_error",
            ErrorKind::AgentResources => "agent_resources",
            ErrorKind::AgentError => "agent_error",
            ErrorKind::DnsRcode => "dns_rcode",
            ErrorKind::AnswerMismatch => "answer_mismatch",
            ErrorKind::SipStatus => "sip_status",
            ErrorKind::AuthFailed => "auth_failed",
            ErrorKind::NotMember => "not_member",
            ErrorKind::ProtocolError => "protocol_error",
            ErrorKind::FileError => "file_error",
        }
    }

    /// The kind of a wire string; `None` for one this version does not know.
    pub fn parse(s: &str) -> Option<ErrorKind> {
        ErrorKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Whose fault a result failing with this kind is.
    pub fn fault(self) -> Fault {
        match self {
            ErrorKind::PermissionDenied
            | ErrorKind::AgentResources
            | ErrorKind::AgentError
            | ErrorKind::ConfigError => Fault::Agent,
            ErrorKind::Timeout
            | ErrorKind::ConnectionRefused
            | ErrorKind::Unreachable
            | ErrorKind::DnsFailure
            | ErrorKind::TlsError
            | ErrorKind::HttpStatus
            | ErrorKind::BodyMismatch
            | ErrorKind::NotBlocked
            | ErrorKind::ValueTooOld
            | ErrorKind::LoginFailed
            | ErrorKind::PacketLoss
            | ErrorKind::SnmpAuth
            | ErrorKind::SnmpError
            | ErrorKind::NoSuchObject
            | ErrorKind::IoError
            | ErrorKind::DnsRcode
            | ErrorKind::AnswerMismatch
            | ErrorKind::SipStatus
            | ErrorKind::AuthFailed
            | ErrorKind::NotMember
            | ErrorKind::ProtocolError
            | ErrorKind::FileError => Fault::Device,
        }
    }

    /// True when a failure of this kind is the agent's, not the device's.
    pub fn is_agent_fault(self) -> bool {
        self.fault() == Fault::Agent
    }

    /// Classifies an I/O error from opening a socket, connecting or sending. Running out of file
    /// descriptors, buffers or memory is the agent's (`agent_resources`), whatever the call.
    pub fn from_io(e: &std::io::Error) -> ErrorKind {
        use std::io::ErrorKind as K;
        // Linux errno values (asm-generic), so common needs no libc.
        const ENOMEM: i32 = 12;
        const ENFILE: i32 = 23;
        const EMFILE: i32 = 24;
        const ENOBUFS: i32 = 105;
        if matches!(e.raw_os_error(), Some(ENOMEM | ENFILE | EMFILE | ENOBUFS))
            || e.kind() == K::OutOfMemory
        {
            return ErrorKind::AgentResources;
        }
        match e.kind() {
            K::ConnectionRefused => ErrorKind::ConnectionRefused,
            K::TimedOut => ErrorKind::Timeout,
            K::PermissionDenied => ErrorKind::PermissionDenied,
            K::HostUnreachable | K::NetworkUnreachable | K::AddrNotAvailable => {
                ErrorKind::Unreachable
            }
            _ => ErrorKind::IoError,
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A finding that makes a device degraded although it answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Finding {
    /// Machine-readable code, e.g. `ups_runtime_below_minimum`.
    pub code: String,
    /// One sentence for a person.
    pub message: String,
}

/// A typed reading.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Value {
    Bool(bool),
    Number(f64),
    Text(String),
    Series(Vec<Sample>),
}

/// One labelled sample of a series, e.g. one interface's oper status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sample {
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// What an agent pushes: a batch of results with an id that makes replays idempotent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Batch {
    pub agent: String,
    pub batch_id: String,
    pub results: Vec<ProbeResult>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(error: &str) -> ProbeResult {
        ProbeResult {
            target: "sw-1".into(),
            check: "icmp".into(),
            time: "2026-03-17T17:00:00Z".parse().unwrap(),
            ok: false,
            duration_ms: 0.1,
            error: Some(error.into()),
            detail: None,
            findings: vec![],
            values: BTreeMap::new(),
        }
    }

    #[test]
    fn error_kinds_round_trip_through_their_wire_strings() {
        for k in ErrorKind::ALL {
            assert_eq!(ErrorKind::parse(k.as_str()), Some(k));
            assert_eq!(k.to_string(), k.as_str());
        }
        assert_eq!(ErrorKind::parse("from_a_newer_agent"), None);
        // The strings older agents and collectors know stay exactly as they were.
        assert_eq!(ErrorKind::PermissionDenied.as_str(), "permission_denied");
        assert_eq!(ErrorKind::ConfigError.as_str(), "config_error");
        assert_eq!(ErrorKind::AgentResources.as_str(), "agent_resources");
        assert_eq!(ErrorKind::AgentError.as_str(), "agent_error");
    }

    #[test]
    fn only_the_agents_own_failures_are_agent_faults() {
        let agent: Vec<&str> = ErrorKind::ALL
            .into_iter()
            .filter(|k| k.is_agent_fault())
            .map(ErrorKind::as_str)
            .collect();
        assert_eq!(
            agent,
            [
                "permission_denied",
                "config_error",
                "agent_resources",
                "agent_error"
            ]
        );
        assert!(failed("permission_denied").is_agent_fault());
        assert!(failed("agent_resources").is_agent_fault());
        assert!(!failed("timeout").is_agent_fault());
        assert!(!failed("connection_refused").is_agent_fault());
        assert!(
            !failed("something_new").is_agent_fault(),
            "unknown: the device's"
        );
        let mut ok = failed("permission_denied");
        ok.ok = true;
        assert!(!ok.is_agent_fault(), "a success is nobody's fault");
        assert_eq!(
            failed("agent_error").error_kind(),
            Some(ErrorKind::AgentError)
        );
    }

    #[test]
    fn io_errors_running_out_of_descriptors_are_the_agents() {
        use std::io::{Error, ErrorKind as K};
        for errno in [12, 23, 24, 105] {
            let e = Error::from_raw_os_error(errno);
            assert_eq!(ErrorKind::from_io(&e), ErrorKind::AgentResources, "{e}");
            assert!(ErrorKind::from_io(&e).is_agent_fault());
        }
        assert_eq!(
            ErrorKind::from_io(&Error::from_raw_os_error(24)).as_str(),
            "agent_resources"
        );
        let cases = [
            (K::ConnectionRefused, ErrorKind::ConnectionRefused),
            (K::TimedOut, ErrorKind::Timeout),
            (K::PermissionDenied, ErrorKind::PermissionDenied),
            (K::HostUnreachable, ErrorKind::Unreachable),
            (K::OutOfMemory, ErrorKind::AgentResources),
            (K::BrokenPipe, ErrorKind::IoError),
        ];
        for (kind, want) in cases {
            assert_eq!(ErrorKind::from_io(&Error::from(kind)), want, "{kind:?}");
        }
        // EACCES and EPERM from the kernel (no ICMP privilege, a local firewall).
        assert_eq!(
            ErrorKind::from_io(&Error::from_raw_os_error(13)),
            ErrorKind::PermissionDenied
        );
        assert_eq!(
            ErrorKind::from_io(&Error::from_raw_os_error(1)),
            ErrorKind::PermissionDenied
        );
    }

    #[test]
    fn result_round_trips_with_all_value_kinds() {
        let mut values = BTreeMap::new();
        values.insert("rtt_avg_seconds".into(), Value::Number(0.000_12));
        values.insert("on_battery".into(), Value::Bool(true));
        values.insert("model".into(), Value::Text("Eaton 93E".into()));
        values.insert(
            "if_oper_status".into(),
            Value::Series(vec![Sample {
                labels: [("ifName".to_string(), "Gi0/1".to_string())].into(),
                value: 2.0,
            }]),
        );
        let r = ProbeResult {
            target: "ups-1".into(),
            check: "snmp".into(),
            time: "2026-03-17T17:00:00Z".parse().unwrap(),
            ok: true,
            duration_ms: 12.5,
            error: None,
            detail: None,
            findings: vec![Finding {
                code: "ups_on_battery".into(),
                message: "UPS runs on battery".into(),
            }],
            values,
        };
        let json = serde_json::to_string(&r).unwrap();
        let back: ProbeResult = serde_json::from_str(&json).unwrap();
        assert_eq!(back, r);
        assert!(back.degraded());
        assert_eq!(back.number("on_battery"), Some(1.0));
    }
}
