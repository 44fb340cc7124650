//! Operators' actions on the service windows, with their rules: activate or withdraw a secondary
//! window (only on a date the rules give, only before it starts), create or cancel ad-hoc windows
//! (not after the fact, cancel only before the start). What an operator types is bounded
//! ([`check_text`], [`check_span`], [`check_scope`]): a reason of 1 to [`MAX_REASON_CHARS`]
//! characters, a name of 1 to [`MAX_BY_CHARS`], a window of at most [`MAX_WINDOW`] in the years
//! [`YEARS`], a scope naming something in the inventory. The CLI and the HTTP API both go through
//! [`CalendarService`], which joins the pure calendar with the store and the clock; [`view`] is
//! how windows are shown to people.

pub mod view;

use crate::availability::YEARS;
use crate::calendar::{
    AdhocWindow, Calendar, CalendarConfig, CalendarSource, NewAdhocWindow, Window, WindowKind,
    WindowScope,
};
use crate::clock::Clock;
use crate::inventory::Inventory;
use crate::store::{StoreError, WindowStore};
use chrono::{DateTime, Datelike, NaiveDate, SecondsFormat, Utc};
use chrono_tz::Tz;
use std::sync::Arc;

/// Why an operator's action was refused.
#[derive(Debug, thiserror::Error)]
pub enum CalendarError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{date} has no secondary window; the rules place this month's on {expected}")]
    NotASecondaryDate {
        date: NaiveDate,
        expected: NaiveDate,
    },
    #[error(
        "the secondary window on {date} started at {start}; \
         an activation can only be {action} before the window starts"
    )]
    SecondaryStarted {
        date: NaiveDate,
        start: String,
        action: &'static str,
    },
    #[error(
        "ad-hoc window {id} started at {start}; \
         it can only be cancelled before it starts"
    )]
    AdhocStarted { id: i64, start: String },
    #[error("the window must end after it starts ({start} to {end})")]
    EmptyWindow { start: String, end: String },
    #[error(
        "the window ended at {end}, before now ({now}): windows cannot be created after the fact"
    )]
    InThePast { end: String, now: String },
    #[error("{0} must not be empty")]
    Missing(&'static str),
    #[error("{what} is {len} characters long; at most {max} are allowed")]
    TooLong {
        what: &'static str,
        len: usize,
        max: usize,
    },
    #[error("the window is {hours} hours long; an ad-hoc window lasts at most {max} hours (7 days)", max = MAX_WINDOW.num_hours())]
    TooLongWindow { hours: i64 },
    #[error("{0}: dates lie in the years {min}–{max}", min = YEARS.start(), max = YEARS.end())]
    OutOfYears(String),
    #[error("scope {0}: no such {1} in the inventory")]
    UnknownScope(String, &'static str),
    /// Text holding a character XML cannot carry (the message names field and character).
    #[error("{0}")]
    Unfit(String),
}

impl crate::store::StoreCause for CalendarError {
    fn store_error(&self) -> Option<&StoreError> {
        match self {
            CalendarError::Store(e) => Some(e),
            _ => None,
        }
    }
}

/// The longest ad-hoc window: a planned week of work; longer absences are not service windows.
pub const MAX_WINDOW: chrono::TimeDelta = chrono::TimeDelta::days(7);
/// The longest reason of an ad-hoc window, in characters.
pub const MAX_REASON_CHARS: usize = 500;
/// The longest operator name (`by`), in characters.
pub const MAX_BY_CHARS: usize = 100;

/// `value` is not blank, at most `max` characters long, and holds only what the feed, pages
/// and mails can carry ([`driftvakt_common::xml`]).
pub fn check_text(value: &str, what: &'static str, max: usize) -> Result<(), CalendarError> {
    require(value, what)?;
    let len = value.chars().count();
    if len > max {
        return Err(CalendarError::TooLong { what, len, max });
    }
    if let Some(why) = driftvakt_common::xml::refusal(what, value) {
        return Err(CalendarError::Unfit(why));
    }
    Ok(())
}

/// `date` lies in the supported years.
pub fn check_date(date: NaiveDate) -> Result<(), CalendarError> {
    if YEARS.contains(&date.year()) {
        Ok(())
    } else {
        Err(CalendarError::OutOfYears(date.to_string()))
    }
}

/// A window from `start` to `end` lies in the supported years and lasts at most [`MAX_WINDOW`].
pub fn check_span(start: DateTime<Utc>, end: DateTime<Utc>) -> Result<(), CalendarError> {
    for t in [start, end] {
        if !YEARS.contains(&t.year()) {
            return Err(CalendarError::OutOfYears(t.to_rfc3339()));
        }
    }
    if end - start > MAX_WINDOW {
        return Err(CalendarError::TooLongWindow {
            hours: (end - start).num_hours(),
        });
    }
    Ok(())
}

/// `scope` names a municipality, site, device or service of `inventory` (exact names, as windows
/// apply to them).
pub fn check_scope(inventory: &Inventory, scope: &WindowScope) -> Result<(), CalendarError> {
    let (known, kind) = match scope {
        WindowScope::All => return Ok(()),
        WindowScope::Municipality(m) => (
            inventory.sites.iter().any(|s| &s.municipality == m)
                || inventory.devices.iter().any(|d| &d.municipality == m),
            "municipality",
        ),
        WindowScope::Site(s) => (inventory.site(s).is_some(), "site"),
        WindowScope::Device(d) => (inventory.device(d).is_some(), "device"),
        WindowScope::Service(v) => (inventory.services.iter().any(|s| &s.id == v), "service"),
    };
    if known {
        Ok(())
    } else {
        Err(CalendarError::UnknownScope(scope.to_string(), kind))
    }
}

/// The calendar with its store and clock: reads and operators' actions.
pub struct CalendarService<S: WindowStore> {
    config: CalendarConfig,
    store: S,
    clock: Arc<dyn Clock>,
}

impl<S: WindowStore> CalendarService<S> {
    pub fn new(config: CalendarConfig, store: S, clock: Arc<dyn Clock>) -> Self {
        CalendarService {
            config,
            store,
            clock,
        }
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    /// The calendar as persisted right now.
    pub fn calendar(&self) -> Result<Calendar, CalendarError> {
        Ok(Calendar::new(
            self.config.clone(),
            self.store.list_activations()?,
            self.store.list_adhoc()?,
        ))
    }

    /// Activates the secondary window on `date` on behalf of `by`; returns the window.
    pub fn activate_secondary(&self, date: NaiveDate, by: &str) -> Result<Window, CalendarError> {
        check_text(by, "the operator's name (by)", MAX_BY_CHARS)?;
        check_date(date)?;
        let window = self.secondary_on(date)?;
        let now = self.clock.now();
        if now >= window.start {
            return Err(self.secondary_started(date, &window, "made"));
        }
        self.store.activate_secondary(date, by, now)?;
        Ok(Window {
            active: true,
            ..window
        })
    }

    /// Withdraws the activation of the secondary window on `date`; refused once it has started.
    pub fn withdraw_secondary(&self, date: NaiveDate) -> Result<Window, CalendarError> {
        check_date(date)?;
        let window = self.secondary_on(date)?;
        if !self
            .store
            .list_activations()?
            .iter()
            .any(|a| a.date == date)
        {
            return Err(StoreError::NotActivated(date).into());
        }
        if self.clock.now() >= window.start {
            return Err(self.secondary_started(date, &window, "withdrawn"));
        }
        self.store.withdraw_secondary(date)?;
        Ok(Window {
            active: false,
            ..window
        })
    }

    /// Creates an ad-hoc window; returns it with its id.
    pub fn add_window(
        &self,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        scope: WindowScope,
        reason: &str,
        by: &str,
    ) -> Result<Window, CalendarError> {
        check_text(reason, "the reason", MAX_REASON_CHARS)?;
        check_text(by, "the operator's name (by)", MAX_BY_CHARS)?;
        let tz = self.config.time_zone.0;
        if end <= start {
            return Err(CalendarError::EmptyWindow {
                start: local_text(start, tz),
                end: local_text(end, tz),
            });
        }
        check_span(start, end)?;
        let now = self.clock.now();
        if end <= now {
            return Err(CalendarError::InThePast {
                end: local_text(end, tz),
                now: local_text(now, tz),
            });
        }
        let new = NewAdhocWindow {
            start,
            end,
            scope,
            reason: reason.to_string(),
            created_by: by.to_string(),
            created_at: now,
        };
        let id = self.store.add_adhoc(&new)?;
        let calendar = Calendar::from_config(self.config.clone());
        Ok(Window {
            kind: WindowKind::Adhoc,
            start,
            end,
            active: true,
            holiday: calendar.holiday(calendar.local(start).date_naive(), None),
            scope: new.scope,
            reason: Some(new.reason),
            id: Some(id),
        })
    }

    /// Cancels ad-hoc window `id` on behalf of `by`; refused once it has started.
    pub fn cancel_window(&self, id: i64, by: &str) -> Result<AdhocWindow, CalendarError> {
        check_text(by, "the operator's name (by)", MAX_BY_CHARS)?;
        let window = self
            .store
            .list_adhoc()?
            .into_iter()
            .find(|a| a.id == id)
            .ok_or(StoreError::UnknownWindow(id))?;
        let now = self.clock.now();
        if window.cancelled_at.is_none() && now >= window.start {
            return Err(CalendarError::AdhocStarted {
                id,
                start: local_text(window.start, self.config.time_zone.0),
            });
        }
        self.store.cancel_adhoc(id, by, now)?;
        Ok(AdhocWindow {
            cancelled_by: Some(by.to_string()),
            cancelled_at: Some(now),
            ..window
        })
    }

    /// All ad-hoc windows, cancelled ones included.
    pub fn list_adhoc(&self) -> Result<Vec<AdhocWindow>, CalendarError> {
        Ok(self.store.list_adhoc()?)
    }

    fn secondary_on(&self, date: NaiveDate) -> Result<Window, CalendarError> {
        let calendar = self.calendar()?;
        calendar.secondary_window_on(date).ok_or_else(|| {
            let expected = calendar.secondary_window(
                chrono::Datelike::year(&date),
                chrono::Datelike::month(&date),
            );
            CalendarError::NotASecondaryDate {
                date,
                expected: calendar.local(expected.start).date_naive(),
            }
        })
    }

    fn secondary_started(
        &self,
        date: NaiveDate,
        window: &Window,
        action: &'static str,
    ) -> CalendarError {
        CalendarError::SecondaryStarted {
            date,
            start: local_text(window.start, self.config.time_zone.0),
            action,
        }
    }
}

fn require(value: &str, what: &'static str) -> Result<(), CalendarError> {
    if value.trim().is_empty() {
        return Err(CalendarError::Missing(what));
    }
    Ok(())
}

/// `t` as RFC 3339 in `tz` with its offset, e.g. `2026-03-17T18:00:00+01:00`.
pub fn local_text(t: DateTime<Utc>, tz: Tz) -> String {
    t.with_timezone(&tz)
        .to_rfc3339_opts(SecondsFormat::Secs, true)
}

impl<W: WindowStore + Send + Sync> CalendarSource for CalendarService<W> {
    fn calendar(&self) -> Result<Calendar, String> {
        CalendarService::calendar(self).map_err(|e| e.to_string())
    }
}
