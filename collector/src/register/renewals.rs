//! Renewals: each unit's renewal date (`purchased` + `renew_after_months`, the class's 48
//! months for screens and access points), warranty end and depreciation end, when one falls
//! within a window from today or has passed. Months are added as calendar months
//! (`checked_add_months`): 2024-02-29 + 48 months is 2028-02-29, + 36 months 2027-02-28.
//! Decommissioned units are left out.

use crate::inventory::{Device, Inventory};
use chrono::{Datelike, Months, NaiveDate};
use driftvakt_common::schema::Status;
use serde::Serialize;

/// Which date falls due.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Due {
    /// Due for renewal (`purchased` + `renew_after_months`).
    Renewal,
    /// The warranty ends (`warranty_until`).
    Warranty,
    /// Written off (`purchased` + `depreciation_months`).
    Depreciation,
}

impl Due {
    pub fn as_str(self) -> &'static str {
        match self {
            Due::Renewal => "renewal",
            Due::Warranty => "warranty",
            Due::Depreciation => "depreciation",
        }
    }
}

/// One date falling due.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Renewal {
    pub device: String,
    pub class: String,
    pub site: String,
    pub municipality: String,
    pub owner: String,
    pub status: String,
    pub due: Due,
    pub date: NaiveDate,
    /// Whether the date is before today.
    pub passed: bool,
}

/// `start` + `months` calendar months (the last day of a shorter month when the day is not in
/// it); `None` past chrono's range.
pub fn add_months(start: NaiveDate, months: u32) -> Option<NaiveDate> {
    start.checked_add_months(Months::new(months))
}

/// Whole calendar months from `purchased` to `today` (0 before a month has passed or before
/// the purchase).
pub fn age_months(purchased: NaiveDate, today: NaiveDate) -> u32 {
    if today <= purchased {
        return 0;
    }
    let rough =
        (today.year() - purchased.year()) * 12 + today.month() as i32 - purchased.month() as i32;
    let rough = rough.max(0) as u32;
    match add_months(purchased, rough) {
        Some(d) if d > today => rough.saturating_sub(1),
        _ => rough,
    }
}

/// A device's dates: renewal, warranty end, depreciation end (those its register gives).
pub fn dates(d: &Device) -> Vec<(Due, NaiveDate)> {
    let Some(r) = &d.config.register else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if let (Some(p), Some(m)) = (r.purchased(), r.renew_after_months(d.class)) {
        out.extend(add_months(p, m).map(|date| (Due::Renewal, date)));
    }
    if let Some(w) = r.warranty_until() {
        out.push((Due::Warranty, w));
    }
    if let (Some(p), Some(m)) = (r.purchased(), r.depreciation_months()) {
        out.extend(add_months(p, m).map(|date| (Due::Depreciation, date)));
    }
    out
}

/// Every date of a unit not decommissioned that falls on or before `today` + `within_days`,
/// by date, then device, then kind.
pub fn renewals(inv: &Inventory, today: NaiveDate, within_days: u64) -> Vec<Renewal> {
    let until = today
        .checked_add_days(chrono::Days::new(within_days))
        .unwrap_or(NaiveDate::MAX);
    let mut out: Vec<Renewal> = inv
        .devices
        .iter()
        .filter(|d| d.config.status() != Status::Decommissioned)
        .flat_map(|d| {
            dates(d)
                .into_iter()
                .filter(|(_, date)| *date <= until)
                .map(move |(due, date)| Renewal {
                    device: d.id.clone(),
                    class: d.class.to_string(),
                    site: d.site.clone(),
                    municipality: d.municipality.clone(),
                    owner: owner(d).to_string(),
                    status: d.config.status().to_string(),
                    due,
                    date,
                    passed: date < today,
                })
        })
        .collect();
    out.sort_by(|a, b| (a.date, &a.device, a.due).cmp(&(b.date, &b.device, b.due)));
    out
}

/// The device's owner, empty when its register names none.
pub fn owner(d: &Device) -> &str {
    d.config
        .register
        .as_ref()
        .and_then(|r| r.owner())
        .unwrap_or_default()
}

/// The dates as CSV, one row each.
pub fn to_csv(due: &[Renewal]) -> String {
    let mut out = super::csv::row(&[
        "device",
        "class",
        "site",
        "municipality",
        "owner",
        "status",
        "due",
        "date",
        "passed",
    ]);
    for r in due {
        out += &super::csv::row(&[
            &r.device,
            &r.class,
            &r.site,
            &r.municipality,
            &r.owner,
            &r.status,
            r.due.as_str(),
            &r.date.to_string(),
            if r.passed { "yes" } else { "" },
        ]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn forty_eight_months_are_exact_across_leap_years() {
        for (from, to) in [
            ("2024-02-29", "2028-02-29"),
            ("2020-02-29", "2024-02-29"),
            ("2021-02-28", "2025-02-28"),
            ("2022-03-01", "2026-03-01"),
            ("2022-12-31", "2026-12-31"),
            ("2023-01-31", "2027-01-31"),
        ] {
            assert_eq!(add_months(day(from), 48), Some(day(to)), "{from}");
        }
        // Not a multiple of four years: the leap day becomes the last day of February.
        assert_eq!(add_months(day("2024-02-29"), 36), Some(day("2027-02-28")));
        assert_eq!(add_months(day("2023-10-31"), 4), Some(day("2024-02-29")));
    }

    #[test]
    fn age_counts_whole_months() {
        let p = day("2024-02-29");
        assert_eq!(age_months(p, day("2024-02-28")), 0);
        assert_eq!(age_months(p, day("2024-03-28")), 0);
        assert_eq!(age_months(p, day("2024-03-29")), 1);
        assert_eq!(age_months(p, day("2025-02-28")), 12);
        assert_eq!(age_months(p, day("2028-02-28")), 47);
        assert_eq!(age_months(p, day("2028-02-29")), 48);
        assert_eq!(age_months(day("2024-01-31"), day("2024-02-29")), 1);
    }
}
