//! Storing a batch's results in SQLite: interned names and series ids, the duplicate checks
//! against stored rows and runs, and the marks a batch leaves (seen, latest, late, and pending
//! for the devices not settled in the batch's transaction).

use crate::store::results::{conflict, flags, Inserted, DEGRADED, OK};
use crate::store::{Skipped, StoreError, StoredResult};
use rusqlite::{params, OptionalExtension, Transaction};
use std::collections::{BTreeMap, HashMap};

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

/// Stores `results` (one transaction, the caller's), leaving out those already stored; returns
/// the devices to re-derive, which the caller marks ([`mark_pending`]) unless it settles them.
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
    Ok((inserted, pending, skipped))
}

/// Marks `pending`'s devices for re-derivation from their times (keeping an earlier mark).
pub(super) fn mark_pending(
    tx: &Transaction,
    pending: &BTreeMap<String, i64>,
) -> Result<(), StoreError> {
    let mut mark = tx.prepare_cached(
        "INSERT INTO dv_pending (entity, id, from_ms) VALUES ('device', ?1, ?2)
         ON CONFLICT (entity, id) DO UPDATE SET from_ms = min(from_ms, ?2)",
    )?;
    for (device, from) in pending {
        mark.execute(params![device, from])?;
    }
    Ok(())
}
