//! Compaction and statistics of the PostgreSQL store: the same steps as SQLite's
//! (`store/compact.rs`, whose [`merge`] it uses), with each step's series locked `FOR UPDATE`
//! so two collectors never compact one series at once.

use super::{get, Sql};
use crate::store::compact::{merge, step_end, Row, SLACK_MS};
use crate::store::results::{DEGRADED, OK};
use crate::store::{Compacted, StoreError, StoreStats};
use tokio_postgres::GenericClient;

/// See [`crate::store::Store::compact`]; runs in the caller's transaction.
pub(super) async fn compact<C: GenericClient>(
    sql: &mut Sql<'_, C>,
    horizon: i64,
    gap_of: &dyn Fn(&str) -> Option<i64>,
    max_series: usize,
) -> Result<Compacted, StoreError> {
    let due = sql
        .query(
            "SELECT s.id, n.name, s.compact_ms, s.late_ms FROM dv_series s
             JOIN dv_names n ON n.id = s.target
             WHERE s.compact_ms < $1::bigint - $2::bigint OR s.late_ms IS NOT NULL
             ORDER BY s.id LIMIT $3 FOR UPDATE OF s",
            &[&horizon, &SLACK_MS, &(max_series as i64 + 1)],
        )
        .await?;
    let mut done = Compacted {
        more: due.len() > max_series,
        ..Compacted::default()
    };
    for row in due.iter().take(max_series) {
        let (series, device): (i64, String) = (get(row, 0)?, get(row, 1)?);
        let (compact_ms, late_ms): (i64, Option<i64>) = (get(row, 2)?, get(row, 3)?);
        let start = late_ms.map_or(compact_ms, |l| l.min(compact_ms));
        let first = sql
            .opt(
                "SELECT time_ms FROM dv_obs WHERE series = $1 AND time_ms >= $2
                 ORDER BY time_ms LIMIT 1",
                &[&series, &compact_ms],
            )
            .await?
            .map(|r| get::<i64>(&r, 0))
            .transpose()?;
        let end = step_end(horizon, compact_ms, late_ms, first);
        done.more |= end < horizon;
        let removed = compact_series(sql, series, start, end, gap_of(&device).unwrap_or(0)).await?;
        done.series += 1;
        done.removed += removed;
    }
    Ok(done)
}

/// Merges one series' rows in `[start, end)` (from the run before `start`) into runs; returns
/// how many rows went.
async fn compact_series<C: GenericClient>(
    sql: &mut Sql<'_, C>,
    series: i64,
    start: i64,
    end: i64,
    gap: i64,
) -> Result<usize, StoreError> {
    let before = sql
        .opt(
            "SELECT time_ms FROM dv_obs WHERE series = $1 AND time_ms < $2
             ORDER BY time_ms DESC LIMIT 1",
            &[&series, &start],
        )
        .await?;
    let from: i64 = before.map(|r| get(&r, 0)).transpose()?.unwrap_or(start);
    let rows = sql
        .query(
            "SELECT time_ms, flags, cause, until_ms, count, detail FROM dv_obs
             WHERE series = $1 AND time_ms >= $2 AND time_ms < $3 ORDER BY time_ms",
            &[&series, &from, &end],
        )
        .await?;
    let rows: Vec<Row> = rows
        .iter()
        .map(|r| {
            let time: i64 = get(r, 0)?;
            Ok(Row {
                time,
                flags: get(r, 1)?,
                cause: get(r, 2)?,
                until: get::<Option<i64>>(r, 3)?.unwrap_or(time),
                count: get::<Option<i64>>(r, 4)?.unwrap_or(1),
                detail: get(r, 5)?,
            })
        })
        .collect::<Result<_, StoreError>>()?;
    let before_count = rows.len();
    let runs = merge(rows, gap);
    sql.exec(
        "DELETE FROM dv_obs WHERE series = $1 AND time_ms >= $2 AND time_ms < $3",
        &[&series, &from, &end],
    )
    .await?;
    for r in &runs {
        let detail = (r.flags & DEGRADED != 0 && r.flags & OK != 0)
            .then_some(r.detail.as_deref())
            .flatten();
        sql.exec(
            "INSERT INTO dv_obs (series, time_ms, flags, cause, until_ms, count, detail)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[
                &series, &r.time, &r.flags, &r.cause, &r.until, &r.count, &detail,
            ],
        )
        .await?;
    }
    sql.exec(
        "UPDATE dv_series SET compact_ms = $2, late_ms = NULL WHERE id = $1",
        &[&series, &end],
    )
    .await?;
    Ok(before_count - runs.len())
}

/// See [`crate::store::Store::stats`]: bytes are `pg_database_size`; PostgreSQL has no free
/// list to report (autovacuum reuses the space), so `free_pages` is 0 and `page_size` the block
/// size; rows per table of this schema (`dv_schema`, the version, left out).
pub(super) async fn stats<C: GenericClient>(
    sql: &mut Sql<'_, C>,
    full: bool,
) -> Result<StoreStats, StoreError> {
    let bytes: i64 = get(
        &sql.one("SELECT pg_database_size(current_database())", &[])
            .await?,
        0,
    )?;
    let block: String = get(&sql.one("SHOW block_size", &[]).await?, 0)?;
    let oldest = sql
        .one(
            "SELECT min((SELECT o.time_ms FROM dv_obs o
                         WHERE o.series = s.id
                           AND o.time_ms >= LEAST(s.compact_ms, coalesce(s.late_ms, s.compact_ms))
                           AND o.until_ms IS NULL
                         ORDER BY o.time_ms LIMIT 1))
             FROM dv_series s",
            &[],
        )
        .await?;
    let mut stats = StoreStats {
        bytes: bytes.max(0) as u64,
        oldest_result: get(&oldest, 0)?,
        free_pages: 0,
        page_size: block.parse().unwrap_or(8192),
        ..StoreStats::default()
    };
    if !full {
        return Ok(stats);
    }
    for t in tables(sql).await? {
        let n: i64 = get(
            &sql.one(&format!("SELECT count(*) FROM \"{t}\""), &[])
                .await?,
            0,
        )?;
        stats.rows.insert(t, n as u64);
    }
    let raw: i64 = get(
        &sql.one("SELECT count(*) FROM dv_obs WHERE until_ms IS NULL", &[])
            .await?,
        0,
    )?;
    stats.raw_results = raw as u64;
    stats.runs = stats.rows.get("dv_obs").copied().unwrap_or(0) - stats.raw_results;
    Ok(stats)
}

/// The schema's tables by name (`dv_schema` left out).
pub(super) async fn tables<C: GenericClient>(
    sql: &mut Sql<'_, C>,
) -> Result<Vec<String>, StoreError> {
    let rows = sql
        .query(
            "SELECT tablename::text FROM pg_tables
             WHERE schemaname = current_schema() AND tablename <> 'dv_schema'
             ORDER BY tablename COLLATE \"C\"",
            &[],
        )
        .await?;
    rows.iter().map(|r| get(r, 0)).collect()
}
