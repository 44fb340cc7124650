//! One incident per cause: the outages of services that count as incidents, and the incidents
//! registered by hand, grouped into the incidents the committee counts.
//!
//! Every service outage (not wholly inside planned windows) and every incident registered by
//! hand is a *part*. A probed part's *root causes* are the devices behind it: each member that
//! is down itself, and for each member that is unreachable the nearest ancestor that is down
//! (the lineage of `state::lineage`, as `status` names the root cause; the farthest ancestor
//! when none is down). A registered part's root cause is the device it names as `cause`, if
//! any. Two parts that overlap in time (touching counts) and share a root cause or a service
//! are one incident: a switch down with a printer behind it is one incident, naming both
//! services; a registration for a service the probes saw down at the same time is the same
//! incident. The incident names every service and municipality of its parts and runs from the
//! first start to the last end; it counts once in each municipality it hits.

use super::{municipalities_of, Incident, IncidentPart};
use crate::availability::{at, ms, secs, Span, Spans};
use crate::inventory::Inventory;
use crate::state::{ancestors, Timeline};
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, BTreeSet};

/// One outage of one service, or one incident registered by hand.
#[derive(Debug, Clone)]
pub(super) struct Part {
    /// Services it hits (one for a probed part).
    pub services: Vec<String>,
    pub name: String,
    pub span: Span,
    /// Still going on (its span ends at now).
    pub ongoing: bool,
    /// The part of `span` inside planned windows.
    pub planned: Spans,
    pub municipalities: Vec<String>,
    /// Device ids of its root causes.
    pub roots: BTreeSet<String>,
    pub manual_id: Option<i64>,
}

impl Part {
    /// Wholly inside planned windows: planned work, not an incident.
    pub fn is_planned(&self) -> bool {
        self.planned.total() >= self.span.len()
    }

    fn overlaps(&self, other: &Part) -> bool {
        self.span.start <= other.span.end && other.span.start <= self.span.end
    }

    fn same_cause(&self, other: &Part) -> bool {
        !self.roots.is_disjoint(&other.roots)
            || self.services.iter().any(|s| other.services.contains(s))
    }
}

/// The root causes of service members' unavailability during `span`.
pub(super) fn roots(
    inv: &Inventory,
    devices: &BTreeMap<String, Timeline>,
    members: &[String],
    span: Span,
) -> BTreeSet<String> {
    let one = Spans::one(span.start, span.end);
    let mut out = BTreeSet::new();
    for m in members {
        let Some(tl) = devices.get(m) else { continue };
        if !tl.down.intersect(&one).is_empty() {
            out.insert(m.clone());
        }
        let unreachable = tl.unreachable.intersect(&one);
        if unreachable.is_empty() {
            continue;
        }
        // Each step up the lineage may notice the event up to one of its intervals earlier.
        let mut pad = inv.device(m).map_or(0, |d| d.rules.interval_ms);
        let mut farthest = None;
        let mut found = false;
        for a in ancestors(inv, m) {
            let near = unreachable.widen(pad, pad);
            if devices
                .get(&a.id)
                .is_some_and(|t| !t.down.intersect(&near).is_empty())
            {
                out.insert(a.id.clone());
                found = true;
                break;
            }
            pad += a.rules.interval_ms;
            farthest = Some(a.id.clone());
        }
        if let (false, Some(f)) = (found, farthest) {
            out.insert(f);
        }
    }
    out
}

/// A probed part: one outage `span` of service `id`.
pub(super) fn probed(
    inv: &Inventory,
    devices: &BTreeMap<String, Timeline>,
    service: &crate::inventory::Service,
    span: Span,
    planned: &Spans,
    now: DateTime<Utc>,
) -> Part {
    Part {
        services: vec![service.id.clone()],
        name: service.name.clone(),
        span,
        ongoing: span.end >= ms(now),
        planned: Spans::one(span.start, span.end).intersect(planned),
        municipalities: municipalities_of(inv, &service.members),
        roots: roots(inv, devices, &service.members, span),
        manual_id: None,
    }
}

/// Groups `parts` into sets of one cause (union–find over overlapping parts of a shared cause).
pub(super) fn group(parts: Vec<Part>) -> Vec<Vec<Part>> {
    let n = parts.len();
    let mut parent: Vec<usize> = (0..n).collect();
    fn find(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    for i in 0..n {
        for j in i + 1..n {
            if parts[i].overlaps(&parts[j]) && parts[i].same_cause(&parts[j]) {
                let (a, b) = (find(&mut parent, i), find(&mut parent, j));
                parent[a.max(b)] = a.min(b);
            }
        }
    }
    let mut groups: BTreeMap<usize, Vec<Part>> = BTreeMap::new();
    for (i, p) in parts.into_iter().enumerate() {
        let root = find(&mut parent, i);
        groups.entry(root).or_default().push(p);
    }
    groups.into_values().collect()
}

fn push_new(into: &mut Vec<String>, from: &[String]) {
    for x in from {
        if !into.contains(x) {
            into.push(x.clone());
        }
    }
}

/// The incident of one group of parts (not yet measured).
pub(super) fn incident(mut parts: Vec<Part>) -> Incident {
    parts.sort_by_key(|p| (p.span.start, p.manual_id.is_some()));
    let start = parts.iter().map(|p| p.span.start).min().unwrap_or(0);
    let end = parts.iter().map(|p| p.span.end).max().unwrap_or(start);
    let ongoing = parts.iter().any(|p| p.ongoing);
    let (mut services, mut municipalities, mut names) = (Vec::new(), Vec::new(), Vec::new());
    let mut causes = BTreeSet::new();
    let mut planned = Spans::empty();
    for p in &parts {
        push_new(&mut services, &p.services);
        push_new(&mut municipalities, &p.municipalities);
        push_new(&mut names, std::slice::from_ref(&p.name));
        causes.extend(p.roots.iter().cloned());
        planned = planned.union(&p.planned);
    }
    let manual_ids: Vec<i64> = parts.iter().filter_map(|p| p.manual_id).collect();
    let service = match (services.is_empty(), manual_ids.first()) {
        (true, Some(id)) => format!("manual:{id}"),
        _ => services.join("+"),
    };
    Incident {
        service,
        services,
        name: names.join(", "),
        start: at(start),
        end: (!ongoing).then(|| at(end)),
        duration_s: secs(end - start),
        planned_s: secs(planned.total()),
        municipalities,
        root_causes: causes.into_iter().collect(),
        working_time_s: 0.0,
        handling_goal_s: 0.0,
        within_goal: None,
        manual_id: manual_ids.first().copied(),
        manual_ids,
        parts: parts
            .iter()
            .map(|p| IncidentPart {
                services: p.services.clone(),
                name: p.name.clone(),
                start: at(p.span.start),
                end: (!p.ongoing).then(|| at(p.span.end)),
                duration_s: secs(p.span.len()),
                manual_id: p.manual_id,
            })
            .collect(),
        measured: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(service: &str, start: i64, end: i64, roots: &[&str]) -> Part {
        Part {
            services: vec![service.into()],
            name: service.into(),
            span: Span::new(start, end),
            ongoing: false,
            planned: Spans::empty(),
            municipalities: vec!["Tranemo".into()],
            roots: roots.iter().map(|r| r.to_string()).collect(),
            manual_id: None,
        }
    }

    #[test]
    fn overlapping_parts_of_one_cause_are_one_incident_and_others_stay_apart() {
        let groups = group(vec![
            part("natverk", 0, 100, &["sw"]),
            part("utskrift", 5, 90, &["sw"]),
            part("epost", 10, 20, &["mail"]),
            part("natverk", 200, 300, &["sw"]),
        ]);
        assert_eq!(groups.len(), 3, "{groups:?}");
        let one = incident(groups[0].clone());
        assert_eq!(one.services, ["natverk", "utskrift"]);
        assert_eq!(one.duration_s, 0.1);
        assert_eq!(one.root_causes, ["sw"]);
    }
}
