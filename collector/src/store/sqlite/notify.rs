//! [`OutboxStore`] and [`PolicyStore`] in SQLite, in the collector's database:
//! tables `notify_outbox`, `notify_incidents`, `notify_digest_items`, `notify_oncall_cases` and
//! `notify_schedule_marks`. Instants are stored as RFC 3339 UTC with milliseconds, so text
//! order is time order.

use super::Handle;
use crate::store::columns::{time_from_text as instant, time_text as text};
use crate::store::outbox::{
    self, NewNotice, OncallCase, OutboxId, OutboxRow, OutboxStats, OutboxStore, Status, COLUMNS,
};
use crate::store::policy::{parse_failure, Failure, PolicyStore};
use crate::store::StoreError;
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension};
use std::path::Path;
use std::sync::MutexGuard;

/// The notifier's tables in one SQLite database.
#[derive(Debug)]
pub struct SqliteNotifyStore {
    conn: Handle,
}

impl SqliteNotifyStore {
    /// Opens (creating if needed) the database at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Ok(SqliteNotifyStore {
            conn: Handle::open(path)?,
        })
    }

    /// A private in-memory database (tests).
    pub fn open_in_memory() -> Result<Self, StoreError> {
        Ok(SqliteNotifyStore {
            conn: Handle::in_memory()?,
        })
    }

    pub(super) fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock()
    }

    fn rows(&self, sql: &str, params: impl rusqlite::Params) -> Result<Vec<OutboxRow>, StoreError> {
        super::decoded(&self.conn(), sql, params, outbox::decode)
    }
}

impl OutboxStore for SqliteNotifyStore {
    fn enqueue(&self, n: &NewNotice, now: DateTime<Utc>) -> Result<Option<OutboxId>, StoreError> {
        let case = n
            .oncall_case
            .as_ref()
            .map(serde_json::to_string)
            .transpose()
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let conn = self.conn();
        let changed = conn.execute(
            "INSERT INTO notify_outbox (idempotency_key, kind, recipient, sender, subject,
                 message_id, raw, status, created_at, due_at, oncall_case, channel)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'pending', ?8, ?9, ?10, ?11)
             ON CONFLICT (idempotency_key) DO NOTHING",
            params![
                n.key,
                n.kind,
                n.recipient,
                n.sender,
                n.subject,
                n.message_id,
                n.raw,
                text(now),
                text(n.due_at),
                case,
                n.channel
            ],
        )?;
        Ok((changed == 1).then(|| conn.last_insert_rowid()))
    }

    fn exists(&self, key: &str) -> Result<bool, StoreError> {
        let found = self
            .conn()
            .query_row(
                "SELECT 1 FROM notify_outbox WHERE idempotency_key = ?1",
                [key],
                |_| Ok(()),
            )
            .optional()?;
        Ok(found.is_some())
    }

    fn get(&self, id: OutboxId) -> Result<Option<OutboxRow>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM notify_outbox WHERE id = ?1");
        Ok(self.rows(&sql, [id])?.into_iter().next())
    }

    fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<OutboxRow>, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let ids: Vec<i64> = {
            let mut stmt = tx.prepare(
                "SELECT id FROM notify_outbox
                 WHERE status IN ('pending', 'sending') AND due_at <= ?1
                 ORDER BY due_at, id LIMIT ?2",
            )?;
            let ids = stmt.query_map(params![text(now), limit as i64], |r| r.get(0))?;
            ids.collect::<Result<_, _>>()?
        };
        for id in &ids {
            tx.execute(
                "UPDATE notify_outbox SET status = 'sending', due_at = ?2, attempts = attempts + 1,
                     send_epoch = NULL
                 WHERE id = ?1",
                params![id, text(lease_until)],
            )?;
        }
        tx.commit()?;
        drop(conn);
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            out.extend(self.get(id)?);
        }
        Ok(out)
    }

    fn mark_sent(&self, id: OutboxId, at: DateTime<Utc>) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        tx.execute(
            "UPDATE notify_outbox SET status = 'sent', sent_at = ?2, last_error = NULL
             WHERE id = ?1",
            params![id, text(at)],
        )?;
        let case: Option<String> = tx.query_row(
            "SELECT oncall_case FROM notify_outbox WHERE id = ?1",
            [id],
            |r| r.get(0),
        )?;
        if let Some(case) = case {
            let c: OncallCase =
                serde_json::from_str(&case).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            tx.execute(
                "INSERT INTO notify_oncall_cases
                     (at, device_id, device_name, kind, municipality, since)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING",
                params![
                    text(at),
                    c.device_id,
                    c.device_name,
                    c.kind,
                    c.municipality,
                    text(c.since)
                ],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    fn reschedule(
        &self,
        id: OutboxId,
        due_at: DateTime<Utc>,
        error: &str,
    ) -> Result<(), StoreError> {
        self.conn().execute(
            "UPDATE notify_outbox SET status = 'pending', due_at = ?2, last_error = ?3,
                 send_epoch = NULL
             WHERE id = ?1 AND status = 'sending'",
            params![id, text(due_at), error],
        )?;
        Ok(())
    }

    fn mark_failed(&self, id: OutboxId, error: &str) -> Result<(), StoreError> {
        self.conn().execute(
            "UPDATE notify_outbox SET status = 'failed', last_error = ?2 WHERE id = ?1",
            params![id, error],
        )?;
        Ok(())
    }

    fn cancel(&self, id: OutboxId) -> Result<bool, StoreError> {
        let n = self.conn().execute(
            "UPDATE notify_outbox SET status = 'cancelled' WHERE id = ?1 AND status = 'pending'",
            [id],
        )?;
        Ok(n == 1)
    }

    fn update_pending(&self, id: OutboxId, subject: &str, raw: &[u8]) -> Result<bool, StoreError> {
        let n = self.conn().execute(
            "UPDATE notify_outbox SET subject = ?2, raw = ?3 WHERE id = ?1 AND status = 'pending'",
            params![id, subject, raw],
        )?;
        Ok(n == 1)
    }

    fn list(&self, status: Option<Status>) -> Result<Vec<OutboxRow>, StoreError> {
        match status {
            Some(s) => self.rows(
                &format!("SELECT {COLUMNS} FROM notify_outbox WHERE status = ?1 ORDER BY id"),
                [s.as_str()],
            ),
            None => self.rows(
                &format!("SELECT {COLUMNS} FROM notify_outbox ORDER BY id"),
                [],
            ),
        }
    }

    fn stats(&self) -> Result<OutboxStats, StoreError> {
        let conn = self.conn();
        let mut stmt =
            conn.prepare("SELECT status, COUNT(*) FROM notify_outbox GROUP BY status")?;
        let mut stats = OutboxStats::default();
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
        for row in rows {
            let (status, n) = row?;
            stats.add(&status, n);
        }
        Ok(stats)
    }

    fn count_since(&self, recipient: &str, since: DateTime<Utc>) -> Result<u64, StoreError> {
        let n: i64 = self.conn().query_row(
            "SELECT COUNT(*) FROM notify_outbox
             WHERE recipient = ?1 AND created_at >= ?2 AND status != 'cancelled'",
            params![recipient, text(since)],
            |r| r.get(0),
        )?;
        Ok(n.max(0) as u64)
    }

    fn pending_digest(&self, recipient: &str) -> Result<Option<OutboxRow>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM notify_outbox
             WHERE recipient = ?1 AND kind = 'digest' AND status = 'pending'
             ORDER BY id DESC LIMIT 1"
        );
        Ok(self.rows(&sql, [recipient])?.into_iter().next())
    }
}

impl PolicyStore for SqliteNotifyStore {
    fn failure(&self, key: &str) -> Result<Option<Failure>, StoreError> {
        let json: Option<String> = self
            .conn()
            .query_row(
                "SELECT incident FROM notify_incidents WHERE key = ?1",
                [key],
                |r| r.get(0),
            )
            .optional()?;
        json.map(|j| parse_failure(&j)).transpose()
    }

    fn put_failure(&self, incident: &Failure) -> Result<(), StoreError> {
        let json =
            serde_json::to_string(incident).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.conn().execute(
            "INSERT INTO notify_incidents (key, incident) VALUES (?1, ?2)
             ON CONFLICT (key) DO UPDATE SET incident = excluded.incident",
            params![incident.key, json],
        )?;
        Ok(())
    }

    fn delete_failure(&self, key: &str) -> Result<(), StoreError> {
        self.conn()
            .execute("DELETE FROM notify_incidents WHERE key = ?1", [key])?;
        Ok(())
    }

    fn failures(&self) -> Result<Vec<Failure>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT incident FROM notify_incidents ORDER BY key")?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        rows.map(|r| r.map_err(StoreError::from).and_then(|j| parse_failure(&j)))
            .collect()
    }

    fn add_digest_item(
        &self,
        digest: OutboxId,
        source: &str,
        line: &str,
    ) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT INTO notify_digest_items (digest_id, source, line) VALUES (?1, ?2, ?3)",
            params![digest, source, line],
        )?;
        Ok(())
    }

    fn digest_items(&self, digest: OutboxId) -> Result<Vec<String>, StoreError> {
        let conn = self.conn();
        let mut stmt =
            conn.prepare("SELECT line FROM notify_digest_items WHERE digest_id = ?1 ORDER BY id")?;
        let rows = stmt.query_map([digest], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn remove_digest_items(&self, source: &str) -> Result<Vec<OutboxId>, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let ids: Vec<OutboxId> = {
            let mut stmt = tx.prepare(
                "SELECT DISTINCT d.digest_id FROM notify_digest_items d
                 JOIN notify_outbox o ON o.id = d.digest_id
                 WHERE d.source = ?1 AND o.status = 'pending'",
            )?;
            let rows = stmt.query_map([source], |r| r.get(0))?;
            rows.collect::<Result<_, _>>()?
        };
        for id in &ids {
            tx.execute(
                "DELETE FROM notify_digest_items WHERE digest_id = ?1 AND source = ?2",
                params![id, source],
            )?;
        }
        tx.commit()?;
        Ok(ids)
    }

    fn oncall_cases(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<OncallCase>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT at, device_id, device_name, kind, municipality, since, acknowledged_at,
                    resolved_at
             FROM notify_oncall_cases WHERE at >= ?1 AND at < ?2 ORDER BY at, id",
        )?;
        let rows = stmt.query_map(params![text(from), text(to)], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, Option<String>>(6)?,
                r.get::<_, Option<String>>(7)?,
            ))
        })?;
        rows.map(|r| {
            let (at, device_id, device_name, kind, municipality, since, acknowledged, resolved) =
                r?;
            Ok(OncallCase {
                at: instant(&at)?,
                device_id,
                device_name,
                kind,
                municipality,
                since: instant(&since)?,
                acknowledged_at: acknowledged.as_deref().map(instant).transpose()?,
                resolved_at: resolved.as_deref().map(instant).transpose()?,
            })
        })
        .collect()
    }

    fn resolve_oncall_case(
        &self,
        device_id: &str,
        kind: &str,
        since: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.conn().execute(
            "UPDATE notify_oncall_cases SET resolved_at = ?4
             WHERE device_id = ?1 AND kind = ?2 AND since = ?3 AND resolved_at IS NULL",
            params![device_id, kind, text(since), text(at)],
        )?;
        Ok(())
    }

    fn schedule_mark(&self, name: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        let at: Option<String> = self
            .conn()
            .query_row(
                "SELECT at FROM notify_schedule_marks WHERE name = ?1",
                [name],
                |r| r.get(0),
            )
            .optional()?;
        at.as_deref().map(instant).transpose()
    }

    fn set_schedule_mark(&self, name: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT INTO notify_schedule_marks (name, at) VALUES (?1, ?2)
             ON CONFLICT (name) DO UPDATE SET at = excluded.at",
            params![name, text(at)],
        )?;
        Ok(())
    }
}
