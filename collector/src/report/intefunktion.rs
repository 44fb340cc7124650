//! Intefunktion cases: the framework assignment's handling time for "intefunktion" (one working
//! day, followed up per tertial), measured on the functions of the inventory (services of
//! `kind: function`, one per agreement item and municipality).
//!
//! A case opens by itself when a function goes down (its confirmed outage, as any service's:
//! the state machine's confirmation applies), unless the outage lies wholly inside planned
//! service windows, and closes when the function is back. The service desk can register a case
//! by hand (`store::intefunktion`: `POST /api/v1/intefunktion`, `driftvakt-collector
//! intefunktion add`); one that overlaps (touching counts) a probed case of the same function
//! is linked to it, one case from the first start to the last end, open while either is. A
//! case carries its working time in its municipality's office hours and holidays and its goal
//! (`report::handling::measure`, as incidents' handling time), and is counted per municipality
//! and tertial (by its start, in Europe/Stockholm).

use super::handling::{self, Handling, Measured};
use crate::availability::{at, ms, secs, Span, Spans};
use crate::calendar::Calendar;
use crate::inventory::{FunctionItem, HandlingGoal, Inventory};
use crate::store::ManualIntefunktionCase;
use chrono::{DateTime, Datelike, Utc};
use chrono_tz::Europe::Stockholm;
use serde::Serialize;

/// The period's intefunktion cases with their handling time.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Intefunktion {
    /// Cases that start in the period, by start.
    pub cases: Vec<Case>,
    /// Within and over the goal over the period's cases.
    pub handling: Handling,
    /// Per municipality with functions and tertial the period touches.
    pub by_municipality: Vec<MunicipalityTertial>,
}

/// One intefunktion case.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Case {
    /// The function's service id.
    pub function: String,
    pub item: FunctionItem,
    /// The function's name.
    pub name: String,
    pub municipality: String,
    /// The tertial of its start (`2026-T1`).
    pub tertial: String,
    pub start: DateTime<Utc>,
    /// `None` while open.
    pub end: Option<DateTime<Utc>>,
    pub duration_s: f64,
    /// `probes` (the function went down) or `service_desk` (registered by hand only).
    pub opened_by: &'static str,
    /// The cases registered by hand it links.
    pub manual_ids: Vec<i64>,
    /// The incidents registered by hand (`manual_incidents`) those cases are linked to: the
    /// avbrott that count against the yearly goal.
    pub incident_ids: Vec<i64>,
    pub working_time_s: f64,
    pub handling_goal_s: f64,
    /// `None` while open and still within the goal.
    pub within_goal: Option<bool>,
}

/// The cases of one municipality in one tertial.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MunicipalityTertial {
    pub municipality: String,
    pub tertial: String,
    pub cases: usize,
    pub handling: Handling,
}

/// One outage of one function, not wholly planned (found by `report::build`).
#[derive(Debug, Clone, PartialEq)]
pub struct Outage {
    pub function: String,
    pub span: Span,
    pub ongoing: bool,
}

/// The tertial of `t` in Europe/Stockholm, as `2026-T1`.
pub fn tertial(t: DateTime<Utc>) -> String {
    let local = t.with_timezone(&Stockholm);
    format!("{}-T{}", local.year(), (local.month() - 1) / 4 + 1)
}

/// The tertials `[from, to)` touches, in order.
fn tertials(from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<String> {
    let mut out = vec![tertial(from)];
    let mut t = from;
    while t < to {
        let label = tertial(t);
        if out.last() != Some(&label) {
            out.push(label);
        }
        t += chrono::Duration::days(10);
    }
    let last = tertial(to - chrono::Duration::milliseconds(1).min(to - from));
    if out.last() != Some(&last) {
        out.push(last);
    }
    out
}

/// A case being built: a span with its parts.
struct Draft {
    function: String,
    span: Span,
    ongoing: bool,
    probed: bool,
    manual_ids: Vec<i64>,
    incident_ids: Vec<i64>,
}

impl Draft {
    fn takes(&self, m: &ManualIntefunktionCase, end: i64) -> bool {
        self.probed
            && self.function == m.function
            && ms(m.start) <= self.span.end
            && self.span.start <= end
    }
}

/// The cases of `outages` and `manual` that start in `[from, to)`, measured as of `now`.
pub fn build(
    inv: &Inventory,
    outages: &[Outage],
    manual: &[ManualIntefunktionCase],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Intefunktion {
    let mut drafts: Vec<Draft> = outages
        .iter()
        .map(|o| Draft {
            function: o.function.clone(),
            span: o.span,
            ongoing: o.ongoing,
            probed: true,
            manual_ids: Vec::new(),
            incident_ids: Vec::new(),
        })
        .collect();
    for m in manual {
        let end = ms(m.end.unwrap_or(now)).max(ms(m.start));
        match drafts.iter_mut().find(|d| d.takes(m, end)) {
            Some(d) => {
                d.span = Span::new(d.span.start.min(ms(m.start)), d.span.end.max(end));
                d.ongoing |= m.end.is_none();
                d.manual_ids.push(m.id);
                d.incident_ids
                    .extend(m.incident.filter(|i| !d.incident_ids.contains(i)));
            }
            None => drafts.push(Draft {
                function: m.function.clone(),
                span: Span::new(ms(m.start), end),
                ongoing: m.end.is_none(),
                probed: false,
                manual_ids: vec![m.id],
                incident_ids: m.incident.into_iter().collect(),
            }),
        }
    }
    let hours = Calendar::from_config(inv.calendar.clone().unwrap_or_default());
    let goal = inv.settings.handling_goal;
    let mut cases: Vec<Case> = drafts
        .into_iter()
        .filter(|d| d.span.start >= ms(from) && d.span.start < ms(to))
        .filter_map(|d| case(inv, &hours, goal, d, now))
        .collect();
    cases.sort_by(|a, b| (a.start, &a.function).cmp(&(b.start, &b.function)));
    let measured: Vec<Measured> = cases.iter().map(measured_of).collect();
    let mut out = Intefunktion {
        handling: handling::summarize(goal, &measured.iter().collect::<Vec<_>>()),
        by_municipality: Vec::new(),
        cases: Vec::new(),
    };
    let mut municipalities: Vec<String> = Vec::new();
    for (_, f) in inv.functions() {
        if !municipalities.contains(&f.municipality) {
            municipalities.push(f.municipality.clone());
        }
    }
    for m in &municipalities {
        for t in tertials(from, to) {
            let here: Vec<&Measured> = cases
                .iter()
                .zip(&measured)
                .filter(|(c, _)| &c.municipality == m && c.tertial == t)
                .map(|(_, x)| x)
                .collect();
            out.by_municipality.push(MunicipalityTertial {
                municipality: m.clone(),
                tertial: t,
                cases: here.len(),
                handling: handling::summarize(goal, &here),
            });
        }
    }
    out.cases = cases;
    out
}

fn measured_of(c: &Case) -> Measured {
    Measured {
        municipality: c.municipality.clone(),
        working_time_s: c.working_time_s,
        goal_s: c.handling_goal_s,
        within_goal: c.within_goal,
    }
}

/// The measured case of `d`; `None` when its function is no longer in the inventory.
fn case(
    inv: &Inventory,
    hours: &Calendar,
    goal: HandlingGoal,
    d: Draft,
    now: DateTime<Utc>,
) -> Option<Case> {
    let (service, function) = inv.functions().find(|(s, _)| s.id == d.function)?;
    let start = at(d.span.start);
    let end = (!d.ongoing).then(|| at(d.span.end));
    let municipality = function.municipality.clone();
    let m = handling::measure(
        hours,
        goal,
        std::slice::from_ref(&municipality),
        start,
        end,
        now,
    )
    .pop()?;
    Some(Case {
        function: d.function,
        item: function.item,
        name: service.name.clone(),
        tertial: tertial(start),
        municipality,
        start,
        end,
        duration_s: secs(d.span.len()),
        opened_by: if d.probed { "probes" } else { "service_desk" },
        manual_ids: d.manual_ids,
        incident_ids: d.incident_ids,
        working_time_s: m.working_time_s,
        handling_goal_s: m.goal_s,
        within_goal: m.within_goal,
    })
}

/// The outages of a function's `down` spans in `[from, to)` that are not wholly `planned`.
pub fn outages(function: &str, down: &Spans, planned: &Spans, now: DateTime<Utc>) -> Vec<Outage> {
    down.as_slice()
        .iter()
        .filter(|s| Spans::one(s.start, s.end).intersect(planned).total() < s.len())
        .map(|s| Outage {
            function: function.to_string(),
            span: *s,
            ongoing: s.end >= ms(now),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tertials_in_stockholm_time() {
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        assert_eq!(tertial(t("2026-04-30T21:59:59Z")), "2026-T1");
        assert_eq!(tertial(t("2026-04-30T22:00:00Z")), "2026-T2");
        assert_eq!(tertial(t("2025-12-31T23:30:00Z")), "2026-T1");
        assert_eq!(
            tertials(t("2025-12-31T23:00:00Z"), t("2026-12-31T23:00:00Z")),
            ["2026-T1", "2026-T2", "2026-T3"]
        );
        assert_eq!(
            tertials(t("2026-02-28T23:00:00Z"), t("2026-03-31T22:00:00Z")),
            ["2026-T1"]
        );
    }
}
