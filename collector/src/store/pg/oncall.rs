//! On-call cases registered by hand on PostgreSQL ([`PgOncallCaseStore`]): the same table,
//! statements and text formats as SQLite's (`store::oncall`).

use super::{get, Pool};
use crate::store::columns::time_text as text;
use crate::store::oncall::{
    from_columns, ManualOncallCase, NewManualOncallCase, OncallCaseStore, SELECT,
};
use crate::store::StoreError;
use chrono::{DateTime, Utc};
use std::sync::Arc;
use tokio_postgres::Row;

/// [`OncallCaseStore`] on PostgreSQL.
pub struct PgOncallCaseStore {
    pool: Arc<Pool>,
}

impl PgOncallCaseStore {
    pub fn new(pool: Arc<Pool>) -> PgOncallCaseStore {
        PgOncallCaseStore { pool }
    }
}

fn case(r: &Row) -> Result<ManualOncallCase, StoreError> {
    let mut texts: [String; 8] = Default::default();
    for (i, t) in texts.iter_mut().enumerate() {
        *t = get(r, i + 1)?;
    }
    from_columns(get(r, 0)?, texts)
}

impl OncallCaseStore for PgOncallCaseStore {
    fn add(&self, new: &NewManualOncallCase, now: DateTime<Utc>) -> Result<i64, StoreError> {
        self.pool.run(async |c| {
            let row = c
                .sql()
                .one(
                    "INSERT INTO oncall_manual_cases (municipality, department, start_utc,
                         end_utc, title, description, created_by, created_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
                    &[
                        &new.municipality,
                        &new.department,
                        &text(new.start),
                        &text(new.end),
                        &new.title,
                        &new.description,
                        &new.by,
                        &text(now),
                    ],
                )
                .await?;
            get(&row, 0)
        })
    }

    fn get(&self, id: i64) -> Result<Option<ManualOncallCase>, StoreError> {
        self.pool.run(async |c| {
            let rows = c
                .sql()
                .query(&format!("{SELECT} WHERE id = $1"), &[&id])
                .await?;
            rows.first().map(case).transpose()
        })
    }

    fn starting(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<ManualOncallCase>, StoreError> {
        let (from, to) = (text(from), text(to));
        self.pool.run(async |c| {
            let rows = c
                .sql()
                .query(
                    &format!(
                        "{SELECT} WHERE start_utc >= $1 AND start_utc < $2 ORDER BY start_utc, id"
                    ),
                    &[&from, &to],
                )
                .await?;
            rows.iter().map(case).collect()
        })
    }
}
