//! The SQLite store (bundled SQLite, one file).
//!
//! - WAL journal: readers (reports, status) do not block the writer.
//! - `synchronous=FULL`: an acknowledged batch is deleted from the agent's spool, so a batch
//!   must survive a power cut once acknowledged; `NORMAL` in WAL mode may lose the last
//!   transactions on power loss. Ingest is batched, and the batches waiting for the writer
//!   at one moment are stored in one transaction ([`Store::apply_batches_settling`]: group
//!   commit), so the fsync is paid once per group of batches.
//! - `busy_timeout` of 5 s, in case an operator opens the file with the sqlite3 shell.
//! - The schema comes from the one migration sequence of the whole database
//!   ([`super::migrations`]). This backend's tables are prefixed `dv_`.

use super::batch::{insert_results, mark_pending, Ids, NewIds};
use super::compact;
use crate::store::columns::parse_kind;
use crate::store::results::{DEGRADED, OK};
use crate::store::{
    batch_digest, Applied, Compacted, EntityKind, Flap, Health, NewBatch, Outage, Replacement,
    Seen, Settle, SettleGroup, Store, StoreError, StoreStats, StoredResult,
};
use rusqlite::{params, Connection, OptionalExtension, Transaction};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The SQLite backend.
pub struct SqliteStore {
    conn: Mutex<Connection>,
    /// Name and series ids already committed (read and extended under the `conn` lock).
    ids: Mutex<Ids>,
    path: Option<PathBuf>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        super::check_location(path).map_err(|message| StoreError::Open {
            path: path.display().to_string(),
            message,
        })?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::Open {
                path: path.display().to_string(),
                message: format!("cannot create directory: {e}"),
            })?;
        }
        let conn = super::open(path)?;
        Ok(SqliteStore {
            conn: Mutex::new(conn),
            ids: Mutex::new(Ids::default()),
            path: Some(path.to_path_buf()),
        })
    }

    fn ids(&self) -> std::sync::MutexGuard<'_, Ids> {
        self.ids.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        super::lock(&self.conn)
    }
}

fn kind_str(k: Health) -> &'static str {
    k.as_str()
}

/// Every replacement in one transaction.
fn replace_all(conn: &mut Connection, replacements: &[Replacement]) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    for r in replacements {
        replace_one(&tx, r)?;
        clear_mark(&tx, r)?;
    }
    tx.commit()?;
    Ok(())
}

/// Replaces `r`'s outages (and a device's flaps) from `r.from` on.
fn replace_one(tx: &Transaction, r: &Replacement) -> Result<(), StoreError> {
    let e = r.entity.as_str();
    tx.prepare_cached("DELETE FROM dv_outages WHERE entity = ?1 AND id = ?2 AND start_ms >= ?3")?
        .execute(params![e, r.id, r.from])?;
    let mut ins = tx.prepare_cached(
        "INSERT OR REPLACE INTO dv_outages (entity, id, start_ms, end_ms, kind, cause)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    for o in &r.outages {
        ins.execute(params![e, r.id, o.start, o.end, kind_str(o.kind), o.cause])?;
    }
    if r.entity == EntityKind::Device {
        tx.prepare_cached("DELETE FROM dv_flaps WHERE device = ?1 AND start_ms >= ?2")?
            .execute(params![r.id, r.from])?;
        let mut ins = tx.prepare_cached(
            "INSERT OR REPLACE INTO dv_flaps (device, agent, start_ms, end_ms, failures)
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        for f in &r.flaps {
            ins.execute(params![r.id, f.agent, f.start, f.end, f.failures])?;
        }
    }
    Ok(())
}

/// Clears `r`'s pending mark.
fn clear_mark(tx: &Transaction, r: &Replacement) -> Result<(), StoreError> {
    tx.prepare_cached("DELETE FROM dv_pending WHERE entity = ?1 AND id = ?2")?
        .execute(params![r.entity.as_str(), r.id])?;
    Ok(())
}

/// One batch inside a group's transaction (see [`Store::apply_batches_settling`]): its id
/// (a duplicate or a conflict stores nothing more), its results, the devices `settle` settled
/// and the pending marks of the others.
fn apply_one(
    tx: &Transaction,
    ids: &Ids,
    new: &mut NewIds,
    b: &NewBatch<'_>,
    settle: &mut Settle<'_>,
) -> Result<Applied, StoreError> {
    let digest = batch_digest(b.results);
    let fresh = tx
        .prepare_cached(
            "INSERT OR IGNORE INTO dv_batches (agent, batch_id, received_ms, results, digest)
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )?
        .execute(params![
            b.agent,
            b.batch_id,
            b.received,
            b.results.len() as i64,
            digest
        ])?;
    tx.prepare_cached(
        "INSERT INTO dv_agents (agent, last_seen_ms) VALUES (?1, ?2)
         ON CONFLICT (agent) DO UPDATE SET last_seen_ms = max(last_seen_ms, ?2)",
    )?
    .execute(params![b.agent, b.received])?;
    if fresh == 0 {
        let stored: Option<String> = tx
            .prepare_cached("SELECT digest FROM dv_batches WHERE agent = ?1 AND batch_id = ?2")?
            .query_row(params![b.agent, b.batch_id], |r| r.get(0))?;
        // A batch stored before digests were kept cannot be compared: a duplicate.
        return Ok(match stored {
            Some(d) if d != digest => Applied::Conflict,
            _ => Applied::Duplicate,
        });
    }
    let (inserted, mut pending, skipped) = insert_results(tx, ids, new, b.results)?;
    let settled = settle(&Applied::New {
        inserted,
        pending: pending.clone(),
        skipped: skipped.clone(),
    });
    for r in &settled.write {
        replace_one(tx, r)?;
    }
    pending.retain(|device, _| !settled.devices.contains(device));
    mark_pending(tx, &pending)?;
    Ok(Applied::New {
        inserted,
        pending,
        skipped,
    })
}

impl Store for SqliteStore {
    fn manual_incidents(
        &self,
        from: i64,
        to: i64,
    ) -> Result<Vec<crate::store::ManualIncident>, StoreError> {
        super::incidents::list(&self.conn(), from, to)
    }

    fn intefunktion_cases(
        &self,
        from: i64,
        to: i64,
    ) -> Result<Vec<crate::store::ManualIntefunktionCase>, StoreError> {
        super::intefunktion::list(&self.conn(), from, to)
    }

    fn apply_batches_settling(
        &self,
        batches: &[NewBatch<'_>],
        settle: &mut SettleGroup<'_>,
    ) -> Result<Vec<Applied>, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let ids = self.ids();
        let mut new = NewIds::default();
        let mut applied = Vec::with_capacity(batches.len());
        for (i, batch) in batches.iter().enumerate() {
            applied.push(apply_one(&tx, &ids, &mut new, batch, &mut |a| {
                settle(i, a)
            })?);
        }
        tx.commit()?;
        drop(ids);
        self.ids().merge(new);
        Ok(applied)
    }

    fn pending(&self) -> Result<BTreeMap<String, i64>, StoreError> {
        let conn = self.conn();
        let mut stmt =
            conn.prepare_cached("SELECT id, from_ms FROM dv_pending WHERE entity = 'device'")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn pending_of(&self, device: &str) -> Result<Option<i64>, StoreError> {
        Ok(self
            .conn()
            .prepare_cached("SELECT from_ms FROM dv_pending WHERE entity = 'device' AND id = ?1")?
            .query_row([device], |r| r.get(0))
            .optional()?)
    }

    fn first_seen(&self, device: &str) -> Result<Option<i64>, StoreError> {
        Ok(self
            .conn()
            .prepare_cached("SELECT first_ms FROM dv_seen WHERE device = ?1")?
            .query_row([device], |r| r.get(0))
            .optional()?)
    }

    fn results(&self, device: &str, from: i64) -> Result<Vec<StoredResult>, StoreError> {
        results(&self.conn(), device, from)
    }

    fn last_ok_before(
        &self,
        device: &str,
        check: &str,
        before: i64,
    ) -> Result<Option<i64>, StoreError> {
        last_ok_before(&self.conn(), device, check, before)
    }

    fn outages(
        &self,
        entity: EntityKind,
        id: Option<&str>,
        from: i64,
        to: i64,
    ) -> Result<Vec<Outage>, StoreError> {
        let conn = self.conn();
        // Two statements, not `(?2 IS NULL OR id = ?2)`: with that, SQLite plans for the NULL
        // case and scans every outage of the kind even when one id is asked for.
        let mut stmt = conn.prepare_cached(match id {
            Some(_) => {
                "SELECT id, start_ms, end_ms, kind, cause FROM dv_outages
                 WHERE entity = ?1 AND id = ?2
                   AND start_ms < ?4 AND (end_ms IS NULL OR end_ms > ?3)
                 ORDER BY id, start_ms"
            }
            None => {
                "SELECT id, start_ms, end_ms, kind, cause FROM dv_outages
                 WHERE entity = ?1 AND ?2 IS NULL
                   AND start_ms < ?4 AND (end_ms IS NULL OR end_ms > ?3)
                 ORDER BY id, start_ms"
            }
        })?;
        let rows = stmt.query_map(params![entity.as_str(), id, from, to], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, Option<i64>>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, Option<String>>(4)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, start, end, kind, cause) = row?;
            out.push(Outage {
                entity,
                id,
                start,
                end,
                kind: parse_kind(&kind)?,
                cause,
            });
        }
        Ok(out)
    }

    /// Devices' replacements commit without waiting for the disk (`synchronous=NORMAL`): they
    /// are derived from results whose pending marks were committed durably with them, and a
    /// power loss can only lose a suffix of the log, so what it takes comes back as pending
    /// marks and is re-derived at the next start. Services' replacements (re-derived from the
    /// devices' outages, not marked) wait for the disk, and with it for every write before them.
    fn replace_outages(&self, replacements: &[Replacement]) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let lazy = replacements.iter().all(|r| r.entity == EntityKind::Device);
        if lazy {
            conn.pragma_update(None, "synchronous", "NORMAL")?;
        }
        let written = replace_all(&mut conn, replacements);
        if lazy {
            conn.pragma_update(None, "synchronous", "FULL")?;
        }
        written
    }

    fn flaps(&self, device: Option<&str>, from: i64, to: i64) -> Result<Vec<Flap>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT device, agent, start_ms, end_ms, failures FROM dv_flaps
             WHERE (?1 IS NULL OR device = ?1) AND start_ms >= ?2 AND start_ms < ?3
             ORDER BY device, start_ms, agent",
        )?;
        let rows = stmt.query_map(params![device, from, to], |r| {
            Ok(Flap {
                device: r.get(0)?,
                agent: r.get(1)?,
                start: r.get(2)?,
                end: r.get(3)?,
                failures: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn seen(&self) -> Result<BTreeMap<String, Seen>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached("SELECT device, first_ms, last_ms FROM dv_seen")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get(0)?,
                Seen {
                    first: r.get(1)?,
                    last: r.get(2)?,
                },
            ))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn agents_seen(&self) -> Result<BTreeMap<String, i64>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached("SELECT agent, last_seen_ms FROM dv_agents")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn latest(&self, device: &str) -> Result<Vec<StoredResult>, StoreError> {
        latest(&self.conn(), device)
    }

    fn compact(
        &self,
        horizon: i64,
        gap_of: &dyn Fn(&str) -> Option<i64>,
        max_series: usize,
    ) -> Result<Compacted, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let done = compact::compact(&tx, horizon, gap_of, max_series)?;
        tx.commit()?;
        Ok(done)
    }

    fn prune_batches(&self, before: i64, limit: usize) -> Result<usize, StoreError> {
        compact::prune_batches(&self.conn(), before, limit)
    }

    fn release_free_pages(&self, pages: u32) -> Result<(), StoreError> {
        self.conn()
            .execute_batch(&format!("PRAGMA incremental_vacuum({pages})"))?;
        Ok(())
    }

    fn stats(&self, full: bool) -> Result<StoreStats, StoreError> {
        compact::stats(&self.conn(), self.path.as_deref(), full)
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_version_is_set_and_reopen_is_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.db");
        drop(SqliteStore::open(&path).unwrap());
        let s = SqliteStore::open(&path).unwrap();
        let v: i64 = s
            .conn()
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(v, super::super::migrations::SCHEMA_VERSION);
        let mode: String = s
            .conn()
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        assert!(s
            .conn()
            .query_row("SELECT 1", [], |r| r.get::<_, i64>(0))
            .optional()
            .unwrap()
            .is_some());
    }
}
