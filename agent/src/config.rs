//! The agent's configuration: which devices to probe, with which checks, how often.
//!
//! The device, check, credential and secret types are the schema the agent shares with the
//! collector's inventory; they live in [`driftvakt_common::schema`] and are re-exported here, so
//! `driftvakt_agent::config::DeviceConfig` and friends keep working. This module keeps what only
//! the agent has: the `agent:` section (collector, spool) and the loading of the whole file.
//! Loading is strict: unknown keys, bad durations, bad addresses, duplicate ids and unknown
//! references are errors that name file, line and key. Secrets (SNMP communities, v3 passwords)
//! are read from environment variables or files named here and never appear in logs or errors.

use chrono::{DateTime, Utc};
use driftvakt_common::config::{load_yaml, ConfigErrors, Duration, Validator};
use driftvakt_common::tls;
use driftvakt_common::DeviceClass;
use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use driftvakt_common::schema::{
    class_timing, default_checks, validate_address, validate_credentials, validate_devices,
    AuthProtocol, CheckCommon, CheckEntry, CheckSpec, DeviceConfig, DnsCheck, DnsRecord, HttpCheck,
    IcmpCheck, ImapCheck, LdapCheck, PrivProtocol, RadiusCheck, Secret, SecretRef, SipCheck,
    SipTransport, SmbCheck, SmtpAuth, SmtpCheck, SnmpCheck, SnmpCredentials, SnmpVersion, TcpCheck,
    Timing, TlsMode, UpsMib,
};

/// The agent's YAML file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentFile {
    pub agent: AgentSettings,
    /// Interval and timeout per device class, overriding the built-in defaults.
    #[serde(default)]
    pub defaults: BTreeMap<DeviceClass, Timing>,
    /// SNMP credentials, referred to by id from `snmp` checks.
    #[serde(default)]
    pub snmp_credentials: Vec<SnmpCredentials>,
    /// Shared, not copied: the scheduler's jobs and a merged assignment point at these.
    #[serde(default, deserialize_with = "shared_devices")]
    pub devices: Vec<Arc<DeviceConfig>>,
}

/// Reads `devices:` and puts each device behind an [`Arc`] as it is read, so planning and
/// merging an assignment copy pointers instead of whole devices, and no list of whole devices
/// is ever held (at 10,000 devices such a list, grown by doubling, is 8 MiB). Each device's
/// check list is cut to its length (a list of one check is read into room for four).
fn shared_devices<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Arc<DeviceConfig>>, D::Error> {
    struct Devices;
    impl<'de> serde::de::Visitor<'de> for Devices {
        type Value = Vec<Arc<DeviceConfig>>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a sequence")
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(
            self,
            mut seq: A,
        ) -> Result<Self::Value, A::Error> {
            let mut devices = Vec::new();
            while let Some(mut device) = seq.next_element::<DeviceConfig>()? {
                if let Some(checks) = device.checks.as_mut() {
                    checks.value.shrink_to_fit();
                }
                devices.push(Arc::new(device));
            }
            devices.shrink_to_fit();
            Ok(devices)
        }
    }
    d.deserialize_seq(Devices)
}

/// Settings of the agent process itself.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentSettings {
    /// Agent id, as the collector knows it.
    pub id: String,
    /// Address for `/metrics`; none means no HTTP listener.
    #[serde(default)]
    pub listen: Option<SocketAddr>,
    /// At most this many probes run at once.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// ICMP socket receive buffer in bytes (raised so hundreds of concurrent pingers lose no
    /// replies).
    #[serde(default = "default_icmp_buffer")]
    pub icmp_receive_buffer: usize,
    /// The collector to push results to and fetch the assignment from; none means standalone
    /// (local devices only, nothing spooled).
    #[serde(default)]
    pub collector: Option<CollectorSettings>,
    /// Where results wait on disk until the collector confirms them.
    #[serde(default)]
    pub spool: SpoolSettings,
    /// SNMP traps and informs from the devices; none means no trap receiver.
    #[serde(default)]
    pub traps: Option<TrapSettings>,
}

/// `agent.traps`: the SNMP trap and inform receiver (see [`crate::traps`]).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrapSettings {
    /// UDP address to receive on, e.g. `0.0.0.0:162` or `[::]:162`.
    pub listen: SocketAddr,
    /// v1/v2c communities accepted (each `{ env: NAME }` or `{ file: PATH }`).
    #[serde(default)]
    pub communities: Vec<SecretRef>,
    /// SNMPv3 users accepted: ids of `snmp_credentials` entries of version v3 with
    /// authentication, as for polling.
    #[serde(default)]
    pub users: Vec<String>,
    /// The receiver's SNMPv3 engine id in hex (informs are sent to it); default: made from the
    /// agent id.
    #[serde(default)]
    pub engine_id: Option<String>,
    /// At most this many traps a minute from one device and source address are acted on; the
    /// rest are counted as `flooded`. 1..10000.
    #[serde(default = "default_trap_flood_limit")]
    pub flood_limit: u32,
}

fn default_trap_flood_limit() -> u32 {
    20
}

/// `agent.collector`: where results go and where the central assignment comes from.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CollectorSettings {
    /// Base URL, e.g. `https://collector.kommun.se:8480` (one collector; or `urls`).
    #[serde(default)]
    pub url: Option<String>,
    /// Several collectors sharing one database: the agent uses one at a time and moves on to
    /// the next (round robin) when it fails (connection, timeout, 5xx).
    #[serde(default)]
    pub urls: Vec<String>,
    /// Bearer token, from the environment or a file.
    pub token: SecretRef,
    /// PEM file of the private CA that signed the collector's certificate: with it, only that
    /// CA is trusted for `https://` URLs; without it, the system's store (`/etc/ssl/certs`, or
    /// `SSL_CERT_FILE`). (`ca_file` is its older name.)
    #[serde(default, alias = "ca_file")]
    pub ca: Option<PathBuf>,
    /// Client certificate (PEM) for mutual TLS, naming this agent's id (subject common name or
    /// SAN); needs `key`. (`client_cert` is its older name.)
    #[serde(default, alias = "client_cert")]
    pub cert: Option<PathBuf>,
    /// Private key (PEM) of `cert`. (`client_key` is its older name.)
    #[serde(default, alias = "client_key")]
    pub key: Option<PathBuf>,
    /// Results per pushed batch (also fixes the batch boundaries in the spool).
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// How often results are pushed. 100ms..1h.
    #[serde(
        default = "default_push_interval",
        deserialize_with = "driftvakt_common::config::bounded::push_interval"
    )]
    pub push_interval: Duration,
    /// How often the assignment is fetched again. 1s..1d.
    #[serde(
        default = "default_assignment_refresh",
        deserialize_with = "driftvakt_common::config::bounded::assignment_refresh"
    )]
    pub assignment_refresh: Duration,
}

impl CollectorSettings {
    /// The collectors' base URLs in order: `urls`, or `url` as a list of one.
    pub fn urls(&self) -> Vec<String> {
        match &self.url {
            Some(url) => vec![url.clone()],
            None => self.urls.clone(),
        }
    }
}

fn default_batch_size() -> usize {
    500
}
fn default_push_interval() -> Duration {
    Duration::from_secs(5)
}
fn default_assignment_refresh() -> Duration {
    Duration::from_secs(300)
}

/// `agent.spool`: the on-disk queue of results not yet confirmed by the collector.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpoolSettings {
    #[serde(default = "default_spool_dir")]
    pub dir: PathBuf,
    /// Upper bound of the spool's size; when full, the oldest results are dropped (counted).
    #[serde(default = "default_spool_max")]
    pub max_bytes: ByteSize,
    /// Longest time a spooled result stays unsynced (group commit; a power loss loses at most
    /// this much). 0s..1m; 0s syncs every write.
    #[serde(
        default = "default_spool_sync_interval",
        deserialize_with = "driftvakt_common::config::bounded::spool_sync_interval"
    )]
    pub sync_interval: Duration,
}

impl Default for SpoolSettings {
    fn default() -> Self {
        SpoolSettings {
            dir: default_spool_dir(),
            max_bytes: default_spool_max(),
            sync_interval: default_spool_sync_interval(),
        }
    }
}

fn default_spool_dir() -> PathBuf {
    PathBuf::from("/var/spool/driftvakt")
}
fn default_spool_max() -> ByteSize {
    ByteSize(256 << 20)
}
fn default_spool_sync_interval() -> Duration {
    Duration::from_secs(1)
}

/// A size in bytes: an integer, or a number with a unit (`B`, `KiB`, `MiB`, `GiB`, `KB`, `MB`,
/// `GB`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ByteSize(pub u64);

impl std::str::FromStr for ByteSize {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad =
            || format!("invalid size {s:?}: write bytes, or a number with a unit, e.g. 256MiB");
        let t = s.trim();
        let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let n: u64 = t[..digits].parse().map_err(|_| bad())?;
        let unit: u64 = match t[digits..].trim() {
            "" | "B" => 1,
            "KiB" => 1 << 10,
            "MiB" => 1 << 20,
            "GiB" => 1 << 30,
            "KB" => 1_000,
            "MB" => 1_000_000,
            "GB" => 1_000_000_000,
            _ => return Err(bad()),
        };
        n.checked_mul(unit).map(ByteSize).ok_or_else(bad)
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = ByteSize;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a size in bytes, e.g. 268435456 or 256MiB")
            }
            fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<ByteSize, E> {
                Ok(ByteSize(n))
            }
            fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<ByteSize, E> {
                u64::try_from(n)
                    .map(ByteSize)
                    .map_err(|_| E::custom(format!("invalid size {n}: must not be negative")))
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<ByteSize, E> {
                s.parse().map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

fn default_concurrency() -> usize {
    256
}
fn default_icmp_buffer() -> usize {
    4 << 20
}

/// A loaded and validated agent configuration.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    pub file: AgentFile,
    pub path: PathBuf,
}

impl AgentConfig {
    /// Loads and validates `path`; every problem is reported, each with file, line and key.
    pub fn load(path: &Path) -> Result<AgentConfig, ConfigErrors> {
        let (file, source): (AgentFile, String) = load_yaml(path)?;
        let mut v = Validator::new(path, &source);
        validate_devices(&mut v, &file.devices, &file.snmp_credentials);
        validate_credentials(&mut v, &file.snmp_credentials);
        if let Some(p) = driftvakt_common::schema::validate::id_problem("agent", &file.agent.id) {
            v.error_at_key("agent.id", p);
        }
        if file.agent.concurrency == 0 {
            v.error_at_key("agent.concurrency", "agent.concurrency must be at least 1");
        }
        if let Some(c) = &file.agent.collector {
            validate_collector(&mut v, c);
        }
        if let Some(t) = &file.agent.traps {
            validate_traps(&mut v, t, &file.snmp_credentials);
        }
        if file.agent.spool.max_bytes.0 < MIN_SPOOL_BYTES {
            v.error_at_key(
                "agent.spool.max_bytes",
                format!("agent.spool.max_bytes must be at least {MIN_SPOOL_BYTES} bytes (64KiB)"),
            );
        }
        v.finish()?;
        Ok(AgentConfig {
            file,
            path: path.to_path_buf(),
        })
    }
}

/// The smallest spool accepted.
pub const MIN_SPOOL_BYTES: u64 = 64 << 10;

fn validate_collector(v: &mut Validator, c: &CollectorSettings) {
    match (&c.url, c.urls.is_empty()) {
        (Some(_), false) => v.error_at_key(
            "agent.collector.urls",
            "agent.collector has both `url` and `urls`: give one collector as `url` or several as `urls`",
        ),
        (None, true) => v.error_at_key(
            "agent.collector",
            "agent.collector needs `url` (one collector) or `urls` (several)",
        ),
        (Some(url), true) => validate_url(v, "agent.collector.url", url),
        (None, false) => {
            for (i, url) in c.urls.iter().enumerate() {
                validate_url(v, &format!("agent.collector.urls[{i}]"), url);
            }
        }
    }
    if c.cert.is_some() != c.key.is_some() {
        v.error_at_key(
            "agent.collector",
            "agent.collector needs both `cert` and `key` (the client certificate), or neither",
        );
    }
    if !(1..=10_000).contains(&c.batch_size) {
        v.error_at_key(
            "agent.collector.batch_size",
            "agent.collector.batch_size must be between 1 and 10000",
        );
    }
}

fn validate_traps(v: &mut Validator, t: &TrapSettings, creds: &[SnmpCredentials]) {
    if t.communities.is_empty() && t.users.is_empty() {
        v.error_at_key(
            "agent.traps",
            "agent.traps needs `communities` (v1/v2c) or `users` (v3): a receiver that accepts \
             any sender's community is not offered",
        );
    }
    for (i, id) in t.users.iter().enumerate() {
        let key = format!("agent.traps.users[{i}]");
        match creds.iter().find(|c| &c.id.value == id) {
            None => v.error_at_key(
                &key,
                format!("agent.traps.users: unknown snmp_credentials `{id}`"),
            ),
            Some(c) if c.version != SnmpVersion::V3 || c.user.is_none() => v.error_at_key(
                &key,
                format!("agent.traps.users: snmp_credentials `{id}` is not an SNMPv3 user"),
            ),
            Some(c) if c.auth_protocol.is_none() || c.auth_password.is_none() => v.error_at_key(
                &key,
                format!(
                    "agent.traps.users: snmp_credentials `{id}` has no authentication: \
                     unauthenticated v3 traps are not accepted"
                ),
            ),
            Some(_) => {}
        }
    }
    if let Some(hex) = &t.engine_id {
        if let Err(e) = parse_engine_id(hex) {
            v.error_at_key(
                "agent.traps.engine_id",
                format!("agent.traps.engine_id: {e}"),
            );
        }
    }
    if !(1..=10_000).contains(&t.flood_limit) {
        v.error_at_key(
            "agent.traps.flood_limit",
            "agent.traps.flood_limit must be between 1 and 10000",
        );
    }
    if t.listen.port() == 0 {
        v.error_at_key(
            "agent.traps.listen",
            "agent.traps.listen needs a port (162 is the standard one)",
        );
    }
}

/// An SNMPv3 engine id written in hex (`80001f8804...`, colons allowed): 5 to 32 bytes
/// (RFC 3411).
pub fn parse_engine_id(hex: &str) -> Result<Vec<u8>, String> {
    let digits: String = hex.chars().filter(|c| *c != ':').collect();
    if !digits.len().is_multiple_of(2) || !digits.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(format!("`{hex}` is not hex digits (two per byte)"));
    }
    let bytes: Vec<u8> = (0..digits.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&digits[i..i + 2], 16).unwrap_or(0))
        .collect();
    if !(5..=32).contains(&bytes.len()) {
        return Err(format!(
            "`{hex}` is {} bytes; an engine id is 5 to 32 bytes",
            bytes.len()
        ));
    }
    Ok(bytes)
}

fn validate_url(v: &mut Validator, key: &str, url: &str) {
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        v.error_at_key(
            key,
            format!("{key} `{url}` must start with http:// or https://"),
        );
    } else if let Err(e) = reqwest::Url::parse(url) {
        v.error_at_key(key, format!("{key} `{url}` is not a URL: {e}"));
    }
}

impl AgentConfig {
    /// What `run` needs beyond a well-formed file, checked without starting anything: the
    /// collector's token resolves (a token file must not be readable by group or others), its
    /// CA file holds certificates and its client certificate and key are a usable pair at `now`
    /// ([`Self::check_tls_files`]), the SNMP credentials the devices use resolve, and the spool
    /// folder exists or can be created, and the login checks' passwords (`ldap`, `imap`, `smtp`,
    /// `smb`) resolve. Errors name file, line, column and key; `Ok` lists
    /// warnings (a client certificate expiring within 30 days).
    pub fn preflight(&self, now: DateTime<Utc>) -> Result<Vec<String>, ConfigErrors> {
        let source = std::fs::read_to_string(&self.path).unwrap_or_default();
        let mut v = Validator::new(&self.path, &source);
        let base = self.base_dir();
        let mut warnings = Vec::new();
        if let Some(c) = &self.file.agent.collector {
            if let Err(e) = c.token.resolve(&base) {
                v.error_at_key("agent.collector.token", e);
            }
            warnings.extend(self.check_tls_files(c, now, &mut v));
            let spool = self.resolve(&self.file.agent.spool.dir);
            if let Err(e) = driftvakt_common::config::folder_can_be_created(&spool) {
                v.error_at_key("agent.spool.dir", format!("spool {e}"));
            }
        }
        let creds = &self.file.snmp_credentials;
        let mut used: Vec<&SnmpCredentials> = Vec::new();
        for d in &self.file.devices {
            for check in d.checks() {
                let CheckSpec::Snmp(s) = check else { continue };
                let cred = match &s.credentials {
                    Some(id) => creds.iter().find(|c| &c.id.value == id),
                    None if creds.len() == 1 => creds.first(),
                    None => None,
                };
                if let Some(c) = cred.filter(|c| !used.iter().any(|u| u.id.value == c.id.value)) {
                    used.push(c);
                }
            }
        }
        let trap_users = self.file.agent.traps.iter().flat_map(|t| &t.users);
        for id in trap_users {
            if let Some(c) = creds.iter().find(|c| &c.id.value == id) {
                if !used.iter().any(|u| u.id.value == c.id.value) {
                    used.push(c);
                }
            }
        }
        for c in used {
            let refs = [
                ("community", &c.community),
                ("auth_password", &c.auth_password),
                ("priv_password", &c.priv_password),
            ];
            for (what, r) in refs {
                if let Some(Err(e)) = r.as_ref().map(|r| r.resolve(&base)) {
                    v.error_at(
                        &c.id.referenced,
                        format!("snmp_credentials `{}`: {what}: {e}", c.id.value),
                    );
                }
            }
        }
        self.check_probe_files(&mut v);
        if let Some(t) = &self.file.agent.traps {
            for (i, c) in t.communities.iter().enumerate() {
                if let Err(e) = c.resolve(&base) {
                    v.error_at_key(
                        &format!("agent.traps.communities[{i}]"),
                        format!("agent.traps community: {e}"),
                    );
                }
            }
        }
        for d in &self.file.devices {
            for check in d.checks() {
                for (what, r) in check.secrets() {
                    if let Err(e) = r.resolve(&base) {
                        let place = d.checks.as_ref().map_or(d.id.referenced, |c| c.referenced);
                        v.error_at(
                            &place,
                            format!(
                                "device `{}`: {} check: {what}: {e}",
                                d.id.value,
                                check.kind()
                            ),
                        );
                    }
                }
            }
        }
        v.finish()?;
        Ok(warnings)
    }

    /// The files the checks read when they run, besides their secrets (see
    /// `CheckSpec::secrets`): a `sip` check's `ca_file` holds certificates.
    fn check_probe_files(&self, v: &mut Validator) {
        for d in &self.file.devices {
            let place = d
                .checks
                .as_ref()
                .map(|c| c.referenced)
                .unwrap_or(d.id.referenced);
            for check in d.checks() {
                let problems: Vec<String> = match &check {
                    CheckSpec::Sip(c) => c
                        .ca_file
                        .iter()
                        .filter_map(|f| tls::read_certificates(&self.resolve(f)).err())
                        .map(|e| format!("sip check ca_file: {e}"))
                        .collect(),
                    _ => Vec::new(),
                };
                for p in problems {
                    v.error_at(&place, format!("device `{}`: {p}", d.id.value));
                }
            }
        }
    }

    /// `agent.collector.ca` holds certificates; `cert` and `key` are a usable pair at `now`
    /// (`driftvakt_common::tls::check_pair`: the key belongs to the certificate, which has not
    /// expired). Errors go to `v`; returns the warnings (expiry within 30 days, a key everyone
    /// may read).
    fn check_tls_files(
        &self,
        c: &CollectorSettings,
        now: DateTime<Utc>,
        v: &mut Validator,
    ) -> Vec<String> {
        if let Some(ca) = &c.ca {
            if let Err(e) = tls::read_certificates(&self.resolve(ca)) {
                v.error_at_key("agent.collector.ca", e.to_string());
            }
        }
        let (Some(cert), Some(key)) = (&c.cert, &c.key) else {
            return Vec::new();
        };
        let (cert, key) = (self.resolve(cert), self.resolve(key));
        let found = tls::check_pair(
            &cert,
            &key,
            now,
            "agent.collector.cert",
            "agent.collector.key",
        );
        for (key, e) in found.errors {
            v.error_at_key(&key, e);
        }
        found.warnings
    }

    /// The folder relative paths in the file are resolved against.
    pub fn base_dir(&self) -> PathBuf {
        self.path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default()
    }

    /// `path` made absolute against the configuration file's folder.
    pub fn resolve(&self, path: &Path) -> PathBuf {
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.base_dir().join(path)
        }
    }

    /// The part of the configuration the probers read.
    pub fn probe_settings(&self) -> ProbeSettings<'_> {
        ProbeSettings {
            icmp_receive_buffer: self.file.agent.icmp_receive_buffer,
            snmp_credentials: &self.file.snmp_credentials,
            base: self.base_dir(),
            devices: &self.file.devices,
        }
    }
}

/// What the probers take from the configuration ([`AgentConfig::probe_settings`]): the probers
/// see these and nothing else of the agent's settings.
#[derive(Debug, Clone)]
pub struct ProbeSettings<'a> {
    /// The receive buffer asked for the shared ICMP sockets, in bytes.
    pub icmp_receive_buffer: usize,
    /// The SNMP credentials checks refer to by id.
    pub snmp_credentials: &'a [SnmpCredentials],
    /// The folder relative secret files are read from (the configuration file's).
    pub base: PathBuf,
    /// The devices to be probed: ICMP says once at start when their checks cannot run.
    pub devices: &'a [Arc<DeviceConfig>],
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_as_bytes_or_with_units() {
        assert_eq!("268435456".parse::<ByteSize>().unwrap().0, 256 << 20);
        assert_eq!("256MiB".parse::<ByteSize>().unwrap().0, 256 << 20);
        assert_eq!("64KiB".parse::<ByteSize>().unwrap().0, 64 << 10);
        assert_eq!("1GiB".parse::<ByteSize>().unwrap().0, 1 << 30);
        assert_eq!("500MB".parse::<ByteSize>().unwrap().0, 500_000_000);
        for bad in ["", "MiB", "1.5MiB", "-1", "12 parsecs", "99999999999999GiB"] {
            assert!(bad.parse::<ByteSize>().is_err(), "{bad:?} should fail");
        }
    }

    fn load_str(yaml: &str) -> Result<AgentConfig, ConfigErrors> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.yaml");
        std::fs::write(&path, yaml).unwrap();
        AgentConfig::load(&path)
    }

    #[test]
    fn devices_are_read_compactly_and_a_wrong_list_is_placed() {
        let c = load_str(
            "agent:\n  id: a\ndevices:\n  - id: d\n    class: screen\n    address: 127.0.0.1\n    \
             checks:\n      - icmp\n",
        )
        .unwrap();
        let checks = &c.file.devices[0].checks.as_ref().unwrap().value;
        assert_eq!((checks.len(), checks.capacity()), (1, 1));
        assert_eq!(c.file.devices.capacity(), 1);
        let err = load_str("agent:\n  id: a\ndevices: 5\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("agent.yaml:3:") && err.contains("devices"),
            "{err}"
        );
        let err =
            load_str("agent:\n  id: a\ndevices:\n  - id: d\n    class: lamp\n    address: x\n")
                .unwrap_err()
                .to_string();
        assert!(
            err.contains("agent.yaml:5:") && err.contains("lamp"),
            "{err}"
        );
    }

    #[test]
    fn the_collector_and_spool_sections_load_with_defaults() {
        let c = load_str(
            "agent:\n  id: a\n  collector:\n    url: https://c.example:8480\n    token: { env: T }\n  spool:\n    dir: /tmp/s\n    max_bytes: 1MiB\n",
        )
        .unwrap();
        let col = c.file.agent.collector.unwrap();
        assert_eq!(col.urls(), ["https://c.example:8480"]);
        assert_eq!(col.batch_size, 500);
        assert_eq!(col.push_interval.std().as_secs(), 5);
        assert_eq!(col.assignment_refresh.std().as_secs(), 300);
        assert_eq!(c.file.agent.spool.max_bytes.0, 1 << 20);
        let standalone = load_str("agent:\n  id: a\n").unwrap();
        assert!(standalone.file.agent.collector.is_none());
        assert_eq!(standalone.file.agent.spool.max_bytes.0, 256 << 20);
    }

    #[test]
    fn collector_mistakes_are_reported() {
        let cases = [
            ("    token: abc\n", "secrets are not written in the config"),
            (
                "    token: { env: T }\n    cert: a.pem\n",
                "both `cert` and `key`",
            ),
            (
                "    token: { env: T }\n    batch_size: 0\n",
                "batch_size must be between",
            ),
        ];
        for (extra, expect) in cases {
            let yaml = format!("agent:\n  id: a\n  collector:\n    url: https://c\n{extra}");
            let err = load_str(&yaml).unwrap_err().to_string();
            assert!(err.contains(expect), "{yaml}\n=> {err}");
        }
        let err = load_str("agent:\n  id: a\n  collector:\n    url: c:80\n    token: { env: T }\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("must start with http"), "{err}");
        let both = "agent:\n  id: a\n  collector:\n    url: http://a\n    urls: [http://b]\n    token: { env: T }\n";
        let err = load_str(both).unwrap_err().to_string();
        assert!(err.contains("both `url` and `urls`"), "{err}");
        let err = load_str("agent:\n  id: a\n  spool:\n    max_bytes: 1KiB\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("at least 65536"), "{err}");
    }
}
