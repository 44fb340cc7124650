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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::testing::{Folder, BASIC};

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn case(id: i64, start: &str, end: Option<&str>) -> ManualIntefunktionCase {
        ManualIntefunktionCase {
            id,
            function: "utskrift".into(),
            municipality: "Tranemo".into(),
            start: t(start),
            end: end.map(t),
            title: "Ingen kan skriva ut".into(),
            description: String::new(),
            created_by: "servicedesk".into(),
            created_at: t(start),
            incident: None,
        }
    }

    fn inventory(folder: &Folder) -> Inventory {
        let functions = "  - { id: utskrift, name: Utskrift, kind: function, function: printing, \
                         municipality: Tranemo, members: [prn] }\n";
        let text = BASIC.replace(
            "services:\n  - { id: wifi, members: [sw, ap] }\n",
            &format!("services:\n  - {{ id: wifi, members: [sw, ap] }}\n{functions}"),
        );
        folder.load(&text).unwrap()
    }

    #[test]
    fn an_open_case_is_its_function_down_in_its_municipality() {
        let folder = Folder::new();
        let inv = inventory(&folder);
        let now = t("2026-03-13T15:00:00Z");
        let cases = [
            case(1, "2026-03-13T14:00:00Z", None),
            case(2, "2026-03-13T10:00:00Z", Some("2026-03-13T11:00:00Z")),
            case(3, "2026-03-13T16:00:00Z", None),
        ];
        let found = conditions(&inv, &cases, |_| None, now);
        assert_eq!(
            found.len(),
            1,
            "only the open one that has begun: {found:?}"
        );
        assert_eq!(found[0].key, "intefunktion:1");
        match &found[0].event {
            Event::ServiceDown {
                service_id,
                service_name,
                municipality,
                function,
                case_title,
                ..
            } => {
                assert_eq!(service_id, "intefunktion-1");
                assert_eq!(service_name, "Utskrift");
                assert_eq!(municipality, "Tranemo");
                assert_eq!(function.as_deref(), Some("Utskrift på nätverksskrivare"));
                assert_eq!(case_title.as_deref(), Some("Ingen kan skriva ut"));
            }
            e => panic!("{e:?}"),
        }
        assert_eq!(course(&cases, "intefunktion:1", now), Course::Ongoing);
        assert_eq!(
            course(&cases, "intefunktion:2", now),
            Course::Ended(t("2026-03-13T11:00:00Z"))
        );
        assert_eq!(course(&cases, "intefunktion:9", now), Course::Unknown);
    }

    #[test]
    fn a_case_and_a_probed_outage_at_once_are_told_by_whichever_began_first() {
        let folder = Folder::new();
        let inv = inventory(&folder);
        let now = t("2026-03-13T15:00:00Z");
        let down = Spans::one(ms(t("2026-03-13T14:00:00Z")), ms(now) + 60_000);
        // Registered while the probes had it down: the probes' case.
        let after = [case(1, "2026-03-13T14:20:00Z", None)];
        assert!(conditions(&inv, &after, |_| Some(&down), now).is_empty());
        assert!(!covers(&after, "utskrift", t("2026-03-13T14:00:00Z"), now));
        // Registered before the probes saw it: the desk's case, the outage adds nothing.
        let before = [case(1, "2026-03-13T13:50:00Z", None)];
        assert_eq!(conditions(&inv, &before, |_| Some(&down), now).len(), 1);
        assert!(covers(&before, "utskrift", t("2026-03-13T14:00:00Z"), now));
        assert!(!covers(&before, "wifi", t("2026-03-13T14:00:00Z"), now));
        // Closed before now: it covers nothing any more.
        let closed = [case(
            1,
            "2026-03-13T13:50:00Z",
            Some("2026-03-13T14:30:00Z"),
        )];
        assert!(!covers(&closed, "utskrift", t("2026-03-13T14:00:00Z"), now));
    }
}
