//! The team's status page (`/`): every site with its devices, each with its state, the reason
//! (which check failed with which error, or the findings), since when, and for an unreachable
//! device the device it is reached through that is down; services with their state; links to
//! the Grafana dashboards. For operators: addresses are shown.
//!
//! Filter: `q` (text in a device's id, description, address, class, site or municipality) and
//! `state=problem` (everything not up).

use crate::app::App;
use crate::availability::ms;
use crate::calendar::swedish::{causes_sv, class_sv, date_time_sv, duration_sv, state_sv};
use crate::state::{status, EntityStatus, Health};
use crate::store::StoreError;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use driftvakt_common::wire::ProbeResult;
use serde::{Deserialize, Serialize};

/// How far back the latest result is looked for to give a reason.
const REASON_LOOKBACK_MS: i64 = 6 * 3_600_000;

/// The Grafana dashboards linked from the page: uid and Swedish title.
pub const DASHBOARDS: &[(&str, &str)] = &[
    ("driftvakt-oversikt", "Översikt"),
    ("driftvakt-tillganglighet", "Tillgänglighet"),
    ("driftvakt-ups", "Kraft och UPS"),
    ("driftvakt-skrivare-skarmar", "Skrivare och skärmar"),
    ("driftvakt-agenter", "Agenter"),
];

/// The filter (`?q=..&state=problem`).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    #[serde(default)]
    pub q: Option<String>,
    /// `problem`: only what is not up; anything else (or none): everything.
    #[serde(default)]
    pub state: Option<String>,
    /// `nej`: no automatic refresh (see the page's template).
    #[serde(default)]
    pub uppdatera: Option<String>,
}

/// One device as the team sees it.
#[derive(Debug, Clone, Serialize)]
pub struct DeviceRow {
    pub id: String,
    pub description: String,
    pub class: String,
    pub address: String,
    /// `up`, `degraded`, `down`, `unreachable`, `unknown`.
    pub state: String,
    pub state_text: String,
    pub since_text: String,
    pub duration_text: String,
    /// "icmp: timeout (3 av 3 paket förlorade)", or the findings.
    pub reason: String,
    /// For an unreachable device: the device that is down on the way to it.
    pub behind: String,
    /// For a down device: the devices unreachable behind it.
    pub unreachable_behind: Vec<String>,
}

/// One site with its devices.
#[derive(Debug, Clone, Serialize)]
pub struct SiteRow {
    pub id: String,
    pub name: String,
    pub municipality: String,
    pub node: bool,
    /// The worst state of its devices.
    pub state: String,
    pub state_text: String,
    pub devices: Vec<DeviceRow>,
}

/// One service.
#[derive(Debug, Clone, Serialize)]
pub struct ServiceRow {
    pub id: String,
    pub name: String,
    pub state: String,
    pub state_text: String,
    pub since_text: String,
}

/// A link to a dashboard.
#[derive(Debug, Clone, Serialize)]
pub struct Link {
    pub title: String,
    pub url: String,
}

/// What `/` shows.
#[derive(Debug, Clone, Serialize)]
pub struct TeamStatus {
    pub now_text: String,
    pub q: String,
    pub only_problems: bool,
    pub refresh: bool,
    pub total_devices: usize,
    pub problems: usize,
    pub sites: Vec<SiteRow>,
    pub services: Vec<ServiceRow>,
    pub dashboards: Vec<Link>,
    pub municipalities: Vec<Link>,
}

/// The state's name in the page's markup (`up`, ...) and in Swedish.
pub fn state_names(s: Health) -> (&'static str, &'static str) {
    (s.as_str(), state_sv(s))
}

fn severity(s: Health) -> u8 {
    match s {
        Health::Up => 0,
        Health::Degraded => 1,
        Health::Unknown => 2,
        Health::Unreachable => 3,
        Health::Down => 4,
    }
}

/// Why `device` is in state `s`: its latest failed (or degraded) result.
fn reason(app: &App, device: &str, s: Health, now: i64) -> Result<String, StoreError> {
    if matches!(s, Health::Up | Health::Unreachable) {
        return Ok(String::new());
    }
    // Each check's latest result is kept whole (raw results only for the retention time, and
    // then compactly): the newest of them that failed or found something says why.
    let results = app.store.latest(device)?;
    let latest = results
        .iter()
        .filter(|r| r.time <= now && r.time >= now - REASON_LOOKBACK_MS)
        .filter(|r| !r.ok || r.degraded)
        .max_by_key(|r| r.time);
    let Some(r) = latest else {
        return Ok(match s {
            Health::Unknown => "Inga resultat".to_string(),
            _ => String::new(),
        });
    };
    let parsed = serde_json::from_str::<ProbeResult>(&r.raw).ok();
    let detail = parsed
        .as_ref()
        .and_then(|p| p.detail.clone())
        .unwrap_or_default();
    let cause = r
        .cause
        .clone()
        .or_else(|| parsed.and_then(|p| p.error))
        .unwrap_or_else(|| "fel".to_string());
    let cause = causes_sv(&cause);
    Ok(if detail.is_empty() {
        format!("{}: {cause}", r.check)
    } else {
        format!("{}: {cause} ({detail})", r.check)
    })
}

/// The team's view at `now`, filtered.
pub fn team_status(
    app: &App,
    tz: Tz,
    grafana_url: Option<&str>,
    filter: &Filter,
    now: DateTime<Utc>,
) -> Result<TeamStatus, StoreError> {
    let inv = &app.inventory;
    let st = status(inv, &*app.store, now)?;
    let by_id = |list: &[EntityStatus], id: &str| list.iter().find(|e| e.id == id).cloned();
    let q = filter.q.clone().unwrap_or_default().trim().to_lowercase();
    let only_problems = filter.state.as_deref() == Some("problem");
    let since_texts = |e: &EntityStatus| match e.since {
        Some(s) => (date_time_sv(s, tz), duration_sv(now - s)),
        None => (String::new(), String::new()),
    };
    let mut sites = Vec::new();
    let mut problems = 0;
    for site in &inv.sites {
        let mut devices = Vec::new();
        let mut worst = Health::Up;
        for d in inv.devices.iter().filter(|d| d.site == site.id) {
            let e = by_id(&st.devices, &d.id).unwrap_or(EntityStatus {
                id: d.id.clone(),
                state: Health::Unknown,
                since: None,
                root_cause: None,
            });
            let description = d.config.description.clone().unwrap_or_default();
            let class = class_sv(d.class).to_string();
            let haystack = format!(
                "{} {} {} {} {} {} {}",
                d.id,
                description,
                d.config.address.value,
                d.class.as_str(),
                class,
                site.name,
                site.municipality
            )
            .to_lowercase();
            if e.state != Health::Up {
                problems += 1;
            }
            if (!q.is_empty() && !haystack.contains(&q)) || (only_problems && e.state == Health::Up)
            {
                continue;
            }
            if severity(e.state) > severity(worst) {
                worst = e.state;
            }
            let (state, state_text) = state_names(e.state);
            let (since_text, duration_text) = since_texts(&e);
            let unreachable_behind = if e.state == Health::Down {
                st.devices
                    .iter()
                    .filter(|o| o.root_cause.as_deref() == Some(d.id.as_str()))
                    .map(|o| o.id.clone())
                    .collect()
            } else {
                Vec::new()
            };
            devices.push(DeviceRow {
                id: d.id.clone(),
                description,
                class,
                address: d.config.address.value.clone(),
                state: state.to_string(),
                state_text: state_text.to_string(),
                since_text,
                duration_text,
                reason: reason(app, &d.id, e.state, ms(now))?,
                behind: e.root_cause.clone().unwrap_or_default(),
                unreachable_behind,
            });
        }
        if devices.is_empty() {
            continue;
        }
        let (state, state_text) = state_names(worst);
        sites.push(SiteRow {
            id: site.id.clone(),
            name: site.name.clone(),
            municipality: site.municipality.clone(),
            node: site.node,
            state: state.to_string(),
            state_text: state_text.to_string(),
            devices,
        });
    }
    let services = st
        .services
        .iter()
        .filter(|e| !only_problems || e.state != Health::Up)
        .filter_map(|e| {
            let s = inv.services.iter().find(|s| s.id == e.id)?;
            if !q.is_empty() && !format!("{} {}", s.id, s.name).to_lowercase().contains(&q) {
                return None;
            }
            let (state, state_text) = state_names(e.state);
            Some(ServiceRow {
                id: s.id.clone(),
                name: s.name.clone(),
                state: state.to_string(),
                state_text: state_text.to_string(),
                since_text: since_texts(e).0,
            })
        })
        .collect();
    let dashboards = grafana_url
        .map(|base| {
            let base = base.trim_end_matches('/');
            DASHBOARDS
                .iter()
                .map(|(uid, title)| Link {
                    title: title.to_string(),
                    url: format!("{base}/d/{uid}"),
                })
                .collect()
        })
        .unwrap_or_default();
    let municipalities = inv
        .municipalities()
        .into_iter()
        .map(|m| Link {
            url: format!("/driftinfo/{}", super::slug(&m)),
            title: m,
        })
        .collect();
    Ok(TeamStatus {
        now_text: date_time_sv(now, tz),
        q: filter.q.clone().unwrap_or_default(),
        only_problems,
        refresh: filter.uppdatera.as_deref() != Some("nej"),
        total_devices: inv.devices.len(),
        problems,
        sites,
        services,
        dashboards,
        municipalities,
    })
}
