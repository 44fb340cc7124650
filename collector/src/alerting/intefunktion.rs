//! Intefunktion cases the service desk registered by hand, as alerting conditions: an open
//! case is its function down in its municipality (key `intefunktion:ID`), so the editors get
//! the störning and åtgärdat notices and the service desk its intefunktion notices (opened,
//! closed), once each, as for a function the probes found down. A registered case and a probed
//! outage of the same function at the same time are one case (linked, as the report links
//! them), announced once, by whichever began first: a case registered while the function's
//! timeline was already down adds no condition ([`conditions`]), and a function going down
//! while a case registered before is open adds none either ([`covers`]).

use super::condition::{Condition, Course};
use crate::availability::{ms, Spans};
use crate::events::Event;
use crate::inventory::Inventory;
use crate::store::ManualIntefunktionCase;
use chrono::{DateTime, Utc};

/// The key prefix of these conditions.
pub const PREFIX: &str = "intefunktion:";

/// The conditions of the cases open at `now`, but those of a function whose own timeline was
/// down when the case began (`down` gives a function's down spans).
pub fn conditions<'a>(
    inv: &Inventory,
    cases: &[ManualIntefunktionCase],
    down: impl Fn(&str) -> Option<&'a Spans>,
    now: DateTime<Utc>,
) -> Vec<Condition> {
    let mut out = Vec::new();
    for c in cases
        .iter()
        .filter(|c| c.start <= now && c.end.is_none_or(|e| e > now))
    {
        let Some((service, function)) = inv.functions().find(|(s, _)| s.id == c.function) else {
            continue;
        };
        if down(&c.function).is_some_and(|d| d.contains(ms(c.start))) {
            continue; // the probes' case
        }
        out.push(Condition {
            key: format!("{PREFIX}{}", c.id),
            since: c.start,
            event: Event::ServiceDown {
                service_id: format!("intefunktion-{}", c.id),
                service_name: service.name.clone(),
                municipality: function.municipality.clone(),
                site_ids: Vec::new(),
                site_names: Vec::new(),
                since: c.start,
                cause_device: None,
                function: Some(function.item.swedish().to_string()),
                case_title: Some(c.title.clone()),
            },
        });
    }
    out
}

/// Whether a case registered before `since` and open at `now` is the case of `function`'s
/// outage that began at `since` (so the outage is not announced a second time).
pub fn covers(
    cases: &[ManualIntefunktionCase],
    function: &str,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> bool {
    cases
        .iter()
        .any(|c| c.function == function && c.start < since && c.end.is_none_or(|e| e > now))
}

/// Whether the case of `key` is still open at `now`.
pub fn course(cases: &[ManualIntefunktionCase], key: &str, now: DateTime<Utc>) -> Course {
    let id = key
        .strip_prefix(PREFIX)
        .and_then(|id| id.parse::<i64>().ok());
    match cases.iter().find(|c| Some(c.id) == id) {
        Some(c) => match c.end {
            Some(e) if e <= now => Course::Ended(e),
            _ => Course::Ongoing,
        },
        None => Course::Unknown,
    }
}
