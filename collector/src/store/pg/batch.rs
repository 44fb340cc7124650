//! Storing a batch's results on PostgreSQL in a handful of statements, whatever its size: the
//! names it lacks interned in one `INSERT … SELECT unnest(…)`, its series looked up (`FOR
//! SHARE`, so a compaction of the same series waits) and the missing ones created in one more,
//! its results in one multi-row `INSERT … ON CONFLICT DO NOTHING RETURNING`, and first/last
//! seen, latest readings, late marks and pending re-derivations (of the devices the batch's
//! transaction did not settle) each in one upsert over arrays.
//! Only a result that collides with a stored one (or falls behind a series' compaction mark)
//! takes the per-row path that explains why it was skipped.
//!
//! Rows shared between batches are written in sorted order (names, series, devices), so two
//! batches never deadlock.

use super::{get, Sql};
use crate::store::results::{conflict, flags, Inserted, Outcome, DEGRADED, OK};
use crate::store::{Skipped, StoreError, StoredResult};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use tokio_postgres::GenericClient;

/// Per series key (target, check, agent name ids): its id and compaction mark.
type SeriesIds = HashMap<(i64, i64, i64), (i64, i64)>;

/// Stores `results` in the caller's transaction, leaving out those already stored; returns the
/// devices to re-derive (not yet marked: see [`mark_pending`]).
pub(super) async fn insert_results<C: GenericClient>(
    sql: &mut Sql<'_, C>,
    names: &mut Names<'_>,
    results: &[StoredResult],
) -> Result<Inserted, StoreError> {
    intern_all(sql, names, results).await?;
    let series = series_all(sql, names, results).await?;
    let mut rows = Vec::with_capacity(results.len());
    for r in results {
        rows.push(series[&key(names, r)?]);
    }
    let (bulk, slow) = split(results, &rows);
    let stored = insert_bulk(sql, names, results, &rows, &bulk).await?;
    let mut skipped = Vec::new();
    let mut inserted: Vec<usize> = Vec::with_capacity(results.len());
    for i in bulk {
        if stored.contains(&(rows[i].0, results[i].time)) {
            inserted.push(i);
        } else {
            skipped.push(i);
        }
    }
    let mut out = Vec::new();
    let mut late: BTreeMap<i64, i64> = BTreeMap::new();
    for i in slow.into_iter().chain(skipped) {
        let (series, compact_ms) = rows[i];
        match one_row(sql, names, &results[i], series, compact_ms).await? {
            Some(why) => out.push(Skipped {
                index: i,
                conflict: why,
            }),
            None => {
                inserted.push(i);
                if results[i].time < compact_ms {
                    let e = late.entry(series).or_insert(results[i].time);
                    *e = (*e).min(results[i].time);
                }
            }
        }
    }
    out.sort_by_key(|s| s.index);
    let pending = after(sql, results, &rows, &inserted, &late).await?;
    Ok((inserted.len(), pending, out))
}

/// The series key of `r` (its names are interned by then).
fn key(names: &Names<'_>, r: &StoredResult) -> Result<(i64, i64, i64), StoreError> {
    let id = |n: &str| {
        names
            .get(n)
            .ok_or_else(|| StoreError::Corrupt(format!("name {n:?} was not interned")))
    };
    Ok((id(&r.target)?, id(&r.check)?, id(&r.agent)?))
}

/// Indexes for the one multi-row insert, and those for the per-row path: behind the series'
/// compaction mark, or a second result of the same series and time in this batch (the first
/// wins, as one row after another would).
fn split(results: &[StoredResult], rows: &[(i64, i64)]) -> (Vec<usize>, Vec<usize>) {
    let mut seen = HashSet::with_capacity(results.len());
    let (mut bulk, mut slow) = (Vec::new(), Vec::new());
    for (i, r) in results.iter().enumerate() {
        let (series, compact_ms) = rows[i];
        if r.time < compact_ms || !seen.insert((series, r.time)) {
            slow.push(i);
        } else {
            bulk.push(i);
        }
    }
    (bulk, slow)
}

/// Interns the names of `results` the store does not know yet, in one statement.
async fn intern_all<C: GenericClient>(
    sql: &mut Sql<'_, C>,
    names: &mut Names<'_>,
    results: &[StoredResult],
) -> Result<(), StoreError> {
    let mut missing: BTreeSet<&str> = BTreeSet::new();
    for r in results {
        for n in [&r.target, &r.check, &r.agent].into_iter().chain(&r.cause) {
            if names.get(n).is_none() {
                missing.insert(n);
            }
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    let list: Vec<&str> = missing.into_iter().collect();
    let rows = sql
        .query(
            "INSERT INTO dv_names (name) SELECT unnest($1::text[])
             ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name RETURNING id, name",
            &[&list],
        )
        .await?;
    for r in &rows {
        names.new.insert(get(r, 1)?, get(r, 0)?);
    }
    Ok(())
}

/// The series of `results` with their compaction marks: looked up `FOR SHARE` (a compaction
/// of one of them waits for this batch), the missing ones created.
async fn series_all<C: GenericClient>(
    sql: &mut Sql<'_, C>,
    names: &Names<'_>,
    results: &[StoredResult],
) -> Result<SeriesIds, StoreError> {
    let keys: BTreeSet<(i64, i64, i64)> = results
        .iter()
        .map(|r| key(names, r))
        .collect::<Result<_, _>>()?;
    let mut found = SeriesIds::with_capacity(keys.len());
    let rows = sql
        .query(
            "SELECT s.id, s.target, s.check_name, s.agent, s.compact_ms FROM dv_series s
             JOIN unnest($1::bigint[], $2::bigint[], $3::bigint[]) AS k (t, c, a)
               ON s.target = k.t AND s.check_name = k.c AND s.agent = k.a
             ORDER BY s.id FOR SHARE OF s",
            &columns3(keys.iter().copied()).as_params(),
        )
        .await?;
    collect_series(&rows, &mut found)?;
    let missing: Vec<(i64, i64, i64)> = keys
        .into_iter()
        .filter(|k| !found.contains_key(k))
        .collect();
    if !missing.is_empty() {
        let rows = sql
            .query(
                "INSERT INTO dv_series (target, check_name, agent)
                 SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[])
                 ON CONFLICT (target, check_name, agent) DO UPDATE SET target = EXCLUDED.target
                 RETURNING id, target, check_name, agent, compact_ms",
                &columns3(missing.into_iter()).as_params(),
            )
            .await?;
        collect_series(&rows, &mut found)?;
    }
    Ok(found)
}

fn collect_series(rows: &[tokio_postgres::Row], into: &mut SeriesIds) -> Result<(), StoreError> {
    for r in rows {
        let k = (get(r, 1)?, get(r, 2)?, get(r, 3)?);
        into.insert(k, (get(r, 0)?, get(r, 4)?));
    }
    Ok(())
}

/// Three arrays of one list of triples.
struct Columns3(Vec<i64>, Vec<i64>, Vec<i64>);

impl Columns3 {
    fn as_params(&self) -> [&(dyn tokio_postgres::types::ToSql + Sync); 3] {
        [&self.0, &self.1, &self.2]
    }
}

fn columns3(it: impl Iterator<Item = (i64, i64, i64)>) -> Columns3 {
    let mut c = Columns3(Vec::new(), Vec::new(), Vec::new());
    for (a, b, d) in it {
        c.0.push(a);
        c.1.push(b);
        c.2.push(d);
    }
    c
}

/// Inserts the results at `bulk` in one statement; returns the (series, time) it stored.
async fn insert_bulk<C: GenericClient>(
    sql: &mut Sql<'_, C>,
    names: &Names<'_>,
    results: &[StoredResult],
    rows: &[(i64, i64)],
    bulk: &[usize],
) -> Result<HashSet<(i64, i64)>, StoreError> {
    if bulk.is_empty() {
        return Ok(HashSet::new());
    }
    let n = bulk.len();
    let (mut series, mut time, mut flag) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut cause, mut detail) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for &i in bulk {
        let r = &results[i];
        series.push(rows[i].0);
        time.push(r.time);
        flag.push(flags(r));
        cause.push(r.cause.as_deref().and_then(|c| names.get(c)));
        detail.push(r.degraded.then_some(r.raw.as_str()));
    }
    let stored = sql
        .query(
            "INSERT INTO dv_obs (series, time_ms, flags, cause, detail)
             SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[],
                                  $5::text[])
             ON CONFLICT DO NOTHING RETURNING series, time_ms",
            &[&series, &time, &flag, &cause, &detail],
        )
        .await?;
    stored
        .iter()
        .map(|r| Ok((get(r, 0)?, get(r, 1)?)))
        .collect()
}

/// One result the per-row way: `None` when stored, else why it was skipped (`Some(None)`: the
/// same result is stored).
async fn one_row<C: GenericClient>(
    sql: &mut Sql<'_, C>,
    names: &mut Names<'_>,
    r: &StoredResult,
    series: i64,
    compact_ms: i64,
) -> Result<Option<Option<String>>, StoreError> {
    if let Some((time, until, stored)) = covering(sql, series, r.time).await? {
        let inside = time != r.time && r.time < compact_ms && until.is_some_and(|u| u >= r.time);
        if time == r.time || inside {
            return Ok(Some(conflict(&stored, r, time != r.time)));
        }
    }
    let cause = match &r.cause {
        Some(c) => Some(names.id(sql, c).await?),
        None => None,
    };
    let detail = r.degraded.then_some(r.raw.as_str());
    let n = sql
        .exec(
            "INSERT INTO dv_obs (series, time_ms, flags, cause, detail)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            &[&series, &r.time, &flags(r), &cause, &detail],
        )
        .await?;
    if n == 0 {
        return Err(StoreError::Corrupt(format!(
            "result of series {series} at {} neither stored nor found",
            r.time
        )));
    }
    Ok(None)
}

/// First/last seen, latest readings and late marks of the inserted results, one statement
/// each; returns the times to re-derive from per device (the caller marks them, see
/// [`mark_pending`], unless it settles them).
async fn after<C: GenericClient>(
    sql: &mut Sql<'_, C>,
    results: &[StoredResult],
    rows: &[(i64, i64)],
    inserted: &[usize],
    late: &BTreeMap<i64, i64>,
) -> Result<BTreeMap<String, i64>, StoreError> {
    let mut latest: BTreeMap<i64, (i64, &str)> = BTreeMap::new();
    let mut seen: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
    let mut pending: BTreeMap<String, i64> = BTreeMap::new();
    for &i in inserted {
        let r = &results[i];
        let l = latest.entry(rows[i].0).or_insert((r.time, &r.raw));
        if r.time >= l.0 {
            *l = (r.time, &r.raw);
        }
        let s = seen.entry(&r.target).or_insert((r.time, r.time));
        *s = (s.0.min(r.time), s.1.max(r.time));
        let e = pending.entry(r.target.clone()).or_insert(r.time);
        *e = (*e).min(r.time);
    }
    if inserted.is_empty() {
        return Ok(pending);
    }
    let (devices, firsts, lasts) = unzip3(seen.iter().map(|(d, (f, l))| (*d, *f, *l)));
    sql.exec(
        "INSERT INTO dv_seen (device, first_ms, last_ms)
         SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[])
         ON CONFLICT (device) DO UPDATE
         SET first_ms = LEAST(dv_seen.first_ms, EXCLUDED.first_ms),
             last_ms = GREATEST(dv_seen.last_ms, EXCLUDED.last_ms)",
        &[&devices, &firsts, &lasts],
    )
    .await?;
    let (series, times, raws) = unzip3(latest.iter().map(|(s, (t, r))| (*s, *t, *r)));
    sql.exec(
        "INSERT INTO dv_latest (series, time_ms, raw)
         SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[])
         ON CONFLICT (series) DO UPDATE SET time_ms = EXCLUDED.time_ms, raw = EXCLUDED.raw
         WHERE dv_latest.time_ms <= EXCLUDED.time_ms",
        &[&series, &times, &raws],
    )
    .await?;
    if !late.is_empty() {
        let (ids, times): (Vec<i64>, Vec<i64>) = late.iter().map(|(s, t)| (*s, *t)).unzip();
        sql.exec(
            "UPDATE dv_series s SET late_ms = LEAST(coalesce(s.late_ms, l.t), l.t)
             FROM unnest($1::bigint[], $2::bigint[]) AS l (id, t) WHERE s.id = l.id",
            &[&ids, &times],
        )
        .await?;
    }
    Ok(pending)
}

/// Marks `pending`'s devices for re-derivation from their times (keeping an earlier mark), in
/// one statement.
pub(super) async fn mark_pending<C: GenericClient>(
    sql: &mut Sql<'_, C>,
    pending: &BTreeMap<String, i64>,
) -> Result<(), StoreError> {
    if pending.is_empty() {
        return Ok(());
    }
    let (devices, froms): (Vec<&str>, Vec<i64>) =
        pending.iter().map(|(d, t)| (d.as_str(), *t)).unzip();
    sql.exec(
        "INSERT INTO dv_pending (entity, id, from_ms)
         SELECT 'device', * FROM unnest($1::text[], $2::bigint[])
         ON CONFLICT (entity, id) DO UPDATE
         SET from_ms = LEAST(dv_pending.from_ms, EXCLUDED.from_ms)",
        &[&devices, &froms],
    )
    .await?;
    Ok(())
}

fn unzip3<A, B, D>(it: impl Iterator<Item = (A, B, D)>) -> (Vec<A>, Vec<B>, Vec<D>) {
    let (mut a, mut b, mut d) = (Vec::new(), Vec::new(), Vec::new());
    for (x, y, z) in it {
        a.push(x);
        b.push(y);
        d.push(z);
    }
    (a, b, d)
}

/// Name ids: the committed ones and those learned in the current transaction.
pub(super) struct Names<'a> {
    pub(super) known: &'a HashMap<String, i64>,
    pub(super) new: HashMap<String, i64>,
}

impl Names<'_> {
    /// The id of `name` if known.
    pub(super) fn get(&self, name: &str) -> Option<i64> {
        self.known.get(name).or_else(|| self.new.get(name)).copied()
    }

    pub(super) async fn id<C: GenericClient>(
        &mut self,
        sql: &mut Sql<'_, C>,
        name: &str,
    ) -> Result<i64, StoreError> {
        if let Some(id) = self.known.get(name).or_else(|| self.new.get(name)) {
            return Ok(*id);
        }
        let row = sql
            .one(
                "INSERT INTO dv_names (name) VALUES ($1)
                 ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name RETURNING id",
                &[&name],
            )
            .await?;
        let id: i64 = get(&row, 0)?;
        self.new.insert(name.to_string(), id);
        Ok(id)
    }
}

/// The row at or before `time` in `series`: (time, until, outcome).
pub(super) async fn covering<C: GenericClient>(
    sql: &mut Sql<'_, C>,
    series: i64,
    time: i64,
) -> Result<Option<(i64, Option<i64>, Outcome)>, StoreError> {
    let row = sql
        .opt(
            "SELECT o.time_ms, o.until_ms, o.flags, n.name FROM dv_obs o
             LEFT JOIN dv_names n ON n.id = o.cause
             WHERE o.series = $1 AND o.time_ms <= $2 ORDER BY o.time_ms DESC LIMIT 1",
            &[&series, &time],
        )
        .await?;
    row.map(|r| {
        let f: i64 = get(&r, 2)?;
        Ok((
            get(&r, 0)?,
            get(&r, 1)?,
            (f & OK != 0, f & DEGRADED != 0, get(&r, 3)?),
        ))
    })
    .transpose()
}
