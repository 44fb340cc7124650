//! [`Store`] on PostgreSQL: results as compact rows (names, series, observations, runs; see the
//! module doc of [`crate::store`]), batches, outages, flaps, compaction and statistics. The
//! same statements as the SQLite store's (`sqlite/results.rs`, `batch.rs`, `compact.rs`) in
//! PostgreSQL's words.
//!
//! Concurrency: a batch is one transaction that first inserts its id with
//! `ON CONFLICT DO NOTHING`; a second collector storing the same batch at the same moment waits
//! on that row and then finds it, so the batch is stored exactly once. Names and series are
//! interned with `INSERT … ON CONFLICT … RETURNING`, results with `ON CONFLICT DO NOTHING`, and
//! rows shared between agents (`dv_seen`, `dv_pending`) are upserted in sorted order, so two
//! batches never deadlock. Compaction takes its series `FOR UPDATE`. A group of batches
//! ([`Store::apply_batches_settling`]) is one transaction too, whose batches are applied in
//! their order: two nodes storing the same batches in other groups at once may deadlock, and
//! PostgreSQL then fails one group, which ingest stores again batch by batch.

use super::{get, Pool, Sql};
use crate::store::{
    batch_digest, Applied, Compacted, EntityKind, Flap, ManualIncident, NewBatch, Outage,
    Replacement, Seen, Settle, SettleGroup, Store, StoreError, StoreStats, StoredResult,
};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use tokio_postgres::GenericClient;

use super::batch::Names;
use crate::store::columns::parse_kind;
use crate::store::results::{DEGRADED, OK};

/// The PostgreSQL backend of [`Store`].
pub struct PgStore {
    pool: Arc<Pool>,
    /// Name ids known to be committed (ids never change once committed).
    names: Mutex<HashMap<String, i64>>,
}

impl PgStore {
    pub fn new(pool: Arc<Pool>) -> PgStore {
        PgStore {
            pool,
            names: Mutex::default(),
        }
    }

    fn known(&self) -> std::sync::MutexGuard<'_, HashMap<String, i64>> {
        self.names.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The series of `device` (of one check, or all): (id, check, agent).
async fn series_of<C: GenericClient>(
    sql: &mut Sql<'_, C>,
    device: &str,
    check: Option<&str>,
) -> Result<Vec<(i64, String, String)>, StoreError> {
    let rows = match check {
        Some(check) => {
            sql.query(
                "SELECT s.id, c.name, a.name FROM dv_series s
                 JOIN dv_names c ON c.id = s.check_name
                 JOIN dv_names a ON a.id = s.agent
                 WHERE s.target = (SELECT id FROM dv_names WHERE name = $1)
                   AND s.check_name = (SELECT id FROM dv_names WHERE name = $2)
                 ORDER BY a.name",
                &[&device, &check],
            )
            .await?
        }
        None => {
            sql.query(
                "SELECT s.id, c.name, a.name FROM dv_series s
                 JOIN dv_names c ON c.id = s.check_name
                 JOIN dv_names a ON a.id = s.agent
                 WHERE s.target = (SELECT id FROM dv_names WHERE name = $1)
                 ORDER BY a.name, c.name",
                &[&device],
            )
            .await?
        }
    };
    rows.iter()
        .map(|r| Ok((get(r, 0)?, get(r, 1)?, get(r, 2)?)))
        .collect()
}

fn stored_row(
    r: &tokio_postgres::Row,
    device: &str,
    check: &str,
    agent: &str,
) -> Result<StoredResult, StoreError> {
    let time: i64 = get(r, 0)?;
    let f: i64 = get(r, 1)?;
    Ok(StoredResult {
        agent: agent.to_string(),
        target: device.to_string(),
        check: check.to_string(),
        time,
        ok: f & OK != 0,
        degraded: f & DEGRADED != 0,
        cause: get(r, 2)?,
        until: get::<Option<i64>>(r, 3)?.unwrap_or(time),
        count: get::<Option<i64>>(r, 4)?.unwrap_or(1) as u32,
        raw: get::<Option<String>>(r, 5)?.unwrap_or_default(),
    })
}

/// Replaces the outages (and a device's flaps) from each replacement's `from` on: three
/// statements over arrays, whatever the number of replacements (a step of re-derivation writes
/// up to 64 devices at once, a batch's transaction all it settled).
async fn replace_all<C: GenericClient>(
    sql: &mut Sql<'_, C>,
    replacements: &[Replacement],
) -> Result<(), StoreError> {
    if replacements.is_empty() {
        return Ok(());
    }
    let entity: Vec<&str> = replacements.iter().map(|r| r.entity.as_str()).collect();
    let id: Vec<&str> = replacements.iter().map(|r| r.id.as_str()).collect();
    let from: Vec<i64> = replacements.iter().map(|r| r.from).collect();
    sql.exec(
        "DELETE FROM dv_outages o USING unnest($1::text[], $2::text[], $3::bigint[]) AS r (e, i, f)
         WHERE o.entity = r.e AND o.id = r.i AND o.start_ms >= r.f",
        &[&entity, &id, &from],
    )
    .await?;
    insert_outages(sql, replacements).await?;
    let devices: Vec<&Replacement> = replacements
        .iter()
        .filter(|r| r.entity == EntityKind::Device)
        .collect();
    if !devices.is_empty() {
        let id: Vec<&str> = devices.iter().map(|r| r.id.as_str()).collect();
        let from: Vec<i64> = devices.iter().map(|r| r.from).collect();
        sql.exec(
            "DELETE FROM dv_flaps f USING unnest($1::text[], $2::bigint[]) AS r (i, f)
             WHERE f.device = r.i AND f.start_ms >= r.f",
            &[&id, &from],
        )
        .await?;
        insert_flaps(sql, &devices).await?;
    }
    Ok(())
}

/// Clears the pending marks of `replacements`, in one statement.
async fn clear_marks<C: GenericClient>(
    sql: &mut Sql<'_, C>,
    replacements: &[Replacement],
) -> Result<(), StoreError> {
    if replacements.is_empty() {
        return Ok(());
    }
    let entity: Vec<&str> = replacements.iter().map(|r| r.entity.as_str()).collect();
    let id: Vec<&str> = replacements.iter().map(|r| r.id.as_str()).collect();
    sql.exec(
        "DELETE FROM dv_pending p USING unnest($1::text[], $2::text[]) AS r (e, i)
         WHERE p.entity = r.e AND p.id = r.i",
        &[&entity, &id],
    )
    .await?;
    Ok(())
}

async fn insert_outages<C: GenericClient>(
    sql: &mut Sql<'_, C>,
    replacements: &[Replacement],
) -> Result<(), StoreError> {
    let all: Vec<(&Replacement, &Outage)> = replacements
        .iter()
        .flat_map(|r| r.outages.iter().map(move |o| (r, o)))
        .collect();
    if all.is_empty() {
        return Ok(());
    }
    let entity: Vec<&str> = all.iter().map(|(r, _)| r.entity.as_str()).collect();
    let id: Vec<&str> = all.iter().map(|(r, _)| r.id.as_str()).collect();
    let start: Vec<i64> = all.iter().map(|(_, o)| o.start).collect();
    let end: Vec<Option<i64>> = all.iter().map(|(_, o)| o.end).collect();
    let kind: Vec<&str> = all.iter().map(|(_, o)| o.kind.as_str()).collect();
    let cause: Vec<Option<&str>> = all.iter().map(|(_, o)| o.cause.as_deref()).collect();
    sql.exec(
        "INSERT INTO dv_outages (entity, id, start_ms, end_ms, kind, cause)
         SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::text[],
                              $6::text[])
         ON CONFLICT (entity, id, start_ms, kind)
         DO UPDATE SET end_ms = EXCLUDED.end_ms, cause = EXCLUDED.cause",
        &[&entity, &id, &start, &end, &kind, &cause],
    )
    .await?;
    Ok(())
}

async fn insert_flaps<C: GenericClient>(
    sql: &mut Sql<'_, C>,
    devices: &[&Replacement],
) -> Result<(), StoreError> {
    let all: Vec<(&str, &Flap)> = devices
        .iter()
        .flat_map(|r| r.flaps.iter().map(move |f| (r.id.as_str(), f)))
        .collect();
    if all.is_empty() {
        return Ok(());
    }
    let device: Vec<&str> = all.iter().map(|(d, _)| *d).collect();
    let agent: Vec<&str> = all.iter().map(|(_, f)| f.agent.as_str()).collect();
    let start: Vec<i64> = all.iter().map(|(_, f)| f.start).collect();
    let end: Vec<i64> = all.iter().map(|(_, f)| f.end).collect();
    let failures: Vec<i64> = all.iter().map(|(_, f)| i64::from(f.failures)).collect();
    sql.exec(
        "INSERT INTO dv_flaps (device, agent, start_ms, end_ms, failures)
         SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[])
         ON CONFLICT (device, agent, start_ms)
         DO UPDATE SET end_ms = EXCLUDED.end_ms, failures = EXCLUDED.failures",
        &[&device, &agent, &start, &end, &failures],
    )
    .await?;
    Ok(())
}

/// One batch inside a group's transaction (see [`Store::apply_batches_settling`]): its id
/// (a duplicate or a conflict stores nothing more), its results, the devices `settle` settled
/// and the pending marks of the others.
async fn apply_one<C: GenericClient>(
    sql: &mut Sql<'_, C>,
    names: &mut Names<'_>,
    b: &NewBatch<'_>,
    settle: &mut Settle<'_>,
) -> Result<Applied, StoreError> {
    let digest = batch_digest(b.results);
    let fresh = sql
        .exec(
            "INSERT INTO dv_batches (agent, batch_id, received_ms, results, digest)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            &[
                &b.agent,
                &b.batch_id,
                &b.received,
                &(b.results.len() as i64),
                &digest,
            ],
        )
        .await?;
    sql.exec(
        "INSERT INTO dv_agents (agent, last_seen_ms) VALUES ($1, $2)
         ON CONFLICT (agent) DO UPDATE
         SET last_seen_ms = GREATEST(dv_agents.last_seen_ms, $2)",
        &[&b.agent, &b.received],
    )
    .await?;
    if fresh == 0 {
        let row = sql
            .one(
                "SELECT digest FROM dv_batches WHERE agent = $1 AND batch_id = $2",
                &[&b.agent, &b.batch_id],
            )
            .await?;
        let stored: Option<String> = get(&row, 0)?;
        return Ok(match stored {
            Some(d) if d != digest => Applied::Conflict,
            _ => Applied::Duplicate,
        });
    }
    let (inserted, mut pending, skipped) =
        super::batch::insert_results(sql, names, b.results).await?;
    let settled = settle(&Applied::New {
        inserted,
        pending: pending.clone(),
        skipped: skipped.clone(),
    });
    replace_all(sql, &settled.write).await?;
    pending.retain(|device, _| !settled.devices.contains(device));
    super::batch::mark_pending(sql, &pending).await?;
    Ok(Applied::New {
        inserted,
        pending,
        skipped,
    })
}

impl Store for PgStore {
    fn manual_incidents(&self, from: i64, to: i64) -> Result<Vec<ManualIncident>, StoreError> {
        self.pool
            .run(async |c| super::incidents::incidents_between(&mut c.sql(), from, to).await)
    }

    fn intefunktion_cases(
        &self,
        from: i64,
        to: i64,
    ) -> Result<Vec<crate::store::ManualIntefunktionCase>, StoreError> {
        self.pool
            .run(async |c| super::intefunktion::cases_between(&mut c.sql(), from, to).await)
    }

    fn apply_batches_settling(
        &self,
        batches: &[NewBatch<'_>],
        settle: &mut SettleGroup<'_>,
    ) -> Result<Vec<Applied>, StoreError> {
        let known = self.known().clone();
        let (applied, new) = self.pool.run(async |c| {
            let mut tx = c.tx().await?;
            let mut sql = tx.sql();
            let mut names = Names {
                known: &known,
                new: HashMap::new(),
            };
            let mut applied = Vec::with_capacity(batches.len());
            for (i, batch) in batches.iter().enumerate() {
                let one = apply_one(&mut sql, &mut names, batch, &mut |a| settle(i, a)).await?;
                applied.push(one);
            }
            let new = names.new;
            tx.commit().await?;
            Ok((applied, new))
        })?;
        self.known().extend(new);
        Ok(applied)
    }

    fn pending(&self) -> Result<BTreeMap<String, i64>, StoreError> {
        self.pool.run(async |c| {
            let rows = c
                .sql()
                .query(
                    "SELECT id, from_ms FROM dv_pending WHERE entity = 'device'",
                    &[],
                )
                .await?;
            rows.iter().map(|r| Ok((get(r, 0)?, get(r, 1)?))).collect()
        })
    }

    fn pending_of(&self, device: &str) -> Result<Option<i64>, StoreError> {
        self.pool.run(async |c| {
            let row = c
                .sql()
                .opt(
                    "SELECT from_ms FROM dv_pending WHERE entity = 'device' AND id = $1",
                    &[&device],
                )
                .await?;
            row.map(|r| get(&r, 0)).transpose()
        })
    }

    fn first_seen(&self, device: &str) -> Result<Option<i64>, StoreError> {
        self.pool.run(async |c| {
            let row = c
                .sql()
                .opt("SELECT first_ms FROM dv_seen WHERE device = $1", &[&device])
                .await?;
            row.map(|r| get(&r, 0)).transpose()
        })
    }

    fn results(&self, device: &str, from: i64) -> Result<Vec<StoredResult>, StoreError> {
        self.pool.run(async |c| {
            let mut sql = c.sql();
            let mut out = Vec::new();
            for (series, check, agent) in series_of(&mut sql, device, None).await? {
                let covering = sql
                    .opt(
                        "SELECT o.time_ms, o.flags, n.name, o.until_ms, o.count, o.detail
                         FROM dv_obs o LEFT JOIN dv_names n ON n.id = o.cause
                         WHERE o.series = $1 AND o.time_ms < $2
                         ORDER BY o.time_ms DESC LIMIT 1",
                        &[&series, &from],
                    )
                    .await?;
                if let Some(run) = covering {
                    let run = stored_row(&run, device, &check, &agent)?;
                    if run.until >= from {
                        out.push(run);
                    }
                }
                let rows = sql
                    .query(
                        "SELECT o.time_ms, o.flags, n.name, o.until_ms, o.count, o.detail
                         FROM dv_obs o LEFT JOIN dv_names n ON n.id = o.cause
                         WHERE o.series = $1 AND o.time_ms >= $2 ORDER BY o.time_ms",
                        &[&series, &from],
                    )
                    .await?;
                for r in &rows {
                    out.push(stored_row(r, device, &check, &agent)?);
                }
            }
            out.sort_by_key(|r| r.time);
            Ok(out)
        })
    }

    fn last_ok_before(
        &self,
        device: &str,
        check: &str,
        before: i64,
    ) -> Result<Option<i64>, StoreError> {
        self.pool.run(async |c| {
            let mut sql = c.sql();
            let mut earliest: Option<i64> = Some(before);
            for (series, _, _) in series_of(&mut sql, device, Some(check)).await? {
                let reported = sql
                    .opt(
                        "SELECT 1 FROM dv_obs WHERE series = $1 AND time_ms < $2 LIMIT 1",
                        &[&series, &before],
                    )
                    .await?;
                if reported.is_none() {
                    continue;
                }
                let last = sql
                    .opt(
                        "SELECT time_ms, until_ms FROM dv_obs
                         WHERE series = $1 AND time_ms < $2 AND flags & 1 <> 0
                         ORDER BY time_ms DESC LIMIT 1",
                        &[&series, &before],
                    )
                    .await?;
                let t = last
                    .map(|r| -> Result<i64, StoreError> {
                        let time: i64 = get(&r, 0)?;
                        let until: Option<i64> = get(&r, 1)?;
                        Ok(until.unwrap_or(time).min(before - 1))
                    })
                    .transpose()?;
                earliest = match (earliest, t) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    _ => None,
                };
            }
            Ok(earliest)
        })
    }

    fn outages(
        &self,
        entity: EntityKind,
        id: Option<&str>,
        from: i64,
        to: i64,
    ) -> Result<Vec<Outage>, StoreError> {
        self.pool.run(async |c| {
            let e = entity.as_str();
            let rows = match id {
                Some(id) => {
                    c.sql()
                        .query(
                            "SELECT id, start_ms, end_ms, kind, cause FROM dv_outages
                             WHERE entity = $1 AND id = $2
                               AND start_ms < $4 AND (end_ms IS NULL OR end_ms > $3)
                             ORDER BY id, start_ms",
                            &[&e, &id, &from, &to],
                        )
                        .await?
                }
                None => {
                    c.sql()
                        .query(
                            "SELECT id, start_ms, end_ms, kind, cause FROM dv_outages
                             WHERE entity = $1
                               AND start_ms < $3 AND (end_ms IS NULL OR end_ms > $2)
                             ORDER BY id, start_ms",
                            &[&e, &from, &to],
                        )
                        .await?
                }
            };
            rows.iter()
                .map(|r| {
                    Ok(Outage {
                        entity,
                        id: get(r, 0)?,
                        start: get(r, 1)?,
                        end: get(r, 2)?,
                        kind: parse_kind(&get::<String>(r, 3)?)?,
                        cause: get(r, 4)?,
                    })
                })
                .collect()
        })
    }

    /// Devices' replacements commit without waiting for the WAL to reach the disk
    /// (`synchronous_commit = off` for that transaction only), as on SQLite: a server crash
    /// loses only the newest such commits, and the durable pending marks bring them back.
    fn replace_outages(&self, replacements: &[Replacement]) -> Result<(), StoreError> {
        let lazy = replacements.iter().all(|r| r.entity == EntityKind::Device);
        self.pool.run(async |c| {
            let mut tx = c.tx().await?;
            if lazy {
                tx.sql().batch("SET LOCAL synchronous_commit = off").await?;
            }
            replace_all(&mut tx.sql(), replacements).await?;
            clear_marks(&mut tx.sql(), replacements).await?;
            tx.commit().await
        })
    }

    fn flaps(&self, device: Option<&str>, from: i64, to: i64) -> Result<Vec<Flap>, StoreError> {
        self.pool.run(async |c| {
            let rows = c
                .sql()
                .query(
                    "SELECT device, agent, start_ms, end_ms, failures FROM dv_flaps
                     WHERE ($1::text IS NULL OR device = $1) AND start_ms >= $2 AND start_ms < $3
                     ORDER BY device, start_ms, agent",
                    &[&device, &from, &to],
                )
                .await?;
            rows.iter()
                .map(|r| {
                    Ok(Flap {
                        device: get(r, 0)?,
                        agent: get(r, 1)?,
                        start: get(r, 2)?,
                        end: get(r, 3)?,
                        failures: get::<i64>(r, 4)? as u32,
                    })
                })
                .collect()
        })
    }

    fn seen(&self) -> Result<BTreeMap<String, Seen>, StoreError> {
        self.pool.run(async |c| {
            let rows = c
                .sql()
                .query("SELECT device, first_ms, last_ms FROM dv_seen", &[])
                .await?;
            rows.iter()
                .map(|r| {
                    let seen = Seen {
                        first: get(r, 1)?,
                        last: get(r, 2)?,
                    };
                    Ok((get(r, 0)?, seen))
                })
                .collect()
        })
    }

    fn agents_seen(&self) -> Result<BTreeMap<String, i64>, StoreError> {
        self.pool.run(async |c| {
            let rows = c
                .sql()
                .query("SELECT agent, last_seen_ms FROM dv_agents", &[])
                .await?;
            rows.iter().map(|r| Ok((get(r, 0)?, get(r, 1)?))).collect()
        })
    }

    fn latest(&self, device: &str) -> Result<Vec<StoredResult>, StoreError> {
        self.pool.run(async |c| {
            let mut sql = c.sql();
            let mut out = Vec::new();
            for (series, check, agent) in series_of(&mut sql, device, None).await? {
                let row = sql
                    .opt(
                        "SELECT time_ms, raw FROM dv_latest WHERE series = $1",
                        &[&series],
                    )
                    .await?;
                if let Some(r) = row {
                    out.push(StoredResult::single(
                        &agent,
                        device,
                        &check,
                        get(&r, 0)?,
                        false,
                        false,
                        None,
                        get(&r, 1)?,
                    ));
                }
            }
            out.sort_by_key(|r| r.time);
            Ok(out)
        })
    }

    fn compact(
        &self,
        horizon: i64,
        gap_of: &dyn Fn(&str) -> Option<i64>,
        max_series: usize,
    ) -> Result<Compacted, StoreError> {
        self.pool.run(async |c| {
            let mut tx = c.tx().await?;
            let done = super::compact::compact(&mut tx.sql(), horizon, gap_of, max_series).await?;
            tx.commit().await?;
            Ok(done)
        })
    }

    fn prune_batches(&self, before: i64, limit: usize) -> Result<usize, StoreError> {
        self.pool.run(async |c| {
            let n = c
                .sql()
                .exec(
                    "DELETE FROM dv_batches WHERE (agent, batch_id) IN
                     (SELECT agent, batch_id FROM dv_batches WHERE received_ms < $1 LIMIT $2)",
                    &[&before, &(limit as i64)],
                )
                .await?;
            Ok(n as usize)
        })
    }

    /// Nothing to do: PostgreSQL's autovacuum makes the space of deleted rows reusable, and the
    /// files are not shrunk by the collector (a `VACUUM FULL` would lock the tables).
    fn release_free_pages(&self, _pages: u32) -> Result<(), StoreError> {
        Ok(())
    }

    fn stats(&self, full: bool) -> Result<StoreStats, StoreError> {
        self.pool
            .run(async |c| super::compact::stats(&mut c.sql(), full).await)
    }
}
