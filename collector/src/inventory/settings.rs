//! `collector:`: the collector process's settings (listen address, database, target, ingest
//! limits, retention, cluster timing, billing and handling goals), with their defaults and
//! bounds checked while parsing.

use super::database::Location as DbLocation;
use driftvakt_common::config::Duration;
use driftvakt_common::schema::SecretRef;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Settings of the collector process.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CollectorSettings {
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// A SQLite file (the default) or `postgres://USER@HOST:PORT/DB` (see
    /// [`super::database::Location`]).
    #[serde(default = "default_database")]
    pub database: DbLocation,
    /// The PostgreSQL password's file (mode 0600; otherwise `PGPASSWORD`, see
    /// [`super::database::Location`]); relative to the inventory's folder.
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
    /// HTTPS instead of plain HTTP (see [`super::tls`]); relative paths from the inventory's
    /// folder.
    #[serde(default)]
    pub tls: Option<super::tls::TlsSettings>,
    /// The operator web under `/drift/` (see [`super::web`]); off without it.
    #[serde(default)]
    pub web: Option<super::web::WebSettings>,
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
            tls: None,
            web: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses with the shared strict loader (as the inventory does).
    fn parse(yaml: &str) -> Result<CollectorSettings, String> {
        driftvakt_common::config::parse_yaml(yaml, std::path::Path::new("t.yaml"))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_and_bounds() {
        let s = parse("{}").unwrap();
        assert_eq!(s.target, 0.991);
        assert_eq!(s.cluster, ClusterTiming::default());
        assert_eq!(s.handling_goal, HandlingGoal::WorkingDay);
        assert_eq!(s.oncall_billing.minimum, Duration::from_secs(1800));
        assert_eq!(s.retention.results, Duration::from_secs(14 * 86_400));
        assert_eq!(
            parse("handling_goal: 4h").unwrap().handling_goal,
            HandlingGoal::Working(Duration::from_secs(4 * 3600))
        );
        let err = parse("handling_goal: soon").unwrap_err();
        assert!(err.contains("write `working_day`"), "{err}");
        assert!(parse("cluster: { heartbeat: 50ms }").is_err());
        assert!(parse("quiet_after: 1h").is_err());
        assert!(parse("oncall_billing: { round_up_to: 0s }").is_err());
        assert!(parse("listen: 127.0.0.1:1\nunknown: 1").is_err());
    }
}
