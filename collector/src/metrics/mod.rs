//! The collector's own Prometheus metrics: what the Grafana dashboards in `dashboards/` read.
//!
//! Three sources, all rendered by one [`prometheus_client::collector::Collector`]
//! ([`CollectorMetrics`]) except the ingest counters:
//! - **per scrape**, cheap: device and service state now (only outages overlapping the last few
//!   intervals are read), service windows now and next, agents' last contact, the target and the
//!   incident goal, and each device's latest readings (UPS, printer supplies, certificates, RTT)
//!   from [`IngestMetrics`]' in-memory map;
//! - **in the background**, every 60 s by default and once at start: availability, downtime,
//!   error budget and incidents for the current month, tertial and year, computed with
//!   [`crate::report::build`] into an [`AvailabilitySnapshot`] that scrapes only read;
//! - **at ingest** ([`IngestMetrics::observe`], called by ingest): results
//!   ingested and rejected (by a bounded reason code), duplicate batches, latest readings.
//!
//! Latest readings are kept in memory rather than read from the store on each scrape: a scrape
//! then costs a walk over a map bounded by the inventory (no SQL, no JSON parsing), and the
//! store's trait stays as it is for every backend. The map is seeded from stored results at
//! start ([`seed_latest`]), so a restart does not blank the UPS panels until the next probe.
//!
//! Cardinality is bounded by the inventory: labels are device, class, site, municipality,
//! service, agent, period (3 values), kind and reason (fixed sets), and a printer's supply names.
//! A service's `municipality` is its members' municipality, or the sorted members'
//! municipalities joined with `+` when they span several (one series, no double counting).
//!
//! Cost: with 5,000 devices a scrape reads the current outages and the per-device first/last
//! seen rows once and renders about 10,000 series; the benchmark engineer measures it.

use crate::availability::{ms, Period};
use crate::calendar::{Calendar, CalendarSource, WindowKind};
use crate::clock::Clock;
use crate::inventory::Inventory;
use crate::report::{self, Report, ReportError};
pub use crate::state::ingested::{reject_code, IngestMetrics, REJECT_REASONS};
use crate::state::Health;
use crate::state::{load_timelines, service_timelines};
use crate::store::{Store, StoreError};
use chrono::{DateTime, Datelike, Utc};
use chrono_tz::Europe::Stockholm;
use driftvakt_common::readings;
use driftvakt_common::wire::{ProbeResult, Value};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// Label pairs of one sample.
pub type Labels = Vec<(String, String)>;

/// The numeric code of a state in `driftvakt_device_state` and `driftvakt_service_state`.
pub fn state_code(state: Health) -> f64 {
    match state {
        Health::Up => 0.0,
        Health::Degraded => 1.0,
        Health::Down => 2.0,
        Health::Unreachable => 3.0,
        Health::Unknown => 4.0,
    }
}

/// One gauge family: its name, help and samples.
#[derive(Debug, Clone, PartialEq)]
pub struct GaugeFamily {
    pub name: &'static str,
    pub help: &'static str,
    pub samples: Vec<(Labels, f64)>,
}

impl GaugeFamily {
    fn new(name: &'static str, help: &'static str) -> Self {
        GaugeFamily {
            name,
            help,
            samples: Vec::new(),
        }
    }

    fn push(&mut self, labels: &[(&str, &str)], value: f64) {
        let labels = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.samples.push((labels, value));
    }
}

fn encode_families(
    encoder: &mut DescriptorEncoder,
    families: &[GaugeFamily],
) -> Result<(), std::fmt::Error> {
    for f in families {
        let mut metric = encoder.encode_descriptor(f.name, f.help, None, MetricType::Gauge)?;
        match f.samples.as_slice() {
            // A single unlabelled sample renders as `name value`, not `name{} value`.
            [(labels, v)] if labels.is_empty() => ConstGauge::new(*v).encode(metric)?,
            samples => {
                for (labels, v) in samples {
                    ConstGauge::new(*v).encode(metric.encode_family(labels)?)?;
                }
            }
        }
    }
    Ok(())
}

/// What the collector's metrics read: the same inventory, store, clock and ingest counters as
/// the running collector (the composition root, `cli/run`, hands them out), so this module never
/// depends on the app or on ingest.
#[derive(Clone)]
pub struct Sources {
    pub inventory: Arc<Inventory>,
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub metrics: IngestMetrics,
}

impl Sources {
    /// The injected current time.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }
}

/// Seeds the latest readings from each device's latest stored result per check, if it is from
/// the last few intervals (at start, so a restart does not blank the device gauges until the
/// next probe). The store keeps the latest result of each check whole for this.
pub fn seed_latest(app: &Sources) -> Result<(), StoreError> {
    let now = ms(app.now());
    for d in &app.inventory.devices {
        let since = now - d.rules.slowest_interval_ms.max(60_000) * 3;
        let mut results = app.store.latest(&d.id)?;
        results.retain(|r| r.time >= since);
        let parsed: Vec<ProbeResult> = results
            .iter()
            .filter_map(|r| serde_json::from_str(&r.raw).ok())
            .collect();
        app.metrics.record(&parsed);
    }
    Ok(())
}

/// The availability gauges of the last background computation.
#[derive(Debug, Default)]
pub struct AvailabilitySnapshot {
    families: RwLock<Vec<GaugeFamily>>,
}

impl AvailabilitySnapshot {
    /// Replaces the gauges.
    pub fn set(&self, families: Vec<GaugeFamily>) {
        *self.families.write().unwrap_or_else(|e| e.into_inner()) = families;
    }

    /// The gauges now.
    pub fn get(&self) -> Vec<GaugeFamily> {
        self.families
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// Precomputed label values of the inventory.
#[derive(Debug)]
struct LabelIndex {
    /// service id -> municipality label.
    service_municipality: BTreeMap<String, String>,
    /// site id -> municipality.
    site_municipality: BTreeMap<String, String>,
    /// Every municipality label value (devices' and services').
    municipalities: BTreeSet<String>,
}

impl LabelIndex {
    fn new(inv: &Inventory) -> Self {
        let service_municipality: BTreeMap<String, String> = inv
            .services
            .iter()
            .map(|s| (s.id.clone(), service_municipality(inv, &s.members)))
            .collect();
        let site_municipality = inv
            .sites
            .iter()
            .map(|s| (s.id.clone(), s.municipality.clone()))
            .collect();
        let mut municipalities: BTreeSet<String> = inv.municipalities().into_iter().collect();
        municipalities.extend(service_municipality.values().cloned());
        LabelIndex {
            service_municipality,
            site_municipality,
            municipalities,
        }
    }

    fn service(&self, id: &str) -> &str {
        self.service_municipality
            .get(id)
            .map(String::as_str)
            .unwrap_or("")
    }
}

/// The municipality label of a service: its members' one municipality, or theirs joined with
/// `+` (sorted) when they span several.
pub fn service_municipality(inv: &Inventory, members: &[String]) -> String {
    let set: BTreeSet<&str> = members
        .iter()
        .filter_map(|m| inv.device(m))
        .map(|d| d.municipality.as_str())
        .collect();
    set.into_iter().collect::<Vec<_>>().join("+")
}

/// The collector's per-scrape gauges plus the availability snapshot.
pub struct CollectorMetrics {
    app: Sources,
    calendar: Arc<dyn CalendarSource>,
    snapshot: Arc<AvailabilitySnapshot>,
    labels: LabelIndex,
}

impl std::fmt::Debug for CollectorMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CollectorMetrics")
            .field("labels", &self.labels)
            .finish_non_exhaustive()
    }
}

/// Registers the collector's metrics (ingest counters, per-scrape gauges, the availability
/// snapshot) in `registry`; returns the snapshot for [`spawn_availability`] to fill.
pub fn register(
    registry: &mut Registry,
    app: &Sources,
    calendar: Arc<dyn CalendarSource>,
) -> Arc<AvailabilitySnapshot> {
    app.metrics.register(registry);
    let snapshot = Arc::new(AvailabilitySnapshot::default());
    registry.register_collector(Box::new(CollectorMetrics {
        app: app.clone(),
        calendar,
        snapshot: snapshot.clone(),
        labels: LabelIndex::new(&app.inventory),
    }));
    snapshot
}

/// Seeds the latest readings, then recomputes availability now and every `every`.
pub fn spawn_availability(
    app: Sources,
    calendar: Arc<dyn CalendarSource>,
    snapshot: Arc<AvailabilitySnapshot>,
    every: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let seeding = app.clone();
        match tokio::task::spawn_blocking(move || seed_latest(&seeding)).await {
            Ok(Err(e)) => tracing::warn!(error = %e, "cannot seed latest device readings"),
            Err(e) => tracing::warn!(error = %e, "seeding latest device readings failed"),
            Ok(Ok(())) => {}
        }
        let mut tick = tokio::time::interval(every.max(Duration::from_secs(1)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let (app, calendar, snapshot) = (app.clone(), calendar.clone(), snapshot.clone());
            let done = tokio::task::spawn_blocking(move || refresh(&app, &*calendar, &snapshot));
            match done.await {
                Ok(Err(e)) => tracing::warn!(error = %e, "availability metrics not updated"),
                Err(e) => tracing::warn!(error = %e, "availability metrics task failed"),
                Ok(Ok(())) => {}
            }
        }
    })
}

/// Why availability could not be computed.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error(transparent)]
    Report(#[from] ReportError),
    #[error("calendar: {0}")]
    Calendar(String),
}

/// Computes availability once into `snapshot`.
pub fn refresh(
    app: &Sources,
    calendar: &dyn CalendarSource,
    snapshot: &AvailabilitySnapshot,
) -> Result<(), MetricsError> {
    let windows = calendar.calendar().map_err(MetricsError::Calendar)?;
    let labels = LabelIndex::new(&app.inventory);
    let families = availability_families(app, &windows, &labels, app.now())?;
    snapshot.set(families);
    Ok(())
}

/// The current month, tertial and year (Europe/Stockholm) with their `period` label.
pub fn current_periods(now: DateTime<Utc>) -> Vec<(&'static str, Period)> {
    let local = now.with_timezone(&Stockholm);
    let (y, m) = (local.year(), local.month());
    let tertial = (m - 1) / 4 + 1;
    [
        ("month", format!("{y}-{m:02}")),
        ("tertial", format!("{y}-T{tertial}")),
        ("year", format!("{y}")),
    ]
    .into_iter()
    .map(|(label, p)| (label, Period::parse(&p).expect("a valid period")))
    .collect()
}

struct AvailabilityFamilies {
    service: GaugeFamily,
    site: GaugeFamily,
    municipality: GaugeFamily,
    downtime: GaugeFamily,
    budget: GaugeFamily,
    incidents: GaugeFamily,
}

impl AvailabilityFamilies {
    fn new() -> Self {
        AvailabilityFamilies {
            service: GaugeFamily::new(
                "driftvakt_service_availability_ratio",
                "Availability of a service in the current month, tertial or year to date (1 - downtime / observed time).",
            ),
            site: GaugeFamily::new(
                "driftvakt_site_availability_ratio",
                "Device-time availability of a site in the current month, tertial or year to date.",
            ),
            municipality: GaugeFamily::new(
                "driftvakt_municipality_availability_ratio",
                "Device-time availability of a municipality in the current month, tertial or year to date.",
            ),
            downtime: GaugeFamily::new(
                "driftvakt_service_downtime_seconds",
                "Downtime of a service in the period, inside service windows (planned) or not (unplanned).",
            ),
            budget: GaugeFamily::new(
                "driftvakt_service_error_budget_remaining_seconds",
                "Downtime a service may still have this year before it misses the target.",
            ),
            incidents: GaugeFamily::new(
                "driftvakt_incidents_year_to_date",
                "Incidents this year, one per cause (service outages not wholly inside service windows and incidents registered by hand), counted once in each municipality they hit.",
            ),
        }
    }

    fn into_vec(self) -> Vec<GaugeFamily> {
        vec![
            self.service,
            self.site,
            self.municipality,
            self.downtime,
            self.budget,
            self.incidents,
        ]
    }
}

/// Availability, downtime, error budget and incidents for the current periods.
fn availability_families(
    app: &Sources,
    windows: &Calendar,
    labels: &LabelIndex,
    now: DateTime<Utc>,
) -> Result<Vec<GaugeFamily>, ReportError> {
    let mut out = AvailabilityFamilies::new();
    for (period, p) in current_periods(now) {
        let r = report::build(&app.inventory, &*app.store, windows, &p, now)?;
        add_period(&mut out, &r, period, labels);
        if period == "year" {
            add_year(&mut out, &r, labels);
        }
    }
    Ok(out.into_vec())
}

fn add_period(out: &mut AvailabilityFamilies, r: &Report, period: &str, labels: &LabelIndex) {
    for s in &r.services {
        let m = labels.service(&s.id);
        if let Some(a) = s.figures.availability {
            let l = [("service", s.id.as_str()), ("municipality", m)];
            out.service.push(&[l[0], l[1], ("period", period)], a);
        }
        for (kind, v) in [
            ("planned", s.figures.planned_downtime_s),
            ("unplanned", s.figures.unplanned_downtime_s),
        ] {
            let l = [
                ("service", s.id.as_str()),
                ("municipality", m),
                ("kind", kind),
                ("period", period),
            ];
            out.downtime.push(&l, v);
        }
    }
    for s in &r.sites {
        let m = labels
            .site_municipality
            .get(&s.id)
            .map(String::as_str)
            .unwrap_or("");
        if let Some(a) = s.figures.availability {
            out.site.push(
                &[
                    ("site", s.id.as_str()),
                    ("municipality", m),
                    ("period", period),
                ],
                a,
            );
        }
    }
    for g in &r.municipalities {
        if let Some(a) = g.figures.availability {
            out.municipality
                .push(&[("municipality", g.id.as_str()), ("period", period)], a);
        }
    }
}

fn add_year(out: &mut AvailabilityFamilies, r: &Report, labels: &LabelIndex) {
    for s in &r.services {
        let l = [
            ("service", s.id.as_str()),
            ("municipality", labels.service(&s.id)),
        ];
        out.budget.push(&l, s.figures.error_budget_left_s);
    }
    let mut incidents: BTreeMap<&str, usize> = labels
        .municipalities
        .iter()
        .map(|m| (m.as_str(), 0))
        .collect();
    // One incident counts once in each municipality it hits.
    for m in &r.incidents.by_municipality {
        if let Some(n) = incidents.get_mut(m.municipality.as_str()) {
            *n = m.year_to_date;
        }
    }
    for (m, n) in incidents {
        out.incidents.push(&[("municipality", m)], n as f64);
    }
}

impl Collector for CollectorMetrics {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let mut families = self.settings_families();
        families.push(self.age_family());
        match self.state_families() {
            Ok(f) => families.extend(f),
            Err(e) => tracing::warn!(error = %e, "state metrics not rendered"),
        }
        match self.window_families() {
            Ok(f) => families.extend(f),
            Err(e) => tracing::warn!(error = %e, "service window metrics not rendered"),
        }
        match self.agent_families() {
            Ok(f) => families.extend(f),
            Err(e) => tracing::warn!(error = %e, "agent metrics not rendered"),
        }
        match self.store_families() {
            Ok(f) => families.extend(f),
            Err(e) => tracing::warn!(error = %e, "store metrics not rendered"),
        }
        families.extend(self.reading_families());
        families.extend(self.snapshot.get());
        encode_families(&mut encoder, &families)
    }
}

impl CollectorMetrics {
    /// Each device's age in whole months since its register's purchase date (devices without
    /// one have no sample); the labels of `driftvakt_device_state`.
    fn age_family(&self) -> GaugeFamily {
        let inv = &self.app.inventory;
        let today = crate::register::local_day(self.app.now());
        let mut age = GaugeFamily::new(
            "driftvakt_device_age_months",
            "Whole months since the device was purchased (register.purchased).",
        );
        for d in &inv.devices {
            let purchased = d.config.register.as_ref().and_then(|r| r.purchased());
            if let Some(months) = purchased.map(|p| crate::register::renewals::age_months(p, today))
            {
                let l = [
                    ("device", d.id.as_str()),
                    ("class", d.class.as_str()),
                    ("site", d.site.as_str()),
                    ("municipality", d.municipality.as_str()),
                ];
                age.push(&l, f64::from(months));
            }
        }
        age
    }

    fn settings_families(&self) -> Vec<GaugeFamily> {
        let settings = &self.app.inventory.settings;
        let mut target = GaugeFamily::new(
            "driftvakt_availability_target_ratio",
            "The yearly availability target (collector.target).",
        );
        target.push(&[], settings.target);
        let mut goal = GaugeFamily::new(
            "driftvakt_incident_goal",
            "Most incidents per year (collector.incident_goal).",
        );
        goal.push(&[], f64::from(settings.incident_goal));
        vec![target, goal]
    }

    /// Device and service state now, from outages overlapping the last few intervals.
    fn state_families(&self) -> Result<Vec<GaugeFamily>, StoreError> {
        let app = &self.app;
        let inv = &app.inventory;
        let now = ms(app.now());
        let widest = inv
            .devices
            .iter()
            .map(|d| d.rules.slowest_interval_ms)
            .max()
            .unwrap_or(0)
            .max(60_000);
        let from = now - 2 * widest;
        let devices = load_timelines(inv, &*app.store, from, now + 1)?;
        let services = service_timelines(inv, &devices, from, now + 1);
        let mut dev = GaugeFamily::new(
            "driftvakt_device_state",
            "Device state now: 0 up, 1 degraded, 2 down, 3 unreachable (a parent is down), 4 unknown (no data).",
        );
        for d in &inv.devices {
            let state = devices
                .get(&d.id)
                .map_or(Health::Unknown, |t| t.state_at(now));
            let l = [
                ("device", d.id.as_str()),
                ("class", d.class.as_str()),
                ("site", d.site.as_str()),
                ("municipality", d.municipality.as_str()),
            ];
            dev.push(&l, state_code(state));
        }
        let mut svc = GaugeFamily::new(
            "driftvakt_service_state",
            "Service state now: 0 up, 1 degraded, 2 down, 4 unknown.",
        );
        for s in &inv.services {
            let state = services
                .get(&s.id)
                .map_or(Health::Unknown, |t| t.state_at(now));
            let l = [
                ("service", s.id.as_str()),
                ("municipality", self.labels.service(&s.id)),
            ];
            svc.push(&l, state_code(state));
        }
        Ok(vec![dev, svc])
    }

    /// Whether a service window is active now, and when the next one of each kind starts.
    fn window_families(&self) -> Result<Vec<GaugeFamily>, String> {
        let calendar = self.calendar.calendar()?;
        let now = self.app.now();
        let mut active = GaugeFamily::new(
            "driftvakt_service_window_active",
            "Whether an active service window (of any scope) is running now (1) or not (0).",
        );
        let running = calendar
            .windows(now, now + chrono::Duration::seconds(1))
            .iter()
            .any(|w| w.active && w.contains(now));
        active.push(&[], f64::from(u8::from(running)));
        let mut next = GaugeFamily::new(
            "driftvakt_service_window_next_start_timestamp_seconds",
            "Start of the next active service window of each kind, as a Unix timestamp.",
        );
        let mut first: BTreeMap<WindowKind, DateTime<Utc>> = BTreeMap::new();
        for w in calendar.windows(now, now + chrono::Duration::days(400)) {
            if w.active && w.start > now {
                first.entry(w.kind).or_insert(w.start);
            }
        }
        for (kind, start) in first {
            next.push(&[("kind", kind.as_str())], ms(start) as f64 / 1000.0);
        }
        Ok(vec![active, next])
    }

    fn agent_families(&self) -> Result<Vec<GaugeFamily>, StoreError> {
        let mut seen = GaugeFamily::new(
            "driftvakt_agent_last_seen_timestamp_seconds",
            "When the collector last received results from an agent, as a Unix timestamp.",
        );
        for (agent, t) in self.app.store.agents_seen()? {
            seen.push(&[("agent", agent.as_str())], t as f64 / 1000.0);
        }
        Ok(vec![seen])
    }

    /// The database's size on disk and its oldest raw result (what `db stats` shows).
    fn store_families(&self) -> Result<Vec<GaugeFamily>, StoreError> {
        let stats = self.app.store.stats(false)?;
        let mut bytes = GaugeFamily::new(
            "driftvakt_store_bytes",
            "Bytes on disk of the collector's database (file and write-ahead log).",
        );
        bytes.push(&[], stats.bytes as f64);
        let mut oldest = GaugeFamily::new(
            "driftvakt_store_oldest_result_timestamp_seconds",
            "Time of the oldest raw result kept (older ones are compacted into runs), as a Unix \
             timestamp; absent when there is none.",
        );
        if let Some(t) = stats.oldest_result {
            oldest.push(&[], t as f64 / 1000.0);
        }
        Ok(vec![bytes, oldest])
    }

    /// UPS, printer, certificate and RTT gauges from each device's latest readings.
    fn reading_families(&self) -> Vec<GaugeFamily> {
        let app = &self.app;
        let metrics = &app.metrics;
        let latest = metrics.latest();
        let mut f = ReadingFamilies::new();
        for d in &app.inventory.devices {
            let place = [
                ("device", d.id.as_str()),
                ("site", d.site.as_str()),
                ("municipality", d.municipality.as_str()),
            ];
            let number = |key| metrics.reading(&latest, &d.id, key).and_then(as_number);
            if d.class == driftvakt_common::DeviceClass::Ups {
                let minimum = d.config.min_runtime_minutes.unwrap_or(240);
                f.ups_minimum.push(&place, f64::from(minimum));
            }
            if let Some(v) = number(readings::UPS_RUNTIME_MINUTES) {
                f.ups_runtime.push(&place, v);
            }
            if let Some(v) = number(readings::UPS_ON_BATTERY) {
                f.ups_on_battery.push(&place, v);
            }
            if let Some(v) = number(readings::TLS_CERT_DAYS_LEFT) {
                f.tls.push(&place, v);
            }
            if let Some(v) = number(readings::ICMP_RTT_AVG_SECONDS) {
                let l = [place[0], ("class", d.class.as_str()), place[1], place[2]];
                f.rtt.push(&l, v);
            }
            if let Some(Value::Series(samples)) =
                metrics.reading(&latest, &d.id, readings::PRINTER_SUPPLY_RATIO)
            {
                for s in samples {
                    let supply = s
                        .labels
                        .get(readings::SUPPLY_LABEL)
                        .map(String::as_str)
                        .unwrap_or("");
                    let l = [place[0], place[1], place[2], ("supply", supply)];
                    f.supply.push(&l, s.value);
                }
            }
        }
        f.into_vec()
    }
}

fn as_number(v: Value) -> Option<f64> {
    match v {
        Value::Number(n) => Some(n),
        Value::Bool(b) => Some(f64::from(u8::from(b))),
        _ => None,
    }
}

struct ReadingFamilies {
    ups_runtime: GaugeFamily,
    ups_on_battery: GaugeFamily,
    ups_minimum: GaugeFamily,
    supply: GaugeFamily,
    tls: GaugeFamily,
    rtt: GaugeFamily,
}

impl ReadingFamilies {
    fn new() -> Self {
        ReadingFamilies {
            ups_runtime: GaugeFamily::new(
                "driftvakt_ups_runtime_minutes",
                "Estimated battery runtime of a UPS, from its latest SNMP reading.",
            ),
            ups_on_battery: GaugeFamily::new(
                "driftvakt_ups_on_battery",
                "Whether a UPS runs on battery (1) or mains (0), from its latest SNMP reading.",
            ),
            ups_minimum: GaugeFamily::new(
                "driftvakt_ups_runtime_minimum_minutes",
                "The runtime a UPS must hold (min_runtime_minutes, default 240: the network node requirement).",
            ),
            supply: GaugeFamily::new(
                "driftvakt_printer_supply_ratio",
                "Level of a printer supply (toner, drum, ...) as a ratio of its capacity.",
            ),
            tls: GaugeFamily::new(
                "driftvakt_tls_cert_days_left",
                "Days until the device's TLS certificate expires.",
            ),
            rtt: GaugeFamily::new(
                "driftvakt_icmp_rtt_seconds",
                "Average ICMP round-trip time of the latest ping.",
            ),
        }
    }

    fn into_vec(self) -> Vec<GaugeFamily> {
        vec![
            self.ups_runtime,
            self.ups_on_battery,
            self.ups_minimum,
            self.supply,
            self.tls,
            self.rtt,
        ]
    }
}

/// Registers the collector's metrics in `registry` and starts the availability task; abort the
/// returned task to stop it.
pub fn start(
    registry: &mut Registry,
    app: &Sources,
    calendar: Arc<dyn CalendarSource>,
    every: Duration,
) -> tokio::task::JoinHandle<()> {
    let snapshot = register(registry, app, calendar.clone());
    spawn_availability(app.clone(), calendar, snapshot, every)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::App;
    use crate::calendar::CalendarConfig;
    use crate::store::SqliteStore;
    use driftvakt_common::wire::{Batch, Finding, Sample};

    const INVENTORY: &str = r#"
sites:
  - { id: s1, municipality: Ulricehamn, node: true }
  - { id: s2, municipality: Tranemo }
devices:
  - { id: sw, class: switch, site: s1, address: 10.0.0.1, interval: 60s, checks: [icmp], register: { purchased: 2022-03-11 } }
  - { id: ap, class: access_point, site: s1, address: 10.0.0.2, parent: sw, interval: 60s, checks: [icmp] }
  - { id: ups, class: ups, site: s1, address: 10.0.0.3, interval: 60s, checks: [icmp, snmp] }
  - { id: prn, class: printer, site: s2, address: 10.1.0.1, interval: 60s, checks: [icmp, snmp] }
services:
  - { id: wifi, members: [sw, ap] }
  - { id: both, members: [sw, prn], rule: any }
snmp_credentials:
  - { id: c, version: v2c, community: { env: DV_METRICS_TEST_TOKEN } }
agents:
  - { id: a1, token_env: DV_METRICS_TEST_TOKEN, sites: [s1, s2] }
"#;

    fn now() -> DateTime<Utc> {
        "2026-03-10T12:00:00Z".parse().unwrap()
    }

    fn app(dir: &std::path::Path) -> App {
        std::env::set_var("DV_METRICS_TEST_TOKEN", "metrics-test-token-0123456789");
        let path = dir.join("collector.yaml");
        std::fs::write(&path, INVENTORY).unwrap();
        let inv = Inventory::load(&path).unwrap_or_else(|e| panic!("{e}"));
        let store = SqliteStore::open(&dir.join("dv.db")).unwrap();
        App::new(inv, Arc::new(store), Arc::new(now)).unwrap()
    }

    fn result(target: &str, check: &str, minutes_ago: i64, ok: bool) -> ProbeResult {
        ProbeResult {
            target: target.into(),
            check: check.into(),
            time: now() - chrono::Duration::minutes(minutes_ago),
            ok,
            duration_ms: 1.0,
            error: (!ok).then(|| "timeout".to_string()),
            detail: None,
            findings: Vec::new(),
            values: BTreeMap::new(),
        }
    }

    fn history() -> Vec<ProbeResult> {
        let mut out = Vec::new();
        for m in (0..30).rev() {
            let mut sw = result("sw", "icmp", m, true);
            sw.values
                .insert("icmp_rtt_avg_seconds".into(), Value::Number(0.001));
            out.push(sw);
            out.push(result("ap", "icmp", m, true));
            // The printer stops answering ten minutes ago.
            let mut p = result("prn", "icmp", m, m >= 10);
            if m >= 10 {
                p.values
                    .insert("icmp_rtt_avg_seconds".into(), Value::Number(0.002));
            }
            out.push(p);
            out.push(result("ups", "icmp", m, true));
        }
        let mut ups = result("ups", "snmp", 0, true);
        ups.values
            .insert("ups_runtime_minutes".into(), Value::Number(35.0));
        ups.values
            .insert("ups_on_battery".into(), Value::Bool(true));
        ups.findings.push(Finding {
            code: "ups_on_battery".into(),
            message: "on battery".into(),
        });
        out.push(ups);
        let mut prn = result("prn", "snmp", 40, true);
        prn.values.insert(
            "printer_supply_ratio".into(),
            Value::Series(vec![Sample {
                labels: [("supply".to_string(), "black toner".to_string())].into(),
                value: 0.25,
            }]),
        );
        out.push(prn);
        out.push(result("ghost", "icmp", 0, true));
        out
    }

    fn rendered(app: &App) -> String {
        let mut registry = Registry::default();
        let calendar: Arc<dyn CalendarSource> =
            Arc::new(Calendar::from_config(CalendarConfig::default()));
        let sources = sources(app);
        let snapshot = register(&mut registry, &sources, calendar.clone());
        refresh(&sources, &*calendar, &snapshot).unwrap();
        driftvakt_agent::metrics::render(&registry)
    }

    fn sources(app: &App) -> Sources {
        Sources {
            inventory: app.inventory.clone(),
            store: app.store.clone(),
            clock: app.clock.clone(),
            metrics: app.metrics.clone(),
        }
    }

    fn has(text: &str, line: &str) {
        assert!(
            text.lines().any(|l| l == line),
            "missing line\n  {line}\nin\n{text}"
        );
    }

    #[test]
    fn renders_names_labels_and_codes() {
        let dir = tempfile::tempdir().unwrap();
        let app = app(dir.path());
        let batch = Batch {
            agent: "a1".into(),
            batch_id: "b1".into(),
            results: history(),
        };
        let r = app.ingest_blocking("a1", &batch).unwrap();
        assert_eq!(r.rejected.len(), 1);
        assert!(app.ingest_blocking("a1", &batch).unwrap().duplicate);
        let text = rendered(&app);
        has(
            &text,
            r#"driftvakt_device_state{device="sw",class="switch",site="s1",municipality="Ulricehamn"} 0.0"#,
        );
        has(
            &text,
            r#"driftvakt_device_state{device="prn",class="printer",site="s2",municipality="Tranemo"} 2.0"#,
        );
        // Purchased 2022-03-11, now 2026-03-10: a day short of 48 months.
        has(
            &text,
            r#"driftvakt_device_age_months{device="sw",class="switch",site="s1",municipality="Ulricehamn"} 47.0"#,
        );
        assert_eq!(text.matches("driftvakt_device_age_months{").count(), 1);
        has(
            &text,
            r#"driftvakt_device_state{device="ups",class="ups",site="s1",municipality="Ulricehamn"} 1.0"#,
        );
        has(
            &text,
            r#"driftvakt_service_state{service="wifi",municipality="Ulricehamn"} 0.0"#,
        );
        has(
            &text,
            r#"driftvakt_service_state{service="both",municipality="Tranemo+Ulricehamn"} 1.0"#,
        );
        has(
            &text,
            r#"driftvakt_ups_runtime_minutes{device="ups",site="s1",municipality="Ulricehamn"} 35.0"#,
        );
        has(
            &text,
            r#"driftvakt_ups_on_battery{device="ups",site="s1",municipality="Ulricehamn"} 1.0"#,
        );
        has(
            &text,
            r#"driftvakt_ups_runtime_minimum_minutes{device="ups",site="s1",municipality="Ulricehamn"} 240.0"#,
        );
        has(
            &text,
            r#"driftvakt_printer_supply_ratio{device="prn",site="s2",municipality="Tranemo",supply="black toner"} 0.25"#,
        );
        has(
            &text,
            r#"driftvakt_icmp_rtt_seconds{device="sw",class="switch",site="s1",municipality="Ulricehamn"} 0.001"#,
        );
        assert!(
            !text.contains(r#"driftvakt_icmp_rtt_seconds{device="prn""#),
            "a failed ping has no RTT"
        );
        has(&text, "driftvakt_availability_target_ratio 0.991");
        has(&text, "driftvakt_incident_goal 5.0");
        has(&text, r#"driftvakt_results_ingested_total{agent="a1"} 122"#);
        has(
            &text,
            r#"driftvakt_results_rejected_total{agent="a1",reason="unknown_device"} 1"#,
        );
        has(
            &text,
            r#"driftvakt_results_rejected_total{agent="a1",reason="future_time"} 0"#,
        );
        has(&text, r#"driftvakt_batches_duplicate_total{agent="a1"} 1"#);
        has(
            &text,
            "driftvakt_agent_last_seen_timestamp_seconds{agent=\"a1\"} 1773144000.0",
        );
        has(&text, "driftvakt_service_window_active 0.0");
        // 2026-03-17 18:00 Europe/Stockholm, the third Tuesday of March.
        has(
            &text,
            r#"driftvakt_service_window_next_start_timestamp_seconds{kind="primary"} 1773766800.0"#,
        );
        for period in ["month", "tertial", "year"] {
            has(
                &text,
                &format!(
                    r#"driftvakt_service_availability_ratio{{service="wifi",municipality="Ulricehamn",period="{period}"}} 1.0"#
                ),
            );
            assert!(text.contains(&format!(r#"driftvakt_municipality_availability_ratio{{municipality="Tranemo",period="{period}"}}"#)));
            assert!(text.contains(&format!(r#"driftvakt_site_availability_ratio{{site="s1",municipality="Ulricehamn",period="{period}"}}"#)));
            assert!(text.contains(&format!(r#"driftvakt_service_downtime_seconds{{service="both",municipality="Tranemo+Ulricehamn",kind="unplanned",period="{period}"}}"#)));
        }
        assert!(text.contains(r#"driftvakt_service_error_budget_remaining_seconds{service="wifi",municipality="Ulricehamn"} 283824"#));
        has(
            &text,
            r#"driftvakt_incidents_year_to_date{municipality="Tranemo"} 0.0"#,
        );
        assert!(
            !text.contains("ghost"),
            "rejected results leave no readings"
        );
    }

    #[test]
    fn readings_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let batch = Batch {
            agent: "a1".into(),
            batch_id: "b1".into(),
            results: history(),
        };
        app(dir.path()).ingest_blocking("a1", &batch).unwrap();
        let restarted = app(dir.path());
        let ups = r#"driftvakt_ups_runtime_minutes{device="ups",site="s1",municipality="Ulricehamn"} 35.0"#;
        assert!(!rendered(&restarted).contains(ups));
        seed_latest(&sources(&restarted)).unwrap();
        has(&rendered(&restarted), ups);
    }
}
