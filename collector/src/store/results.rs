//! The SQLite store's results: interned names, series, compact rows (see the module doc of
//! [`super`]), storing a batch's results with their duplicate checks, and reading them back.
//!
//! A result is one `dv_obs` row keyed by (series, time): flags (bit 0 ok, bit 1 degraded), the
//! cause's name id, and the whole result only when it has findings. A result older than its
//! series' compaction mark is checked against the run that covers its time: inside a run with
//! the same outcome it is a duplicate, with another outcome it is refused (the run no longer
//! knows its single results); elsewhere it is stored raw and its series marked `late_ms`, so the
//! next compaction merges it.

use super::{Skipped, StoreError, StoredResult};
use rusqlite::{params, Connection, OptionalExtension, Transaction};
use std::collections::{BTreeMap, HashMap};

pub(super) const OK: i64 = 1;
pub(super) const DEGRADED: i64 = 2;

/// Name and series ids known to be committed (ids never change once committed).
#[derive(Default)]
pub(super) struct Ids {
    names: HashMap<String, i64>,
    series: HashMap<(i64, i64, i64), i64>,
}

/// Ids learned inside a transaction, merged into [`Ids`] only after it commits.
#[derive(Default)]
pub(super) struct NewIds {
    names: Vec<(String, i64)>,
    series: Vec<((i64, i64, i64), i64)>,
}

impl Ids {
    pub(super) fn merge(&mut self, new: NewIds) {
        self.names.extend(new.names);
        self.series.extend(new.series);
    }

    fn name(&self, tx: &Transaction, new: &mut NewIds, name: &str) -> Result<i64, StoreError> {
        if let Some(id) = self.names.get(name) {
            return Ok(*id);
        }
        if let Some((_, id)) = new.names.iter().find(|(n, _)| n == name) {
            return Ok(*id);
        }
        tx.prepare_cached("INSERT OR IGNORE INTO dv_names (name) VALUES (?1)")?
            .execute([name])?;
        let id: i64 = tx
            .prepare_cached("SELECT id FROM dv_names WHERE name = ?1")?
            .query_row([name], |r| r.get(0))?;
        new.names.push((name.to_string(), id));
        Ok(id)
    }

    fn series(
        &self,
        tx: &Transaction,
        new: &mut NewIds,
        r: &StoredResult,
    ) -> Result<i64, StoreError> {
        let key = (
            self.name(tx, new, &r.target)?,
            self.name(tx, new, &r.check)?,
            self.name(tx, new, &r.agent)?,
        );
        if let Some(id) = self.series.get(&key) {
            return Ok(*id);
        }
        if let Some((_, id)) = new.series.iter().find(|(k, _)| *k == key) {
            return Ok(*id);
        }
        tx.prepare_cached(
            "INSERT OR IGNORE INTO dv_series (target, check_name, agent) VALUES (?1, ?2, ?3)",
        )?
        .execute(params![key.0, key.1, key.2])?;
        let id: i64 = tx
            .prepare_cached(
                "SELECT id FROM dv_series WHERE target = ?1 AND check_name = ?2 AND agent = ?3",
            )?
            .query_row(params![key.0, key.1, key.2], |r| r.get(0))?;
        new.series.push((key, id));
        Ok(id)
    }
}

/// What [`insert_results`] did: how many were inserted, the pending marks, the skipped ones.
pub(super) type Inserted = (usize, BTreeMap<String, i64>, Vec<Skipped>);

fn flags(r: &StoredResult) -> i64 {
    (if r.ok { OK } else { 0 }) | (if r.degraded { DEGRADED } else { 0 })
}

/// A stored row's outcome: (ok, degraded, cause).
pub(super) type Outcome = (bool, bool, Option<String>);

/// Stores `results` (one transaction, the caller's), leaving out those already stored.
pub(super) fn insert_results(
    tx: &Transaction,
    ids: &Ids,
    new: &mut NewIds,
    results: &[StoredResult],
) -> Result<Inserted, StoreError> {
    let mut insert = tx.prepare_cached(
        "INSERT OR IGNORE INTO dv_obs (series, time_ms, flags, cause, detail)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    let mut existing = tx.prepare_cached(
        "SELECT o.time_ms, o.until_ms, o.flags, n.name FROM dv_obs o
         LEFT JOIN dv_names n ON n.id = o.cause
         WHERE o.series = ?1 AND o.time_ms <= ?2 ORDER BY o.time_ms DESC LIMIT 1",
    )?;
    let mut mark = tx.prepare_cached("SELECT compact_ms FROM dv_series WHERE id = ?1")?;
    let mut marks: HashMap<i64, i64> = HashMap::new();
    let mut late: HashMap<i64, i64> = HashMap::new();
    let mut latest: HashMap<i64, (i64, &str)> = HashMap::new();
    let mut seen: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
    let mut inserted = 0;
    let mut pending: BTreeMap<String, i64> = BTreeMap::new();
    let mut skipped = Vec::new();
    for (index, r) in results.iter().enumerate() {
        let series = ids.series(tx, new, r)?;
        let compact_ms = match marks.get(&series) {
            Some(m) => *m,
            None => {
                let m: i64 = mark.query_row([series], |row| row.get(0))?;
                marks.insert(series, m);
                m
            }
        };
        let covering = |existing: &mut rusqlite::CachedStatement| {
            existing
                .query_row(params![series, r.time], |row| {
                    let time: i64 = row.get(0)?;
                    let until: Option<i64> = row.get(1)?;
                    let f: i64 = row.get(2)?;
                    let cause: Option<String> = row.get(3)?;
                    Ok((time, until, (f & OK != 0, f & DEGRADED != 0, cause)))
                })
                .optional()
        };
        if r.time < compact_ms {
            if let Some((time, until, stored)) = covering(&mut existing)? {
                if time == r.time || until.is_some_and(|u| u >= r.time) {
                    skipped.push(Skipped {
                        index,
                        conflict: conflict(&stored, r, time != r.time),
                    });
                    continue;
                }
            }
        }
        let cause = match &r.cause {
            Some(c) => Some(ids.name(tx, new, c)?),
            None => None,
        };
        let detail = r.degraded.then_some(r.raw.as_str());
        let n = insert.execute(params![series, r.time, flags(r), cause, detail])?;
        if n == 0 {
            let (_, _, stored) = covering(&mut existing)?.ok_or_else(|| {
                StoreError::Corrupt(format!("result of series {series} at {} vanished", r.time))
            })?;
            skipped.push(Skipped {
                index,
                conflict: conflict(&stored, r, false),
            });
            continue;
        }
        inserted += 1;
        if r.time < compact_ms {
            let e = late.entry(series).or_insert(r.time);
            *e = (*e).min(r.time);
        }
        let l = latest.entry(series).or_insert((r.time, &r.raw));
        if r.time >= l.0 {
            *l = (r.time, &r.raw);
        }
        let s = seen.entry(&r.target).or_insert((r.time, r.time));
        *s = (s.0.min(r.time), s.1.max(r.time));
        let e = pending.entry(r.target.clone()).or_insert(r.time);
        *e = (*e).min(r.time);
    }
    let mut seen_stmt = tx.prepare_cached(
        "INSERT INTO dv_seen (device, first_ms, last_ms) VALUES (?1, ?2, ?3)
         ON CONFLICT (device) DO UPDATE
         SET first_ms = min(first_ms, ?2), last_ms = max(last_ms, ?3)",
    )?;
    for (device, (first, last)) in &seen {
        seen_stmt.execute(params![device, first, last])?;
    }
    let mut latest_stmt = tx.prepare_cached(
        "INSERT INTO dv_latest (series, time_ms, raw) VALUES (?1, ?2, ?3)
         ON CONFLICT (series) DO UPDATE SET time_ms = ?2, raw = ?3 WHERE time_ms <= ?2",
    )?;
    for (series, (time, raw)) in &latest {
        latest_stmt.execute(params![series, time, raw])?;
    }
    let mut late_stmt = tx.prepare_cached(
        "UPDATE dv_series SET late_ms = min(coalesce(late_ms, ?2), ?2) WHERE id = ?1",
    )?;
    for (series, time) in &late {
        late_stmt.execute(params![series, time])?;
    }
    let mut mark = tx.prepare_cached(
        "INSERT INTO dv_pending (entity, id, from_ms) VALUES ('device', ?1, ?2)
         ON CONFLICT (entity, id) DO UPDATE SET from_ms = min(from_ms, ?2)",
    )?;
    for (device, from) in &pending {
        mark.execute(params![device, from])?;
    }
    Ok((inserted, pending, skipped))
}

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

/// The series of `device` (of one check, or all): (id, check, agent). Two statements, not
/// `(?2 IS NULL OR ...)`: with that, SQLite plans for the NULL case and scans every series.
pub(super) fn series_of(
    conn: &Connection,
    device: &str,
    check: Option<&str>,
) -> Result<Vec<(i64, String, String)>, StoreError> {
    let row = |r: &rusqlite::Row| Ok((r.get(0)?, r.get(1)?, r.get(2)?));
    let out = match check {
        Some(check) => conn
            .prepare_cached(
                "SELECT s.id, ?2, a.name FROM dv_series s
                 JOIN dv_names a ON a.id = s.agent
                 WHERE s.target = (SELECT id FROM dv_names WHERE name = ?1)
                   AND s.check_name = (SELECT id FROM dv_names WHERE name = ?2)
                 ORDER BY a.name",
            )?
            .query_map(params![device, check], row)?
            .collect::<Result<_, _>>()?,
        None => conn
            .prepare_cached(
                "SELECT s.id, c.name, a.name FROM dv_series s
                 JOIN dv_names c ON c.id = s.check_name
                 JOIN dv_names a ON a.id = s.agent
                 WHERE s.target = (SELECT id FROM dv_names WHERE name = ?1)
                 ORDER BY a.name, c.name",
            )?
            .query_map(params![device], row)?
            .collect::<Result<_, _>>()?,
    };
    Ok(out)
}

/// A device's results (and runs) at or after `from`, and any run covering `from`, by time.
pub(super) fn results(
    conn: &Connection,
    device: &str,
    from: i64,
) -> Result<Vec<StoredResult>, StoreError> {
    let mut covering = conn.prepare_cached(
        "SELECT o.time_ms, o.flags, n.name, o.until_ms, o.count, o.detail FROM dv_obs o
         LEFT JOIN dv_names n ON n.id = o.cause
         WHERE o.series = ?1 AND o.time_ms < ?2 ORDER BY o.time_ms DESC LIMIT 1",
    )?;
    let mut after = conn.prepare_cached(
        "SELECT o.time_ms, o.flags, n.name, o.until_ms, o.count, o.detail FROM dv_obs o
         LEFT JOIN dv_names n ON n.id = o.cause
         WHERE o.series = ?1 AND o.time_ms >= ?2 ORDER BY o.time_ms",
    )?;
    let mut out = Vec::new();
    for (series, check, agent) in series_of(conn, device, None)? {
        let row = |r: &rusqlite::Row| -> rusqlite::Result<StoredResult> {
            let time: i64 = r.get(0)?;
            let f: i64 = r.get(1)?;
            Ok(StoredResult {
                agent: agent.clone(),
                target: device.to_string(),
                check: check.clone(),
                time,
                ok: f & OK != 0,
                degraded: f & DEGRADED != 0,
                cause: r.get(2)?,
                until: r.get::<_, Option<i64>>(3)?.unwrap_or(time),
                count: r.get::<_, Option<u32>>(4)?.unwrap_or(1),
                raw: r.get::<_, Option<String>>(5)?.unwrap_or_default(),
            })
        };
        if let Some(run) = covering.query_row(params![series, from], row).optional()? {
            if run.until >= from {
                out.push(run);
            }
        }
        let rows = after.query_map(params![series, from], row)?;
        for r in rows {
            out.push(r?);
        }
    }
    out.sort_by_key(|r| r.time);
    Ok(out)
}

/// See [`super::Store::last_ok_before`].
pub(super) fn last_ok_before(
    conn: &Connection,
    device: &str,
    check: &str,
    before: i64,
) -> Result<Option<i64>, StoreError> {
    let mut reported =
        conn.prepare_cached("SELECT 1 FROM dv_obs WHERE series = ?1 AND time_ms < ?2 LIMIT 1")?;
    let mut last_ok = conn.prepare_cached(
        "SELECT time_ms, until_ms FROM dv_obs WHERE series = ?1 AND time_ms < ?2 AND flags & 1
         ORDER BY time_ms DESC LIMIT 1",
    )?;
    let mut earliest: Option<i64> = Some(before);
    for (series, _, _) in series_of(conn, device, Some(check))? {
        if !reported.exists(params![series, before])? {
            continue;
        }
        let t: Option<i64> = last_ok
            .query_row(params![series, before], |r| {
                let time: i64 = r.get(0)?;
                let until: Option<i64> = r.get(1)?;
                // Inside a run the last success before `before` is at most `before - 1`.
                Ok(until.unwrap_or(time).min(before - 1))
            })
            .optional()?;
        earliest = match (earliest, t) {
            (Some(a), Some(b)) => Some(a.min(b)),
            _ => None,
        };
    }
    Ok(earliest)
}

/// The latest result of each series of `device`: its time and raw JSON (the outcome fields are
/// left default; the raw JSON has them).
pub(super) fn latest(conn: &Connection, device: &str) -> Result<Vec<StoredResult>, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT time_ms, raw FROM dv_latest WHERE series = ?1")?;
    let mut out = Vec::new();
    for (series, check, agent) in series_of(conn, device, None)? {
        let found = stmt
            .query_row([series], |r| {
                let (time, raw): (i64, String) = (r.get(0)?, r.get(1)?);
                Ok(StoredResult::single(
                    &agent, device, &check, time, false, false, None, raw,
                ))
            })
            .optional()?;
        out.extend(found);
    }
    out.sort_by_key(|r| r.time);
    Ok(out)
}
