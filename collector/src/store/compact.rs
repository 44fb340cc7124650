//! Compaction of the SQLite store's results (see the module doc of [`super`]): per series, the
//! rows before the horizon become runs of equal outcome, one transaction per step of a few
//! series; plus forgetting old batch ids, returning free pages, and the figures of `db stats`.

use super::results::{DEGRADED, OK};
use super::{Compacted, StoreError, StoreStats};
use rusqlite::{params, Connection, OptionalExtension, Transaction};
use std::path::Path;

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

/// See [`super::Store::compact`].
pub(super) fn compact(
    tx: &Transaction,
    horizon: i64,
    gap_of: &dyn Fn(&str) -> Option<i64>,
    max_series: usize,
) -> Result<Compacted, StoreError> {
    let mut due = tx.prepare_cached(
        "SELECT s.id, n.name, s.compact_ms, s.late_ms FROM dv_series s
         JOIN dv_names n ON n.id = s.target
         WHERE s.compact_ms < ?1 - ?2 OR s.late_ms IS NOT NULL
         ORDER BY s.id LIMIT ?3",
    )?;
    let list: Vec<(i64, String, i64, Option<i64>)> = due
        .query_map(params![horizon, SLACK_MS, max_series as i64 + 1], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })?
        .collect::<Result<_, _>>()?;
    let more = list.len() > max_series;
    let mut done = Compacted {
        more,
        ..Compacted::default()
    };
    let mut before = tx.prepare_cached(
        "SELECT time_ms FROM dv_obs WHERE series = ?1 AND time_ms < ?2
         ORDER BY time_ms DESC LIMIT 1",
    )?;
    let mut load = tx.prepare_cached(
        "SELECT time_ms, flags, cause, until_ms, count, detail FROM dv_obs
         WHERE series = ?1 AND time_ms >= ?2 AND time_ms < ?3 ORDER BY time_ms",
    )?;
    let mut delete = tx.prepare_cached(
        "DELETE FROM dv_obs WHERE series = ?1 AND time_ms >= ?2 AND time_ms < ?3",
    )?;
    let mut insert = tx.prepare_cached(
        "INSERT INTO dv_obs (series, time_ms, flags, cause, until_ms, count, detail)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    let mut mark =
        tx.prepare_cached("UPDATE dv_series SET compact_ms = ?2, late_ms = NULL WHERE id = ?1")?;
    let mut first_raw = tx.prepare_cached(
        "SELECT time_ms FROM dv_obs WHERE series = ?1 AND time_ms >= ?2 ORDER BY time_ms LIMIT 1",
    )?;
    for (series, device, compact_ms, late_ms) in list.into_iter().take(max_series) {
        let start = late_ms.map_or(compact_ms, |l| l.min(compact_ms));
        let first: Option<i64> = first_raw
            .query_row(params![series, compact_ms], |r| r.get(0))
            .optional()?;
        let end = step_end(horizon, compact_ms, late_ms, first);
        done.more |= end < horizon;
        // Start at the run before `start`, which the first rows may extend.
        let from: i64 = match before.query_row(params![series, start], |r| r.get(0)) {
            Ok(t) => t,
            Err(rusqlite::Error::QueryReturnedNoRows) => start,
            Err(e) => return Err(e.into()),
        };
        let rows: Vec<Row> = load
            .query_map(params![series, from, end], |r| {
                let time: i64 = r.get(0)?;
                Ok(Row {
                    time,
                    flags: r.get(1)?,
                    cause: r.get(2)?,
                    until: r.get::<_, Option<i64>>(3)?.unwrap_or(time),
                    count: r.get::<_, Option<i64>>(4)?.unwrap_or(1),
                    detail: r.get(5)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        let before_count = rows.len();
        let runs = merge(rows, gap_of(&device).unwrap_or(0));
        delete.execute(params![series, from, end])?;
        for r in &runs {
            // Only a run with findings keeps its first result (alerting reads when they began).
            let detail = (r.flags & DEGRADED != 0 && r.flags & OK != 0)
                .then_some(r.detail.as_deref())
                .flatten();
            insert.execute(params![
                series, r.time, r.flags, r.cause, r.until, r.count, detail
            ])?;
        }
        mark.execute(params![series, end])?;
        done.series += 1;
        done.removed += before_count - runs.len();
    }
    Ok(done)
}

/// See [`super::Store::prune_batches`].
pub(super) fn prune_batches(
    conn: &Connection,
    before: i64,
    limit: usize,
) -> Result<usize, StoreError> {
    Ok(conn.execute(
        "DELETE FROM dv_batches WHERE rowid IN
         (SELECT rowid FROM dv_batches WHERE received_ms < ?1 LIMIT ?2)",
        params![before, limit as i64],
    )?)
}

/// See [`super::Store::stats`]; `path` is the file (none in memory).
pub(super) fn stats(
    conn: &Connection,
    path: Option<&Path>,
    full: bool,
) -> Result<StoreStats, StoreError> {
    let size = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.len());
    let bytes = path.map_or(0, |p| {
        let mut wal = p.as_os_str().to_owned();
        wal.push("-wal");
        size(p) + size(Path::new(&wal))
    });
    let oldest_result: Option<i64> = conn.query_row(
        "SELECT min((SELECT o.time_ms FROM dv_obs o
                     WHERE o.series = s.id AND o.time_ms >= min(s.compact_ms, coalesce(s.late_ms, s.compact_ms))
                       AND o.until_ms IS NULL
                     ORDER BY o.time_ms LIMIT 1))
         FROM dv_series s",
        [],
        |r| r.get(0),
    )?;
    let mut stats = StoreStats {
        bytes,
        oldest_result,
        free_pages: conn.pragma_query_value(None, "freelist_count", |r| r.get::<_, i64>(0))? as u64,
        page_size: conn.pragma_query_value(None, "page_size", |r| r.get::<_, i64>(0))? as u64,
        ..StoreStats::default()
    };
    if !full {
        return Ok(stats);
    }
    let tables: Vec<String> = conn
        .prepare(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'
             ORDER BY name",
        )?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    for t in tables {
        let n: i64 = conn.query_row(&format!("SELECT count(*) FROM \"{t}\""), [], |r| r.get(0))?;
        stats.rows.insert(t, n as u64);
    }
    let raw: i64 = conn.query_row(
        "SELECT count(*) FROM dv_obs WHERE until_ms IS NULL",
        [],
        |r| r.get(0),
    )?;
    stats.raw_results = raw as u64;
    stats.runs = stats.rows.get("dv_obs").copied().unwrap_or(0) - stats.raw_results;
    Ok(stats)
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
