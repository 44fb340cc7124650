//! Intefunktion cases registered by hand on PostgreSQL ([`PgIntefunktionStore`]): the same
//! table, statements and text formats as SQLite's (`store::intefunktion`).

use super::{get, Pool, Sql};
use crate::store::columns::time_text as text;
use crate::store::intefunktion::{
    from_columns, not_closed, IntefunktionStore, ManualIntefunktionCase, NewIntefunktionCase,
    BETWEEN, CLOSE, LINK, SELECT,
};
use crate::store::StoreError;
use chrono::{DateTime, Utc};
use std::sync::Arc;
use tokio_postgres::{GenericClient, Row};

/// [`IntefunktionStore`] on PostgreSQL.
pub struct PgIntefunktionStore {
    pool: Arc<Pool>,
}

impl PgIntefunktionStore {
    pub fn new(pool: Arc<Pool>) -> PgIntefunktionStore {
        PgIntefunktionStore { pool }
    }
}

fn case(r: &Row) -> Result<ManualIntefunktionCase, StoreError> {
    let mut texts: [String; 7] = Default::default();
    for (t, i) in texts.iter_mut().zip([1, 2, 3, 5, 6, 7, 8]) {
        *t = get(r, i)?;
    }
    from_columns(get(r, 0)?, texts, get(r, 4)?, get(r, 9)?)
}

/// The cases overlapping `[from, to)` (milliseconds), oldest first: the core store's
/// [`crate::store::Store::intefunktion_cases`].
pub(super) async fn cases_between<C: GenericClient>(
    sql: &mut Sql<'_, C>,
    from: i64,
    to: i64,
) -> Result<Vec<ManualIntefunktionCase>, StoreError> {
    let at = |ms: i64| text(crate::availability::at(ms));
    let rows = sql
        .query(
            &format!("{SELECT} WHERE {BETWEEN} ORDER BY start_utc, id"),
            &[&at(from), &at(to)],
        )
        .await?;
    rows.iter().map(case).collect()
}

impl IntefunktionStore for PgIntefunktionStore {
    fn add(&self, new: &NewIntefunktionCase, now: DateTime<Utc>) -> Result<i64, StoreError> {
        self.pool.run(async |c| {
            let row = c
                .sql()
                .one(
                    "INSERT INTO intefunktion_cases (service_id, municipality, start_utc,
                         end_utc, title, description, created_by, created_at, incident_id)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
                    &[
                        &new.function,
                        &new.municipality,
                        &text(new.start),
                        &new.end.map(text),
                        &new.title,
                        &new.description,
                        &new.by,
                        &text(now),
                        &new.incident,
                    ],
                )
                .await?;
            get(&row, 0)
        })
    }

    fn get(&self, id: i64) -> Result<Option<ManualIntefunktionCase>, StoreError> {
        self.pool.run(async |c| {
            let rows = c
                .sql()
                .query(&format!("{SELECT} WHERE id = $1"), &[&id])
                .await?;
            rows.first().map(case).transpose()
        })
    }

    fn close(&self, id: i64, end: DateTime<Utc>) -> Result<(), StoreError> {
        let changed = self
            .pool
            .run(async |c| c.sql().exec(CLOSE, &[&text(end), &id]).await)?;
        if changed == 1 {
            return Ok(());
        }
        Err(not_closed(self.get(id)?, id))
    }

    fn link(&self, id: i64, incident: i64) -> Result<(), StoreError> {
        let changed = self
            .pool
            .run(async |c| c.sql().exec(LINK, &[&incident, &id]).await)?;
        if changed == 1 {
            Ok(())
        } else {
            Err(StoreError::UnknownIncident(id))
        }
    }

    fn between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<ManualIntefunktionCase>, StoreError> {
        let (from, to) = (text(from), text(to));
        self.pool.run(async |c| {
            let rows = c
                .sql()
                .query(
                    &format!("{SELECT} WHERE {BETWEEN} ORDER BY start_utc, id"),
                    &[&from, &to],
                )
                .await?;
            rows.iter().map(case).collect()
        })
    }
}
