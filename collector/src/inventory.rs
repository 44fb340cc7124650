//! The collector's inventory: sites, devices, services and agents, read from strict YAML.
//!
//! Devices use the agent's own schema ([`DeviceConfig`]), so one device list serves both. A file
//! may `include:` other files (paths relative to the including file) whose sites, devices,
//! services, agents and SNMP credentials are merged in. Every problem found is reported, each
//! with file, line and key: duplicate ids, unknown sites, parents, members and assignments,
//! parent cycles, token files that cannot be read or are too short, and a secret two roles
//! share (an agent's token used as the operator token).

use crate::availability::{DeviceRules, Need};
use crate::notify::NotifyConfig;
use crate::store::Location as DbLocation;
use chrono::{DateTime, Utc};
use driftvakt_common::config::locate_key;
use driftvakt_common::config::{
    load_yaml, location, ConfigError, ConfigErrors, Duration, Location, Spanned, Validator,
};
use driftvakt_common::schema::secret::{
    cannot_read, check_secret_file_mode, read_secret_file, shared_secrets, RoleSecret, Shared,
};
use driftvakt_common::schema::{
    class_timing, validate_devices, CheckSpec, DeviceConfig, Secret, SecretRef, SnmpCredentials,
};
use driftvakt_common::DeviceClass;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The calendar section; owned by the calendar module, kept as raw data until it lands.
pub type CalendarSection = crate::calendar::CalendarConfig;

/// Shortest accepted agent token.
pub const MIN_TOKEN_LEN: usize = 16;

/// One inventory YAML file as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InventoryFile {
    /// Further files to merge in, relative to this one.
    #[serde(default)]
    pub include: Vec<Spanned<PathBuf>>,
    #[serde(default)]
    pub collector: Option<Spanned<CollectorSettings>>,
    #[serde(default)]
    pub sites: Vec<SiteConfig>,
    #[serde(default)]
    pub devices: Vec<DeviceConfig>,
    #[serde(default)]
    pub services: Vec<ServiceConfig>,
    #[serde(default)]
    pub agents: Vec<AgentEntry>,
    #[serde(default)]
    pub snmp_credentials: Vec<SnmpCredentials>,
    #[serde(default)]
    pub calendar: Option<CalendarSection>,
    /// Driftmeddelanden and alerts (main file only); without it the collector sends nothing.
    #[serde(default)]
    pub notify: Option<NotifyConfig>,
}

/// Settings of the collector process.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CollectorSettings {
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// A SQLite file (the default) or `postgres://USER@HOST:PORT/DB` (see
    /// [`crate::store::Location`]).
    #[serde(default = "default_database")]
    pub database: DbLocation,
    /// The PostgreSQL password's file (mode 0600; otherwise `PGPASSWORD`, see
    /// [`crate::store::Location`]); relative to the inventory's folder.
    #[serde(default)]
    pub database_password_file: Option<PathBuf>,
    /// Availability target per year (0.991 = 99.1 %).
    #[serde(default = "default_target")]
    pub target: f64,
    /// Consecutive failed results before a device is down.
    #[serde(default = "default_confirm")]
    pub confirm_failures: u32,
    /// Intervals without results before a device is unknown.
    #[serde(default = "default_stale")]
    pub stale_intervals: u32,
    /// Most incidents per year.
    #[serde(default = "default_goal")]
    pub incident_goal: u32,
    /// Largest accepted request body in bytes.
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
    /// Results further than this ahead of the collector's clock are rejected. 1s..1d.
    #[serde(
        default = "default_future",
        deserialize_with = "driftvakt_common::config::bounded::max_future"
    )]
    pub max_future: Duration,
    /// Results older than this before a device's first stored result (or before now, for a
    /// device with none) are rejected: an agent's clock or spool gone wrong never rewrites
    /// history back to year 1. 1h..3650d.
    #[serde(
        default = "default_past",
        deserialize_with = "driftvakt_common::config::bounded::max_past"
    )]
    pub max_past: Duration,
    /// Bearer token for operators' changes over the API (service windows); none: CLI only.
    #[serde(default)]
    pub operator_token: Option<SecretRef>,
    /// How long an incident may take to handle, in working time: `working_day` (default: the
    /// affected municipality's office hours of the day the fault began) or a duration of
    /// working time (`4h`; 1m..7d).
    #[serde(default)]
    pub handling_goal: HandlingGoal,
    /// How on-call cases are billed.
    #[serde(default)]
    pub oncall_billing: OncallBilling,
    /// A device without a result for this long has gone quiet (listed for retirement). 1d..3650d.
    #[serde(default = "default_quiet", deserialize_with = "quiet_after")]
    pub quiet_after: Duration,
    /// Grafana's address (`https://grafana.kommun.se`): the team's status page links its
    /// dashboards (`/d/driftvakt-oversikt`, ...).
    #[serde(default)]
    pub grafana_url: Option<String>,
    /// The collector's address as readers see it (`https://drift.kommun.se`): absolute links
    /// in the Atom feeds. Default: from the request's `Host`.
    #[serde(default)]
    pub public_url: Option<String>,
    /// How long raw per-probe results are kept (the derived history is kept for good).
    #[serde(default)]
    pub retention: Retention,
    /// This collector's name among the nodes sharing the database (unique; default: the
    /// host name).
    #[serde(default)]
    pub node: Option<String>,
    /// Leader lease and heartbeat timing of the nodes (see the `cluster` module).
    #[serde(default)]
    pub cluster: ClusterTiming,
}

/// `collector.cluster`: how often a node beats and how long the leader's lease lasts. A dead
/// leader is replaced within `lease + heartbeat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterTiming {
    /// 1s..10m, default 10s.
    #[serde(default = "default_lease", deserialize_with = "lease_duration")]
    pub lease: Duration,
    /// 100ms..5m, default 2s, and shorter than half the lease.
    #[serde(default = "default_heartbeat", deserialize_with = "heartbeat_duration")]
    pub heartbeat: Duration,
}

impl Default for ClusterTiming {
    fn default() -> Self {
        ClusterTiming {
            lease: default_lease(),
            heartbeat: default_heartbeat(),
        }
    }
}

fn default_lease() -> Duration {
    Duration::from_secs(10)
}

fn default_heartbeat() -> Duration {
    Duration::from_secs(2)
}

fn lease_duration<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    bounded_with(d, driftvakt_common::config::Bounds::new(1000, 600_000))
}

fn heartbeat_duration<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    bounded_with(d, driftvakt_common::config::Bounds::new(100, 300_000))
}

/// The handling-time goal of incidents (`collector.handling_goal`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HandlingGoal {
    /// One working day: the office hours of the day the fault began.
    #[default]
    WorkingDay,
    /// This much working time.
    Working(Duration),
}

impl<'de> Deserialize<'de> for HandlingGoal {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        if text == "working_day" {
            return Ok(HandlingGoal::WorkingDay);
        }
        let parsed: Duration = text.parse().map_err(|e| {
            serde::de::Error::custom(format!(
                "{e}: write `working_day` or a duration of working time such as `4h`"
            ))
        })?;
        driftvakt_common::config::Bounds::new(60_000, 7 * 86_400_000)
            .check(parsed)
            .map(HandlingGoal::Working)
            .map_err(serde::de::Error::custom)
    }
}

/// Billing of on-call cases (`collector.oncall_billing`): a case bills its length, at least
/// `minimum` (the framework assignment: half an hour), rounded up to a multiple of
/// `round_up_to` when set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OncallBilling {
    /// 0s..1d; default 30m.
    #[serde(
        default = "default_billing_minimum",
        deserialize_with = "billing_duration"
    )]
    pub minimum: Duration,
    /// 1s..1d; none by default (seconds as they are).
    #[serde(default, deserialize_with = "billing_duration_opt")]
    pub round_up_to: Option<Duration>,
}

impl Default for OncallBilling {
    fn default() -> Self {
        OncallBilling {
            minimum: default_billing_minimum(),
            round_up_to: None,
        }
    }
}

/// `collector.retention`: how long raw results are kept before they are compacted into runs
/// (see `store`'s module doc).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Retention {
    /// Raw per-probe results: 1h..3650d, default 14d. Batch ids are forgotten after as long.
    #[serde(
        default = "default_retention",
        deserialize_with = "driftvakt_common::config::bounded::retention"
    )]
    pub results: Duration,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            results: default_retention(),
        }
    }
}

fn default_billing_minimum() -> Duration {
    Duration::from_secs(1800)
}

fn default_quiet() -> Duration {
    Duration::from_secs(30 * 86_400)
}

fn bounded_with<'de, D: serde::Deserializer<'de>>(
    d: D,
    bounds: driftvakt_common::config::Bounds,
) -> Result<Duration, D::Error> {
    let v = Duration::deserialize(d)?;
    bounds.check(v).map_err(serde::de::Error::custom)
}

fn quiet_after<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    bounded_with(
        d,
        driftvakt_common::config::Bounds::new(86_400_000, 3650 * 86_400_000),
    )
}

fn billing_duration<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    bounded_with(d, driftvakt_common::config::Bounds::new(0, 86_400_000))
}

fn billing_duration_opt<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Duration>, D::Error> {
    bounded_with(d, driftvakt_common::config::Bounds::new(1000, 86_400_000)).map(Some)
}

fn default_retention() -> Duration {
    Duration::from_secs(14 * 86_400)
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8480))
}
fn default_database() -> DbLocation {
    DbLocation::Sqlite(PathBuf::from("/var/lib/driftvakt/driftvakt.db"))
}
fn default_target() -> f64 {
    0.991
}
fn default_confirm() -> u32 {
    3
}
fn default_stale() -> u32 {
    3
}
fn default_goal() -> u32 {
    5
}
fn default_max_body() -> usize {
    8 << 20
}
fn default_past() -> Duration {
    Duration::from_secs(30 * 86_400)
}

fn default_future() -> Duration {
    Duration::from_secs(300)
}

impl Default for CollectorSettings {
    fn default() -> Self {
        CollectorSettings {
            listen: default_listen(),
            database: default_database(),
            database_password_file: None,
            target: default_target(),
            confirm_failures: default_confirm(),
            stale_intervals: default_stale(),
            incident_goal: default_goal(),
            max_body_bytes: default_max_body(),
            max_future: default_future(),
            max_past: default_past(),
            operator_token: None,
            handling_goal: HandlingGoal::default(),
            oncall_billing: OncallBilling::default(),
            quiet_after: default_quiet(),
            grafana_url: None,
            public_url: None,
            retention: Retention::default(),
            node: None,
            cluster: ClusterTiming::default(),
        }
    }
}

/// A site: a building or node.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteConfig {
    pub id: Spanned<String>,
    #[serde(default)]
    pub name: Option<String>,
    pub municipality: String,
    /// A network node (knutpunkt): its UPS units must hold at least four hours.
    #[serde(default)]
    pub node: bool,
    /// A crisis-management building (ledningsplats: Kommunhuset Tranemo, Stadshuset
    /// Ulricehamn): it needs backup power of its own.
    #[serde(default)]
    pub crisis_site: bool,
    /// The backup runtime this site requires, in minutes (default 240 at nodes and crisis
    /// sites, the four-hour node reserve); 1..10080.
    #[serde(default)]
    pub required_runtime_minutes: Option<Spanned<u32>>,
    /// The department (verksamheten) on-call cases of this site's devices are billed to.
    #[serde(default)]
    pub department: Option<String>,
}

/// How many members a service needs: `all`, `any` or `{ at_least: N }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    #[default]
    All,
    Any,
    AtLeast(u32),
}

impl Rule {
    pub fn need(self) -> Need {
        match self {
            Rule::All => Need::All,
            Rule::Any => Need::Any,
            Rule::AtLeast(n) => Need::AtLeast(n as usize),
        }
    }
}

/// A service users notice, made of devices.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    pub id: Spanned<String>,
    #[serde(default)]
    pub name: Option<String>,
    pub members: Spanned<Vec<Spanned<String>>>,
    #[serde(default)]
    pub rule: Option<Spanned<Rule>>,
    /// Whether an outage of this service is an incident (counts against the yearly goal).
    #[serde(default = "default_true")]
    pub counts_as_incident: bool,
}

fn default_true() -> bool {
    true
}

/// An agent allowed to push results, and which devices it probes.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentEntry {
    pub id: Spanned<String>,
    #[serde(default)]
    pub token_file: Option<Spanned<PathBuf>>,
    #[serde(default)]
    pub token_env: Option<Spanned<String>>,
    #[serde(default)]
    pub sites: Vec<Spanned<String>>,
    #[serde(default)]
    pub municipalities: Vec<Spanned<String>>,
    #[serde(default)]
    pub devices: Vec<Spanned<String>>,
    /// Run this agent inside the collector process (the agent library, no second process, no
    /// token): for the demo and for devices the collector host itself can reach.
    #[serde(default)]
    pub embedded: bool,
}

/// A site, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    pub id: String,
    pub name: String,
    pub municipality: String,
    pub node: bool,
    pub crisis_site: bool,
    /// Minutes of backup runtime required (nodes and crisis sites; 240 unless set).
    pub required_runtime_minutes: Option<u32>,
    /// The department (verksamheten) its on-call cases are billed to, when set.
    pub department: Option<String>,
}

/// The backup runtime nodes and crisis sites need unless they set their own (four hours).
pub const DEFAULT_REQUIRED_RUNTIME_MINUTES: u32 = 240;

/// A device, resolved.
#[derive(Debug, Clone)]
pub struct Device {
    pub id: String,
    pub class: DeviceClass,
    pub site: String,
    pub municipality: String,
    pub parent: Option<String>,
    /// Check names results carry.
    pub checks: Vec<String>,
    pub rules: DeviceRules,
    pub config: DeviceConfig,
}

/// A service, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    pub id: String,
    pub name: String,
    pub members: Vec<String>,
    pub rule: Rule,
    pub counts_as_incident: bool,
}

/// An agent, resolved: its token and the devices it may report.
#[derive(Debug, Clone)]
pub struct Agent {
    pub id: String,
    pub token: Secret,
    pub devices: HashSet<String>,
    /// Runs inside the collector (its token is random and never leaves the process).
    pub embedded: bool,
    /// Where its token is configured (none for an embedded agent).
    pub token_source: Option<TokenSource>,
}

/// Where an agent's token is configured: the place of its `token_file:` or `token_env:` and
/// the file or variable the token is read from.
#[derive(Debug, Clone)]
pub struct TokenSource {
    pub place: ConfigError,
    pub file: Option<PathBuf>,
    pub env: Option<String>,
}

/// The whole inventory, validated.
#[derive(Debug, Clone)]
pub struct Inventory {
    pub path: PathBuf,
    pub settings: CollectorSettings,
    pub sites: Vec<Site>,
    pub devices: Vec<Device>,
    pub services: Vec<Service>,
    pub agents: Vec<Agent>,
    pub snmp_credentials: Vec<SnmpCredentials>,
    pub calendar: Option<CalendarSection>,
    /// The `notify:` section of the main file, validated.
    pub notify: Option<NotifyConfig>,
    device_index: HashMap<String, usize>,
    /// Ids of the SNMP credentials the main file defines (errors about them get its places).
    main_credentials: HashSet<String>,
}

impl Inventory {
    pub fn device(&self, id: &str) -> Option<&Device> {
        self.device_index.get(id).map(|&i| &self.devices[i])
    }
    pub fn site(&self, id: &str) -> Option<&Site> {
        self.sites.iter().find(|s| s.id == id)
    }
    pub fn agent(&self, id: &str) -> Option<&Agent> {
        self.agents.iter().find(|a| a.id == id)
    }
    /// Devices ordered so that every parent comes before its children.
    pub fn devices_parents_first(&self) -> Vec<&Device> {
        let mut done: HashSet<&str> = HashSet::new();
        let mut out = Vec::with_capacity(self.devices.len());
        while out.len() < self.devices.len() {
            let before = out.len();
            for d in &self.devices {
                let ready = d.parent.as_deref().is_none_or(|p| done.contains(p));
                if !done.contains(d.id.as_str()) && ready {
                    done.insert(&d.id);
                    out.push(d);
                }
            }
            if out.len() == before {
                break; // cycles are rejected when loading; never loop forever
            }
        }
        out
    }
    /// Municipalities in order of first appearance.
    pub fn municipalities(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for s in &self.sites {
            if !out.contains(&s.municipality) {
                out.push(s.municipality.clone());
            }
        }
        out
    }

    /// Loads `path` and its includes and validates them; reports every problem found. No two
    /// roles may share a secret (the same value, file or variable: agents' tokens, the operator
    /// token, the acknowledgement links' key, the channels' secrets, the SMTP and database
    /// passwords); secrets that do not resolve are left to [`Inventory::preflight`].
    pub fn load(path: &Path) -> Result<Inventory, ConfigErrors> {
        let files = load_all(path)?;
        let mut errors = Vec::new();
        let index = GlobalIndex::build(&files);
        for f in &files {
            let mut v = Validator::new(&f.path, &f.source);
            validate_file(&mut v, f, &index, &files);
            if let Err(e) = v.finish() {
                errors.extend(e.0);
            }
        }
        let agents = resolve_agents(&files, &index, &mut errors);
        validate_notify(&files[0], &index, &mut errors);
        if !errors.is_empty() {
            errors.sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
            return Err(ConfigErrors(errors));
        }
        let main_source = files[0].source.clone();
        let mut inv = resolve(path, files, agents);
        let shared = inv.shared_secrets(&main_source);
        if !shared.is_empty() {
            return Err(ConfigErrors(shared));
        }
        inv.set_database(inv.settings.database.clone());
        Ok(inv)
    }

    /// Sets the database (`collector.database` or `--database`); a PostgreSQL one reads its
    /// password from `collector.database_password_file` (relative to the inventory's folder)
    /// when that is set.
    pub fn set_database(&mut self, location: DbLocation) {
        let base = self.path.parent().unwrap_or(Path::new("."));
        let file = self.settings.database_password_file.as_ref();
        self.settings.database = location.with_password_file(file.map(|f| base.join(f)));
    }
}

struct LoadedFile {
    path: PathBuf,
    source: String,
    file: InventoryFile,
}

fn load_all(path: &Path) -> Result<Vec<LoadedFile>, ConfigErrors> {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    let mut queue = vec![path.to_path_buf()];
    let mut seen = HashSet::new();
    while let Some(p) = queue.pop() {
        let key = p.canonicalize().unwrap_or_else(|_| p.clone());
        if !seen.insert(key) {
            continue;
        }
        match load_yaml::<InventoryFile>(&p) {
            Ok((file, source)) => {
                let base = p.parent().unwrap_or(Path::new(".")).to_path_buf();
                let is_main = out.is_empty();
                let mut v = Validator::new(&p, &source);
                for inc in &file.include {
                    let target = base.join(&inc.value);
                    if !target.is_file() {
                        v.error_at(
                            &inc.referenced,
                            format!("included file {} does not exist", target.display()),
                        );
                    } else {
                        queue.push(target);
                    }
                }
                if !is_main {
                    if let Some(c) = &file.collector {
                        v.error_at(&c.referenced, "`collector:` belongs in the main file only");
                    }
                    if file.calendar.is_some() {
                        v.error("`calendar:` belongs in the main file only");
                    }
                    if file.notify.is_some() {
                        v.error("`notify:` belongs in the main file only");
                    }
                }
                if let Err(e) = v.finish() {
                    errors.extend(e.0);
                }
                out.push(LoadedFile {
                    path: p,
                    source,
                    file,
                });
            }
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(ConfigErrors(errors))
    }
}

/// Ids defined anywhere, for cross-file references.
struct GlobalIndex {
    sites: HashMap<String, String>,
    devices: HashMap<String, (Option<String>, String)>,
    municipalities: HashSet<String>,
}

impl GlobalIndex {
    fn build(files: &[LoadedFile]) -> Self {
        let mut sites = HashMap::new();
        let mut devices = HashMap::new();
        for f in files {
            for s in &f.file.sites {
                sites
                    .entry(s.id.value.clone())
                    .or_insert(s.municipality.clone());
            }
            for d in &f.file.devices {
                let site = d.site.as_ref().map(|s| s.value.clone()).unwrap_or_default();
                devices
                    .entry(d.id.value.clone())
                    .or_insert((d.parent.as_ref().map(|p| p.value.clone()), site));
            }
        }
        let municipalities = sites.values().cloned().collect();
        GlobalIndex {
            sites,
            devices,
            municipalities,
        }
    }
}

fn all_credentials(files: &[LoadedFile]) -> Vec<SnmpCredentials> {
    files
        .iter()
        .flat_map(|f| f.file.snmp_credentials.iter().cloned())
        .collect()
}

fn validate_file(v: &mut Validator, f: &LoadedFile, index: &GlobalIndex, files: &[LoadedFile]) {
    validate_settings(v, &f.file);
    validate_devices_across(v, f, index, files);
    let earlier = |pos: usize, pick: &dyn Fn(&InventoryFile) -> Vec<String>| -> HashSet<String> {
        files[..pos].iter().flat_map(|g| pick(&g.file)).collect()
    };
    let pos = files.iter().position(|g| g.path == f.path).unwrap_or(0);
    let mut seen = earlier(pos, &|g| {
        g.sites.iter().map(|s| s.id.value.clone()).collect()
    });
    for s in &f.file.sites {
        check_id(v, &s.id, "site", &mut seen);
        if let Some(m) = &s.required_runtime_minutes {
            if !(1..=10_080).contains(&m.value) {
                v.error_at(
                    &m.referenced,
                    format!(
                        "site `{}`: required_runtime_minutes must be between 1 and 10080",
                        s.id.value
                    ),
                );
            }
        }
    }
    let mut seen = earlier(pos, &|g| {
        g.services.iter().map(|s| s.id.value.clone()).collect()
    });
    for s in &f.file.services {
        check_id(v, &s.id, "service", &mut seen);
        validate_service(v, s, index);
    }
    let mut seen = earlier(pos, &|g| {
        g.agents.iter().map(|a| a.id.value.clone()).collect()
    });
    for a in &f.file.agents {
        check_id(v, &a.id, "agent", &mut seen);
        validate_assignment(v, a, index);
    }
}

fn check_id(v: &mut Validator, id: &Spanned<String>, what: &str, seen: &mut HashSet<String>) {
    if id.value.trim().is_empty() {
        v.error_at(&id.referenced, format!("{what} id must not be empty"));
    } else if let Some(p) = driftvakt_common::schema::validate::id_problem(what, &id.value) {
        v.error_at(&id.referenced, p);
    } else if !seen.insert(id.value.clone()) {
        v.error_at(
            &id.referenced,
            format!("duplicate {what} id `{}`", id.value),
        );
    }
}

fn validate_settings(v: &mut Validator, file: &InventoryFile) {
    let Some(c) = &file.collector else { return };
    let s = &c.value;
    if !(s.target > 0.0 && s.target < 1.0) {
        v.error_at(
            &c.referenced,
            "collector.target must be between 0 and 1, e.g. 0.991",
        );
    }
    if s.confirm_failures == 0 {
        v.error_at(
            &c.referenced,
            "collector.confirm_failures must be at least 1",
        );
    }
    if s.stale_intervals == 0 {
        v.error_at(
            &c.referenced,
            "collector.stale_intervals must be at least 1",
        );
    }
    if s.max_body_bytes < 1024 {
        v.error_at(
            &c.referenced,
            "collector.max_body_bytes must be at least 1024",
        );
    }
    if s.cluster.heartbeat.std() * 2 >= s.cluster.lease.std() {
        v.error_at_key(
            "collector.cluster.heartbeat",
            format!(
                "collector.cluster.heartbeat ({}) must be shorter than half the lease ({}): \
                 a leader renews at every heartbeat and must get two chances per lease",
                s.cluster.heartbeat, s.cluster.lease
            ),
        );
    }
    if let Some(node) = &s.node {
        if node.is_empty() || node.len() > 100 || node.chars().any(char::is_control) {
            v.error_at_key(
                "collector.node",
                "collector.node must have 1 to 100 characters and no control characters",
            );
        }
    }
}

/// The agent's device checks, plus the site requirement, cross-file parents and cycles.
fn validate_devices_across(
    v: &mut Validator,
    f: &LoadedFile,
    index: &GlobalIndex,
    files: &[LoadedFile],
) {
    // The agent's checks work on one list; run them on this file's devices, and drop its
    // unknown-parent errors for parents that another file defines.
    let mut local = Validator::new(&f.path, &f.source);
    validate_devices(&mut local, &f.file.devices, &all_credentials(files));
    if let Err(errs) = local.finish() {
        for e in errs.0 {
            let defined_elsewhere = index
                .devices
                .keys()
                .any(|id| e.message == format!("unknown parent device `{id}`"));
            if !defined_elsewhere {
                push_error(v, e);
            }
        }
    }
    let pos = files.iter().position(|g| g.path == f.path).unwrap_or(0);
    let earlier: HashSet<&str> = files[..pos]
        .iter()
        .flat_map(|g| g.file.devices.iter().map(|d| d.id.value.as_str()))
        .collect();
    for d in &f.file.devices {
        if earlier.contains(d.id.value.as_str()) {
            v.error_at(
                &d.id.referenced,
                format!("duplicate device id `{}`", d.id.value),
            );
        }
        match &d.site {
            None => v.error_at(
                &d.id.referenced,
                format!("device `{}` needs `site:`", d.id.value),
            ),
            Some(s) if !index.sites.contains_key(&s.value) => {
                v.error_at(&s.referenced, format!("unknown site `{}`", s.value))
            }
            _ => {}
        }
        if let Some(p) = &d.parent {
            if in_cycle(&d.id.value, index) {
                v.error_at(
                    &p.referenced,
                    format!("parent cycle: device `{}` is its own ancestor", d.id.value),
                );
            }
        }
    }
}

/// Re-records an error from another validator on `v` (same file).
fn push_error(v: &mut Validator, e: ConfigError) {
    if e.line == 0 {
        v.error(e.message);
        return;
    }
    // The Validator takes places as Locations; rebuild one from the line and column.
    let loc = location(e.line, e.column);
    v.error_at(&loc, e.message);
}

fn in_cycle(start: &str, index: &GlobalIndex) -> bool {
    let mut cur = index.devices.get(start).and_then(|d| d.0.clone());
    let mut steps = 0;
    while let Some(p) = cur {
        if p == start {
            return true;
        }
        steps += 1;
        if steps > index.devices.len() {
            return false; // a cycle not through `start`; reported at its own members
        }
        cur = index.devices.get(&p).and_then(|d| d.0.clone());
    }
    false
}

/// The `notify:` section: addresses and cron expressions ([`NotifyConfig::validate`]), and
/// every municipality it names (recipients, senders) must be one the sites define.
fn validate_notify(f: &LoadedFile, index: &GlobalIndex, errors: &mut Vec<ConfigError>) {
    let Some(n) = &f.file.notify else { return };
    let mut v = Validator::new(&f.path, &f.source);
    n.validate(&mut v, None);
    let named = n
        .municipalities
        .keys()
        .map(|m| ("municipalities", m))
        .chain(
            n.from
                .municipalities
                .keys()
                .map(|m| ("from.municipalities", m)),
        );
    for (section, m) in named {
        if !index.municipalities.contains(m) {
            let mut known: Vec<&str> = index.municipalities.iter().map(String::as_str).collect();
            known.sort_unstable();
            v.error_at_key(
                &format!("notify.{section}.{m}"),
                format!(
                    "unknown municipality `{m}` (the sites name: {})",
                    known.join(", ")
                ),
            );
        }
    }
    if let Err(e) = v.finish() {
        errors.extend(e.0);
    }
}

fn validate_service(v: &mut Validator, s: &ServiceConfig, index: &GlobalIndex) {
    if s.members.value.is_empty() {
        v.error_at(&s.members.referenced, "a service needs at least one member");
    }
    let mut seen = HashSet::new();
    for m in &s.members.value {
        if !index.devices.contains_key(&m.value) {
            v.error_at(
                &m.referenced,
                format!("unknown member device `{}`", m.value),
            );
        } else if !seen.insert(m.value.as_str()) {
            v.error_at(&m.referenced, format!("member `{}` listed twice", m.value));
        }
    }
    let Some(rule) = &s.rule else { return };
    if let Rule::AtLeast(n) = rule.value {
        if n == 0 || n as usize > s.members.value.len() {
            v.error_at(
                &rule.referenced,
                format!(
                    "at_least: {n} must be between 1 and the number of members ({})",
                    s.members.value.len()
                ),
            );
        }
    }
}

fn validate_assignment(v: &mut Validator, a: &AgentEntry, index: &GlobalIndex) {
    for s in &a.sites {
        if !index.sites.contains_key(&s.value) {
            v.error_at(&s.referenced, format!("unknown site `{}`", s.value));
        }
    }
    for m in &a.municipalities {
        if !index.municipalities.contains(&m.value) {
            v.error_at(&m.referenced, format!("unknown municipality `{}`", m.value));
        }
    }
    for d in &a.devices {
        if !index.devices.contains_key(&d.value) {
            v.error_at(&d.referenced, format!("unknown device `{}`", d.value));
        }
    }
    match (&a.token_file, &a.token_env) {
        (None, None) if a.embedded => {}
        (Some(_), _) | (_, Some(_)) if a.embedded => v.error_at(
            &a.id.referenced,
            format!(
                "agent `{}`: an embedded agent has no token; remove `token_file:`/`token_env:`",
                a.id.value
            ),
        ),
        (Some(_), Some(_)) | (None, None) => v.error_at(
            &a.id.referenced,
            format!(
                "agent `{}`: give exactly one of `token_file:` or `token_env:`",
                a.id.value
            ),
        ),
        _ => {}
    }
}

/// Reads every agent's token and works out its devices; token problems are errors.
fn resolve_agents(
    files: &[LoadedFile],
    index: &GlobalIndex,
    errors: &mut Vec<ConfigError>,
) -> Vec<Agent> {
    let mut out = Vec::new();
    // Token → the agent that has it and where (file, line), to refuse a token given twice.
    let mut owners: HashMap<String, (String, PathBuf, u64)> = HashMap::new();
    for f in files {
        let base = f.path.parent().unwrap_or(Path::new("."));
        let mut v = Validator::new(&f.path, &f.source);
        for a in &f.file.agents {
            match read_token(a, base) {
                Ok(Some(token)) => {
                    let loc = token_location(a);
                    let here = (a.id.value.clone(), f.path.clone(), loc.line());
                    if let Some((first, file, line)) =
                        owners.get(token.expose()).filter(|o| o.0 != a.id.value)
                    {
                        v.error_at(
                            &loc,
                            format!(
                                "agent `{}` has the same token as agent `{first}` ({}:{line}): \
                                 each agent needs its own token, or the collector cannot tell \
                                 them apart",
                                a.id.value,
                                file.display()
                            ),
                        );
                    } else {
                        owners.insert(token.expose().to_string(), here);
                    }
                    out.push(Agent {
                        id: a.id.value.clone(),
                        token,
                        devices: assigned_devices(a, index),
                        embedded: false,
                        token_source: Some(TokenSource {
                            place: place_of(f, &loc),
                            file: a.token_file.as_ref().map(|t| base.join(&t.value)),
                            env: a.token_env.as_ref().map(|e| e.value.clone()),
                        }),
                    })
                }
                Ok(None) if a.embedded => out.push(Agent {
                    id: a.id.value.clone(),
                    token: random_token(),
                    devices: assigned_devices(a, index),
                    embedded: true,
                    token_source: None,
                }),
                Ok(None) => {}
                Err((loc, msg)) => v.error_at(&loc, msg),
            }
        }
        if let Err(e) = v.finish() {
            errors.extend(e.0);
        }
    }
    out
}

/// The place of `loc` in `f`, with its key, for an error made later.
fn place_of(f: &LoadedFile, loc: &Location) -> ConfigError {
    ConfigError {
        file: f.path.clone(),
        line: loc.line(),
        column: loc.column(),
        key: driftvakt_common::config::key_path_at(&f.source, loc.line()),
        message: String::new(),
    }
}

/// A token nobody knows, for an embedded agent: it can never be used over HTTP.
fn random_token() -> Secret {
    use rand::Rng;
    let mut rng = rand::rng();
    Secret::new(
        (0..48)
            .map(|_| char::from(rng.sample(rand::distr::Alphanumeric)))
            .collect::<String>(),
    )
}

/// Where an agent's token is named (`token_file:` or `token_env:`), else its id.
fn token_location(a: &AgentEntry) -> Location {
    a.token_file
        .as_ref()
        .map(|f| f.referenced)
        .or(a.token_env.as_ref().map(|e| e.referenced))
        .unwrap_or(a.id.referenced)
}

fn read_token(a: &AgentEntry, base: &Path) -> Result<Option<Secret>, (Location, String)> {
    let (text, loc, what) = match (&a.token_file, &a.token_env) {
        (Some(file), None) => {
            let path = base.join(&file.value);
            let text = std::fs::read_to_string(&path)
                .map_err(|e| (file.referenced, cannot_read("token file", &path, &e)))?;
            (
                text,
                file.referenced,
                format!("token file {}", path.display()),
            )
        }
        (None, Some(var)) => {
            let text = std::env::var(&var.value).map_err(|_| {
                (
                    var.referenced,
                    format!("environment variable {} is not set", var.value),
                )
            })?;
            (
                text,
                var.referenced,
                format!("environment variable {}", var.value),
            )
        }
        _ => return Ok(None),
    };
    let token = text.trim();
    if token.len() < MIN_TOKEN_LEN || token.chars().any(char::is_whitespace) {
        return Err((
            loc,
            format!("{what}: a token must be one word of at least {MIN_TOKEN_LEN} characters"),
        ));
    }
    // The mode after the length, so a short token is reported as such.
    if let Some(file) = &a.token_file {
        check_secret_file_mode(&base.join(&file.value), "token file")
            .map_err(|e| (file.referenced, e))?;
    }
    Ok(Some(Secret::new(token)))
}

fn assigned_devices(a: &AgentEntry, index: &GlobalIndex) -> HashSet<String> {
    let sites: HashSet<&str> = a.sites.iter().map(|s| s.value.as_str()).collect();
    let munis: HashSet<&str> = a.municipalities.iter().map(|m| m.value.as_str()).collect();
    let named: HashSet<&str> = a.devices.iter().map(|d| d.value.as_str()).collect();
    index
        .devices
        .iter()
        .filter(|(id, (_, site))| {
            named.contains(id.as_str())
                || sites.contains(site.as_str())
                || index
                    .sites
                    .get(site)
                    .is_some_and(|m| munis.contains(m.as_str()))
        })
        .map(|(id, _)| id.clone())
        .collect()
}

fn resolve(path: &Path, files: Vec<LoadedFile>, agents: Vec<Agent>) -> Inventory {
    let settings = files[0]
        .file
        .collector
        .as_ref()
        .map(|c| c.value.clone())
        .unwrap_or_default();
    let calendar = files[0].file.calendar.clone();
    let notify = files[0].file.notify.clone();
    let main_credentials = (files[0].file.snmp_credentials.iter())
        .map(|c| c.id.value.clone())
        .collect();
    let mut sites = Vec::new();
    let mut devices = Vec::new();
    let mut services = Vec::new();
    let mut creds = Vec::new();
    for f in files {
        sites.extend(f.file.sites.into_iter().map(|s| {
            Site {
                name: s.name.unwrap_or_else(|| s.id.value.clone()),
                id: s.id.value,
                municipality: s.municipality,
                required_runtime_minutes: s
                    .required_runtime_minutes
                    .map(|m| m.value)
                    .or((s.node || s.crisis_site).then_some(DEFAULT_REQUIRED_RUNTIME_MINUTES)),
                node: s.node,
                crisis_site: s.crisis_site,
                department: s
                    .department
                    .map(|d| d.trim().to_string())
                    .filter(|d| !d.is_empty()),
            }
        }));
        devices.extend(f.file.devices);
        services.extend(f.file.services.into_iter().map(|s| Service {
            name: s.name.unwrap_or_else(|| s.id.value.clone()),
            id: s.id.value,
            members: s.members.value.into_iter().map(|m| m.value).collect(),
            rule: s.rule.map(|r| r.value).unwrap_or_default(),
            counts_as_incident: s.counts_as_incident,
        }));
        creds.extend(f.file.snmp_credentials);
    }
    let site_muni: BTreeMap<String, String> = sites
        .iter()
        .map(|s| (s.id.clone(), s.municipality.clone()))
        .collect();
    let devices: Vec<Device> = devices
        .into_iter()
        .map(|d| resolve_device(d, &settings, &site_muni))
        .collect();
    let device_index = devices
        .iter()
        .enumerate()
        .map(|(i, d)| (d.id.clone(), i))
        .collect();
    Inventory {
        path: path.to_path_buf(),
        settings,
        sites,
        devices,
        services,
        agents,
        snmp_credentials: creds,
        calendar,
        notify,
        device_index,
        main_credentials,
    }
}

fn resolve_device(
    d: DeviceConfig,
    settings: &CollectorSettings,
    site_muni: &BTreeMap<String, String>,
) -> Device {
    let checks = d.checks();
    let (class_interval, _) = class_timing(d.class);
    let device_interval = d.interval.map(|i| i.std()).unwrap_or(class_interval);
    let interval_of = |c: &driftvakt_common::schema::CheckSpec| {
        c.common()
            .interval
            .map(|i| i.std())
            .unwrap_or(device_interval)
    };
    let primary = checks
        .iter()
        .find(|c| c.kind() == "icmp")
        .or(checks.first());
    let primary_interval = primary.map(interval_of).unwrap_or(device_interval);
    let slowest = checks
        .iter()
        .map(interval_of)
        .max()
        .unwrap_or(device_interval);
    let site = d.site.as_ref().map(|s| s.value.clone()).unwrap_or_default();
    Device {
        id: d.id.value.clone(),
        class: d.class,
        municipality: site_muni.get(&site).cloned().unwrap_or_default(),
        site,
        parent: d.parent.as_ref().map(|p| p.value.clone()),
        checks: checks.iter().map(|c| c.name()).collect(),
        rules: DeviceRules {
            primary_check: primary.map(|c| c.name()).unwrap_or_else(|| "icmp".into()),
            interval_ms: primary_interval.as_millis() as i64,
            slowest_interval_ms: slowest.as_millis() as i64,
            confirm_failures: settings.confirm_failures,
            stale_intervals: settings.stale_intervals,
        },
        config: d,
    }
}

impl Inventory {
    /// What `run` needs beyond a well-formed inventory, checked without starting anything: every
    /// secret reference resolves (operator token, SMTP password, SNMP credentials of embedded
    /// agents; files must not be readable by group or others), the database's folder exists or
    /// can be created, and every report schedule fires in the five years after `now`. Errors
    /// name file, line, column and key like [`Inventory::load`]'s; the `Ok` value lists warnings
    /// (allowed but unwise settings).
    pub fn preflight(&self, now: DateTime<Utc>) -> Result<Vec<String>, ConfigErrors> {
        // The text only (for places): the inventory was parsed by `load`.
        let source = std::fs::read_to_string(&self.path).map_err(|e| ConfigError {
            file: self.path.clone(),
            line: 0,
            column: 0,
            key: None,
            message: format!("cannot read file: {e}"),
        })?;
        let mut v = Validator::new(&self.path, &source);
        let base = self.path.parent().unwrap_or(Path::new("."));
        if let Some(r) = &self.settings.operator_token {
            if let Err(e) = r.resolve(base) {
                v.error_at_key("collector.operator_token", e);
            }
        }
        if let Err(e) = database_folder_ok(&self.settings.database) {
            v.error_at_key("collector.database", e);
        }
        let mut warnings = Vec::new();
        if let Some(n) = &self.notify {
            n.validate(&mut v, Some(now));
            if let Some(smtp) = n.smtp.as_ref().filter(|s| s.username.is_some()) {
                match (&smtp.password_env, &smtp.password_file) {
                    (Some(var), _) if std::env::var_os(var).is_none() => v.error_at_key(
                        "notify.smtp.password_env",
                        format!("environment variable {var} (the SMTP password) is not set"),
                    ),
                    (None, Some(file)) => {
                        if let Err(e) = read_secret_file(file, "SMTP password file") {
                            v.error_at_key("notify.smtp.password_file", e);
                        }
                    }
                    (None, None) => v.error_at_key(
                        "notify.smtp.username",
                        "a user name needs `password_env:` or `password_file:`",
                    ),
                    _ => {}
                }
            }
            warnings.extend(n.warnings());
        }
        warnings.extend(self.backup_power().iter().flat_map(BackupSite::warnings));
        for (cred, agent) in self.embedded_credentials() {
            let refs = [
                ("community", &cred.community),
                ("auth_password", &cred.auth_password),
                ("priv_password", &cred.priv_password),
            ];
            for (what, r) in refs {
                let Some(r) = r else { continue };
                let Err(e) = r.resolve(base) else { continue };
                let message = format!(
                    "snmp_credentials `{}` (used by embedded agent `{agent}`): {what}: {e}",
                    cred.id.value
                );
                let in_main = self.main_credentials.contains(&cred.id.value);
                if in_main {
                    v.error_at(&cred.id.referenced, message);
                } else {
                    v.error(message);
                }
            }
        }
        v.finish()?;
        Ok(warnings)
    }

    /// Every role's secret (agents' tokens, the operator token, the acknowledgement links' key,
    /// the channels' secrets, the SMTP and database passwords) with the place it is configured.
    fn role_secrets(&self) -> Vec<(RoleSecret, ConfigError)> {
        let base = self.path.parent().unwrap_or(Path::new("."));
        // Placed in the main file when an error is made ([`Inventory::shared_secrets`]).
        let main = |key: &str| ConfigError {
            file: self.path.clone(),
            line: 0,
            column: 0,
            key: Some(key.to_string()),
            message: String::new(),
        };
        let mut out = Vec::new();
        for a in &self.agents {
            let Some(t) = &a.token_source else { continue };
            let role = RoleSecret {
                role: format!("agent `{}`'s token", a.id),
                file: t.file.clone(),
                env: t.env.clone(),
                value: Some(a.token.clone()),
            };
            out.push((role, t.place.clone()));
        }
        let mut refs: Vec<(String, String, &SecretRef)> = Vec::new();
        if let Some(r) = &self.settings.operator_token {
            refs.push((
                "the operator token".into(),
                "collector.operator_token".into(),
                r,
            ));
        }
        if let Some(n) = &self.notify {
            if let Some(ack) = &n.ack {
                let key = "notify.ack.key".to_string();
                refs.push(("the acknowledgement links' key".into(), key, &ack.key));
            }
            for (name, c) in &n.channels {
                for (field, r) in c.secrets() {
                    let role = format!("channel `{name}`'s {field}");
                    refs.push((role, format!("notify.channels.{name}.{field}"), r));
                }
            }
        }
        for (role, key, r) in refs {
            out.push((RoleSecret::from_ref(role, r, base), main(&key)));
        }
        let smtp = self.notify.as_ref().and_then(|n| n.smtp.as_ref());
        if let Some(smtp) = smtp.filter(|s| s.username.is_some()) {
            let r = SecretRef {
                env: smtp.password_env.clone(),
                file: smtp.password_file.clone(),
            };
            let key = if r.env.is_some() {
                "notify.smtp.password_env"
            } else {
                "notify.smtp.password_file"
            };
            let role = RoleSecret::from_ref("the SMTP password", &r, Path::new(""));
            out.push((role, main(key)));
        }
        if let Some(f) = &self.settings.database_password_file {
            let r = SecretRef {
                env: None,
                file: Some(f.clone()),
            };
            let role = RoleSecret::from_ref("the database password", &r, base);
            out.push((role, main("collector.database_password_file")));
        }
        out
    }

    /// A secret two roles share, as errors at the later role's place naming both (never the
    /// value).
    fn shared_secrets(&self, source: &str) -> Vec<ConfigError> {
        let roles = self.role_secrets();
        let place = |p: &ConfigError| {
            let mut p = p.clone();
            if let (0, Some(key)) = (p.line, &p.key) {
                (p.line, p.column) = locate_key(source, key).unwrap_or((0, 0));
            }
            p
        };
        let secrets: Vec<RoleSecret> = roles.iter().map(|(r, _)| r.clone()).collect();
        shared_secrets(&secrets)
            .into_iter()
            .map(|(i, j, why)| {
                let (this, this_place) = &roles[i];
                let (other, other_place) = &roles[j];
                let other_place = place(other_place);
                let how = match why {
                    Shared::Value => "has the same secret as".to_string(),
                    Shared::File => format!(
                        "is read from the same file ({}) as",
                        this.file.as_deref().unwrap_or(Path::new("")).display()
                    ),
                    Shared::Env => format!(
                        "is read from the same environment variable ({}) as",
                        this.env.as_deref().unwrap_or_default()
                    ),
                };
                let mut e = place(this_place);
                e.message = format!(
                    "{} {how} {} ({}:{}): every role needs a secret of its own, or whoever \
                     holds one can act as the other (an agent with the operator token could \
                     silence every alarm); make a new secret for one of them",
                    this.role,
                    other.role,
                    other_place.file.display(),
                    other_place.line
                );
                e
            })
            .collect()
    }

    /// The SNMP credentials the embedded agents' devices use, each once, with an agent using it.
    fn embedded_credentials(&self) -> Vec<(&SnmpCredentials, &str)> {
        let mut out: Vec<(&SnmpCredentials, &str)> = Vec::new();
        for a in self.agents.iter().filter(|a| a.embedded) {
            for d in self.devices.iter().filter(|d| a.devices.contains(&d.id)) {
                for check in d.config.checks() {
                    let CheckSpec::Snmp(s) = check else { continue };
                    let cred = match &s.credentials {
                        Some(id) => self.snmp_credentials.iter().find(|c| &c.id.value == id),
                        None if self.snmp_credentials.len() == 1 => self.snmp_credentials.first(),
                        None => None,
                    };
                    if let Some(c) = cred {
                        if !out.iter().any(|(o, _)| o.id.value == c.id.value) {
                            out.push((c, &a.id));
                        }
                    }
                }
            }
        }
        out
    }
}

/// A site that needs backup power (a node or a crisis site) and the UPS units it has.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BackupSite {
    pub site: String,
    pub name: String,
    pub municipality: String,
    pub node: bool,
    pub crisis_site: bool,
    pub required_runtime_minutes: u32,
    /// UPS devices at the site, with the minimum runtime each is held to (its
    /// `min_runtime_minutes`, default 240).
    pub ups: Vec<BackupUps>,
    /// No UPS in the inventory.
    pub missing_ups: bool,
}

/// One UPS at a site that needs backup power.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BackupUps {
    pub device: String,
    pub min_runtime_minutes: u32,
    /// Held to less than the site requires.
    pub below_requirement: bool,
}

impl BackupSite {
    /// What `check-config` warns about: no UPS, or a UPS held to less than the site needs.
    pub fn warnings(&self) -> Vec<String> {
        let what = match (self.node, self.crisis_site) {
            (true, true) => "network node and crisis site",
            (true, false) => "network node (knutpunkt)",
            _ => "crisis site (ledningsplats)",
        };
        let mut out = Vec::new();
        if self.missing_ups {
            out.push(format!(
                "site `{}` ({what}) has no UPS in the inventory: it needs {} minutes of backup power",
                self.site, self.required_runtime_minutes
            ));
        }
        for u in self.ups.iter().filter(|u| u.below_requirement) {
            out.push(format!(
                "site `{}` ({what}) needs {} minutes of backup power, but UPS `{}` is held to {} (min_runtime_minutes)",
                self.site, self.required_runtime_minutes, u.device, u.min_runtime_minutes
            ));
        }
        out
    }
}

impl Inventory {
    /// Every node and crisis site with its UPS units, in inventory order.
    pub fn backup_power(&self) -> Vec<BackupSite> {
        self.sites
            .iter()
            .filter(|s| s.node || s.crisis_site)
            .map(|s| {
                let required = s
                    .required_runtime_minutes
                    .unwrap_or(DEFAULT_REQUIRED_RUNTIME_MINUTES);
                let ups: Vec<BackupUps> = self
                    .devices
                    .iter()
                    .filter(|d| d.site == s.id && d.class == DeviceClass::Ups)
                    .map(|d| {
                        let min = d
                            .config
                            .min_runtime_minutes
                            .unwrap_or(DEFAULT_REQUIRED_RUNTIME_MINUTES);
                        BackupUps {
                            device: d.id.clone(),
                            min_runtime_minutes: min,
                            below_requirement: min < required,
                        }
                    })
                    .collect();
                BackupSite {
                    site: s.id.clone(),
                    name: s.name.clone(),
                    municipality: s.municipality.clone(),
                    node: s.node,
                    crisis_site: s.crisis_site,
                    required_runtime_minutes: required,
                    missing_ups: ups.is_empty(),
                    ups,
                }
            })
            .collect()
    }
}

/// The database's folder exists or can be created (SQLite); the password file is readable by
/// its owner only (PostgreSQL).
fn database_folder_ok(db: &DbLocation) -> Result<(), String> {
    let db = match db {
        DbLocation::Sqlite(path) => path,
        DbLocation::Postgres(pg) => return pg.password().map(|_| ()),
    };
    crate::store::db::check_location(db)?;
    let folder = db.parent().unwrap_or(Path::new("."));
    driftvakt_common::config::folder_can_be_created(folder)
        .map_err(|e| format!("database {}: {e}", db.display()))
}
