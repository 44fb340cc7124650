//! The SQLite store (bundled SQLite, one file).
//!
//! - WAL journal: readers (reports, status) do not block the writer.
//! - `synchronous=FULL`: an acknowledged batch is deleted from the agent's spool, so a batch
//!   must survive a power cut once acknowledged; `NORMAL` in WAL mode may lose the last
//!   transactions on power loss. Ingest is batched, so the extra fsync per batch is cheap.
//! - `busy_timeout` of 5 s, in case an operator opens the file with the sqlite3 shell.
//! - The schema comes from the one migration sequence of the whole database
//!   ([`super::migrations`]). This backend's tables are prefixed `dv_`.

use super::{
    batch_digest, Applied, EntityKind, Flap, Outage, OutageKind, Replacement, Seen, Skipped, Store,
    StoreError, StoredResult,
};
use rusqlite::{params, Connection, OptionalExtension, Transaction};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;

/// The SQLite backend.
pub struct SqliteStore {
    conn: Mutex<Connection>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        super::db::check_location(path).map_err(|message| StoreError::Open {
            path: path.display().to_string(),
            message,
        })?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::Open {
                path: path.display().to_string(),
                message: format!("cannot create directory: {e}"),
            })?;
        }
        let conn = super::db::open(path)?;
        Ok(SqliteStore {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        super::db::lock(&self.conn)
    }
}

fn kind_str(k: OutageKind) -> &'static str {
    k.as_str()
}

fn parse_kind(s: &str) -> Result<OutageKind, StoreError> {
    Ok(match s {
        "down" => OutageKind::Down,
        "unreachable" => OutageKind::Unreachable,
        "unknown" => OutageKind::Unknown,
        "degraded" => OutageKind::Degraded,
        "up" => OutageKind::Up,
        other => return Err(StoreError::Corrupt(format!("outage kind `{other}`"))),
    })
}

/// What [`insert_results`] did: how many were inserted, the pending marks, the skipped ones.
type Inserted = (usize, BTreeMap<String, i64>, Vec<Skipped>);

fn insert_results(
    tx: &Transaction,
    batch_id: &str,
    results: &[StoredResult],
) -> Result<Inserted, StoreError> {
    let mut stmt = tx.prepare_cached(
        "INSERT OR IGNORE INTO dv_results
         (agent, target, check_name, time_ms, ok, degraded, cause, raw, batch_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?;
    let mut seen = tx.prepare_cached(
        "INSERT INTO dv_seen (device, first_ms, last_ms) VALUES (?1, ?2, ?2)
         ON CONFLICT (device) DO UPDATE SET first_ms = min(first_ms, ?2), last_ms = max(last_ms, ?2)",
    )?;
    let mut existing = tx.prepare_cached(
        "SELECT ok, degraded, cause, raw FROM dv_results
         WHERE target = ?1 AND check_name = ?2 AND agent = ?3 AND time_ms = ?4",
    )?;
    let mut inserted = 0;
    let mut pending: BTreeMap<String, i64> = BTreeMap::new();
    let mut skipped = Vec::new();
    for (index, r) in results.iter().enumerate() {
        let n = stmt.execute(params![
            r.agent, r.target, r.check, r.time, r.ok, r.degraded, r.cause, r.raw, batch_id
        ])?;
        if n == 0 {
            let stored =
                existing.query_row(params![r.target, r.check, r.agent, r.time], |row| {
                    Ok((
                        row.get::<_, bool>(0)?,
                        row.get::<_, bool>(1)?,
                        row.get::<_, Option<String>>(2)?,
                        row.get::<_, String>(3)?,
                    ))
                })?;
            skipped.push(Skipped {
                index,
                conflict: conflict(&stored, r),
            });
            continue;
        }
        inserted += 1;
        seen.execute(params![r.target, r.time])?;
        let e = pending.entry(r.target.clone()).or_insert(r.time);
        *e = (*e).min(r.time);
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

/// What differs between the stored result `(ok, degraded, cause, raw)` and `r`, if anything.
fn conflict(stored: &(bool, bool, Option<String>, String), r: &StoredResult) -> Option<String> {
    let (ok, degraded, cause, raw) = stored;
    if *raw == r.raw {
        return None;
    }
    let outcome = |ok: bool, degraded: bool, cause: &Option<String>| match (ok, cause) {
        (true, _) if degraded => format!("degraded ({})", cause.as_deref().unwrap_or("")),
        (true, _) => "ok".to_string(),
        (false, c) => format!("failed ({})", c.as_deref().unwrap_or("no reason")),
    };
    Some(format!(
        "another result for this device, check and time is stored (stored: {}, this one: {}); the stored one is kept",
        outcome(*ok, *degraded, cause),
        outcome(r.ok, r.degraded, &r.cause)
    ))
}

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
    tx.prepare_cached("DELETE FROM dv_pending WHERE entity = ?1 AND id = ?2")?
        .execute(params![e, r.id])?;
    Ok(())
}

/// The agents that ever reported `check` for `device`, found by seeking the (target, check,
/// agent, time) index from one agent to the next: one seek per such agent, rather than asking
/// about every agent the collector knows.
fn agents_reporting(
    conn: &Connection,
    device: &str,
    check: &str,
) -> Result<Vec<String>, StoreError> {
    let mut next = conn.prepare_cached(
        "SELECT agent FROM dv_results WHERE target = ?1 AND check_name = ?2 AND agent > ?3
         ORDER BY agent LIMIT 1",
    )?;
    let mut agents: Vec<String> = Vec::new();
    loop {
        let after = agents.last().map_or("", String::as_str);
        let found: Option<String> = next
            .query_row(params![device, check, after], |r| r.get(0))
            .optional()?;
        match found {
            Some(agent) => agents.push(agent),
            None => return Ok(agents),
        }
    }
}

fn row_to_result(r: &rusqlite::Row) -> rusqlite::Result<StoredResult> {
    Ok(StoredResult {
        agent: r.get(0)?,
        target: r.get(1)?,
        check: r.get(2)?,
        time: r.get(3)?,
        ok: r.get(4)?,
        degraded: r.get(5)?,
        cause: r.get(6)?,
        raw: r.get(7)?,
    })
}

impl Store for SqliteStore {
    fn manual_incidents(
        &self,
        from: i64,
        to: i64,
    ) -> Result<Vec<super::ManualIncident>, StoreError> {
        super::incidents::list(&self.conn(), from, to)
    }

    fn apply_batch(
        &self,
        agent: &str,
        batch_id: &str,
        results: &[StoredResult],
        received: i64,
    ) -> Result<Applied, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let digest = batch_digest(results);
        let fresh = tx.execute(
            "INSERT OR IGNORE INTO dv_batches (agent, batch_id, received_ms, results, digest)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![agent, batch_id, received, results.len() as i64, digest],
        )?;
        tx.execute(
            "INSERT INTO dv_agents (agent, last_seen_ms) VALUES (?1, ?2)
             ON CONFLICT (agent) DO UPDATE SET last_seen_ms = max(last_seen_ms, ?2)",
            params![agent, received],
        )?;
        if fresh == 0 {
            let stored: Option<String> = tx.query_row(
                "SELECT digest FROM dv_batches WHERE agent = ?1 AND batch_id = ?2",
                params![agent, batch_id],
                |r| r.get(0),
            )?;
            tx.commit()?;
            // A batch stored before digests were kept cannot be compared: a duplicate.
            return Ok(match stored {
                Some(d) if d != digest => Applied::Conflict,
                _ => Applied::Duplicate,
            });
        }
        let (inserted, pending, skipped) = insert_results(&tx, batch_id, results)?;
        tx.commit()?;
        Ok(Applied::New {
            inserted,
            pending,
            skipped,
        })
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
            .query_row(
                "SELECT from_ms FROM dv_pending WHERE entity = 'device' AND id = ?1",
                [device],
                |r| r.get(0),
            )
            .optional()?)
    }

    fn first_seen(&self, device: &str) -> Result<Option<i64>, StoreError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT first_ms FROM dv_seen WHERE device = ?1",
                [device],
                |r| r.get(0),
            )
            .optional()?)
    }

    fn results(&self, device: &str, from: i64) -> Result<Vec<StoredResult>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT agent, target, check_name, time_ms, ok, degraded, cause, raw
             FROM dv_results WHERE target = ?1 AND time_ms >= ?2 ORDER BY time_ms, id",
        )?;
        let rows = stmt.query_map(params![device, from], row_to_result)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn last_ok_before(
        &self,
        device: &str,
        check: &str,
        before: i64,
    ) -> Result<Option<i64>, StoreError> {
        let conn = self.conn();
        let agents = agents_reporting(&conn, device, check)?;
        // Per agent, walk the (target, check, agent, time) index backwards from `before`.
        let mut reported = conn.prepare_cached(
            "SELECT 1 FROM dv_results WHERE target = ?1 AND check_name = ?2 AND agent = ?3
               AND time_ms < ?4 LIMIT 1",
        )?;
        let mut last_ok = conn.prepare_cached(
            "SELECT time_ms FROM dv_results WHERE target = ?1 AND check_name = ?2 AND agent = ?3
               AND time_ms < ?4 AND ok ORDER BY time_ms DESC LIMIT 1",
        )?;
        let mut earliest: Option<i64> = Some(before);
        for agent in agents {
            let args = params![device, check, agent, before];
            if !reported.exists(args)? {
                continue;
            }
            let t: Option<i64> = last_ok.query_row(args, |r| r.get(0)).optional()?;
            earliest = match (earliest, t) {
                (Some(a), Some(b)) => Some(a.min(b)),
                _ => None,
            };
        }
        Ok(earliest)
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

    fn replace_outages(&self, replacements: &[Replacement]) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        for r in replacements {
            replace_one(&tx, r)?;
        }
        tx.commit()?;
        Ok(())
    }

    fn flaps(&self, device: Option<&str>, from: i64, to: i64) -> Result<Vec<Flap>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT device, agent, start_ms, end_ms, failures FROM dv_flaps
             WHERE (?1 IS NULL OR device = ?1) AND start_ms >= ?2 AND start_ms < ?3
             ORDER BY device, start_ms",
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
