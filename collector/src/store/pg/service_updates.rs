//! Updates of service disturbances (`service_updates`) on PostgreSQL (see
//! [`crate::store::service_updates`]).

use super::{get, Pool};
use crate::store::columns::{time_from_text as instant, time_text as text};
use crate::store::{ServiceUpdate, StoreError};
use chrono::{DateTime, Utc};

/// Appends a service update; returns its id.
pub fn service_update_add(pool: &Pool, u: &ServiceUpdate) -> Result<i64, StoreError> {
    pool.run(async |c| {
        let row = c
            .sql()
            .one(
                "INSERT INTO service_updates (service_id, since, at, by, text)
                 VALUES ($1, $2, $3, $4, $5) RETURNING id",
                &[&u.service_id, &text(u.since), &text(u.at), &u.by, &u.text],
            )
            .await?;
        get(&row, 0)
    })
}

/// Every service update written at or after `from`, oldest first.
pub fn service_updates_since(
    pool: &Pool,
    from: DateTime<Utc>,
) -> Result<Vec<ServiceUpdate>, StoreError> {
    pool.run(async |c| {
        let rows = c
            .sql()
            .query(
                "SELECT id, service_id, since, at, by, text FROM service_updates
                 WHERE at >= $1 ORDER BY at, id",
                &[&text(from)],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(ServiceUpdate {
                    id: get(r, 0)?,
                    service_id: get(r, 1)?,
                    since: instant(&get::<String>(r, 2)?)?,
                    at: instant(&get::<String>(r, 3)?)?,
                    by: get(r, 4)?,
                    text: get(r, 5)?,
                })
            })
            .collect()
    })
}
