//! Service windows as people read them: local wall time in the calendar's zone, who activated or
//! created them and when. The CLI prints these and the HTTP API returns them as JSON, so both
//! show the same fields.

use super::local_text;
use crate::calendar::{AdhocWindow, Calendar, Window, WindowKind};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

/// A window as the CLI prints it and the API returns it.
#[derive(Debug, Serialize)]
pub struct WindowOut {
    pub kind: WindowKind,
    pub start: String,
    pub end: String,
    pub active: bool,
    pub holiday: Option<String>,
    pub scope: String,
    pub reason: Option<String>,
    pub id: Option<i64>,
    pub activated_by: Option<String>,
    pub activated_at: Option<String>,
    pub created_by: Option<String>,
    pub created_at: Option<String>,
}

pub fn window_out(cal: &Calendar, w: &Window) -> WindowOut {
    let tz = cal.time_zone();
    let activation = (w.kind == WindowKind::Secondary)
        .then(|| cal.activation(cal.local(w.start).date_naive()))
        .flatten();
    let adhoc = w.id.and_then(|id| cal.adhoc(id));
    WindowOut {
        kind: w.kind,
        start: local_text(w.start, tz),
        end: local_text(w.end, tz),
        active: w.active,
        holiday: w.holiday.clone(),
        scope: w.scope.to_string(),
        reason: w.reason.clone(),
        id: w.id,
        activated_by: activation.map(|a| a.activated_by.clone()),
        activated_at: activation.map(|a| local_text(a.activated_at, tz)),
        created_by: adhoc.map(|a| a.created_by.clone()),
        created_at: adhoc.map(|a| local_text(a.created_at, tz)),
    }
}

/// An ad-hoc window as `list-windows` prints it.
#[derive(Debug, Serialize)]
pub struct AdhocOut {
    pub id: i64,
    pub kind: WindowKind,
    pub start: String,
    pub end: String,
    pub scope: String,
    pub reason: String,
    pub holiday: Option<String>,
    pub created_by: String,
    pub created_at: String,
    pub cancelled: bool,
    pub cancelled_by: Option<String>,
    pub cancelled_at: Option<String>,
}

pub fn adhoc_out(cal: &Calendar, a: &AdhocWindow) -> AdhocOut {
    let tz = cal.time_zone();
    AdhocOut {
        id: a.id,
        kind: WindowKind::Adhoc,
        start: local_text(a.start, tz),
        end: local_text(a.end, tz),
        scope: a.scope.to_string(),
        reason: a.reason.clone(),
        holiday: cal.holiday(cal.local(a.start).date_naive(), None),
        created_by: a.created_by.clone(),
        created_at: local_text(a.created_at, tz),
        cancelled: a.is_cancelled(),
        cancelled_by: a.cancelled_by.clone(),
        cancelled_at: a.cancelled_at.map(|t| local_text(t, tz)),
    }
}

/// Local midnight of `date` in the calendar's zone.
pub fn local_midnight(cal: &Calendar, date: NaiveDate) -> DateTime<Utc> {
    crate::calendar::rules::resolve_local(cal.time_zone(), date.and_time(chrono::NaiveTime::MIN))
}
