//! [`WindowStore`] on PostgreSQL (see [`crate::store::windows`]).

use super::{get, Pool};
use crate::calendar::{Activation, AdhocWindow, NewAdhocWindow};
use crate::store::columns::{instant_secs as instant_text, parse_date, time_from_text as instant};
use crate::store::windows::{adhoc_from_row, WindowStore};
use crate::store::StoreError;
use chrono::{DateTime, NaiveDate, Utc};
use std::sync::Arc;

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
