//! On-call cases that can be billed (the framework assignment: cases in on-call time are billed
//! to the department (verksamheten) of a municipality, the smallest billable time is half an
//! hour, followed up per tertial).
//!
//! Cases come from the alerting (pages sent outside office hours; billed to the department of
//! the device's site, `sites[].department`, none when it has none) and from the technicians,
//! who register the calls no alarm raised by hand (`store::oncall`, with their department). Both
//! bill alike and are summed per municipality and per municipality and department.
//!
//! A case starts with the page and ends when its subject recovered or the page was
//! acknowledged, whichever came first (still open: now). Pages about the same device whose
//! times overlap are one case (a UPS on battery whose runtime also falls under the minimum
//! pages twice, but is one event). A case bills its length, at least
//! `collector.oncall_billing.minimum` (30 min), rounded up to a multiple of `round_up_to` when
//! that is set.

use crate::inventory::OncallBilling;
use crate::store::{ManualOncallCase, OncallCase};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::fmt::Write;

/// On-call cases of the period with what they bill.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Oncall {
    pub minimum_s: f64,
    pub round_up_to_s: Option<f64>,
    pub cases: Vec<BillableCase>,
    /// Sum over the cases.
    pub billable_s: f64,
    pub by_municipality: Vec<MunicipalityOncall>,
    /// Per municipality and department (empty department: none known).
    pub by_department: Vec<DepartmentOncall>,
}

/// One billable case.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BillableCase {
    pub municipality: String,
    /// The department (verksamheten) billed; empty when none is known.
    pub department: String,
    /// The id of a case registered by hand (its `device_id` is then empty and `device_name`
    /// its title).
    pub manual_id: Option<i64>,
    pub device_id: String,
    pub device_name: String,
    /// The alert kinds it paged for (`down`, `on_battery`, ...).
    pub kinds: Vec<String>,
    /// The (first) page.
    pub start: DateTime<Utc>,
    /// Recovery or acknowledgement; `None` while neither happened.
    pub end: Option<DateTime<Utc>>,
    /// `recovered`, `acknowledged`, `ongoing`, or `registered` (by hand).
    pub ended_by: &'static str,
    pub length_s: f64,
    pub billable_s: f64,
}

/// Cases and billable time of one department of one municipality.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DepartmentOncall {
    pub municipality: String,
    pub department: String,
    pub cases: usize,
    pub billable_s: f64,
}

/// Cases and billable time of one municipality.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MunicipalityOncall {
    pub municipality: String,
    pub cases: usize,
    pub billable_s: f64,
}

/// The end of one page's case and what ended it.
fn end_of(c: &OncallCase) -> (Option<DateTime<Utc>>, &'static str) {
    match (c.resolved_at, c.acknowledged_at) {
        (Some(r), Some(a)) if a < r => (Some(a.max(c.at)), "acknowledged"),
        (Some(r), _) => (Some(r.max(c.at)), "recovered"),
        (None, Some(a)) => (Some(a.max(c.at)), "acknowledged"),
        (None, None) => (None, "ongoing"),
    }
}

/// What `length_s` seconds bill.
pub fn billable(length_s: f64, billing: &OncallBilling) -> f64 {
    let mut s = length_s.max(billing.minimum.std().as_secs_f64());
    if let Some(step) = billing.round_up_to.map(|d| d.std().as_secs_f64()) {
        if step > 0.0 {
            s = (s / step).ceil() * step;
        }
    }
    s
}

/// Merges `cases` (pages; each billed to `department_of` its device) into billable cases as
/// of `now`, with the cases registered by hand in `manual`.
pub fn bill(
    cases: &[OncallCase],
    manual: &[ManualOncallCase],
    department_of: &dyn Fn(&str) -> String,
    billing: &OncallBilling,
    now: DateTime<Utc>,
) -> Oncall {
    let mut sorted: Vec<&OncallCase> = cases.iter().collect();
    sorted.sort_by(|a, b| (&a.device_id, a.at).cmp(&(&b.device_id, b.at)));
    let mut out: Vec<BillableCase> = Vec::new();
    for c in sorted {
        let (end, ended_by) = end_of(c);
        let kind = c.kind.clone();
        if let Some(last) = out
            .last_mut()
            .filter(|l| l.device_id == c.device_id && l.end.is_none_or(|e| c.at <= e))
        {
            if !last.kinds.contains(&kind) {
                last.kinds.push(kind);
            }
            if last.end.is_some() {
                match end {
                    Some(e) if Some(e) > last.end => {
                        last.end = Some(e);
                        last.ended_by = ended_by;
                    }
                    None => {
                        last.end = None;
                        last.ended_by = "ongoing";
                    }
                    _ => {}
                }
            }
            continue;
        }
        out.push(BillableCase {
            municipality: c.municipality.clone(),
            department: department_of(&c.device_id),
            manual_id: None,
            device_id: c.device_id.clone(),
            device_name: c.device_name.clone(),
            kinds: vec![kind],
            start: c.at,
            end,
            ended_by,
            length_s: 0.0,
            billable_s: 0.0,
        });
    }
    out.extend(manual.iter().map(|m| BillableCase {
        municipality: m.municipality.clone(),
        department: m.department.clone(),
        manual_id: Some(m.id),
        device_id: String::new(),
        device_name: m.title.clone(),
        kinds: vec!["manual".into()],
        start: m.start,
        end: Some(m.end),
        ended_by: "registered",
        length_s: 0.0,
        billable_s: 0.0,
    }));
    for c in &mut out {
        let end = c.end.unwrap_or(now).max(c.start);
        c.length_s = (end - c.start).num_milliseconds() as f64 / 1000.0;
        c.billable_s = billable(c.length_s, billing);
    }
    out.sort_by(|a, b| (a.start, &a.device_id).cmp(&(b.start, &b.device_id)));
    let mut by_municipality: Vec<MunicipalityOncall> = Vec::new();
    for c in &out {
        match by_municipality
            .iter_mut()
            .find(|m| m.municipality == c.municipality)
        {
            Some(m) => {
                m.cases += 1;
                m.billable_s += c.billable_s;
            }
            None => by_municipality.push(MunicipalityOncall {
                municipality: c.municipality.clone(),
                cases: 1,
                billable_s: c.billable_s,
            }),
        }
    }
    let mut by_department: Vec<DepartmentOncall> = Vec::new();
    for c in &out {
        match by_department
            .iter_mut()
            .find(|d| d.municipality == c.municipality && d.department == c.department)
        {
            Some(d) => {
                d.cases += 1;
                d.billable_s += c.billable_s;
            }
            None => by_department.push(DepartmentOncall {
                municipality: c.municipality.clone(),
                department: c.department.clone(),
                cases: 1,
                billable_s: c.billable_s,
            }),
        }
    }
    by_department
        .sort_by(|a, b| (&a.municipality, &a.department).cmp(&(&b.municipality, &b.department)));
    Oncall {
        by_department,
        minimum_s: billing.minimum.std().as_secs_f64(),
        round_up_to_s: billing.round_up_to.map(|d| d.std().as_secs_f64()),
        billable_s: out.iter().map(|c| c.billable_s).sum(),
        cases: out,
        by_municipality,
    }
}

fn field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// The invoice basis as CSV: one row per case, then one total row per municipality and
/// department and one per municipality (its department empty).
pub fn csv(o: &Oncall) -> String {
    let mut out = String::from(
        "municipality,department,device,device_name,kinds,start,end,ended_by,length_s,billable_s\n",
    );
    for c in &o.cases {
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{},{},{}",
            field(&c.municipality),
            field(&c.department),
            field(&c.device_id),
            field(&c.device_name),
            field(&c.kinds.join(" ")),
            c.start.to_rfc3339(),
            c.end.map(|e| e.to_rfc3339()).unwrap_or_default(),
            c.ended_by,
            c.length_s,
            c.billable_s
        );
    }
    for d in &o.by_department {
        let _ = writeln!(
            out,
            "{},{},total,,,,,,,{}",
            field(&d.municipality),
            field(&d.department),
            d.billable_s
        );
    }
    for m in &o.by_municipality {
        let _ = writeln!(
            out,
            "{},,total,,,,,,,{}",
            field(&m.municipality),
            m.billable_s
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(device: &str, kind: &str, at: i64, resolved: Option<i64>) -> OncallCase {
        let t = |m: i64| DateTime::from_timestamp(1_773_000_000 + m * 60, 0).unwrap();
        OncallCase {
            at: t(at),
            device_id: device.into(),
            device_name: device.into(),
            kind: kind.into(),
            municipality: "Tranemo".into(),
            since: t(at - 10),
            acknowledged_at: None,
            resolved_at: resolved.map(t),
        }
    }

    #[test]
    fn overlapping_pages_of_one_device_are_one_case_and_short_ones_bill_half_an_hour() {
        let cases = [
            case("ups", "on_battery", 0, Some(50)),
            case("ups", "runtime_below_minimum", 5, Some(40)),
            case("sw", "down", 0, Some(10)),
        ];
        let now = DateTime::from_timestamp(1_773_100_000, 0).unwrap();
        let none = |_: &str| String::new();
        let o = bill(&cases, &[], &none, &OncallBilling::default(), now);
        assert_eq!(o.cases.len(), 2, "{o:?}");
        let ups = o.cases.iter().find(|c| c.device_id == "ups").unwrap();
        assert_eq!(ups.kinds, ["on_battery", "runtime_below_minimum"]);
        assert_eq!(ups.length_s, 3000.0);
        assert_eq!(ups.billable_s, 3000.0);
        let sw = o.cases.iter().find(|c| c.device_id == "sw").unwrap();
        assert_eq!((sw.length_s, sw.billable_s), (600.0, 1800.0));
        assert_eq!(o.billable_s, 4800.0);
        let rounded = OncallBilling {
            round_up_to: Some("15m".parse().unwrap()),
            ..OncallBilling::default()
        };
        assert_eq!(billable(3000.0, &rounded), 3600.0);
    }
}
