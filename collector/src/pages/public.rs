//! The driftinformation of one municipality, as its staff may read it: ongoing disturbances,
//! planned maintenance and what was resolved in the last [`RESOLVED_DAYS`] days.
//!
//! - A **service** is disturbed while its timeline is down; it concerns the municipalities of
//!   its unavailable members (of all members once resolved), and is shown with the names of
//!   their sites.
//! - A **function** (`kind: function`, an "intefunktion" item) is disturbed while its timeline
//!   is down; it concerns its own municipality only, wherever its servers stand, and is shown
//!   with the agreement's item ("Intefunktion: Utskrift på nätverksskrivare"). An
//!   **intefunktion case the service desk registered** is such a disturbance too, from its
//!   start to its end; one that meets a down span of its function (touching counts) is the same
//!   disturbance (one from the first start to the last end, its title in the description), as
//!   the report links them.
//! - A **site is dark** while a device at a `node: true` site that other devices are reached
//!   through is down ("Nätverket på Stadshuset").
//! - An **incident registered by hand** concerns the municipalities it names.
//! - **Planned maintenance**: active service windows that end within the next
//!   [`PLANNED_DAYS`] days and apply to the municipality (its sites, devices or services, or
//!   everything).
//!
//! Updates: an incident's own; for a probed service, the operators' updates written while
//! the outage lasted (`store::service_updates`). No address or device id is ever put here.

use crate::app::App;
use crate::availability::{at, ms, Span};
use crate::calendar::swedish::{class_sv, date_sv, date_time_sv, duration_sv, list_sv, time_sv};
use crate::calendar::{Calendar, Window, WindowKind, WindowScope};
use crate::inventory::Inventory;
use crate::state::{load_timelines, service_timelines, Timeline};
use crate::store::{ManualIncident, ManualIntefunktionCase, ServiceUpdate, StoreError};
use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use std::collections::BTreeMap;

/// How far back resolved disturbances are listed.
pub const RESOLVED_DAYS: i64 = 30;
/// How far ahead planned maintenance is listed.
pub const PLANNED_DAYS: i64 = 60;
const DAY_MS: i64 = 86_400_000;
/// What a window over everything covers.
const ALL_SERVICES: &str = "alla IT-tjänster";

/// One update of a disturbance.
#[derive(Debug, Clone, Serialize)]
pub struct UpdateView {
    /// Stable key (the feed's entry id is derived from it).
    pub key: String,
    pub at: DateTime<Utc>,
    pub at_text: String,
    pub text: String,
}

/// A disturbance, ongoing or resolved.
#[derive(Debug, Clone, Serialize)]
pub struct Disturbance {
    /// `service:ID:START`, `function:ID:START`, `intefunktion:ID` (a case the service desk
    /// registered), `site:ID:START` or `incident:ID`: stable across restarts.
    pub key: String,
    /// The HTML id of its item on the page.
    pub anchor: String,
    /// `service`, `function`, `site` or `incident`.
    pub kind: &'static str,
    /// What does not work ("Trådlöst nätverk", "Nätverket på Stadshuset", an incident's title).
    pub title: String,
    /// Where (site names), or the municipality.
    pub places: String,
    /// An incident's description; for a dark site what it means.
    pub description: String,
    pub since: DateTime<Utc>,
    pub since_text: String,
    pub until: Option<DateTime<Utc>>,
    pub until_text: String,
    /// How long it lasted (resolved) or has lasted so far (ongoing).
    pub duration_text: String,
    /// Oldest first.
    pub updates: Vec<UpdateView>,
    pub latest_update: Option<UpdateView>,
}

/// Planned maintenance: an active service window ahead or going on.
#[derive(Debug, Clone, Serialize)]
pub struct Maintenance {
    pub key: String,
    /// The HTML id of its item on the page.
    pub anchor: String,
    /// "Ordinarie servicefönster", "Extra servicefönster", "Särskilt servicefönster".
    pub title: String,
    /// What it covers ("alla IT-tjänster", "alla IT-tjänster på Kommunhuset", "Utskrift").
    pub concerns: String,
    pub reason: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// "tisdag 17 mars 2026, 18.00–22.00".
    pub when_text: String,
    pub ongoing: bool,
    /// When its entry last changed (an ad-hoc window's creation, a secondary window's
    /// activation, the day a primary window came within [`PLANNED_DAYS`]): never ahead of now.
    pub announced: DateTime<Utc>,
}

/// What `/driftinfo/{kommun}` shows.
#[derive(Debug, Clone, Serialize)]
pub struct Driftinfo {
    pub municipality: String,
    pub slug: String,
    pub now: DateTime<Utc>,
    pub now_text: String,
    pub ongoing: Vec<Disturbance>,
    pub planned: Vec<Maintenance>,
    pub resolved: Vec<Disturbance>,
}

/// The state everything on the pages is read from, at one instant.
struct Sources<'a> {
    inv: &'a Inventory,
    tz: Tz,
    now: i64,
    devices: BTreeMap<String, Timeline>,
    services: BTreeMap<String, Timeline>,
    manual: Vec<ManualIncident>,
    /// Intefunktion cases the service desk registered.
    cases: Vec<ManualIntefunktionCase>,
    updates: &'a [ServiceUpdate],
}

/// The span of a registered case (open: reaching past any now).
fn case_span(c: &ManualIntefunktionCase) -> Span {
    Span::new(ms(c.start), c.end.map_or(i64::MAX, ms))
}

/// Whether two spans overlap or touch.
fn meets(a: Span, b: Span) -> bool {
    a.start <= b.end && b.start <= a.end
}

/// A function's disturbance as the page describes it: the agreement's item, and the titles
/// of the service desk's cases about it.
fn function_text(item: &str, titles: &[&str]) -> String {
    let mut text = format!("Intefunktion: {item}");
    if !titles.is_empty() {
        text.push_str(&format!(". Servicedeskens ärende: {}", titles.join("; ")));
    }
    text
}

impl<'a> Sources<'a> {
    fn load(
        app: &'a App,
        tz: Tz,
        updates: &'a [ServiceUpdate],
        now: DateTime<Utc>,
    ) -> Result<Self, StoreError> {
        let now = ms(now);
        let (from, to) = (now - (RESOLVED_DAYS + 1) * DAY_MS, now + 1);
        let inv = &app.inventory;
        let devices = load_timelines(inv, &*app.store, from, to)?;
        let services = service_timelines(inv, &devices, from, to);
        let manual = app.store.manual_incidents(from, to)?;
        let cases = app.store.intefunktion_cases(from, to)?;
        Ok(Sources {
            inv,
            tz,
            now,
            devices,
            services,
            manual,
            cases,
            updates,
        })
    }

    fn site_name(&self, id: &str) -> String {
        self.inv
            .site(id)
            .map_or_else(|| id.to_string(), |s| s.name.clone())
    }

    /// Down spans of `t` that overlap the look-back (ongoing ones reach past now).
    fn spans(t: &Timeline) -> Vec<Span> {
        t.down
            .as_slice()
            .iter()
            .copied()
            .filter(|s| s.start > 0)
            .collect()
    }

    #[allow(clippy::too_many_arguments)] // one field each; a struct would only repeat them
    fn disturbance(
        &self,
        key: String,
        kind: &'static str,
        title: String,
        places: String,
        description: String,
        span: Span,
        updates: Vec<UpdateView>,
    ) -> Disturbance {
        let since = at(span.start);
        let until = (span.end <= self.now).then(|| at(span.end));
        let end = until.unwrap_or(at(self.now));
        Disturbance {
            anchor: super::anchor(&key),
            key,
            kind,
            title,
            places,
            description,
            since,
            since_text: date_time_sv(since, self.tz),
            until,
            until_text: until.map(|u| date_time_sv(u, self.tz)).unwrap_or_default(),
            duration_text: duration_sv(end - since),
            latest_update: updates.last().cloned(),
            updates,
        }
    }

    /// The operators' updates of `service` written while `span` lasted.
    fn service_updates(&self, service: &str, span: Span) -> Vec<UpdateView> {
        self.updates
            .iter()
            .filter(|u| u.service_id == service)
            .filter(|u| span.start <= ms(u.at) && ms(u.at) <= span.end.min(self.now))
            .map(|u| UpdateView {
                key: format!("service-update:{}", u.id),
                at: u.at,
                at_text: date_time_sv(u.at, self.tz),
                text: u.text.clone(),
            })
            .collect()
    }

    /// Services, dark sites and incidents of `municipality`: `(ongoing, resolved)`.
    fn disturbances(&self, municipality: &str) -> (Vec<Disturbance>, Vec<Disturbance>) {
        let mut all = Vec::new();
        for s in &self.inv.services {
            let Some(t) = self.services.get(&s.id) else {
                continue;
            };
            let members: Vec<_> = s
                .members
                .iter()
                .filter_map(|m| self.inv.device(m))
                .collect();
            for span in Self::spans(t) {
                let ongoing = span.end > self.now;
                let hit: Vec<_> = members
                    .iter()
                    .filter(|d| {
                        !ongoing
                            || self
                                .devices
                                .get(&d.id)
                                .is_some_and(|t| !t.state_at(self.now).available())
                    })
                    .collect();
                let hit = if hit.is_empty() {
                    members.iter().collect()
                } else {
                    hit
                };
                // A function is a disturbance of its municipality, wherever its servers stand.
                if let Some(f) = &s.function {
                    if f.municipality == municipality {
                        let key = format!("function:{}:{}", s.id, span.start / 1000);
                        let updates = self.service_updates(&s.id, span);
                        let linked: Vec<&ManualIntefunktionCase> = self
                            .cases
                            .iter()
                            .filter(|c| c.function == s.id && meets(case_span(c), span))
                            .collect();
                        let whole = linked.iter().fold(span, |u, c| {
                            let c = case_span(c);
                            Span::new(u.start.min(c.start), u.end.max(c.end))
                        });
                        let titles: Vec<&str> = linked.iter().map(|c| c.title.as_str()).collect();
                        all.push(self.disturbance(
                            key,
                            "function",
                            s.name.clone(),
                            municipality.to_string(),
                            function_text(f.item.swedish(), &titles),
                            whole,
                            updates,
                        ));
                    }
                    continue;
                }
                if !hit.iter().any(|d| d.municipality == municipality) {
                    continue;
                }
                let mut sites: Vec<String> = Vec::new();
                for d in hit.iter().filter(|d| d.municipality == municipality) {
                    let name = self.site_name(&d.site);
                    if !sites.contains(&name) {
                        sites.push(name);
                    }
                }
                let key = format!("service:{}:{}", s.id, span.start / 1000);
                let updates = self.service_updates(&s.id, span);
                all.push(self.disturbance(
                    key,
                    "service",
                    s.name.clone(),
                    sites.join(", "),
                    String::new(),
                    span,
                    updates,
                ));
            }
        }
        for d in &self.inv.devices {
            let Some(site) = self.inv.site(&d.site) else {
                continue;
            };
            if !site.node || site.municipality != municipality || !self.inv.has_children(&d.id) {
                continue;
            }
            let Some(t) = self.devices.get(&d.id) else {
                continue;
            };
            for span in Self::spans(t) {
                all.push(
                    self.disturbance(
                        format!("site:{}:{}", site.id, span.start / 1000),
                        "site",
                        format!("Nätverket på {}", site.name),
                        site.name.clone(),
                        "Utrustningen på platsen nås inte: nätverk, skrivare och skärmar kan vara \
                     ur funktion."
                            .to_string(),
                        span,
                        Vec::new(),
                    ),
                );
            }
        }
        self.registered_cases(municipality, &mut all);
        for i in self
            .manual
            .iter()
            .filter(|i| i.municipalities.iter().any(|m| m == municipality))
        {
            let end = i.end.map_or(i64::MAX, ms);
            if ms(i.start) > self.now {
                continue;
            }
            let updates = i
                .updates
                .iter()
                .map(|u| UpdateView {
                    key: format!("incident-update:{}:{}", i.id, u.at.timestamp_millis()),
                    at: u.at,
                    at_text: date_time_sv(u.at, self.tz),
                    text: u.text.clone(),
                })
                .collect();
            let services: Vec<String> = i
                .services
                .iter()
                .filter_map(|s| self.inv.services.iter().find(|x| &x.id == s))
                .map(|s| s.name.clone())
                .collect();
            let places = if services.is_empty() {
                municipality.to_string()
            } else {
                services.join(", ")
            };
            let span = Span {
                start: ms(i.start),
                end,
            };
            all.push(self.disturbance(
                format!("incident:{}", i.id),
                "incident",
                i.title.clone(),
                places,
                i.description.clone(),
                span,
                updates,
            ));
        }
        let since = self.now - RESOLVED_DAYS * DAY_MS;
        let (mut ongoing, mut resolved): (Vec<_>, Vec<_>) =
            all.into_iter().partition(|d| d.until.is_none());
        resolved.retain(|d| d.until.is_some_and(|u| ms(u) >= since));
        ongoing.sort_by(|a, b| (a.since, &a.key).cmp(&(b.since, &b.key)));
        resolved.sort_by(|a, b| (b.until, &b.key).cmp(&(a.until, &a.key)));
        (ongoing, resolved)
    }

    /// The service desk's intefunktion cases of `municipality` that meet no down span of
    /// their function (those are part of the function's disturbance).
    fn registered_cases(&self, municipality: &str, all: &mut Vec<Disturbance>) {
        for c in self.cases.iter().filter(|c| c.municipality == municipality) {
            let Some((s, f)) = self.inv.functions().find(|(s, _)| s.id == c.function) else {
                continue;
            };
            let span = case_span(c);
            let probed = self
                .services
                .get(&s.id)
                .is_some_and(|t| Self::spans(t).into_iter().any(|d| meets(span, d)));
            if probed || span.start > self.now {
                continue;
            }
            all.push(self.disturbance(
                format!("intefunktion:{}", c.id),
                "function",
                s.name.clone(),
                municipality.to_string(),
                function_text(f.item.swedish(), &[c.title.as_str()]),
                span,
                self.service_updates(&s.id, span),
            ));
        }
    }

    /// What window `w` covers, as `municipality`'s page names it: "alla IT-tjänster" (the
    /// whole municipality or everything), "alla IT-tjänster på Kommunhuset" (a site), the
    /// service's name, or for one device the services it serves at its site ("Utskrift på
    /// Kommunhuset"; its class when it serves none: "nätverksswitch på Kommunhuset"). `None`
    /// when the window does not concern the municipality.
    fn concerns(&self, w: &Window, municipality: &str) -> Option<String> {
        match &w.scope {
            WindowScope::All => Some(ALL_SERVICES.to_string()),
            WindowScope::Municipality(m) => (m == municipality).then(|| ALL_SERVICES.to_string()),
            WindowScope::Site(s) => self
                .inv
                .site(s)
                .filter(|s| s.municipality == municipality)
                .map(|s| format!("{ALL_SERVICES} på {}", s.name)),
            WindowScope::Device(d) => {
                let d = self
                    .inv
                    .device(d)
                    .filter(|d| d.municipality == municipality)?;
                let services: Vec<&str> = self
                    .inv
                    .services
                    .iter()
                    .filter(|s| s.members.contains(&d.id))
                    .map(|s| s.name.as_str())
                    .collect();
                let what = if services.is_empty() {
                    class_sv(d.class).to_string()
                } else {
                    list_sv(&services)
                };
                Some(format!("{what} på {}", self.site_name(&d.site)))
            }
            WindowScope::Service(s) => {
                let service = self.inv.services.iter().find(|x| &x.id == s)?;
                service
                    .members
                    .iter()
                    .filter_map(|m| self.inv.device(m))
                    .any(|d| d.municipality == municipality)
                    .then(|| service.name.clone())
            }
        }
    }

    /// When the entry of window `w` last changed: an ad-hoc window's creation, a secondary
    /// window's activation, and for a primary window (the configuration's, which has no time
    /// of its own) the day it came within the page's [`PLANNED_DAYS`]. Never the window's own
    /// start, which lies ahead.
    fn announced(&self, calendar: &Calendar, w: &Window) -> DateTime<Utc> {
        let appeared = w.start - Duration::days(PLANNED_DAYS);
        match w.kind {
            WindowKind::Adhoc => {
                w.id.and_then(|id| calendar.adhoc(id))
                    .map_or(appeared, |a| a.created_at)
            }
            WindowKind::Secondary => calendar
                .activation(w.start.with_timezone(&self.tz).date_naive())
                .map_or(appeared, |a| a.activated_at),
            WindowKind::Primary => appeared,
        }
        .min(at(self.now))
    }

    fn planned(&self, calendar: &Calendar, municipality: &str) -> Vec<Maintenance> {
        let now = at(self.now);
        calendar
            .windows(now, now + Duration::days(PLANNED_DAYS))
            .into_iter()
            .filter(|w| w.active && w.end > now)
            .filter_map(|w| {
                let concerns = self.concerns(&w, municipality)?;
                let title = match w.kind {
                    WindowKind::Primary => "Ordinarie servicefönster",
                    WindowKind::Secondary => "Extra servicefönster",
                    WindowKind::Adhoc => "Särskilt servicefönster",
                };
                let announced = self.announced(calendar, &w);
                let key = format!(
                    "window:{}:{}:{}",
                    w.kind.as_str(),
                    w.start.timestamp(),
                    w.scope
                );
                Some(Maintenance {
                    anchor: super::anchor(&key),
                    key,
                    title: title.to_string(),
                    concerns,
                    reason: w.reason.clone().unwrap_or_default(),
                    when_text: format!(
                        "{}, {}–{}",
                        date_sv(w.start, self.tz),
                        time_sv(w.start, self.tz),
                        time_sv(w.end, self.tz)
                    ),
                    ongoing: w.contains(now),
                    start: w.start,
                    end: w.end,
                    announced,
                })
            })
            .collect()
    }
}

/// The driftinformation of `municipality` at `now`; `updates` are the operators' updates of
/// probed services (`ServiceUpdateStore::since`, at least the last 31 days).
pub fn driftinfo(
    app: &App,
    calendar: &Calendar,
    updates: &[ServiceUpdate],
    municipality: &str,
    now: DateTime<Utc>,
) -> Result<Driftinfo, StoreError> {
    let tz = calendar.time_zone();
    let sources = Sources::load(app, tz, updates, now)?;
    let (ongoing, resolved) = sources.disturbances(municipality);
    Ok(Driftinfo {
        municipality: municipality.to_string(),
        slug: super::slug(municipality),
        now,
        now_text: date_time_sv(now, tz),
        ongoing,
        planned: sources.planned(calendar, municipality),
        resolved,
    })
}

/// An update of an ongoing disturbance, for the "uppdatering" notice to the editors of
/// `municipality` (alerting sends each once: its key is in the outbox key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OngoingUpdate {
    pub key: String,
    pub municipality: String,
    pub title: String,
    pub places: String,
    pub since: DateTime<Utc>,
    pub at: DateTime<Utc>,
    pub text: String,
}

/// The updates of every ongoing disturbance in every municipality, written at or after
/// `after`.
pub fn ongoing_updates(
    app: &App,
    tz: Tz,
    updates: &[ServiceUpdate],
    after: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Vec<OngoingUpdate>, StoreError> {
    let sources = Sources::load(app, tz, updates, now)?;
    let mut out = Vec::new();
    for m in app.inventory.municipalities() {
        let (ongoing, _) = sources.disturbances(&m);
        for d in ongoing {
            for u in d.updates.iter().filter(|u| u.at >= after) {
                out.push(OngoingUpdate {
                    key: u.key.clone(),
                    municipality: m.clone(),
                    title: d.title.clone(),
                    places: d.places.clone(),
                    since: d.since,
                    at: u.at,
                    text: u.text.clone(),
                });
            }
        }
    }
    Ok(out)
}
