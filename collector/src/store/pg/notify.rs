//! [`OutboxStore`] and [`PolicyStore`] on PostgreSQL: the same tables and statements as the
//! SQLite notifier store (`sqlite/notify.rs`; its on-call pages in `oncall_pages.rs`). Claiming due
//! rows takes them `FOR UPDATE SKIP LOCKED`, so two collectors sharing a database never send a
//! notice twice.

use super::{get, Pool};
use crate::store::columns::{
    opt_time_from_text as opt_instant, time_from_text as instant, time_text as text,
};
use crate::store::outbox::{
    self, NewNotice, OncallCase, OutboxId, OutboxRow, OutboxStats, OutboxStore, Status, COLUMNS,
};
use crate::store::policy::{parse_failure, Failure, PolicyStore};
use crate::store::StoreError;
use chrono::{DateTime, Utc};
use std::sync::Arc;

/// The notifier's tables on PostgreSQL.
pub struct PgNotifyStore {
    pub(super) pool: Arc<Pool>,
}

impl PgNotifyStore {
    pub fn new(pool: Arc<Pool>) -> PgNotifyStore {
        PgNotifyStore { pool }
    }

    fn rows(
        &self,
        sql: &str,
        p: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Vec<OutboxRow>, StoreError> {
        self.pool.run(async |c| {
            let rows = c.sql().query(sql, p).await?;
            rows.iter().map(|r| outbox::decode(r)).collect()
        })
    }

    pub(super) fn exec(
        &self,
        sql: &str,
        p: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<u64, StoreError> {
        self.pool.run(async |c| c.sql().exec(sql, p).await)
    }
}

impl OutboxStore for PgNotifyStore {
    fn enqueue(&self, n: &NewNotice, now: DateTime<Utc>) -> Result<Option<OutboxId>, StoreError> {
        let case = n
            .oncall_case
            .as_ref()
            .map(serde_json::to_string)
            .transpose()
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.pool.run(async |c| {
            let row = c
                .sql()
                .opt(
                    "INSERT INTO notify_outbox (idempotency_key, kind, recipient, sender, subject,
                         message_id, raw, status, created_at, due_at, oncall_case, channel)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', $8, $9, $10, $11)
                     ON CONFLICT (idempotency_key) DO NOTHING RETURNING id",
                    &[
                        &n.key,
                        &n.kind,
                        &n.recipient,
                        &n.sender,
                        &n.subject,
                        &n.message_id,
                        &n.raw,
                        &text(now),
                        &text(n.due_at),
                        &case,
                        &n.channel,
                    ],
                )
                .await?;
            row.map(|r| get(&r, 0)).transpose()
        })
    }

    fn exists(&self, key: &str) -> Result<bool, StoreError> {
        self.pool.run(async |c| {
            let row = c
                .sql()
                .opt(
                    "SELECT 1 FROM notify_outbox WHERE idempotency_key = $1",
                    &[&key],
                )
                .await?;
            Ok(row.is_some())
        })
    }

    fn get(&self, id: OutboxId) -> Result<Option<OutboxRow>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM notify_outbox WHERE id = $1");
        Ok(self.rows(&sql, &[&id])?.into_iter().next())
    }

    fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<OutboxRow>, StoreError> {
        let sql = format!(
            "UPDATE notify_outbox SET status = 'sending', due_at = $2, attempts = attempts + 1,
                 send_epoch = NULL
             WHERE id IN (SELECT id FROM notify_outbox
                          WHERE status IN ('pending', 'sending') AND due_at <= $1
                          ORDER BY due_at, id LIMIT $3 FOR UPDATE SKIP LOCKED)
             RETURNING {COLUMNS}"
        );
        let mut rows = self.rows(&sql, &[&text(now), &text(lease_until), &(limit as i64)])?;
        rows.sort_by_key(|r| r.id);
        Ok(rows)
    }

    fn mark_sent(&self, id: OutboxId, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.pool.run(async |c| {
            let mut tx = c.tx().await?;
            let mut sql = tx.sql();
            let row = sql
                .one(
                    "UPDATE notify_outbox SET status = 'sent', sent_at = $2, last_error = NULL
                     WHERE id = $1 RETURNING oncall_case",
                    &[&id, &text(at)],
                )
                .await?;
            if let Some(case) = get::<Option<String>>(&row, 0)? {
                let c: OncallCase =
                    serde_json::from_str(&case).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                sql.exec(
                    "INSERT INTO notify_oncall_cases
                         (at, device_id, device_name, kind, municipality, since)
                     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
                    &[
                        &text(at),
                        &c.device_id,
                        &c.device_name,
                        &c.kind,
                        &c.municipality,
                        &text(c.since),
                    ],
                )
                .await?;
            }
            tx.commit().await
        })
    }

    fn reschedule(
        &self,
        id: OutboxId,
        due_at: DateTime<Utc>,
        error: &str,
    ) -> Result<(), StoreError> {
        self.exec(
            "UPDATE notify_outbox SET status = 'pending', due_at = $2, last_error = $3,
                 send_epoch = NULL
             WHERE id = $1 AND status = 'sending'",
            &[&id, &text(due_at), &error],
        )?;
        Ok(())
    }

    fn mark_failed(&self, id: OutboxId, error: &str) -> Result<(), StoreError> {
        self.exec(
            "UPDATE notify_outbox SET status = 'failed', last_error = $2 WHERE id = $1",
            &[&id, &error],
        )?;
        Ok(())
    }

    fn cancel(&self, id: OutboxId) -> Result<bool, StoreError> {
        let n = self.exec(
            "UPDATE notify_outbox SET status = 'cancelled' WHERE id = $1 AND status = 'pending'",
            &[&id],
        )?;
        Ok(n == 1)
    }

    fn update_pending(&self, id: OutboxId, subject: &str, raw: &[u8]) -> Result<bool, StoreError> {
        let n = self.exec(
            "UPDATE notify_outbox SET subject = $2, raw = $3 WHERE id = $1 AND status = 'pending'",
            &[&id, &subject, &raw],
        )?;
        Ok(n == 1)
    }

    fn list(&self, status: Option<Status>) -> Result<Vec<OutboxRow>, StoreError> {
        match status {
            Some(s) => self.rows(
                &format!("SELECT {COLUMNS} FROM notify_outbox WHERE status = $1 ORDER BY id"),
                &[&s.as_str()],
            ),
            None => self.rows(
                &format!("SELECT {COLUMNS} FROM notify_outbox ORDER BY id"),
                &[],
            ),
        }
    }

    fn stats(&self) -> Result<OutboxStats, StoreError> {
        let counts: Vec<(String, i64)> = self.pool.run(async |c| {
            let rows = c
                .sql()
                .query(
                    "SELECT status, COUNT(*) FROM notify_outbox GROUP BY status",
                    &[],
                )
                .await?;
            rows.iter().map(|r| Ok((get(r, 0)?, get(r, 1)?))).collect()
        })?;
        let mut stats = OutboxStats::default();
        for (status, n) in counts {
            stats.add(&status, n);
        }
        Ok(stats)
    }

    fn count_since(&self, recipient: &str, since: DateTime<Utc>) -> Result<u64, StoreError> {
        self.pool.run(async |c| {
            let row = c
                .sql()
                .one(
                    "SELECT COUNT(*) FROM notify_outbox
                     WHERE recipient = $1 AND created_at >= $2 AND status != 'cancelled'",
                    &[&recipient, &text(since)],
                )
                .await?;
            Ok(get::<i64>(&row, 0)?.max(0) as u64)
        })
    }

    fn pending_digest(&self, recipient: &str) -> Result<Option<OutboxRow>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM notify_outbox
             WHERE recipient = $1 AND kind = 'digest' AND status = 'pending'
             ORDER BY id DESC LIMIT 1"
        );
        Ok(self.rows(&sql, &[&recipient])?.into_iter().next())
    }
}

impl PolicyStore for PgNotifyStore {
    fn failure(&self, key: &str) -> Result<Option<Failure>, StoreError> {
        let json: Option<String> = self.pool.run(async |c| {
            let row = c
                .sql()
                .opt(
                    "SELECT incident FROM notify_incidents WHERE key = $1",
                    &[&key],
                )
                .await?;
            row.map(|r| get(&r, 0)).transpose()
        })?;
        json.map(|j| parse_failure(&j)).transpose()
    }

    fn put_failure(&self, incident: &Failure) -> Result<(), StoreError> {
        let json =
            serde_json::to_string(incident).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.exec(
            "INSERT INTO notify_incidents (key, incident) VALUES ($1, $2)
             ON CONFLICT (key) DO UPDATE SET incident = EXCLUDED.incident",
            &[&incident.key, &json],
        )?;
        Ok(())
    }

    fn delete_failure(&self, key: &str) -> Result<(), StoreError> {
        self.exec("DELETE FROM notify_incidents WHERE key = $1", &[&key])?;
        Ok(())
    }

    fn failures(&self) -> Result<Vec<Failure>, StoreError> {
        self.pool.run(async |c| {
            let rows = c
                .sql()
                .query("SELECT incident FROM notify_incidents ORDER BY key", &[])
                .await?;
            rows.iter()
                .map(|r| parse_failure(&get::<String>(r, 0)?))
                .collect()
        })
    }

    fn add_digest_item(
        &self,
        digest: OutboxId,
        source: &str,
        line: &str,
    ) -> Result<(), StoreError> {
        self.exec(
            "INSERT INTO notify_digest_items (digest_id, source, line) VALUES ($1, $2, $3)",
            &[&digest, &source, &line],
        )?;
        Ok(())
    }

    fn digest_items(&self, digest: OutboxId) -> Result<Vec<String>, StoreError> {
        self.pool.run(async |c| {
            let rows = c
                .sql()
                .query(
                    "SELECT line FROM notify_digest_items WHERE digest_id = $1 ORDER BY id",
                    &[&digest],
                )
                .await?;
            rows.iter().map(|r| get(r, 0)).collect()
        })
    }

    fn remove_digest_items(&self, source: &str) -> Result<Vec<OutboxId>, StoreError> {
        self.pool.run(async |c| {
            let mut tx = c.tx().await?;
            let mut sql = tx.sql();
            let rows = sql
                .query(
                    "SELECT DISTINCT d.digest_id FROM notify_digest_items d
                     JOIN notify_outbox o ON o.id = d.digest_id
                     WHERE d.source = $1 AND o.status = 'pending' ORDER BY d.digest_id",
                    &[&source],
                )
                .await?;
            let ids: Vec<OutboxId> = rows.iter().map(|r| get(r, 0)).collect::<Result<_, _>>()?;
            for id in &ids {
                sql.exec(
                    "DELETE FROM notify_digest_items WHERE digest_id = $1 AND source = $2",
                    &[id, &source],
                )
                .await?;
            }
            tx.commit().await?;
            Ok(ids)
        })
    }

    fn oncall_cases(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<OncallCase>, StoreError> {
        self.pool.run(async |c| {
            let rows = c
                .sql()
                .query(
                    "SELECT at, device_id, device_name, kind, municipality, since,
                            acknowledged_at, resolved_at
                     FROM notify_oncall_cases WHERE at >= $1 AND at < $2 ORDER BY at, id",
                    &[&text(from), &text(to)],
                )
                .await?;
            rows.iter()
                .map(|r| {
                    Ok(OncallCase {
                        at: instant(&get::<String>(r, 0)?)?,
                        device_id: get(r, 1)?,
                        device_name: get(r, 2)?,
                        kind: get(r, 3)?,
                        municipality: get(r, 4)?,
                        since: instant(&get::<String>(r, 5)?)?,
                        acknowledged_at: opt_instant(get(r, 6)?)?,
                        resolved_at: opt_instant(get(r, 7)?)?,
                    })
                })
                .collect()
        })
    }

    fn resolve_oncall_case(
        &self,
        device_id: &str,
        kind: &str,
        since: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.exec(
            "UPDATE notify_oncall_cases SET resolved_at = $4
             WHERE device_id = $1 AND kind = $2 AND since = $3 AND resolved_at IS NULL",
            &[&device_id, &kind, &text(since), &text(at)],
        )?;
        Ok(())
    }

    fn schedule_mark(&self, name: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        let at: Option<String> = self.pool.run(async |c| {
            let row = c
                .sql()
                .opt(
                    "SELECT at FROM notify_schedule_marks WHERE name = $1",
                    &[&name],
                )
                .await?;
            row.map(|r| get(&r, 0)).transpose()
        })?;
        opt_instant(at)
    }

    fn set_schedule_mark(&self, name: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.exec(
            "INSERT INTO notify_schedule_marks (name, at) VALUES ($1, $2)
             ON CONFLICT (name) DO UPDATE SET at = EXCLUDED.at",
            &[&name, &text(at)],
        )?;
        Ok(())
    }
}
