//! The checks of a device (`checks:`): one variant of [`CheckSpec`] per probe kind.

use crate::config::Duration;
use serde::{Deserialize, Deserializer, Serialize};
use std::fmt;
use std::path::PathBuf;

/// One check of a device. Adding a probe kind adds one variant here.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CheckSpec {
    Icmp(IcmpCheck),
    Snmp(SnmpCheck),
    Http(HttpCheck),
    Tcp(TcpCheck),
    Dns(DnsCheck),
    Sip(SipCheck),
    Radius(RadiusCheck),
    Ldap(LdapCheck),
    Imap(ImapCheck),
    Smtp(SmtpCheck),
    Smb(SmbCheck),
}

/// Settings every check has.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct CheckCommon {
    /// Name of the check in results and metrics; defaults to the kind.
    pub name: Option<String>,
    pub interval: Option<Duration>,
    pub timeout: Option<Duration>,
}

macro_rules! check_struct {
    ($(#[$m:meta])* $name:ident { $($(#[$fm:meta])* $field:ident : $ty:ty),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            /// Name of the check in results and metrics; defaults to the kind.
            #[serde(default, skip_serializing_if = "super::absent")]
            pub name: Option<String>,
            /// Bounds: [`crate::config::bounds::INTERVAL`].
            #[serde(default, skip_serializing_if = "super::absent", deserialize_with = "crate::config::bounded::interval_opt")]
            pub interval: Option<Duration>,
            /// Bounds: [`crate::config::bounds::TIMEOUT`], and at most the interval.
            #[serde(default, skip_serializing_if = "super::absent", deserialize_with = "crate::config::bounded::timeout_opt")]
            pub timeout: Option<Duration>,
            $($(#[$fm])* #[serde(default, skip_serializing_if = "super::absent")] pub $field: $ty,)*
        }
    };
}

// The login and `net` checks' structs, built with `check_struct!` (their `super::absent` is
// this import).
use super::absent;
mod login;
pub(super) use login::{imap_problem, ldap_problem, smb_problem, smtp_problem};
pub use login::{ImapCheck, LdapCheck, SmbCheck, SmtpAuth, SmtpCheck, TlsMode};

check_struct!(
    /// ICMP echo: `count` requests per probe, RTT min/avg/max and loss.
    IcmpCheck {
        /// Echo requests per probe (default 3).
        count: Option<u16>,
        /// Pause between the requests of one probe (default 100ms; 0s..2m).
        #[serde(deserialize_with = "crate::config::bounded::icmp_spacing_opt")]
        spacing: Option<Duration>,
        /// Loss ratio at or above which the probe fails (default 1.0: all lost).
        fail_loss_ratio: Option<f64>,
    }
);

check_struct!(
    /// SNMP GETs and walks by the device class's profile.
    SnmpCheck {
        /// UDP port (default 161).
        port: Option<u16>,
        /// Id of an entry under `snmp_credentials` (required unless only one is defined).
        credentials: Option<String>,
        /// Profile; defaults to the device class (`switch`, `ups`, `printer`, `access_point`,
        /// `screen`).
        profile: Option<String>,
        /// Switch: interfaces (ifName, ifDescr or ifIndex) that are uplinks; an uplink that is
        /// admin-up and oper-down is a finding. Default: none named, every admin-up port counts
        /// only as a value.
        uplinks: Vec<String>,
        /// Printer: supply level ratio under which the printer is degraded (default 0.1).
        supply_low_ratio: Option<f64>,
        /// Retries after a timeout (default 1).
        retries: Option<u32>,
        /// UPS: which MIB to read (`rfc1628`, `apc`, `eaton`, `mge`, `liebert`). Default: chosen
        /// per device from its sysObjectID and which MIB answers, and remembered.
        mib: Option<UpsMib>,
        /// How often LLDP and CDP neighbours are walked (default 1h; also after the device
        /// restarted). The neighbours go to the collector's topology.
        lldp_interval: Option<Duration>,
    }
);

/// The UPS MIBs the `ups` profile reads (`mib:` on an snmp check).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UpsMib {
    /// RFC 1628 UPS-MIB (1.3.6.1.2.1.33).
    Rfc1628,
    /// APC PowerNet-MIB (1.3.6.1.4.1.318.1.1.1).
    Apc,
    /// Eaton/Powerware XUPS-MIB (1.3.6.1.4.1.534.1).
    Eaton,
    /// MGE MG-SNMP-UPS-MIB (1.3.6.1.4.1.705.1), older MGE and Eaton units.
    Mge,
    /// Vertiv/Liebert LIEBERT-GP-POWER-MIB (1.3.6.1.4.1.476.1.42.3.5).
    Liebert,
}

impl UpsMib {
    /// Every MIB, in the order detection falls back through them.
    pub const ALL: [UpsMib; 5] = [
        UpsMib::Rfc1628,
        UpsMib::Apc,
        UpsMib::Eaton,
        UpsMib::Mge,
        UpsMib::Liebert,
    ];

    /// The name in the config and in results (`ups_mib`).
    pub fn as_str(self) -> &'static str {
        match self {
            UpsMib::Rfc1628 => "rfc1628",
            UpsMib::Apc => "apc",
            UpsMib::Eaton => "eaton",
            UpsMib::Mge => "mge",
            UpsMib::Liebert => "liebert",
        }
    }
}

check_struct!(
    /// HTTP(S) GET: expected status, optional body text, certificate days left.
    HttpCheck {
        /// URL; default `http://ADDRESS/`.
        url: Option<String>,
        /// Accepted status codes (default any 2xx).
        expect_status: Vec<u16>,
        /// Text the body must contain.
        body_contains: Option<String>,
        /// Follow redirects (default true, at most 5).
        follow_redirects: Option<bool>,
        /// Accept any certificate (for self-signed screens); days left is still reported.
        insecure_skip_verify: Option<bool>,
        /// PEM file with extra CA certificates.
        ca_file: Option<PathBuf>,
        /// Days of certificate validity under which the device is degraded (default 14).
        cert_min_days: Option<u32>,
        /// The web filter's test: `url` (a listed test address) must be blocked.
        expect_block: Option<Box<ExpectBlock>>,
        /// A time in the JSON body that must be recent (antivirus definitions, last backup).
        json_value: Option<Box<JsonValue>>,
        /// Log in with a form first; the session's cookies go with the GET of `url`.
        login: Option<Box<LoginForm>>,
    }
);

/// How the web filter shows a block: a refused or reset connection, a TLS failure, a status
/// in `status` (default 403 and 451), or an answer whose body contains `body_contains` (its
/// block page). Anything else (the page itself) fails with `not_blocked`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectBlock {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_contains: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub status: Vec<u16>,
}

/// A time in the JSON body, at JSON pointer `pointer` (`/definitions/updated`): RFC 3339 text
/// or Unix seconds. Older than `max_age` fails with `value_too_old`; its age is the reading
/// `http_json_value_age_seconds`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct JsonValue {
    pub pointer: String,
    pub max_age: Duration,
}

/// A login form posted (`application/x-www-form-urlencoded`) before the GET: `username_field`
/// (default `username`) and `password_field` (default `password`) with `username` and the
/// password read from `password_file`. A refusal (a 4xx/5xx answer, or no session cookie) fails
/// with `login_failed`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LoginForm {
    pub url: String,
    pub username: String,
    pub password_file: PathBuf,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username_field: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_field: Option<String>,
}

check_struct!(
    /// TCP connect, e.g. to a printer's port 9100.
    TcpCheck {
        port: Option<u16>,
    }
);

// The settings of the `dns`, `sip` and `radius` checks (the municipality's services: name
// lookup, the switchboard, the wireless network's login).
mod net;
pub use net::{
    validate_dns, validate_radius, validate_sip, DnsCheck, DnsRecord, RadiusCheck, SipCheck,
    SipTransport,
};

impl CheckSpec {
    /// The check of `kind` with all defaults, if `kind` names one.
    pub fn default_of(kind: &str) -> Option<CheckSpec> {
        Some(match kind {
            "icmp" => CheckSpec::Icmp(IcmpCheck::default()),
            "snmp" => CheckSpec::Snmp(SnmpCheck::default()),
            "http" => CheckSpec::Http(HttpCheck::default()),
            "tcp" => CheckSpec::Tcp(TcpCheck::default()),
            "dns" => CheckSpec::Dns(DnsCheck::default()),
            "sip" => CheckSpec::Sip(SipCheck::default()),
            "radius" => CheckSpec::Radius(RadiusCheck::default()),
            "ldap" => CheckSpec::Ldap(LdapCheck::default()),
            "imap" => CheckSpec::Imap(ImapCheck::default()),
            "smtp" => CheckSpec::Smtp(SmtpCheck::default()),
            "smb" => CheckSpec::Smb(SmbCheck::default()),
            _ => return None,
        })
    }

    pub fn kind(&self) -> &'static str {
        match self {
            CheckSpec::Icmp(_) => "icmp",
            CheckSpec::Snmp(_) => "snmp",
            CheckSpec::Http(_) => "http",
            CheckSpec::Tcp(_) => "tcp",
            CheckSpec::Dns(_) => "dns",
            CheckSpec::Sip(_) => "sip",
            CheckSpec::Radius(_) => "radius",
            CheckSpec::Ldap(_) => "ldap",
            CheckSpec::Imap(_) => "imap",
            CheckSpec::Smtp(_) => "smtp",
            CheckSpec::Smb(_) => "smb",
        }
    }

    /// Name, interval and timeout set on this check.
    pub fn common(&self) -> CheckCommon {
        let (name, interval, timeout) = match self {
            CheckSpec::Icmp(c) => (&c.name, c.interval, c.timeout),
            CheckSpec::Snmp(c) => (&c.name, c.interval, c.timeout),
            CheckSpec::Http(c) => (&c.name, c.interval, c.timeout),
            CheckSpec::Tcp(c) => (&c.name, c.interval, c.timeout),
            CheckSpec::Dns(c) => (&c.name, c.interval, c.timeout),
            CheckSpec::Sip(c) => (&c.name, c.interval, c.timeout),
            CheckSpec::Radius(c) => (&c.name, c.interval, c.timeout),
            CheckSpec::Ldap(c) => (&c.name, c.interval, c.timeout),
            CheckSpec::Imap(c) => (&c.name, c.interval, c.timeout),
            CheckSpec::Smtp(c) => (&c.name, c.interval, c.timeout),
            CheckSpec::Smb(c) => (&c.name, c.interval, c.timeout),
        };
        CheckCommon {
            name: name.clone(),
            interval,
            timeout,
        }
    }

    /// The name results carry.
    pub fn name(&self) -> String {
        self.common()
            .name
            .unwrap_or_else(|| self.kind().to_string())
    }
}

/// A list entry under `checks`: either a plain kind name (`icmp`) or a map with `kind:`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct CheckEntry(#[serde(deserialize_with = "deserialize_check_entry")] pub CheckSpec);

fn deserialize_check_entry<'de, D: Deserializer<'de>>(d: D) -> Result<CheckSpec, D::Error> {
    struct V;
    impl<'de> serde::de::Visitor<'de> for V {
        type Value = CheckSpec;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str(
                "a check kind (icmp, snmp, http, tcp, dns, sip, radius, ldap, imap, smtp, smb) or a map with `kind:`",
            )
        }
        fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<CheckSpec, E> {
            CheckSpec::default_of(s).ok_or_else(|| {
                E::custom(format!(
                    "unknown check kind `{s}`, expected one of icmp, snmp, http, tcp, dns, sip, radius, ldap, imap, smtp, smb"
                ))
            })
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<CheckSpec, A::Error> {
            CheckSpec::deserialize(serde::de::value::MapAccessDeserializer::new(map))
        }
    }
    d.deserialize_any(V)
}
