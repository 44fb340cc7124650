//! What alerting has announced (`alerting_state`) on PostgreSQL (see [`crate::store::alerting`]).

use super::{get, Pool};
use crate::store::columns::time_from_text as instant;
use crate::store::{Announced, StoreError};
use chrono::SecondsFormat;

/// Every announced condition, by key (see [`crate::store::AnnouncedStore::all`]).
pub fn announced_all(pool: &Pool) -> Result<Vec<Announced>, StoreError> {
    let rows: Vec<(String, String, String)> = pool.run(async |c| {
        let rows = c
            .sql()
            .query(
                "SELECT key, since, event FROM alerting_state ORDER BY key",
                &[],
            )
            .await?;
        rows.iter()
            .map(|r| Ok((get(r, 0)?, get(r, 1)?, get(r, 2)?)))
            .collect()
    })?;
    rows.into_iter()
        .map(|(key, since, event)| {
            let since = instant(&since)?;
            let event = serde_json::from_str(&event)
                .map_err(|e| StoreError::Corrupt(format!("{key}: event: {e}")))?;
            Ok(Announced { key, since, event })
        })
        .collect()
}

/// Stores an announced condition (full precision, as SQLite's).
pub fn announced_put(pool: &Pool, a: &Announced) -> Result<(), StoreError> {
    let event = serde_json::to_string(&a.event)
        .map_err(|e| StoreError::Corrupt(format!("{}: event: {e}", a.key)))?;
    let since = a.since.to_rfc3339_opts(SecondsFormat::AutoSi, true);
    pool.run(async |c| {
        c.sql()
            .exec(
                "INSERT INTO alerting_state (key, since, event) VALUES ($1, $2, $3)
                 ON CONFLICT (key) DO UPDATE SET since = EXCLUDED.since, event = EXCLUDED.event",
                &[&a.key, &since, &event],
            )
            .await
    })?;
    Ok(())
}

pub fn announced_delete(pool: &Pool, key: &str) -> Result<(), StoreError> {
    pool.run(async |c| {
        c.sql()
            .exec("DELETE FROM alerting_state WHERE key = $1", &[&key])
            .await
    })?;
    Ok(())
}
