//! What both backends share about compaction (see the module doc of [`super`]): when a series
//! is compacted again, how far one step goes, and how rows merge into runs.

/// A series is compacted again once its raw rows reach this far behind the horizon (so a pass
/// touches each series about once an hour, not on every call).
pub const SLACK_MS: i64 = 3_600_000;

/// At most this much of a series' backlog is compacted per step (two hours of results): a
/// series far behind its horizon (a collector started after a long stop, a shortened retention)
/// is compacted in several short steps, so a batch waiting for the writers' lock waits for one
/// of them, never for days of results.
pub const STEP_SPAN_MS: i64 = 2 * 3_600_000;

/// Where one step of a series' compaction ends: the horizon, or [`STEP_SPAN_MS`] past the
/// series' first raw row after its mark when that comes sooner. A series with late rows behind
/// its mark is done in one step (its mark must not move back).
pub(crate) fn step_end(
    horizon: i64,
    compact_ms: i64,
    late_ms: Option<i64>,
    first_raw: Option<i64>,
) -> i64 {
    let full = horizon.max(compact_ms);
    match (late_ms, first_raw) {
        (None, Some(first)) => full.min(first.max(compact_ms).saturating_add(STEP_SPAN_MS)),
        _ => full,
    }
}

/// One row or run of a series.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Row {
    pub(super) time: i64,
    pub(super) flags: i64,
    pub(super) cause: Option<i64>,
    pub(super) until: i64,
    pub(super) count: i64,
    pub(super) detail: Option<String>,
}

/// Merges time-ordered rows into runs: neighbours with the same outcome and cause, at most
/// `gap` apart, become one run keeping the first's time and details.
pub(super) fn merge(rows: Vec<Row>, gap: i64) -> Vec<Row> {
    let mut out: Vec<Row> = Vec::with_capacity(4);
    for r in rows {
        if let Some(last) = out.last_mut() {
            if last.flags == r.flags && last.cause == r.cause && r.time - last.until <= gap {
                last.until = last.until.max(r.until);
                last.count += r.count;
                continue;
            }
        }
        out.push(r);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(time: i64, ok: bool) -> Row {
        Row {
            time,
            flags: i64::from(ok),
            cause: None,
            until: time,
            count: 1,
            detail: None,
        }
    }

    #[test]
    fn a_long_backlog_is_compacted_in_steps_of_two_hours() {
        const H: i64 = 3_600_000;
        // Days behind: two hours from the first raw row.
        assert_eq!(step_end(100 * H, 0, None, Some(10 * H)), 12 * H);
        // Close to the horizon: the horizon.
        assert_eq!(step_end(100 * H, 0, None, Some(99 * H)), 100 * H);
        // Nothing raw after the mark, or late rows behind it: all in one step.
        assert_eq!(step_end(100 * H, 0, None, None), 100 * H);
        assert_eq!(
            step_end(100 * H, 50 * H, Some(5 * H), Some(60 * H)),
            100 * H
        );
        // The mark never moves back.
        assert_eq!(step_end(10 * H, 50 * H, None, Some(60 * H)), 50 * H);
    }

    #[test]
    fn equal_neighbours_within_the_gap_merge_and_runs_merge_again() {
        let rows = vec![
            row(0, true),
            row(60, true),
            row(120, false),
            row(180, false),
            row(500, false),
        ];
        let runs = merge(rows, 100);
        let got: Vec<_> = runs.iter().map(|r| (r.time, r.until, r.count)).collect();
        assert_eq!(got, vec![(0, 60, 2), (120, 180, 2), (500, 500, 1)]);
        // Merging runs again (a later pass) changes nothing.
        assert_eq!(merge(runs.clone(), 100), runs);
    }
}
