//! Handling time of incidents in working days (the framework assignment: faults of the
//! "intefunktion" kind are handled within one (1) working day, followed up per tertial), and
//! incidents per municipality against the goal of at most five a year.
//!
//! An incident's *working time* is its restore time counted only in the affected
//! municipality's office hours (holidays, closed days and breaks such as lunch excluded). Its
//! goal is one working day: that municipality's office hours of the day the fault began (the
//! next day with office hours when it began on a weekend or holiday), or the fixed working time
//! of `collector.handling_goal`. An incident hitting several municipalities is measured in
//! each; `working_time_s` is the longest.

use super::Incident;
use crate::availability::ms;
use crate::calendar::Calendar;
use crate::inventory::HandlingGoal;
use chrono::{DateTime, Utc};
use serde::Serialize;

/// Within and over the handling goal.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Handling {
    /// `working_day` or `fixed`.
    pub goal: &'static str,
    /// The fixed goal in seconds of working time; `null` for one working day (whose length
    /// depends on the day: each incident carries its own `handling_goal_s`).
    pub goal_s: Option<f64>,
    pub within: usize,
    pub over: usize,
    /// Still open and not yet over the goal.
    pub ongoing: usize,
    /// Median working time of the closed incidents.
    pub median_working_s: Option<f64>,
}

/// Incidents of one municipality against the yearly goal.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MunicipalityIncidents {
    pub municipality: String,
    pub period: usize,
    pub year_to_date: usize,
    pub goal: u32,
    /// At most `goal` this year.
    pub meets_goal: bool,
    /// By how many the year is over the goal (0 when it meets it).
    pub over_goal_by: usize,
    pub handling: Handling,
}

/// One municipality's measurement of an incident.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Measured {
    pub municipality: String,
    pub working_time_s: f64,
    pub goal_s: f64,
    /// `None` while open and still within the goal.
    pub within_goal: Option<bool>,
}

/// Measures `start..end` (or `..now` while open) in each of `municipalities`.
pub fn measure(
    calendar: &Calendar,
    goal: HandlingGoal,
    municipalities: &[String],
    start: DateTime<Utc>,
    end: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Vec<Measured> {
    let until = end.unwrap_or(now).max(start);
    let each = |m: Option<&str>, name: String| {
        let working = calendar.working_ms(start, until, m);
        let goal_ms = match goal {
            HandlingGoal::WorkingDay => calendar.working_day_ms(start, m),
            HandlingGoal::Working(d) => d.std().as_millis() as i64,
        };
        let over = working > goal_ms;
        Measured {
            municipality: name,
            working_time_s: working as f64 / 1000.0,
            goal_s: goal_ms as f64 / 1000.0,
            within_goal: if end.is_some() || over {
                Some(!over)
            } else {
                None
            },
        }
    };
    if municipalities.is_empty() {
        return vec![each(None, String::new())];
    }
    municipalities
        .iter()
        .map(|m| each(Some(m), m.clone()))
        .collect()
}

/// Within/over counts and the median over `measured` (one entry per incident).
pub fn summarize(goal: HandlingGoal, measured: &[&Measured]) -> Handling {
    let mut closed: Vec<f64> = measured
        .iter()
        .filter(|m| m.within_goal.is_some())
        .map(|m| m.working_time_s)
        .collect();
    closed.sort_by(f64::total_cmp);
    let median = match closed.len() {
        0 => None,
        n if n % 2 == 1 => Some(closed[n / 2]),
        n => Some((closed[n / 2 - 1] + closed[n / 2]) / 2.0),
    };
    let (label, goal_s) = match goal {
        HandlingGoal::WorkingDay => ("working_day", None),
        HandlingGoal::Working(d) => ("fixed", Some(d.std().as_secs_f64())),
    };
    Handling {
        goal: label,
        goal_s,
        within: measured
            .iter()
            .filter(|m| m.within_goal == Some(true))
            .count(),
        over: measured
            .iter()
            .filter(|m| m.within_goal == Some(false))
            .count(),
        ongoing: measured.iter().filter(|m| m.within_goal.is_none()).count(),
        median_working_s: median,
    }
}

/// The handling summary over `list` (each incident by its worst municipality).
pub fn overall(goal: HandlingGoal, list: &[Incident]) -> Handling {
    let worst: Vec<&Measured> = list
        .iter()
        .filter_map(|i| {
            i.measured.iter().max_by(|a, b| {
                let rank = |m: &Measured| match m.within_goal {
                    Some(false) => 2,
                    None => 1,
                    Some(true) => 0,
                };
                (rank(a), a.working_time_s.to_bits()).cmp(&(rank(b), b.working_time_s.to_bits()))
            })
        })
        .collect();
    summarize(goal, &worst)
}

/// Incidents per municipality: every municipality of the inventory and any an incident names,
/// with the period's and the year's counts against `limit` and the period's handling.
pub fn by_municipality(
    municipalities: &[String],
    all_year: &[Incident],
    from: DateTime<Utc>,
    limit: u32,
    goal: HandlingGoal,
) -> Vec<MunicipalityIncidents> {
    let mut names: Vec<String> = municipalities.to_vec();
    for i in all_year {
        for m in &i.municipalities {
            if !names.contains(m) {
                names.push(m.clone());
            }
        }
    }
    names
        .into_iter()
        .map(|m| {
            let year: Vec<&Incident> = all_year
                .iter()
                .filter(|i| i.municipalities.contains(&m))
                .collect();
            let in_period: Vec<&Incident> = year
                .iter()
                .copied()
                .filter(|i| ms(i.start) >= ms(from))
                .collect();
            let measured: Vec<&Measured> = in_period
                .iter()
                .filter_map(|i| i.measured.iter().find(|x| x.municipality == m))
                .collect();
            MunicipalityIncidents {
                period: in_period.len(),
                year_to_date: year.len(),
                goal: limit,
                meets_goal: year.len() <= limit as usize,
                over_goal_by: year.len().saturating_sub(limit as usize),
                handling: summarize(goal, &measured),
                municipality: m,
            }
        })
        .collect()
}
