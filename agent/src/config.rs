//! The agent's configuration: which devices to probe, with which checks, how often.
//!
//! The device and check types here are also the collector's inventory types (the collector
//! embeds them), so the infrastructure team writes one schema. Loading is strict: unknown keys,
//! bad durations, bad addresses, duplicate ids and unknown references are errors that name file,
//! line and key. Secrets (SNMP communities, v3 passwords) are read from environment variables or
//! files named here and never appear in logs or errors.

use driftvakt_common::config::{load_yaml, ConfigErrors, Duration, Spanned, Validator};
use driftvakt_common::DeviceClass;
use serde::{Deserialize, Deserializer};
use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

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
    #[serde(default)]
    pub devices: Vec<DeviceConfig>,
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
}

/// `agent.collector`: where results go and where the central assignment comes from.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CollectorSettings {
    /// Base URL, e.g. `https://collector.kommun.se:8480`.
    pub url: String,
    /// Bearer token, from the environment or a file.
    pub token: SecretRef,
    /// PEM file with extra CA certificates to trust for the collector.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Client certificate (PEM) for mutual TLS; needs `client_key`.
    #[serde(default)]
    pub client_cert: Option<PathBuf>,
    /// Private key (PEM) of `client_cert`.
    #[serde(default)]
    pub client_key: Option<PathBuf>,
    /// Results per pushed batch (also fixes the batch boundaries in the spool).
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// How often results are pushed.
    #[serde(default = "default_push_interval")]
    pub push_interval: Duration,
    /// How often the assignment is fetched again.
    #[serde(default = "default_assignment_refresh")]
    pub assignment_refresh: Duration,
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
}

impl Default for SpoolSettings {
    fn default() -> Self {
        SpoolSettings {
            dir: default_spool_dir(),
            max_bytes: default_spool_max(),
        }
    }
}

fn default_spool_dir() -> PathBuf {
    PathBuf::from("/var/lib/driftvakt/spool")
}
fn default_spool_max() -> ByteSize {
    ByteSize(256 << 20)
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

/// Interval and timeout.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Timing {
    #[serde(default)]
    pub interval: Option<Duration>,
    #[serde(default)]
    pub timeout: Option<Duration>,
}

/// One device in the inventory.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceConfig {
    pub id: Spanned<String>,
    pub class: DeviceClass,
    #[serde(default)]
    pub site: Option<Spanned<String>>,
    /// IP address (v4 or v6) or host name.
    pub address: Spanned<String>,
    /// The device this one is reached through (collector: unreachable instead of down).
    #[serde(default)]
    pub parent: Option<Spanned<String>>,
    #[serde(default)]
    pub interval: Option<Duration>,
    #[serde(default)]
    pub timeout: Option<Duration>,
    /// UPS: the runtime below which the UPS is degraded (default 240, the four-hour node reserve).
    #[serde(default)]
    pub min_runtime_minutes: Option<u32>,
    /// Checks; a plain name (`icmp`) takes that kind's defaults. Default: per class.
    #[serde(default)]
    pub checks: Option<Spanned<Vec<CheckEntry>>>,
    /// Free text shown in notices and dashboards.
    #[serde(default)]
    pub description: Option<String>,
}

impl DeviceConfig {
    /// The checks to run, falling back to the class's default set.
    pub fn checks(&self) -> Vec<CheckSpec> {
        match &self.checks {
            Some(c) => c.value.iter().map(|e| e.0.clone()).collect(),
            None => default_checks(self.class),
        }
    }
}

/// The checks a device class gets when its entry names none.
pub fn default_checks(class: DeviceClass) -> Vec<CheckSpec> {
    let icmp = CheckSpec::Icmp(IcmpCheck::default());
    match class {
        DeviceClass::Switch | DeviceClass::Ups | DeviceClass::Printer => {
            vec![icmp, CheckSpec::Snmp(SnmpCheck::default())]
        }
        DeviceClass::AccessPoint | DeviceClass::Screen => vec![icmp],
    }
}

/// Built-in interval and timeout per class.
pub fn class_timing(class: DeviceClass) -> (std::time::Duration, std::time::Duration) {
    use std::time::Duration as D;
    match class {
        DeviceClass::Switch | DeviceClass::Ups => (D::from_secs(30), D::from_secs(5)),
        DeviceClass::AccessPoint | DeviceClass::Printer | DeviceClass::Screen => {
            (D::from_secs(60), D::from_secs(5))
        }
    }
}

/// One check of a device. Adding a probe kind adds one variant here.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CheckSpec {
    Icmp(IcmpCheck),
    Snmp(SnmpCheck),
    Http(HttpCheck),
    Tcp(TcpCheck),
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
        #[derive(Debug, Clone, Default, PartialEq, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            /// Name of the check in results and metrics; defaults to the kind.
            #[serde(default)]
            pub name: Option<String>,
            #[serde(default)]
            pub interval: Option<Duration>,
            #[serde(default)]
            pub timeout: Option<Duration>,
            $($(#[$fm])* #[serde(default)] pub $field: $ty,)*
        }
    };
}

check_struct!(
    /// ICMP echo: `count` requests per probe, RTT min/avg/max and loss.
    IcmpCheck {
        /// Echo requests per probe (default 3).
        count: Option<u16>,
        /// Pause between the requests of one probe (default 100ms).
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
    }
);

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
    }
);

check_struct!(
    /// TCP connect, e.g. to a printer's port 9100.
    TcpCheck {
        port: Option<u16>,
    }
);

impl CheckSpec {
    /// The check of `kind` with all defaults, if `kind` names one.
    pub fn default_of(kind: &str) -> Option<CheckSpec> {
        Some(match kind {
            "icmp" => CheckSpec::Icmp(IcmpCheck::default()),
            "snmp" => CheckSpec::Snmp(SnmpCheck::default()),
            "http" => CheckSpec::Http(HttpCheck::default()),
            "tcp" => CheckSpec::Tcp(TcpCheck::default()),
            _ => return None,
        })
    }

    pub fn kind(&self) -> &'static str {
        match self {
            CheckSpec::Icmp(_) => "icmp",
            CheckSpec::Snmp(_) => "snmp",
            CheckSpec::Http(_) => "http",
            CheckSpec::Tcp(_) => "tcp",
        }
    }

    /// Name, interval and timeout set on this check.
    pub fn common(&self) -> CheckCommon {
        let (name, interval, timeout) = match self {
            CheckSpec::Icmp(c) => (&c.name, c.interval, c.timeout),
            CheckSpec::Snmp(c) => (&c.name, c.interval, c.timeout),
            CheckSpec::Http(c) => (&c.name, c.interval, c.timeout),
            CheckSpec::Tcp(c) => (&c.name, c.interval, c.timeout),
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
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CheckEntry(#[serde(deserialize_with = "deserialize_check_entry")] pub CheckSpec);

fn deserialize_check_entry<'de, D: Deserializer<'de>>(d: D) -> Result<CheckSpec, D::Error> {
    struct V;
    impl<'de> serde::de::Visitor<'de> for V {
        type Value = CheckSpec;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a check kind (icmp, snmp, http, tcp) or a map with `kind:`")
        }
        fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<CheckSpec, E> {
            CheckSpec::default_of(s).ok_or_else(|| {
                E::custom(format!(
                    "unknown check kind `{s}`, expected one of icmp, snmp, http, tcp"
                ))
            })
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<CheckSpec, A::Error> {
            CheckSpec::deserialize(serde::de::value::MapAccessDeserializer::new(map))
        }
    }
    d.deserialize_any(V)
}

/// SNMP credentials; secrets come from environment variables or files.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnmpCredentials {
    pub id: Spanned<String>,
    pub version: SnmpVersion,
    /// v1/v2c community.
    #[serde(default)]
    pub community: Option<SecretRef>,
    /// v3 user name.
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub auth_protocol: Option<AuthProtocol>,
    #[serde(default)]
    pub auth_password: Option<SecretRef>,
    #[serde(default)]
    pub priv_protocol: Option<PrivProtocol>,
    #[serde(default)]
    pub priv_password: Option<SecretRef>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SnmpVersion {
    V1,
    V2c,
    V3,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthProtocol {
    Md5,
    Sha,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PrivProtocol {
    Des,
    Aes,
    Aes192,
    Aes256,
}

/// Where a secret is: `{ env: NAME }` or `{ file: PATH }`. Literal secrets are not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretRef {
    pub env: Option<String>,
    pub file: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SecretRefMap {
    #[serde(default)]
    env: Option<String>,
    #[serde(default)]
    file: Option<PathBuf>,
}

impl<'de> Deserialize<'de> for SecretRef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = SecretRef;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("{ env: NAME } or { file: PATH }")
            }
            fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<SecretRef, E> {
                Err(E::custom(
                    "secrets are not written in the config: use { env: VARIABLE } or { file: PATH }",
                ))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<SecretRef, A::Error> {
                let m =
                    SecretRefMap::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                Ok(SecretRef {
                    env: m.env,
                    file: m.file,
                })
            }
        }
        d.deserialize_any(V)
    }
}

/// A secret value; its Debug and Display never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl SecretRef {
    /// Reads the secret; the error names where it looked, never the value.
    pub fn resolve(&self, base: &Path) -> Result<Secret, String> {
        match (&self.env, &self.file) {
            (Some(var), None) => std::env::var(var)
                .map(Secret)
                .map_err(|_| format!("environment variable {var} is not set")),
            (None, Some(file)) => {
                let path = if file.is_absolute() {
                    file.clone()
                } else {
                    base.join(file)
                };
                std::fs::read_to_string(&path)
                    .map(|s| Secret(s.trim_end_matches(['\n', '\r']).to_string()))
                    .map_err(|e| format!("cannot read secret file {}: {e}", path.display()))
            }
            _ => Err("give exactly one of `env:` or `file:`".to_string()),
        }
    }
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
        if file.agent.concurrency == 0 {
            v.error("agent.concurrency must be at least 1");
        }
        if let Some(c) = &file.agent.collector {
            validate_collector(&mut v, c);
        }
        if file.agent.spool.max_bytes.0 < MIN_SPOOL_BYTES {
            v.error(format!(
                "agent.spool.max_bytes must be at least {MIN_SPOOL_BYTES} bytes (64KiB)"
            ));
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
    if !(c.url.starts_with("http://") || c.url.starts_with("https://")) {
        v.error(format!(
            "agent.collector.url `{}` must start with http:// or https://",
            c.url
        ));
    }
    if c.client_cert.is_some() != c.client_key.is_some() {
        v.error("agent.collector needs both `client_cert` and `client_key`, or neither");
    }
    if !(1..=10_000).contains(&c.batch_size) {
        v.error("agent.collector.batch_size must be between 1 and 10000");
    }
    if c.push_interval.std().is_zero() || c.assignment_refresh.std().is_zero() {
        v.error("agent.collector.push_interval and assignment_refresh must be longer than 0s");
    }
}

impl AgentConfig {
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
}

/// Checks ids, addresses, parents, check settings and credential references.
pub fn validate_devices(v: &mut Validator, devices: &[DeviceConfig], creds: &[SnmpCredentials]) {
    let mut seen = HashSet::new();
    for d in devices {
        if d.id.value.trim().is_empty() {
            v.error_at(&d.id.referenced, "device id must not be empty");
        } else if !seen.insert(d.id.value.as_str()) {
            v.error_at(
                &d.id.referenced,
                format!("duplicate device id `{}`", d.id.value),
            );
        }
        if let Err(msg) = validate_address(&d.address.value) {
            v.error_at(&d.address.referenced, msg);
        }
    }
    let ids: HashSet<&str> = devices.iter().map(|d| d.id.value.as_str()).collect();
    let cred_ids: HashSet<&str> = creds.iter().map(|c| c.id.value.as_str()).collect();
    for d in devices {
        if let Some(p) = &d.parent {
            if !ids.contains(p.value.as_str()) {
                v.error_at(
                    &p.referenced,
                    format!("unknown parent device `{}`", p.value),
                );
            } else if p.value == d.id.value {
                v.error_at(&p.referenced, "a device cannot be its own parent");
            }
        }
        let place = d
            .checks
            .as_ref()
            .map(|c| c.referenced)
            .unwrap_or(d.id.referenced);
        for check in d.checks() {
            if let Err(msg) = validate_check(&check, &cred_ids) {
                v.error_at(&place, format!("device `{}`: {msg}", d.id.value));
            }
        }
    }
}

fn validate_check(check: &CheckSpec, cred_ids: &HashSet<&str>) -> Result<(), String> {
    let common = check.common();
    if let (Some(i), Some(t)) = (common.interval, common.timeout) {
        if t > i {
            return Err(format!(
                "{} check: timeout {t} is longer than its interval {i}",
                check.kind()
            ));
        }
    }
    match check {
        CheckSpec::Snmp(s) => match &s.credentials {
            Some(c) if !cred_ids.contains(c.as_str()) => Err(format!(
                "snmp check refers to unknown credentials `{c}` (define it under snmp_credentials)"
            )),
            None if cred_ids.len() != 1 => {
                Err("snmp check needs `credentials:` naming an entry under snmp_credentials".into())
            }
            _ => Ok(()),
        },
        CheckSpec::Tcp(t) if t.port.is_none() => Err("tcp check needs `port:`".into()),
        CheckSpec::Icmp(i) if i.count == Some(0) => Err("icmp count must be at least 1".into()),
        CheckSpec::Http(h) => match &h.url {
            Some(u) if !(u.starts_with("http://") || u.starts_with("https://")) => Err(format!(
                "http check url `{u}` must start with http:// or https://"
            )),
            _ => Ok(()),
        },
        _ => Ok(()),
    }
}

/// Checks credential ids and that each version has what it needs.
pub fn validate_credentials(v: &mut Validator, creds: &[SnmpCredentials]) {
    let mut seen = HashSet::new();
    for c in creds {
        if !seen.insert(c.id.value.as_str()) {
            v.error_at(
                &c.id.referenced,
                format!("duplicate snmp_credentials id `{}`", c.id.value),
            );
        }
        let problem = match c.version {
            SnmpVersion::V1 | SnmpVersion::V2c if c.community.is_none() => {
                Some("v1/v2c credentials need `community: { env: NAME }` or `{ file: PATH }`")
            }
            SnmpVersion::V3 if c.user.is_none() => Some("v3 credentials need `user:`"),
            SnmpVersion::V3 if c.auth_protocol.is_some() != c.auth_password.is_some() => {
                Some("v3 credentials need both `auth_protocol` and `auth_password`, or neither")
            }
            SnmpVersion::V3 if c.priv_protocol.is_some() != c.priv_password.is_some() => {
                Some("v3 credentials need both `priv_protocol` and `priv_password`, or neither")
            }
            SnmpVersion::V3 if c.priv_protocol.is_some() && c.auth_protocol.is_none() => {
                Some("v3 privacy (priv_protocol) requires authentication (auth_protocol)")
            }
            _ => None,
        };
        if let Some(p) = problem {
            v.error_at(
                &c.id.referenced,
                format!("snmp_credentials `{}`: {p}", c.id.value),
            );
        }
    }
}

/// An address is an IP literal or a plausible host name.
pub fn validate_address(addr: &str) -> Result<(), String> {
    if addr.parse::<std::net::IpAddr>().is_ok() {
        return Ok(());
    }
    let looks_like_ip = addr.chars().all(|c| c.is_ascii_digit() || c == '.');
    let valid_host = !addr.is_empty()
        && addr.len() <= 253
        && addr.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !l.starts_with('-')
        });
    if looks_like_ip || !valid_host {
        Err(format!(
            "invalid address `{addr}`: expected an IPv4 or IPv6 address or a host name"
        ))
    } else {
        Ok(())
    }
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
    fn the_collector_and_spool_sections_load_with_defaults() {
        let c = load_str(
            "agent:\n  id: a\n  collector:\n    url: https://c.example:8480\n    token: { env: T }\n  spool:\n    dir: /tmp/s\n    max_bytes: 1MiB\n",
        )
        .unwrap();
        let col = c.file.agent.collector.unwrap();
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
                "    token: { env: T }\n    client_cert: a.pem\n",
                "both `client_cert` and `client_key`",
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
        let err = load_str("agent:\n  id: a\n  spool:\n    max_bytes: 1KiB\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("at least 65536"), "{err}");
    }
}
