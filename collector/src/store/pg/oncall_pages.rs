//! [`OncallPageStore`] on PostgreSQL, on [`PgNotifyStore`] (see [`crate::store::oncall_pages`]).

use super::{get, PgNotifyStore};
use crate::events::Event;
use crate::store::columns::{
    opt_time_from_text as opt_instant, time_from_text as instant, time_text as text,
};
use crate::store::oncall_pages::{AckError, OncallPage, OncallPageStore, PAGE_COLUMNS};
use crate::store::StoreError;
use chrono::{DateTime, Utc};
use tokio_postgres::Row;

impl PgNotifyStore {
    fn pages(
        &self,
        sql: &str,
        p: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Vec<OncallPage>, StoreError> {
        self.pool.run(async |c| {
            let rows = c.sql().query(sql, p).await?;
            rows.iter().map(to_page).collect()
        })
    }
}

fn to_page(r: &Row) -> Result<OncallPage, StoreError> {
    let id: i64 = get(r, 0)?;
    Ok(OncallPage {
        id,
        incident_key: get(r, 1)?,
        since: instant(&get::<String>(r, 2)?)?,
        event: serde_json::from_str(&get::<String>(r, 3)?)
            .map_err(|e| StoreError::Corrupt(format!("page {id}: {e}")))?,
        step: get::<i64>(r, 4)? as u32,
        next_at: opt_instant(get(r, 5)?)?,
        acknowledged_at: opt_instant(get(r, 6)?)?,
        acknowledged_by: get(r, 7)?,
        closed_at: opt_instant(get(r, 8)?)?,
    })
}

impl OncallPageStore for PgNotifyStore {
    fn open_page(
        &self,
        incident_key: &str,
        since: DateTime<Utc>,
        event: &Event,
        next_at: Option<DateTime<Utc>>,
    ) -> Result<OncallPage, StoreError> {
        let json = serde_json::to_string(event).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.exec(
            "INSERT INTO notify_pages (incident_key, since, page, step, next_at)
             VALUES ($1, $2, $3, 0, $4) ON CONFLICT (incident_key, since) DO NOTHING",
            &[&incident_key, &text(since), &json, &next_at.map(text)],
        )?;
        let sql = format!(
            "SELECT {PAGE_COLUMNS} FROM notify_pages WHERE incident_key = $1 AND since = $2"
        );
        self.pages(&sql, &[&incident_key, &text(since)])?
            .into_iter()
            .next()
            .ok_or_else(|| StoreError::Corrupt("page not stored".into()))
    }

    fn page(&self, id: i64) -> Result<Option<OncallPage>, StoreError> {
        let sql = format!("SELECT {PAGE_COLUMNS} FROM notify_pages WHERE id = $1");
        Ok(self.pages(&sql, &[&id])?.into_iter().next())
    }

    fn due_pages(&self, now: DateTime<Utc>) -> Result<Vec<OncallPage>, StoreError> {
        let sql = format!(
            "SELECT {PAGE_COLUMNS} FROM notify_pages
             WHERE next_at IS NOT NULL AND next_at <= $1
               AND acknowledged_at IS NULL AND closed_at IS NULL ORDER BY id"
        );
        self.pages(&sql, &[&text(now)])
    }

    fn set_step(
        &self,
        id: i64,
        step: u32,
        next_at: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        self.exec(
            "UPDATE notify_pages SET step = $2, next_at = $3 WHERE id = $1",
            &[&id, &i64::from(step), &next_at.map(text)],
        )?;
        Ok(())
    }

    fn close_page(
        &self,
        incident_key: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<OncallPage>, StoreError> {
        let sql = format!(
            "SELECT {PAGE_COLUMNS} FROM notify_pages
             WHERE incident_key = $1 AND closed_at IS NULL ORDER BY id DESC LIMIT 1"
        );
        let Some(mut page) = self.pages(&sql, &[&incident_key])?.into_iter().next() else {
            return Ok(None);
        };
        self.exec(
            "UPDATE notify_pages SET closed_at = $2, next_at = NULL WHERE id = $1",
            &[&page.id, &text(at)],
        )?;
        page.closed_at = Some(at);
        page.next_at = None;
        Ok(Some(page))
    }

    fn acknowledge(&self, id: i64, at: DateTime<Utc>, by: &str) -> Result<OncallPage, AckError> {
        let mut page = self.page(id)?.ok_or(AckError::Unknown(id))?;
        crate::store::oncall_pages::ackable(&page)?;
        let taken = self.pool.run(async |c| {
            let mut tx = c.tx().await?;
            let mut sql = tx.sql();
            let n = sql
                .exec(
                    "UPDATE notify_pages
                     SET acknowledged_at = $2, acknowledged_by = $3, next_at = NULL
                     WHERE id = $1 AND acknowledged_at IS NULL AND closed_at IS NULL",
                    &[&id, &text(at), &by],
                )
                .await?;
            if n != 1 {
                return Ok(false);
            }
            if let Event::DeviceAlert {
                device_id,
                kind,
                since,
                ..
            } = &page.event
            {
                sql.exec(
                    "UPDATE notify_oncall_cases SET acknowledged_at = $4
                     WHERE device_id = $1 AND kind = $2 AND since = $3
                       AND acknowledged_at IS NULL",
                    &[device_id, &kind.tag(), &text(*since), &text(at)],
                )
                .await?;
            }
            tx.commit().await?;
            Ok(true)
        })?;
        if !taken {
            let now = self.page(id)?.ok_or(AckError::Unknown(id))?;
            return Err(
                match (now.acknowledged_at, now.acknowledged_by, now.closed_at) {
                    (Some(at), Some(by), _) => AckError::AlreadyAcknowledged { id, at, by },
                    (_, _, Some(at)) => AckError::Over { id, at },
                    _ => AckError::Unknown(id),
                },
            );
        }
        page.acknowledged_at = Some(at);
        page.acknowledged_by = Some(by.to_string());
        page.next_at = None;
        Ok(page)
    }
}
