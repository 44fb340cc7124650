//! What both backends share about results: the outcome flags of a compact row and how a result
//! that meets a stored one is told apart (see the module doc of [`super`]).

use super::{Skipped, StoredResult};
use std::collections::BTreeMap;

/// Flag bit of a successful result.
pub(crate) const OK: i64 = 1;
/// Flag bit of a degraded result.
pub(crate) const DEGRADED: i64 = 2;

/// What [`insert_results`] did: how many were inserted, the pending marks, the skipped ones.
pub(super) type Inserted = (usize, BTreeMap<String, i64>, Vec<Skipped>);

/// A result's outcome flags.
pub(crate) fn flags(r: &StoredResult) -> i64 {
    (if r.ok { OK } else { 0 }) | (if r.degraded { DEGRADED } else { 0 })
}

/// A stored row's outcome: (ok, degraded, cause).
pub(super) type Outcome = (bool, bool, Option<String>);

/// What differs between the stored outcome and `r`, if anything; `in_run`: the stored one is a
/// compacted run covering `r`'s time.
pub(super) fn conflict(stored: &Outcome, r: &StoredResult, in_run: bool) -> Option<String> {
    let (ok, degraded, cause) = stored;
    if (*ok, *degraded, cause) == (r.ok, r.degraded, &r.cause) {
        return None;
    }
    let outcome = |ok: bool, degraded: bool, cause: &Option<String>| match (ok, cause) {
        (true, _) if degraded => format!("degraded ({})", cause.as_deref().unwrap_or("")),
        (true, _) => "ok".to_string(),
        (false, c) => format!("failed ({})", c.as_deref().unwrap_or("no reason")),
    };
    let what = if in_run {
        "older than the retention horizon, inside a stretch of results the collector keeps only \
         as a summary"
    } else {
        "another result for this device, check and time is stored"
    };
    Some(format!(
        "{what} (stored: {}, this one: {}); the stored one is kept",
        outcome(*ok, *degraded, cause),
        outcome(r.ok, r.degraded, &r.cause)
    ))
}
