//! The team's status page (`/`): every site with its devices, each with its state, the reason
//! (which check failed with which error, or the findings), since when, and for an unreachable
//! device the device it is reached through that is down; services with their state; links to
//! the Grafana dashboards. For operators: addresses are shown.
//!
//! Filter: `q` (text in a device's id, description, address, class, site or municipality),
//! `state=problem` (everything not up) and `kommun=SLUG` (one municipality).
//!
//! **Region scale.** The page never holds the whole region: the sites that match are put on
//! pages of whole sites of at least [`PAGE_DEVICES`] devices each (`sida=N`), and where more
//! than [`SERVICES_MAX`] services match, only those not up are listed (the page says how many
//! are left out). A device's reason is read from the store only for the devices on the page;
//! everything else is one pass over the inventory and the state, so a page costs the same at
//! 500 devices as at 50,000 plus that pass.

use crate::app::App;
use crate::availability::ms;
use crate::calendar::swedish::{causes_sv, class_sv, date_time_sv, duration_sv, state_sv};
use crate::inventory::{Device, Inventory, Service, Site};
use crate::state::{status, EntityStatus, Health};
use crate::store::StoreError;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use driftvakt_common::wire::ProbeResult;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// A page holds whole sites until it has at least this many devices.
pub const PAGE_DEVICES: usize = 500;
/// Above this many matching services only those not up are listed.
pub const SERVICES_MAX: usize = 200;

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
    /// A municipality's slug ([`super::slug`]): only its sites and devices.
    #[serde(default)]
    pub kommun: Option<String>,
    /// The page, from 1.
    #[serde(default)]
    pub sida: Option<usize>,
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
    /// "Ansluten via dist-1 (LLDP)": its parent and where that comes from, or empty.
    pub parent_text: String,
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

/// A municipality to filter on.
#[derive(Debug, Clone, Serialize)]
pub struct MunicipalityOption {
    pub slug: String,
    pub name: String,
    pub selected: bool,
}

/// A link to another page of the same view.
#[derive(Debug, Clone, Serialize)]
pub struct PageLink {
    pub number: usize,
    pub url: String,
    pub current: bool,
}

/// What `/` shows.
#[derive(Debug, Clone, Serialize)]
pub struct TeamStatus {
    pub now_text: String,
    pub q: String,
    pub only_problems: bool,
    pub refresh: bool,
    /// Devices in the chosen municipality (all municipalities: the region), and how many of
    /// them are not up.
    pub total_devices: usize,
    pub problems: usize,
    /// Devices that match the filter, on all pages.
    pub matching_devices: usize,
    pub sites: Vec<SiteRow>,
    pub services: Vec<ServiceRow>,
    /// Matching services left out because they are up (see [`SERVICES_MAX`]).
    pub services_hidden: usize,
    pub dashboards: Vec<Link>,
    pub municipalities: Vec<Link>,
    pub municipality_options: Vec<MunicipalityOption>,
    /// The chosen municipality's slug, or empty.
    pub kommun: String,
    pub page: usize,
    pub pages: usize,
    /// Every page's link (empty when there is one page).
    pub page_links: Vec<PageLink>,
    pub previous_url: String,
    pub next_url: String,
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

/// What the filter asks for, resolved once.
struct Wanted<'a> {
    q: String,
    only_problems: bool,
    kommun: Option<&'a str>,
}

impl Wanted<'_> {
    fn in_scope(&self, site: &Site) -> bool {
        self.kommun
            .is_none_or(|k| super::slug(&site.municipality) == k)
    }

    fn matches(&self, d: &Device, site: &Site, state: Health) -> bool {
        if self.only_problems && state == Health::Up {
            return false;
        }
        if self.q.is_empty() {
            return true;
        }
        let description = d.config.description.as_deref().unwrap_or_default();
        format!(
            "{} {} {} {} {} {} {}",
            d.id,
            description,
            d.config.address.value,
            d.class.as_str(),
            class_sv(d.class),
            site.name,
            site.municipality
        )
        .to_lowercase()
        .contains(&self.q)
    }
}

/// The matching devices of one site, with their state.
struct Matched<'a> {
    site: &'a Site,
    devices: Vec<(&'a Device, &'a EntityStatus)>,
}

/// The team's view at `now`, filtered, one page of it.
pub fn team_status(
    app: &App,
    tz: Tz,
    grafana_url: Option<&str>,
    filter: &Filter,
    now: DateTime<Utc>,
) -> Result<TeamStatus, StoreError> {
    let inv = &app.inventory;
    let st = status(inv, &*app.store, now)?;
    let states: HashMap<&str, &EntityStatus> =
        st.devices.iter().map(|e| (e.id.as_str(), e)).collect();
    let mut behind: HashMap<&str, Vec<String>> = HashMap::new();
    for e in &st.devices {
        if let Some(root) = e.root_cause.as_deref() {
            behind.entry(root).or_default().push(e.id.clone());
        }
    }
    let wanted = Wanted {
        q: filter.q.clone().unwrap_or_default().trim().to_lowercase(),
        only_problems: filter.state.as_deref() == Some("problem"),
        kommun: filter.kommun.as_deref().filter(|k| !k.is_empty()),
    };
    let unknown = EntityStatus {
        id: String::new(),
        state: Health::Unknown,
        since: None,
        root_cause: None,
        parent: None,
        parent_source: None,
    };
    let mut by_site: HashMap<&str, Vec<&Device>> = HashMap::new();
    for d in &inv.devices {
        by_site.entry(d.site.as_str()).or_default().push(d);
    }
    let (mut total, mut problems, mut matched) = (0, 0, Vec::new());
    for site in inv.sites.iter().filter(|s| wanted.in_scope(s)) {
        let mut devices = Vec::new();
        for d in by_site.get(site.id.as_str()).into_iter().flatten() {
            let e = states.get(d.id.as_str()).copied().unwrap_or(&unknown);
            total += 1;
            problems += usize::from(e.state != Health::Up);
            if wanted.matches(d, site, e.state) {
                devices.push((*d, e));
            }
        }
        if !devices.is_empty() {
            matched.push(Matched { site, devices });
        }
    }
    let matching_devices = matched.iter().map(|m| m.devices.len()).sum();
    let ranges = page_ranges(&matched);
    let page = filter.sida.unwrap_or(1).clamp(1, ranges.len());
    let since_texts = |e: &EntityStatus| match e.since {
        Some(s) => (date_time_sv(s, tz), duration_sv(now - s)),
        None => (String::new(), String::new()),
    };
    let mut sites = Vec::new();
    for m in &matched[ranges[page - 1].clone()] {
        sites.push(site_row(app, m, &behind, &since_texts, now)?);
    }
    let (services, services_hidden) = service_rows(app, &st.services, &wanted, &since_texts);
    let links = page_links(filter, ranges.len(), page);
    Ok(TeamStatus {
        now_text: date_time_sv(now, tz),
        q: filter.q.clone().unwrap_or_default(),
        only_problems: wanted.only_problems,
        refresh: filter.uppdatera.as_deref() != Some("nej"),
        total_devices: total,
        problems,
        matching_devices,
        sites,
        services,
        services_hidden,
        dashboards: dashboards(grafana_url),
        municipalities: municipality_links(inv),
        municipality_options: municipality_options(inv, wanted.kommun),
        kommun: wanted.kommun.unwrap_or_default().to_string(),
        page,
        pages: ranges.len(),
        previous_url: links
            .get(page.wrapping_sub(2))
            .map(|l| l.url.clone())
            .unwrap_or_default(),
        next_url: links.get(page).map(|l| l.url.clone()).unwrap_or_default(),
        page_links: if links.len() > 1 { links } else { Vec::new() },
    })
}

/// The matched sites split into pages of whole sites, each of at least [`PAGE_DEVICES`]
/// devices but the last; one empty page when nothing matches.
fn page_ranges(matched: &[Matched<'_>]) -> Vec<std::ops::Range<usize>> {
    let (mut out, mut start, mut count) = (Vec::new(), 0, 0);
    for (i, m) in matched.iter().enumerate() {
        count += m.devices.len();
        if count >= PAGE_DEVICES {
            out.push(start..i + 1);
            (start, count) = (i + 1, 0);
        }
    }
    if start < matched.len() || out.is_empty() {
        out.push(start..matched.len());
    }
    out
}

fn site_row(
    app: &App,
    m: &Matched<'_>,
    behind: &HashMap<&str, Vec<String>>,
    since_texts: &dyn Fn(&EntityStatus) -> (String, String),
    now: DateTime<Utc>,
) -> Result<SiteRow, StoreError> {
    let mut worst = Health::Up;
    let mut devices = Vec::new();
    for (d, e) in &m.devices {
        if severity(e.state) > severity(worst) {
            worst = e.state;
        }
        let (state, state_text) = state_names(e.state);
        let (since_text, duration_text) = since_texts(e);
        let unreachable_behind = match e.state {
            Health::Down => behind.get(d.id.as_str()).cloned().unwrap_or_default(),
            _ => Vec::new(),
        };
        devices.push(DeviceRow {
            id: d.id.clone(),
            description: d.config.description.clone().unwrap_or_default(),
            class: class_sv(d.class).to_string(),
            address: d.config.address.value.clone(),
            state: state.to_string(),
            state_text: state_text.to_string(),
            since_text,
            duration_text,
            reason: reason(app, &d.id, e.state, ms(now))?,
            behind: e.root_cause.clone().unwrap_or_default(),
            unreachable_behind,
            parent_text: parent_text(&app.inventory, d),
        });
    }
    let (state, state_text) = state_names(worst);
    Ok(SiteRow {
        id: m.site.id.clone(),
        name: m.site.name.clone(),
        municipality: m.site.municipality.clone(),
        node: m.site.node,
        state: state.to_string(),
        state_text: state_text.to_string(),
        devices,
    })
}

/// The services that match (in the municipality: with a member there); over
/// [`SERVICES_MAX`], only those not up. Returns the rows and how many were left out.
fn service_rows(
    app: &App,
    all: &[EntityStatus],
    wanted: &Wanted<'_>,
    since_texts: &dyn Fn(&EntityStatus) -> (String, String),
) -> (Vec<ServiceRow>, usize) {
    let inv = &app.inventory;
    let in_scope = |s: &Service| {
        wanted.kommun.is_none_or(|k| {
            s.members
                .iter()
                .filter_map(|m| inv.device(m))
                .any(|d| super::slug(&d.municipality) == k)
        })
    };
    let services: HashMap<&str, &Service> =
        inv.services.iter().map(|s| (s.id.as_str(), s)).collect();
    let matching: Vec<(&EntityStatus, &Service)> = all
        .iter()
        .filter(|e| !wanted.only_problems || e.state != Health::Up)
        .filter_map(|e| Some((e, *services.get(e.id.as_str())?)))
        .filter(|(_, s)| {
            wanted.q.is_empty()
                || format!("{} {}", s.id, s.name)
                    .to_lowercase()
                    .contains(&wanted.q)
        })
        .filter(|(_, s)| in_scope(s))
        .collect();
    let many = matching.len() > SERVICES_MAX;
    let rows: Vec<ServiceRow> = matching
        .iter()
        .filter(|(e, _)| !many || e.state != Health::Up)
        .map(|(e, s)| {
            let (state, state_text) = state_names(e.state);
            ServiceRow {
                id: s.id.clone(),
                name: s.name.clone(),
                state: state.to_string(),
                state_text: state_text.to_string(),
                since_text: since_texts(e).0,
            }
        })
        .collect();
    let hidden = matching.len() - rows.len();
    (rows, hidden)
}

/// Links to every page of the view `filter` asks for.
fn page_links(filter: &Filter, pages: usize, current: usize) -> Vec<PageLink> {
    (1..=pages)
        .map(|number| {
            let mut pairs: Vec<(&str, String)> = Vec::new();
            for (key, value) in [
                ("q", &filter.q),
                ("state", &filter.state),
                ("kommun", &filter.kommun),
                ("uppdatera", &filter.uppdatera),
            ] {
                if let Some(v) = value.as_ref().filter(|v| !v.is_empty()) {
                    pairs.push((key, v.clone()));
                }
            }
            pairs.push(("sida", number.to_string()));
            let query = serde_urlencoded::to_string(&pairs).unwrap_or_default();
            PageLink {
                number,
                url: format!("?{query}"),
                current: number == current,
            }
        })
        .collect()
}

fn dashboards(grafana_url: Option<&str>) -> Vec<Link> {
    let Some(base) = grafana_url else {
        return Vec::new();
    };
    let base = base.trim_end_matches('/');
    DASHBOARDS
        .iter()
        .map(|(uid, title)| Link {
            title: title.to_string(),
            url: format!("{base}/d/{uid}"),
        })
        .collect()
}

fn municipality_links(inv: &Inventory) -> Vec<Link> {
    inv.municipalities()
        .into_iter()
        .map(|m| Link {
            url: format!("/driftinfo/{}", super::slug(&m)),
            title: m,
        })
        .collect()
}

fn municipality_options(inv: &Inventory, chosen: Option<&str>) -> Vec<MunicipalityOption> {
    inv.municipalities()
        .into_iter()
        .map(|name| {
            let slug = super::slug(&name);
            MunicipalityOption {
                selected: chosen == Some(slug.as_str()),
                slug,
                name,
            }
        })
        .collect()
}

/// "Ansluten via PARENT (källa)", or empty for a device without a parent.
fn parent_text(inv: &Inventory, d: &Device) -> String {
    let Some(parent) = inv.parent_of(d) else {
        return String::new();
    };
    let source = match inv.parent_source(d).as_deref() {
        Some("lldp") => "LLDP",
        Some("cdp") => "CDP",
        _ => "inventariet",
    };
    format!("Ansluten via {parent} ({source})")
}
