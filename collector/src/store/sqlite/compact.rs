//! Compaction of the SQLite store's results (see the module doc of [`crate::store`]): per series,
//! the rows before the horizon become runs of equal outcome, one transaction per step of a few
//! series; plus forgetting old batch ids, returning free pages, and the figures of `db stats`.

use crate::store::compact::{merge, step_end, Row, SLACK_MS};
use crate::store::results::{DEGRADED, OK};
use crate::store::{Compacted, StoreError, StoreStats};
use rusqlite::{params, Connection, OptionalExtension, Transaction};
use std::path::Path;

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
