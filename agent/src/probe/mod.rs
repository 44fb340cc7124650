//! Probers: one module per probe kind behind one trait, dispatched through
//! [`CheckSpec`](crate::config::CheckSpec).
//!
//! Like blackbox_exporter's `prober/`, every kind has the same shape: it gets the target, its own
//! check settings and a timeout, and returns an [`Outcome`] that carries success, a
//! machine-readable [`FailureReason`], findings that make the device degraded, and typed values.
//! [`Probers::run`] turns that into a timed [`ProbeResult`], stamped by the injected
//! [`Clock`] (the process's one clock; probers measure durations with `Instant`).
//!
//! Probers are built from [`ProbeSettings`], the part of the configuration they read; they never
//! see the whole agent configuration.
//!
//! Adding a kind: a new file here with a type implementing [`Prober`], a variant in
//! [`CheckSpec`](crate::config::CheckSpec); the compiler then points at every `match` to extend.

mod account;
pub mod dns;
pub mod http;
pub mod icmp;
pub mod imap;
pub mod ldap;
pub mod radius;
pub mod sip;
pub mod smb;
pub mod smtp;
pub mod snmp;
pub mod tcp;
mod textproto;
mod tls;

use crate::config::{CheckSpec, DeviceConfig, ProbeSettings};
use chrono::{DateTime, Utc};
use driftvakt_common::clock::Clock;
use driftvakt_common::wire::{Finding, ProbeResult, Value};
use driftvakt_common::DeviceClass;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What a probe is aimed at.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub device: &'a DeviceConfig,
}

impl Target<'_> {
    pub fn id(&self) -> &str {
        &self.device.id.value
    }
    pub fn address(&self) -> &str {
        &self.device.address.value
    }
    pub fn class(&self) -> DeviceClass {
        self.device.class
    }
    /// UPS: runtime minutes under which the device is degraded.
    pub fn min_runtime_minutes(&self) -> u32 {
        self.device.min_runtime_minutes.unwrap_or(240)
    }
}

/// Why a probe failed, machine-readable (`error` in results). The wire's
/// [`ErrorKind`](driftvakt_common::wire::ErrorKind): it also says whose fault a failure is
/// ([`is_agent_fault`](driftvakt_common::wire::ErrorKind::is_agent_fault)), and
/// [`from_io`](driftvakt_common::wire::ErrorKind::from_io) classifies socket errors (EMFILE and
/// ENFILE are `agent_resources`).
pub use driftvakt_common::wire::ErrorKind as FailureReason;

/// What one probe found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome {
    pub ok: bool,
    pub error: Option<FailureReason>,
    pub detail: Option<String>,
    pub findings: Vec<Finding>,
    pub values: BTreeMap<String, Value>,
}

impl Outcome {
    pub fn success() -> Self {
        Outcome {
            ok: true,
            ..Outcome::default()
        }
    }

    pub fn failure(reason: FailureReason, detail: impl Into<String>) -> Self {
        Outcome {
            ok: false,
            error: Some(reason),
            detail: Some(detail.into()),
            ..Outcome::default()
        }
    }

    pub fn with_value(mut self, key: &str, value: Value) -> Self {
        self.values.insert(key.to_string(), value);
        self
    }

    pub fn number(&mut self, key: &str, v: f64) {
        self.values.insert(key.to_string(), Value::Number(v));
    }

    pub fn finding(&mut self, code: &str, message: impl Into<String>) {
        self.findings.push(Finding {
            code: code.to_string(),
            message: message.into(),
        });
    }
}

/// One probe kind. `Spec` is that kind's check settings from the config.
pub trait Prober: Send + Sync {
    type Spec;
    fn probe(
        &self,
        target: &Target<'_>,
        spec: &Self::Spec,
        timeout: Duration,
    ) -> impl Future<Output = Outcome> + Send;
}

/// Errors setting the probers up.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("snmp: {0}")]
    Snmp(String),
    #[error("http: {0}")]
    Http(String),
}

/// One prober of each kind, shared by all targets, and the clock results are stamped with.
pub struct Probers {
    icmp: icmp::IcmpProber,
    snmp: snmp::SnmpProber,
    http: http::HttpProber,
    tcp: tcp::TcpProber,
    dns: dns::DnsProber,
    sip: sip::SipProber,
    radius: radius::RadiusProber,
    ldap: ldap::LdapProber,
    imap: imap::ImapProber,
    smtp: smtp::SmtpProber,
    smb: smb::SmbProber,
    clock: Arc<dyn Clock>,
}

impl Probers {
    /// Builds the shared clients. ICMP without privilege does not fail here: its probes fail
    /// with `permission_denied` and a message saying what to do, and when `settings.devices`
    /// have ICMP checks one error says so in the log (once per process, not once per probe).
    /// Every wall-clock time the probers need (result times, certificate days left, SNMP's DES
    /// salt) comes from `clock`.
    pub fn new(settings: &ProbeSettings<'_>, clock: Arc<dyn Clock>) -> Result<Probers, SetupError> {
        let icmp = icmp::IcmpProber::new(settings.icmp_receive_buffer);
        icmp.report_unusable(settings.devices);
        let login = account(settings, &clock);
        Ok(Probers {
            icmp,
            snmp: snmp::SnmpProber::new(settings.snmp_credentials, &settings.base, clock.now())?,
            http: http::HttpProber::new(clock.clone())?,
            tcp: tcp::TcpProber,
            dns: dns::DnsProber,
            sip: sip::SipProber::new(settings.base.clone(), clock.clone())?,
            radius: radius::RadiusProber::new(settings.base.clone()),
            ldap: ldap::LdapProber {
                account: login.clone(),
            },
            imap: imap::ImapProber {
                account: login.clone(),
            },
            smtp: smtp::SmtpProber {
                account: login.clone(),
            },
            smb: smb::SmbProber { account: login },
            clock,
        })
    }

    /// The current instant on the probers' clock (what results are stamped with).
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Runs one check and times it; a probe never takes longer than `timeout` plus a little.
    pub async fn run(
        &self,
        device: &DeviceConfig,
        check: &CheckSpec,
        timeout: Duration,
    ) -> ProbeResult {
        let target = Target { device };
        let time = self.clock.now();
        let started = Instant::now();
        // Boxed per kind: keeps the future's type shallow (the SNMP one is deep) for callers.
        let work: std::pin::Pin<Box<dyn Future<Output = Outcome> + Send + '_>> = match check {
            CheckSpec::Icmp(s) => Box::pin(self.icmp.probe(&target, s, timeout)),
            CheckSpec::Snmp(s) => Box::pin(self.snmp.probe(&target, s, timeout)),
            CheckSpec::Http(s) => Box::pin(self.http.probe(&target, s, timeout)),
            CheckSpec::Tcp(s) => Box::pin(self.tcp.probe(&target, s, timeout)),
            CheckSpec::Dns(s) => Box::pin(self.dns.probe(&target, s, timeout)),
            CheckSpec::Sip(s) => Box::pin(self.sip.probe(&target, s, timeout)),
            CheckSpec::Radius(s) => Box::pin(self.radius.probe(&target, s, timeout)),
            CheckSpec::Ldap(s) => Box::pin(self.ldap.probe(&target, s, timeout)),
            CheckSpec::Imap(s) => Box::pin(self.imap.probe(&target, s, timeout)),
            CheckSpec::Smtp(s) => Box::pin(self.smtp.probe(&target, s, timeout)),
            CheckSpec::Smb(s) => Box::pin(self.smb.probe(&target, s, timeout)),
        };
        // A prober should honour its timeout; this is the backstop so no target delays others.
        let grace = timeout + Duration::from_secs(1) + timeout / 2;
        let outcome = tokio::time::timeout(grace, work).await.unwrap_or_else(|_| {
            Outcome::failure(
                FailureReason::Timeout,
                format!("no answer within {timeout:?}"),
            )
        });
        let mut result = ProbeResult {
            target: device.id.value.clone(),
            check: check.name(),
            time,
            ok: outcome.ok,
            duration_ms: started.elapsed().as_secs_f64() * 1000.0,
            error: outcome.error.map(|e| e.as_str().to_string()),
            detail: outcome.detail,
            findings: outcome.findings,
            values: outcome.values,
        };
        // Free text from devices (a long SNMP sysDescr, an HTTP error page) is cut to the
        // collector's bounds here, so no result of ours is ever refused for its size.
        driftvakt_common::limits::fit(&mut result);
        result
    }
}

/// What the login probes read their passwords and time from, and their shared TLS
/// configurations.
fn account(settings: &ProbeSettings<'_>, clock: &Arc<dyn Clock>) -> account::Account {
    account::Account {
        base: settings.base.clone(),
        clock: clock.clone(),
        tls: Arc::default(),
    }
}

/// Resolves the target's address (IP literal or host name) to one IP address.
pub async fn resolve(target: &Target<'_>) -> Result<std::net::IpAddr, Outcome> {
    let addr = target.address();
    if let Ok(ip) = addr.parse() {
        return Ok(ip);
    }
    match tokio::net::lookup_host((addr, 0)).await {
        Ok(mut it) => it.next().map(|sa| sa.ip()).ok_or_else(|| {
            Outcome::failure(FailureReason::DnsFailure, format!("{addr} has no address"))
        }),
        Err(e) => {
            // Out of descriptors for the resolver's socket is the agent's fault, not the name's.
            let reason = match FailureReason::from_io(&e) {
                FailureReason::AgentResources => FailureReason::AgentResources,
                _ => FailureReason::DnsFailure,
            };
            Err(Outcome::failure(
                reason,
                format!("cannot resolve {addr}: {e}"),
            ))
        }
    }
}
