//! The smaller tables on PostgreSQL: operators' service windows ([`PgWindowStore`]), incidents
//! registered by hand ([`PgIncidentStore`], and [`incidents_between`] for
//! [`crate::store::Store::manual_incidents`]), what alerting announced and the updates of
//! service disturbances (the functions behind [`crate::store::AnnouncedStore`] and
//! [`crate::store::ServiceUpdateStore`]). The same statements and text formats as SQLite's.

use super::{get, Pool, Sql};
use crate::calendar::{Activation, AdhocWindow, NewAdhocWindow};
use crate::store::columns::{instant_secs as instant_text, parse_date};
use crate::store::columns::{names, time_from_text as instant, time_text as text};
use crate::store::incidents::{
    IncidentStore, IncidentUpdate, ManualIncident, NewManualIncident, SELECT,
};
use crate::store::windows::{adhoc_from_row, WindowStore};
use crate::store::{Announced, ServiceUpdate, StoreError};
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use std::sync::Arc;
use tokio_postgres::GenericClient;

/// [`WindowStore`] on PostgreSQL.
pub struct PgWindowStore {
    pool: Arc<Pool>,
}

impl PgWindowStore {
    pub fn new(pool: Arc<Pool>) -> PgWindowStore {
        PgWindowStore { pool }
    }
}

impl WindowStore for PgWindowStore {
    fn activate_secondary(
        &self,
        date: NaiveDate,
        by: &str,
        at: DateTime<Utc>,
    ) -> Result<Activation, StoreError> {
        self.pool.run(async |c| {
            let n = c
                .sql()
                .exec(
                    "INSERT INTO calendar_secondary_activations (date, activated_by, activated_at)
                     VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                    &[&date.to_string(), &by, &instant_text(at)],
                )
                .await?;
            if n == 0 {
                let row = c
                    .sql()
                    .one(
                        "SELECT activated_by, activated_at FROM calendar_secondary_activations
                         WHERE date = $1",
                        &[&date.to_string()],
                    )
                    .await?;
                return Err(StoreError::AlreadyActivated {
                    date,
                    by: get(&row, 0)?,
                    at: instant(&get::<String>(&row, 1)?)?,
                });
            }
            Ok(Activation {
                date,
                activated_by: by.to_string(),
                activated_at: at,
            })
        })
    }

    fn withdraw_secondary(&self, date: NaiveDate) -> Result<(), StoreError> {
        let n = self.pool.run(async |c| {
            c.sql()
                .exec(
                    "DELETE FROM calendar_secondary_activations WHERE date = $1",
                    &[&date.to_string()],
                )
                .await
        })?;
        if n == 0 {
            return Err(StoreError::NotActivated(date));
        }
        Ok(())
    }

    fn list_activations(&self) -> Result<Vec<Activation>, StoreError> {
        self.pool.run(async |c| {
            let rows = c
                .sql()
                .query(
                    "SELECT date, activated_by, activated_at FROM calendar_secondary_activations
                     ORDER BY date",
                    &[],
                )
                .await?;
            rows.iter()
                .map(|r| {
                    Ok(Activation {
                        date: parse_date(&get::<String>(r, 0)?)?,
                        activated_by: get(r, 1)?,
                        activated_at: instant(&get::<String>(r, 2)?)?,
                    })
                })
                .collect()
        })
    }

    fn add_adhoc(&self, w: &NewAdhocWindow) -> Result<i64, StoreError> {
        self.pool.run(async |c| {
            let row = c
                .sql()
                .one(
                    "INSERT INTO calendar_adhoc_windows
                         (start_utc, end_utc, scope, reason, created_by, created_at)
                     VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                    &[
                        &instant_text(w.start),
                        &instant_text(w.end),
                        &w.scope.to_string(),
                        &w.reason,
                        &w.created_by,
                        &instant_text(w.created_at),
                    ],
                )
                .await?;
            get(&row, 0)
        })
    }

    fn cancel_adhoc(&self, id: i64, by: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.pool.run(async |c| {
            let mut tx = c.tx().await?;
            let mut sql = tx.sql();
            let row = sql
                .opt(
                    "SELECT cancelled_by, cancelled_at FROM calendar_adhoc_windows
                     WHERE id = $1 FOR UPDATE",
                    &[&id],
                )
                .await?
                .ok_or(StoreError::UnknownWindow(id))?;
            let prev: (Option<String>, Option<String>) = (get(&row, 0)?, get(&row, 1)?);
            if let (Some(prev_by), Some(prev_at)) = prev {
                return Err(StoreError::AlreadyCancelled {
                    id,
                    by: prev_by,
                    at: instant(&prev_at)?,
                });
            }
            sql.exec(
                "UPDATE calendar_adhoc_windows SET cancelled_by = $2, cancelled_at = $3
                 WHERE id = $1",
                &[&id, &by, &instant_text(at)],
            )
            .await?;
            tx.commit().await
        })
    }

    fn list_adhoc(&self) -> Result<Vec<AdhocWindow>, StoreError> {
        self.pool.run(async |c| {
            let rows = c
                .sql()
                .query(
                    "SELECT id, start_utc, end_utc, scope, reason, created_by, created_at,
                            cancelled_by, cancelled_at
                     FROM calendar_adhoc_windows ORDER BY start_utc, id",
                    &[],
                )
                .await?;
            rows.iter()
                .map(|r| {
                    adhoc_from_row((
                        get(r, 0)?,
                        get(r, 1)?,
                        get(r, 2)?,
                        get(r, 3)?,
                        get(r, 4)?,
                        get(r, 5)?,
                        get(r, 6)?,
                        get(r, 7)?,
                        get(r, 8)?,
                    ))
                })
                .collect()
        })
    }
}

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
