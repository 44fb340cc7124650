//! How values are written into columns and read back, alike on both backends: instants as RFC
//! 3339 UTC text (so text order is time order) or Unix milliseconds, dates as `YYYY-MM-DD`,
//! outage kinds as their names, lists of names as JSON. A value that does not read back is
//! corrupt data ([`StoreError::Corrupt`]).

use super::{Health, StoreError};
use chrono::{DateTime, NaiveDate, SecondsFormat, TimeZone, Utc};

/// An instant as the stores write it into text columns: RFC 3339 UTC with milliseconds, so
/// text order is time order.
pub fn time_text(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// An instant read back from a text column (any RFC 3339); a bad value is corrupt data.
pub fn time_from_text(s: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::Corrupt(format!("instant {s:?}: {e}")))
}

/// An optional instant read back from a text column.
pub fn opt_time_from_text(s: Option<String>) -> Result<Option<DateTime<Utc>>, StoreError> {
    s.as_deref().map(time_from_text).transpose()
}

/// An instant in whole seconds (the calendar's tables).
pub fn instant_secs(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A date read back from a `YYYY-MM-DD` column.
pub fn parse_date(s: &str) -> Result<NaiveDate, StoreError> {
    s.parse()
        .map_err(|e| StoreError::Corrupt(format!("date {s:?}: {e}")))
}

/// A stored Unix-ms instant back as a time; out of range is corrupt data.
pub fn instant_ms(ms: i64) -> Result<DateTime<Utc>, StoreError> {
    Utc.timestamp_millis_opt(ms)
        .single()
        .ok_or_else(|| StoreError::Corrupt(format!("instant {ms} ms")))
}

/// An outage kind as both backends store it (`Health::as_str`).
pub fn parse_kind(s: &str) -> Result<Health, StoreError> {
    Ok(match s {
        "down" => Health::Down,
        "unreachable" => Health::Unreachable,
        "unknown" => Health::Unknown,
        "degraded" => Health::Degraded,
        "up" => Health::Up,
        other => return Err(StoreError::Corrupt(format!("outage kind `{other}`"))),
    })
}

/// A JSON list of names (services, municipalities) read back.
pub fn names(json: &str) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(json).map_err(|e| StoreError::Corrupt(e.to_string()))
}
