//! [`IncidentStore`] on PostgreSQL (see [`crate::store::incidents`]).

use super::{get, Pool, Sql};
use crate::store::columns::{names, time_from_text as instant, time_text as text};
use crate::store::incidents::{
    IncidentStore, IncidentUpdate, ManualIncident, NewManualIncident, SELECT,
};
use crate::store::StoreError;
use chrono::{DateTime, Utc};
use std::sync::Arc;
use tokio_postgres::GenericClient;

/// [`IncidentStore`] on PostgreSQL.
pub struct PgIncidentStore {
    pool: Arc<Pool>,
}

impl PgIncidentStore {
    pub fn new(pool: Arc<Pool>) -> PgIncidentStore {
        PgIncidentStore { pool }
    }
}

/// Incidents matching `filter` (SQL after `WHERE`), with their updates.
async fn query<C: GenericClient>(
    sql: &mut Sql<'_, C>,
    filter: &str,
    args: super::Params<'_>,
) -> Result<Vec<ManualIncident>, StoreError> {
    let rows = sql
        .query(
            &format!("{SELECT} WHERE {filter} ORDER BY start_utc, id"),
            args,
        )
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let id: i64 = get(r, 0)?;
        let ups = sql
            .query(
                "SELECT at, by, text FROM manual_incident_updates WHERE incident_id = $1
                 ORDER BY at, id",
                &[&id],
            )
            .await?;
        let updates = ups
            .iter()
            .map(|u| {
                Ok(IncidentUpdate {
                    at: instant(&get::<String>(u, 0)?)?,
                    by: get(u, 1)?,
                    text: get(u, 2)?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        out.push(ManualIncident {
            id,
            title: get(r, 1)?,
            description: get(r, 2)?,
            services: names(&get::<String>(r, 3)?)?,
            municipalities: names(&get::<String>(r, 4)?)?,
            start: instant(&get::<String>(r, 5)?)?,
            end: get::<Option<String>>(r, 6)?
                .as_deref()
                .map(instant)
                .transpose()?,
            cause: get(r, 9)?,
            created_by: get(r, 7)?,
            created_at: instant(&get::<String>(r, 8)?)?,
            updates,
        });
    }
    Ok(out)
}

/// Incidents overlapping `[from, to)` in Unix milliseconds.
pub(super) async fn incidents_between<C: GenericClient>(
    sql: &mut Sql<'_, C>,
    from: i64,
    to: i64,
) -> Result<Vec<ManualIncident>, StoreError> {
    let at = |ms: i64| text(crate::availability::at(ms));
    query(
        sql,
        "start_utc < $2 AND (end_utc IS NULL OR end_utc > $1)",
        &[&at(from), &at(to)],
    )
    .await
}

impl IncidentStore for PgIncidentStore {
    fn add(&self, new: &NewManualIncident, now: DateTime<Utc>) -> Result<i64, StoreError> {
        let json = |v: &Vec<String>| serde_json::to_string(v).unwrap_or_else(|_| "[]".into());
        self.pool.run(async |c| {
            let row = c
                .sql()
                .one(
                    "INSERT INTO manual_incidents (title, description, services, municipalities,
                         start_utc, end_utc, created_by, created_at, cause)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
                    &[
                        &new.title,
                        &new.description,
                        &json(&new.services),
                        &json(&new.municipalities),
                        &text(new.start),
                        &new.end.map(text),
                        &new.by,
                        &text(now),
                        &new.cause,
                    ],
                )
                .await?;
            get(&row, 0)
        })
    }

    fn get(&self, id: i64) -> Result<Option<ManualIncident>, StoreError> {
        self.pool
            .run(async |c| Ok(query(&mut c.sql(), "id = $1", &[&id]).await?.pop()))
    }

    fn add_update(&self, id: i64, update: &IncidentUpdate) -> Result<(), StoreError> {
        self.pool.run(async |c| {
            let mut sql = c.sql();
            let exists = sql
                .opt("SELECT id FROM manual_incidents WHERE id = $1", &[&id])
                .await?;
            if exists.is_none() {
                return Err(StoreError::UnknownIncident(id));
            }
            sql.exec(
                "INSERT INTO manual_incident_updates (incident_id, at, by, text)
                 VALUES ($1, $2, $3, $4)",
                &[&id, &text(update.at), &update.by, &update.text],
            )
            .await?;
            Ok(())
        })
    }

    fn close(&self, id: i64, end: DateTime<Utc>) -> Result<(), StoreError> {
        self.pool.run(async |c| {
            let mut tx = c.tx().await?;
            let mut sql = tx.sql();
            let row = sql
                .opt(
                    "SELECT end_utc FROM manual_incidents WHERE id = $1 FOR UPDATE",
                    &[&id],
                )
                .await?
                .ok_or(StoreError::UnknownIncident(id))?;
            if let Some(at) = get::<Option<String>>(&row, 0)? {
                return Err(StoreError::IncidentClosed {
                    id,
                    at: instant(&at)?,
                });
            }
            sql.exec(
                "UPDATE manual_incidents SET end_utc = $2 WHERE id = $1",
                &[&id, &text(end)],
            )
            .await?;
            tx.commit().await
        })
    }

    fn list(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<ManualIncident>, StoreError> {
        let (from, to) = (crate::availability::ms(from), crate::availability::ms(to));
        self.pool
            .run(async |c| incidents_between(&mut c.sql(), from, to).await)
    }

    fn ongoing(&self) -> Result<Vec<ManualIncident>, StoreError> {
        self.pool
            .run(async |c| query(&mut c.sql(), "end_utc IS NULL", &[]).await)
    }
}
