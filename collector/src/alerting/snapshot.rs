//! What is wrong right now, derived from a [`Snapshot`] of the core's state as *conditions*
//! ([`super::condition`]): one per thing people are told about (a service
//! down, a dark site, a device alert of one kind), each with the instant it began and the
//! [`Event`] that announces it. Derived from the core's stored state at one instant, so the same
//! stored state always gives the same conditions (after a restart, after a replay).
//!
//! - Service down: the service's timeline is down now (the core's rules: `confirm_failures`
//!   failures, start at the first failed result). Site names are those of the members that are
//!   unavailable; the cause device is the root cause of the first of them.
//!   A function's outage is not announced while a case about it that the service desk
//!   registered before is open (that case is its announcement, `super::intefunktion`).
//! - Site dark: a device at a `node: true` site is down and devices behind it are unreachable.
//!   One condition for the site; the children get none of their own (they are unreachable, not
//!   down). The down device itself still gets its `down` alert, for the technicians.
//! - Device down: the device itself is down now (root causes only: unreachable children are not
//!   down in the effective timeline).
//! - Findings of the latest successful result of each check of a degraded device: UPS on
//!   battery, UPS runtime under the minimum (at node sites: the four-hour requirement), UPS
//!   battery to replace, UPS self-test failed, printer supply low, TLS certificate expiring. Their start is the first result of the unbroken run
//!   of results carrying the finding.
//!
//! - Agent fault: an agent whose latest result for a device failed through its own fault (no
//!   privilege for ICMP, out of descriptors, a probe that could not start) while the device is
//!   unknown. One condition per agent and error kind (`agent:ID:KIND`), counting the devices,
//!   for the IT team; never a notice to editors (the devices are unknown, not down).
//!
//! What cannot be known now is not changed: an announced condition whose subject is unknown
//! (no agent reports it) is neither closed nor re-announced ([`Snapshot::frozen`]); findings
//! are unknown while a device does not answer. A device that was down and is now unreachable
//! has its `down` alert closed: its parent is the root cause now (if the alert was still held,
//! the notifier cancels it and nobody hears of it).
//! "Åtgärdat" is only said when the state says so.

use super::condition::{Condition, Conditions, Course};
use crate::app::App;
use crate::availability::{at, ms, Span};
use crate::inventory::{Device, Inventory};
use crate::notify::{AlertKind, Event};
use crate::state::{agent_fault, ancestors, load_timelines, service_timelines};
use crate::state::{Health, Timeline};
use crate::store::StoreError;
use chrono::{DateTime, Utc};
use driftvakt_common::readings;
use driftvakt_common::wire::{ErrorKind, ProbeResult, Value};
use std::collections::{BTreeMap, BTreeSet};

/// How far back state is loaded to find when a condition began.
const LOOKBACK_MS: i64 = 31 * 86_400_000;

/// The minimum UPS runtime at a network node when the device does not set its own (minutes).
pub const NODE_MIN_RUNTIME_MINUTES: u32 = 240;

/// The core's state at one instant: effective device timelines and service timelines.
pub struct Snapshot<'a> {
    app: &'a App,
    now: i64,
    devices: BTreeMap<String, Timeline>,
    services: BTreeMap<String, Timeline>,
    /// Incidents registered by hand in the look-back.
    manual: Vec<crate::store::ManualIncident>,
    /// Intefunktion cases registered by hand in the look-back.
    cases: Vec<crate::store::ManualIntefunktionCase>,
}

impl<'a> Snapshot<'a> {
    /// Loads the state of everything as of `now`.
    pub fn load(app: &'a App, now: DateTime<Utc>) -> Result<Self, StoreError> {
        let now = ms(now);
        let (from, to) = (now - LOOKBACK_MS, now + 1);
        let inv = &app.inventory;
        let devices = load_timelines(inv, &*app.store, from, to)?;
        let services = service_timelines(inv, &devices, from, to);
        let manual = app.store.manual_incidents(from, to)?;
        let cases = app.store.intefunktion_cases(from, to)?;
        Ok(Snapshot {
            app,
            now,
            devices,
            services,
            manual,
            cases,
        })
    }

    fn inv(&self) -> &Inventory {
        &self.app.inventory
    }

    fn state(&self, device: &str) -> Health {
        self.devices
            .get(device)
            .map_or(Health::Unknown, |t| t.state_at(self.now))
    }

    /// The conditions that hold now.
    pub fn conditions(&self) -> Result<Conditions, StoreError> {
        let mut out = Conditions::default();
        self.dark_sites(&mut out.list);
        self.services_down(&mut out.list);
        out.list
            .extend(super::manual::conditions(&self.manual, at(self.now)));
        out.list.extend(super::intefunktion::conditions(
            self.inv(),
            &self.cases,
            |id| self.services.get(id).map(|t| &t.down),
            at(self.now),
        ));
        let mut faults = AgentFaults::default();
        for d in self.inv().devices_parents_first() {
            match self.state(&d.id) {
                Health::Down if self.ancestor_failing(&d.id)? => {}
                Health::Down => out.list.push(self.device_down(d)),
                Health::Degraded => out.list.extend(self.findings(d)?),
                Health::Unknown => self.agent_faults(d, &mut faults)?,
                Health::Up | Health::Unreachable => {}
            }
        }
        out.list.extend(self.agent_fault_conditions(faults));
        Ok(out)
    }

    /// Notes, for an unknown device, each agent whose latest result for it is its own fault,
    /// with the start of that run of faults.
    fn agent_faults(&self, d: &Device, faults: &mut AgentFaults) -> Result<(), StoreError> {
        let window = (d.rules.slowest_interval_ms * 3).max(AGENT_FAULT_WINDOW_MS);
        let mut runs: BTreeMap<String, Option<(i64, String)>> = BTreeMap::new();
        for r in self.app.store.results(&d.id, self.now - window)? {
            if r.time > self.now {
                continue;
            }
            let run = runs.entry(r.agent.clone()).or_default();
            if !agent_fault(&r) {
                *run = None;
            } else if run.is_none() {
                *run = Some((r.time, r.cause.clone().unwrap_or_default()));
            }
        }
        for (agent, run) in runs {
            if let Some((since, error)) = run {
                let entry = faults.entry((agent, error)).or_insert((since, Vec::new()));
                entry.0 = entry.0.min(since);
                entry.1.push(d.id.clone());
            }
        }
        Ok(())
    }

    /// One condition per agent and error kind.
    fn agent_fault_conditions(&self, faults: AgentFaults) -> Vec<Condition> {
        let inv = self.inv();
        faults
            .into_iter()
            .map(|((agent, error), (since, devices))| {
                // Where the monitoring is blind: the affected devices' sites.
                let mut sites: Vec<&crate::inventory::Site> = Vec::new();
                for s in devices
                    .iter()
                    .filter_map(|id| inv.device(id))
                    .filter_map(|d| inv.site(&d.site))
                {
                    if !sites.iter().any(|x| x.id == s.id) {
                        sites.push(s);
                    }
                }
                let municipality = sites
                    .first()
                    .map(|s| s.municipality.clone())
                    .unwrap_or_default();
                let site_names: Vec<&str> = sites.iter().map(|s| s.name.as_str()).collect();
                let since = at(since);
                Condition {
                    key: format!("agent:{agent}:{error}"),
                    since,
                    event: Event::DeviceAlert {
                        device_id: format!("agent:{agent}"),
                        device_name: format!("Driftvakt-agenten {agent}"),
                        class: "agent".into(),
                        site_id: sites.first().map(|s| s.id.clone()).unwrap_or_default(),
                        site_name: site_names.join(", "),
                        municipality,
                        detail: agent_fault_advice(&agent, &error, devices.len()),
                        kind: AlertKind::AgentFault {
                            error,
                            devices: devices.len(),
                        },
                        since,
                    },
                }
            })
            .collect()
    }

    /// Whether the announced condition `key` (opened by `event`) cannot be judged now: its
    /// subject is unknown or unreachable, or (findings) does not answer. Such a condition is
    /// left as it is.
    pub fn frozen(&self, key: &str, event: &Event) -> bool {
        if key.starts_with(super::manual::PREFIX) || key.starts_with(super::intefunktion::PREFIX) {
            return false; // an operator's incident or case is never unknown
        }
        match event {
            Event::ServiceDown { service_id, .. } => self
                .services
                .get(service_id)
                .is_none_or(|t| t.state_at(self.now) == Health::Unknown),
            Event::SiteDark { node_switch, .. } => self.state(node_switch) == Health::Unknown,
            // Unreachable is a verdict: its parent is the root cause now, so its own alert ends.
            Event::DeviceAlert {
                device_id,
                kind: AlertKind::Down,
                ..
            } => self.state(device_id) == Health::Unknown,
            // The agent's own fault is judged from its latest results, never frozen.
            Event::DeviceAlert {
                kind: AlertKind::AgentFault { .. },
                ..
            } => false,
            Event::DeviceAlert { device_id, .. } => !self.state(device_id).available(),
            _ => {
                tracing::warn!(key, "announced condition of an unexpected kind");
                false
            }
        }
    }

    /// Whether the condition `key` that began at `since` is still going on.
    pub fn course(&self, key: &str, since: DateTime<Utc>) -> Course {
        if key.starts_with(super::manual::PREFIX) {
            return super::manual::course(&self.manual, key, at(self.now));
        }
        if key.starts_with(super::intefunktion::PREFIX) {
            return super::intefunktion::course(&self.cases, key, at(self.now));
        }
        let mut parts = key.splitn(3, ':');
        let (kind, id, tag) = (parts.next(), parts.next(), parts.next());
        let spans = match (kind, id, tag) {
            (Some("service"), Some(id), None) => self.services.get(id).map(|t| &t.down),
            (Some("site"), Some(_), None) => {
                return self.site_course(key, since);
            }
            (Some("device"), Some(id), Some("down")) => self.devices.get(id).map(|t| &t.down),
            _ => None,
        };
        let Some(spans) = spans else {
            return Course::Unknown;
        };
        self.course_in(spans.as_slice(), since)
    }

    fn course_in(&self, spans: &[Span], since: DateTime<Utc>) -> Course {
        let t = ms(since);
        match spans.iter().find(|s| s.start <= t && t < s.end) {
            Some(s) if s.end > self.now => Course::Ongoing,
            Some(s) => Course::Ended(at(s.end)),
            None => Course::Unknown,
        }
    }

    /// A site is dark for as long as its node device is down (the condition names it).
    fn site_course(&self, key: &str, since: DateTime<Utc>) -> Course {
        let site = key.trim_start_matches("site:");
        let node = self
            .inv()
            .devices
            .iter()
            .filter(|d| d.site == site)
            .filter_map(|d| self.devices.get(&d.id))
            .map(|t| self.course_in(t.down.as_slice(), since))
            .find(|c| *c != Course::Unknown);
        node.unwrap_or(Course::Unknown)
    }

    fn dark_sites(&self, out: &mut Vec<Condition>) {
        let inv = self.inv();
        for d in inv.devices_parents_first() {
            let Some(site) = inv.site(&d.site).filter(|s| s.node) else {
                continue;
            };
            let key = format!("site:{}", site.id);
            if self.state(&d.id) != Health::Down || out.iter().any(|c| c.key == key) {
                continue;
            }
            let children: Vec<String> = inv
                .devices
                .iter()
                .filter(|c| self.state(&c.id) == Health::Unreachable)
                .filter(|c| ancestors(inv, &c.id).any(|a| a.id == d.id))
                .map(|c| c.id.clone())
                .collect();
            if children.is_empty() {
                continue;
            }
            let since = self.start_of(&self.devices[&d.id].down);
            out.push(Condition {
                key,
                since,
                event: Event::SiteDark {
                    site_id: site.id.clone(),
                    site_name: site.name.clone(),
                    municipality: site.municipality.clone(),
                    node_switch: d.id.clone(),
                    since,
                    unreachable_children: children,
                },
            });
        }
    }

    fn services_down(&self, out: &mut Vec<Condition>) {
        let inv = self.inv();
        for s in &inv.services {
            let Some(tl) = self.services.get(&s.id) else {
                continue;
            };
            if !tl.down.contains(self.now) {
                continue;
            }
            let since = self.start_of(&tl.down);
            if super::intefunktion::covers(&self.cases, &s.id, since, at(self.now)) {
                continue; // the service desk's case, registered before, is this one
            }
            let failing: Vec<&Device> = s
                .members
                .iter()
                .filter(|m| !self.state(m).available() && self.state(m) != Health::Unknown)
                .filter_map(|m| inv.device(m))
                .collect();
            let (mut site_ids, mut site_names) = (Vec::new(), Vec::new());
            for d in &failing {
                if !site_ids.contains(&d.site) {
                    site_ids.push(d.site.clone());
                    site_names.push(inv.site(&d.site).map_or(d.site.clone(), |x| x.name.clone()));
                }
            }
            let first = failing
                .first()
                .copied()
                .or_else(|| s.members.first().and_then(|m| inv.device(m)));
            out.push(Condition {
                key: format!("service:{}", s.id),
                since,
                event: Event::ServiceDown {
                    service_id: s.id.clone(),
                    service_name: s.name.clone(),
                    // A function concerns its own municipality, wherever its servers stand.
                    municipality: match &s.function {
                        Some(f) => f.municipality.clone(),
                        None => first.map(|d| d.municipality.clone()).unwrap_or_default(),
                    },
                    site_ids,
                    site_names,
                    since,
                    cause_device: failing.first().and_then(|d| self.root_cause(&d.id)),
                    function: s.function.as_ref().map(|f| f.item.swedish().to_string()),
                    case_title: None,
                },
            });
        }
    }

    /// The device itself when it is down, else its nearest ancestor that is down.
    /// Whether an ancestor's latest primary result failed although it is not (yet) down: its
    /// own confirmation is a probe or two behind the child's, and in a moment the child will be
    /// unreachable, not a root cause. The child's alert waits for that verdict.
    fn ancestor_failing(&self, device: &str) -> Result<bool, StoreError> {
        for parent in ancestors(self.inv(), device) {
            let a = &parent.id;
            if self.state(a) != Health::Up && self.state(a) != Health::Degraded {
                continue;
            }
            let since = self.now - parent.rules.interval_ms * 2;
            let latest = self
                .app
                .store
                .results(a, since)?
                .into_iter()
                .filter(|r| r.check == parent.rules.primary_check && r.time <= self.now)
                .max_by_key(|r| r.time);
            if latest.is_some_and(|r| !r.ok) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn root_cause(&self, device: &str) -> Option<String> {
        if self.state(device) == Health::Down {
            return Some(device.to_string());
        }
        ancestors(self.inv(), device)
            .find(|a| self.state(&a.id) == Health::Down)
            .map(|a| a.id.clone())
    }

    /// The start of the interval of `spans` that contains now.
    fn start_of(&self, spans: &crate::availability::Spans) -> DateTime<Utc> {
        let start = spans
            .as_slice()
            .iter()
            .find(|s| s.start <= self.now && self.now < s.end)
            .map_or(self.now, |s| s.start);
        at(start)
    }

    fn device_down(&self, d: &Device) -> Condition {
        let since = self.start_of(&self.devices[&d.id].down);
        let detail = format!(
            "Svarar inte: kontrollen {} har misslyckats {} gånger i rad",
            d.rules.primary_check, d.rules.confirm_failures
        );
        self.device_condition(d, AlertKind::Down, since, detail)
    }

    fn device_condition(
        &self,
        d: &Device,
        kind: AlertKind,
        since: DateTime<Utc>,
        detail: String,
    ) -> Condition {
        let site = self.inv().site(&d.site);
        Condition {
            key: format!("device:{}:{}", d.id, kind.tag()),
            since,
            event: Event::DeviceAlert {
                device_id: d.id.clone(),
                device_name: d.config.description.clone().unwrap_or_else(|| d.id.clone()),
                class: d.class.as_str().to_string(),
                site_id: d.site.clone(),
                site_name: site.map_or(d.site.clone(), |s| s.name.clone()),
                municipality: d.municipality.clone(),
                kind,
                since,
                detail,
            },
        }
    }

    /// Alerts from the findings of a degraded device's latest successful results.
    fn findings(&self, d: &Device) -> Result<Vec<Condition>, StoreError> {
        let from = self.devices[&d.id]
            .degraded
            .as_slice()
            .iter()
            .find(|s| s.start <= self.now && self.now < s.end)
            .map_or(self.now, |s| s.start);
        let results = self.app.store.results(&d.id, from)?;
        let mut latest: BTreeMap<String, Run> = BTreeMap::new();
        for r in results.iter().filter(|r| r.ok && r.time <= self.now) {
            // The store keeps the whole result only when it has findings; one without findings
            // ends every finding's run.
            if !r.degraded {
                latest.entry(r.check.clone()).or_default().clear();
                continue;
            }
            let Ok(parsed) = serde_json::from_str::<ProbeResult>(&r.raw) else {
                continue;
            };
            latest.entry(r.check.clone()).or_default().push(parsed);
        }
        let node = self.inv().site(&d.site).is_some_and(|s| s.node);
        let mut out = Vec::new();
        for run in latest.values() {
            let Some(last) = &run.last else { continue };
            for (code, since) in &run.codes {
                if let Some((kind, detail)) = alert_of(code, last, d, node) {
                    out.push(self.device_condition(d, kind, *since, detail));
                }
            }
        }
        Ok(out)
    }
}

/// One check's successful results in time order: the latest one, and for each finding code it
/// carries, the first result of the unbroken run carrying it.
#[derive(Default)]
struct Run {
    last: Option<ProbeResult>,
    codes: BTreeMap<String, DateTime<Utc>>,
}

impl Run {
    /// A result without findings: no finding is current.
    fn clear(&mut self) {
        self.codes.clear();
        self.last = None;
    }

    fn push(&mut self, r: ProbeResult) {
        let codes: BTreeSet<&str> = r.findings.iter().map(|f| f.code.as_str()).collect();
        self.codes.retain(|c, _| codes.contains(c.as_str()));
        for c in codes {
            self.codes.entry(c.to_string()).or_insert(r.time);
        }
        self.last = Some(r);
    }
}

/// How far back an unknown device's results are read for its agents' own faults (at least).
const AGENT_FAULT_WINDOW_MS: i64 = 10 * 60_000;

/// (agent, error kind) -> (start of the earliest run, the devices).
type AgentFaults = BTreeMap<(String, String), (i64, Vec<String>)>;

/// What the IT team reads in an agent-fault alert: what is wrong and what to do, in Swedish.
fn agent_fault_advice(agent: &str, error: &str, devices: usize) -> String {
    let what = match ErrorKind::parse(error) {
        Some(ErrorKind::PermissionDenied) => {
            "saknar behörighet att skicka ICMP (ping). Åtgärd: kör agenten som root, ge \
             programmet CAP_NET_RAW (`setcap cap_net_raw+ep /usr/bin/driftvakt-agent`, \
             eller AmbientCapabilities=CAP_NET_RAW i systemd-enheten) eller tillåt ping för \
             agentens grupp med sysctl net.ipv4.ping_group_range, och starta om agenten."
        }
        Some(ErrorKind::AgentResources) => {
            "har slut på filhandtag, sockets eller minne. Åtgärd: höj LimitNOFILE i \
             systemd-enheten eller sänk agent.concurrency, och starta om agenten."
        }
        _ => {
            "kan inte köra sina kontroller. Åtgärd: läs agentens logg och kontrollera \
             konfigurationen med `driftvakt-agent check-config`."
        }
    };
    format!(
        "Agenten {agent} {what} Under tiden visas {devices} {} som okända, inte som nere, \
         och inga driftmeddelanden skickas för dem (felkod {error}).",
        if devices == 1 { "enhet" } else { "enheter" }
    )
}

/// The alert a finding code raises (with Swedish detail for the service desk), if any.
fn alert_of(code: &str, r: &ProbeResult, d: &Device, node: bool) -> Option<(AlertKind, String)> {
    let runtime = r
        .number(readings::UPS_RUNTIME_MINUTES)
        .map(|m| m.max(0.0) as u32);
    match code {
        readings::UPS_ON_BATTERY => {
            let left = runtime.map_or(String::new(), |m| {
                format!(
                    "; beräknad reservtid {}",
                    crate::notify::render::duration_minutes_sv(i64::from(m))
                )
            });
            Some((AlertKind::OnBattery, format!("UPS:en går på batteri{left}")))
        }
        readings::UPS_RUNTIME_BELOW_MINIMUM if node => {
            let required = d
                .config
                .min_runtime_minutes
                .unwrap_or(NODE_MIN_RUNTIME_MINUTES);
            let minutes = runtime.unwrap_or(0);
            let detail = format!(
                "Reservtiden är {} men en knutpunkt ska klara minst {} utan nätström \
                 (kravet på fyra timmars reservkraft vid knutpunkter)",
                crate::notify::render::duration_minutes_sv(i64::from(minutes)),
                crate::notify::render::duration_minutes_sv(i64::from(required)),
            );
            Some((AlertKind::RuntimeBelowMinimum { minutes, required }, detail))
        }
        readings::PRINTER_SUPPLY_LOW => {
            let (supply, ratio) = lowest_supply(r).unwrap_or(("förbrukningsmaterial".into(), 0.0));
            let detail = format!("{supply} är nästan slut ({:.0} % kvar)", ratio * 100.0);
            Some((AlertKind::SupplyLow { supply, ratio }, detail))
        }
        readings::UPS_BATTERY_REPLACE => Some((
            AlertKind::BatteryReplace,
            "UPS:en rapporterar att batteriet behöver bytas; beställ ett nytt batteri innan \
             reservtiden sjunker"
                .to_string(),
        )),
        readings::UPS_SELF_TEST_FAILED => Some((
            AlertKind::SelfTestFailed,
            "UPS:ens senaste självtest misslyckades; kontrollera batteriet och kör om testet"
                .to_string(),
        )),
        readings::TLS_CERTIFICATE_EXPIRING => {
            let days = r
                .number(readings::TLS_CERT_DAYS_LEFT)
                .unwrap_or(0.0)
                .floor() as i64;
            let detail = format!("TLS-certifikatet går ut om {days} dagar och behöver förnyas");
            Some((AlertKind::CertExpiring { days }, detail))
        }
        _ => None,
    }
}

/// The supply with the lowest level (`printer_supply_ratio`, labelled `supply`).
fn lowest_supply(r: &ProbeResult) -> Option<(String, f64)> {
    let Some(Value::Series(samples)) = r.values.get(readings::PRINTER_SUPPLY_RATIO) else {
        return None;
    };
    samples
        .iter()
        .min_by(|a, b| a.value.total_cmp(&b.value))
        .map(|s| {
            let name = s
                .labels
                .get(readings::SUPPLY_LABEL)
                .cloned()
                .unwrap_or_default();
            (name, s.value)
        })
}
