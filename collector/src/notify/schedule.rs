//! Time-driven mail: announcements of active windows `announce_days_before` days ahead, and
//! cron-scheduled reports (the availability report as HTML with its tables attached as CSV
//! files).
//!
//! Cron expressions use the `cron` crate's syntax with seconds, `sec min hour day-of-month
//! month day-of-week [year]`, evaluated in the calendar's time zone (Europe/Stockholm). Each
//! firing sends one mail per recipient keyed by the report and its period
//! (`report:tertial:2026-T1:addr`), so an expression that fires on several days (`1-7`) together
//! with `working_days_only` gives "the first working day", once.

use super::config::{ReportPeriod, ReportSchedule};
use super::oncall::tertial_of_month;
use super::policy::Notice;
use super::{Notifier, NotifyError, NotifyStore};
use crate::calendar::Calendar;
use crate::store::outbox::OutboxId;
use chrono::{DateTime, Datelike, Days, NaiveDate, Utc};
use std::str::FromStr;

/// The availability report, rendered elsewhere.
pub trait ReportSource: Send + Sync {
    /// The report for `period` (`2026-T1` for a tertial, `2026-02` for a month) as the HTML
    /// and its tables as `(name, CSV)`; each is attached as `tillganglighet-PERIOD-NAME.csv`.
    fn render(
        &self,
        period: &str,
        now: DateTime<Utc>,
    ) -> Result<(String, Vec<(String, String)>), String>;
}

/// A resolved report period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Period {
    /// `2026-T1` or `2026-02`.
    pub id: String,
    /// Swedish: "tertial 1 2026 (januari–april)", "februari 2026".
    pub label: String,
}

/// The period `p` names, seen from the local date `date`.
pub fn resolve_period(p: ReportPeriod, date: NaiveDate) -> Period {
    match p {
        ReportPeriod::PreviousMonth => {
            let d = date.with_day(1).expect("day 1") - Days::new(1);
            Period {
                id: format!("{}-{:02}", d.year(), d.month()),
                label: format!(
                    "{} {}",
                    crate::calendar::swedish::month(d.month0()),
                    d.year()
                ),
            }
        }
        ReportPeriod::PreviousTertial => {
            let t = tertial_of_month(date.month());
            let (year, t) = if t == 1 {
                (date.year() - 1, 3)
            } else {
                (date.year(), t - 1)
            };
            let first = usize::from(t - 1) * 4;
            Period {
                id: format!("{year}-T{t}"),
                label: format!(
                    "tertial {t} {year} ({}–{})",
                    crate::calendar::swedish::MONTHS[first],
                    crate::calendar::swedish::MONTHS[first + 3]
                ),
            }
        }
    }
}

/// Whether `date` is a working day: office hours on its weekday and not a holiday.
pub fn is_working_day(calendar: &Calendar, date: NaiveDate) -> bool {
    let open = !calendar
        .config()
        .office_hours
        .day(None, date.weekday())
        .is_empty();
    open && calendar.holiday(date, None).is_none()
}

impl<S: NotifyStore> Notifier<S> {
    /// Announces active windows starting within `announce_days_before` days.
    pub(crate) fn tick_announcements(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<OutboxId>, NotifyError> {
        let calendar = self.calendar()?;
        let horizon = now + chrono::Duration::days(i64::from(self.config.announce_days_before));
        let mut ids = Vec::new();
        for w in calendar.windows(now, horizon) {
            if w.active && w.start > now {
                ids.extend(self.announce_window(&w, &[])?);
            }
        }
        Ok(ids)
    }

    /// Sends the reports whose schedule fired since the last tick.
    pub(crate) fn tick_reports(&self, now: DateTime<Utc>) -> Result<Vec<OutboxId>, NotifyError> {
        let mut ids = Vec::new();
        for schedule in &self.config.reports {
            ids.extend(self.tick_report(schedule, now)?);
        }
        Ok(ids)
    }

    fn tick_report(
        &self,
        s: &ReportSchedule,
        now: DateTime<Utc>,
    ) -> Result<Vec<OutboxId>, NotifyError> {
        let mark_name = format!("report:{}", s.name);
        let Some(mark) = self.store.schedule_mark(&mark_name)? else {
            // First run: start counting from now, do not send for the past.
            self.store.set_schedule_mark(&mark_name, now)?;
            return Ok(Vec::new());
        };
        let calendar = self.calendar()?;
        let cron = cron::Schedule::from_str(&s.cron)
            .map_err(|e| NotifyError::Config(format!("report {}: {e}", s.name)))?;
        let tz = calendar.time_zone();
        let fires: Vec<DateTime<Utc>> = cron
            .after(&mark.with_timezone(&tz))
            .map(|t| t.with_timezone(&Utc))
            .take_while(|t| *t <= now)
            .take(100)
            .collect();
        let mut ids = Vec::new();
        for fire in fires {
            let date = calendar.local(fire).date_naive();
            if s.working_days_only && !is_working_day(&calendar, date) {
                continue;
            }
            ids.extend(self.send_report(s, resolve_period(s.period, date), now)?);
        }
        self.store.set_schedule_mark(&mark_name, now)?;
        Ok(ids)
    }

    fn send_report(
        &self,
        s: &ReportSchedule,
        period: Period,
        now: DateTime<Utc>,
    ) -> Result<Vec<OutboxId>, NotifyError> {
        let key = |r: &str| format!("report:{}:{}:{r}", s.name, period.id);
        let mut missing = Vec::new();
        for r in &s.to {
            if !self.store.exists(&key(r))? {
                missing.push(r);
            }
        }
        if missing.is_empty() {
            return Ok(Vec::new());
        }
        let Some(source) = &self.reports else {
            return Err(NotifyError::Config(format!(
                "report {} is scheduled but no report source is connected",
                s.name
            )));
        };
        let (html, tables) = source
            .render(&period.id, now)
            .map_err(|e| NotifyError::Report(format!("{}: {e}", s.name)))?;
        let files: Vec<(String, String)> = tables
            .into_iter()
            .map(|(name, csv)| (format!("tillganglighet-{}-{name}.csv", period.id), csv))
            .collect();
        let file = files
            .iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        let mut ids = Vec::new();
        for r in missing {
            let notice = Notice {
                key: key(r),
                kind: "report",
                recipient: r,
                municipality: None,
                vars: vec![
                    ("period", period.label.clone()),
                    ("report", html.clone()),
                    ("file", file.clone()),
                ],
                due_at: now,
                limited: false,
                source: None,
                oncall_case: None,
                csv: files.clone(),
            };
            ids.extend(self.enqueue(notice)?);
        }
        Ok(ids)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_seen_from_a_date() {
        let d = |s: &str| NaiveDate::from_str(s).unwrap();
        let t = resolve_period(ReportPeriod::PreviousTertial, d("2026-01-02"));
        assert_eq!(t.id, "2025-T3");
        assert_eq!(t.label, "tertial 3 2025 (september–december)");
        assert_eq!(
            resolve_period(ReportPeriod::PreviousTertial, d("2026-05-04")).id,
            "2026-T1"
        );
        let m = resolve_period(ReportPeriod::PreviousMonth, d("2026-03-01"));
        assert_eq!(
            (m.id.as_str(), m.label.as_str()),
            ("2026-02", "februari 2026")
        );
        assert_eq!(
            resolve_period(ReportPeriod::PreviousMonth, d("2026-01-15")).id,
            "2025-12"
        );
    }
}
