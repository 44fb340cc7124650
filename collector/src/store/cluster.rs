//! The cluster's tables in SQLite (migration 12): each collector node's heartbeat
//! (`cluster_nodes`), the one leader lease with its fencing epoch (`cluster_lease`), and the
//! fenced steps of the outbox (`notify_outbox.send_epoch`). The narrow [`ClusterStore`] trait is
//! all the `cluster` module needs; a PostgreSQL twin implements the same few statements.
//!
//! Every decision is one conditional statement inside one IMMEDIATE transaction, so two
//! processes on one file (WAL) or two hosts on one server see one order:
//!
//! - **acquire**: `UPDATE … WHERE expires <= now OR holder = me` takes the lease and *always*
//!   raises the epoch (a takeover, or this node again after a restart or a lost lease); in the
//!   same transaction the outbox rows claimed but never begun go back to pending, so the new
//!   leader sends them at once;
//! - **renew**: only the holder with the same epoch, before expiry;
//! - **holds**: the fencing check, `holder = me AND epoch = mine AND expires > now`;
//! - **begin_send**: the fencing check and the outbox row's `send_epoch` in one transaction:
//!   after it, a newer leader never sends that row before its sending lease runs out.
//!
//! Times are Unix milliseconds from the caller's clock (nodes keep their clocks in step, NTP).

use super::db::{self, time_text};
use super::StoreError;
use crate::availability::ms;
use chrono::{DateTime, TimeZone, Utc};
use rusqlite::{params, OptionalExtension, TransactionBehavior};
use std::path::Path;

/// One node's row: who it is, where it listens, since when, and its last sign of life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeBeat {
    pub name: String,
    pub address: String,
    pub started_at: DateTime<Utc>,
    pub last_heartbeat: DateTime<Utc>,
}

/// The leader lease as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseRow {
    /// Empty while nobody ever led.
    pub holder: String,
    /// The fencing token: raised on every acquire.
    pub epoch: i64,
    pub expires_at: DateTime<Utc>,
}

impl LeaseRow {
    /// The holder, if the lease has not expired at `now`.
    pub fn leader_at(&self, now: DateTime<Utc>) -> Option<&str> {
        (!self.holder.is_empty() && self.expires_at > now).then_some(self.holder.as_str())
    }
}

/// What the cluster needs from the database.
pub trait ClusterStore: Send + Sync {
    /// Writes `node`'s heartbeat (creating its row, or replacing address and start).
    fn heartbeat(&self, node: &NodeBeat) -> Result<(), StoreError>;
    /// Every node that ever beat, by name.
    fn nodes(&self) -> Result<Vec<NodeBeat>, StoreError>;
    /// The lease as it is now.
    fn lease(&self) -> Result<LeaseRow, StoreError>;
    /// Takes the lease until `until` if it expired at `now` or `node` holds it, with a new
    /// epoch; returns it, or `None` when another node holds it. Claimed but unbegun outbox rows
    /// go back to pending, due at `now`, in the same transaction.
    fn acquire(
        &self,
        node: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Option<LeaseRow>, StoreError>;
    /// Extends the lease to `until` if `node` still holds it with `epoch` at `now`.
    fn renew(
        &self,
        node: &str,
        epoch: i64,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// Lets the lease expire at once (a clean stop), if `node` holds it with `epoch`.
    fn release(&self, node: &str, epoch: i64) -> Result<(), StoreError>;
    /// The fencing check: `node` holds the lease with `epoch` at `now`.
    fn holds(&self, node: &str, epoch: i64, now: DateTime<Utc>) -> Result<bool, StoreError>;
    /// Marks the claimed outbox row `id` as being sent under `epoch`, if `node` holds the lease
    /// with `epoch` at `now` and the row is still claimed (`sending`); `false`: do not send.
    fn begin_send(
        &self,
        id: i64,
        node: &str,
        epoch: i64,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// Puts a claimed, unbegun row back to pending, due at `now` (the lease was lost between
    /// claim and send).
    fn give_back(&self, id: i64, now: DateTime<Utc>) -> Result<(), StoreError>;
}

/// [`ClusterStore`] on the collector's SQLite file.
#[derive(Debug)]
pub struct SqliteClusterStore {
    conn: db::Handle,
}

impl SqliteClusterStore {
    /// Opens (creating if needed) the database at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Ok(SqliteClusterStore {
            conn: db::Handle::open(path)?,
        })
    }

    /// A private in-memory database (tests).
    pub fn open_in_memory() -> Result<Self, StoreError> {
        Ok(SqliteClusterStore {
            conn: db::Handle::in_memory()?,
        })
    }
}

/// A stored Unix-ms instant back as a time; out of range is corrupt data.
pub(super) fn instant(ms: i64) -> Result<DateTime<Utc>, StoreError> {
    Utc.timestamp_millis_opt(ms)
        .single()
        .ok_or_else(|| StoreError::Corrupt(format!("instant {ms} ms")))
}

const HOLDS: &str = "SELECT count(*) FROM cluster_lease
                     WHERE id = 1 AND holder = ?1 AND epoch = ?2 AND expires_ms > ?3";

impl ClusterStore for SqliteClusterStore {
    fn heartbeat(&self, n: &NodeBeat) -> Result<(), StoreError> {
        self.conn.lock().execute(
            "INSERT INTO cluster_nodes (node, address, started_ms, heartbeat_ms)
             VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (node) DO UPDATE SET address = excluded.address,
                 started_ms = excluded.started_ms, heartbeat_ms = excluded.heartbeat_ms",
            params![n.name, n.address, ms(n.started_at), ms(n.last_heartbeat)],
        )?;
        Ok(())
    }

    fn nodes(&self) -> Result<Vec<NodeBeat>, StoreError> {
        let conn = self.conn.lock();
        let mut stmt = conn.prepare(
            "SELECT node, address, started_ms, heartbeat_ms FROM cluster_nodes ORDER BY node",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, i64>(3)?,
            ))
        })?;
        rows.map(|r| {
            let (name, address, started, beat) = r?;
            Ok(NodeBeat {
                name,
                address,
                started_at: instant(started)?,
                last_heartbeat: instant(beat)?,
            })
        })
        .collect()
    }

    fn lease(&self) -> Result<LeaseRow, StoreError> {
        let (holder, epoch, expires) = self.conn.lock().query_row(
            "SELECT holder, epoch, expires_ms FROM cluster_lease WHERE id = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get::<_, i64>(2)?)),
        )?;
        Ok(LeaseRow {
            holder,
            epoch,
            expires_at: instant(expires)?,
        })
    }

    fn acquire(
        &self,
        node: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Option<LeaseRow>, StoreError> {
        let mut conn = self.conn.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let taken = tx.execute(
            "UPDATE cluster_lease SET holder = ?1, epoch = epoch + 1, expires_ms = ?3
             WHERE id = 1 AND (expires_ms <= ?2 OR holder = ?1)",
            params![node, ms(now), ms(until)],
        )?;
        if taken == 0 {
            return Ok(None);
        }
        let epoch: i64 = tx.query_row("SELECT epoch FROM cluster_lease WHERE id = 1", [], |r| {
            r.get(0)
        })?;
        tx.execute(
            "UPDATE notify_outbox SET status = 'pending', due_at = ?1
             WHERE status = 'sending' AND send_epoch IS NULL",
            [time_text(now)],
        )?;
        tx.commit()?;
        Ok(Some(LeaseRow {
            holder: node.to_string(),
            epoch,
            expires_at: until,
        }))
    }

    fn renew(
        &self,
        node: &str,
        epoch: i64,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let n = self.conn.lock().execute(
            "UPDATE cluster_lease SET expires_ms = ?4
             WHERE id = 1 AND holder = ?1 AND epoch = ?2 AND expires_ms > ?3",
            params![node, epoch, ms(now), ms(until)],
        )?;
        Ok(n == 1)
    }

    fn release(&self, node: &str, epoch: i64) -> Result<(), StoreError> {
        self.conn.lock().execute(
            "UPDATE cluster_lease SET expires_ms = 0 WHERE id = 1 AND holder = ?1 AND epoch = ?2",
            params![node, epoch],
        )?;
        Ok(())
    }

    fn holds(&self, node: &str, epoch: i64, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let n: i64 = self
            .conn
            .lock()
            .query_row(HOLDS, params![node, epoch, ms(now)], |r| r.get(0))?;
        Ok(n == 1)
    }

    fn begin_send(
        &self,
        id: i64,
        node: &str,
        epoch: i64,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut conn = self.conn.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let holds: i64 = tx.query_row(HOLDS, params![node, epoch, ms(now)], |r| r.get(0))?;
        if holds != 1 {
            return Ok(false);
        }
        let marked = tx.execute(
            "UPDATE notify_outbox SET send_epoch = ?2 WHERE id = ?1 AND status = 'sending'",
            params![id, epoch],
        )?;
        tx.commit()?;
        Ok(marked == 1)
    }

    fn give_back(&self, id: i64, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.conn.lock().execute(
            "UPDATE notify_outbox SET status = 'pending', due_at = ?2
             WHERE id = ?1 AND status = 'sending' AND send_epoch IS NULL",
            params![id, time_text(now)],
        )?;
        Ok(())
    }
}

/// The outbox row's `send_epoch` (tests of the fenced steps).
pub fn send_epoch_of(store: &SqliteClusterStore, id: i64) -> Result<Option<i64>, StoreError> {
    Ok(store
        .conn
        .lock()
        .query_row(
            "SELECT send_epoch FROM notify_outbox WHERE id = ?1",
            [id],
            |r| r.get::<_, Option<i64>>(0),
        )
        .optional()?
        .flatten())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_770_000_000 + s, 0).unwrap()
    }

    #[test]
    fn acquire_renew_release_and_holds() {
        let s = SqliteClusterStore::open_in_memory().unwrap();
        let a = s.acquire("a", t(0), t(10)).unwrap().unwrap();
        assert_eq!(a.epoch, 1);
        assert!(s.acquire("b", t(5), t(15)).unwrap().is_none());
        assert!(s.holds("a", 1, t(9)).unwrap());
        assert!(!s.holds("a", 1, t(10)).unwrap(), "expired at its instant");
        assert!(s.renew("a", 1, t(8), t(18)).unwrap());
        assert!(s.acquire("b", t(11), t(21)).unwrap().is_none());
        let b = s.acquire("b", t(18), t(28)).unwrap().unwrap();
        assert_eq!(b.epoch, 2);
        assert!(!s.renew("a", 1, t(19), t(29)).unwrap());
        s.release("b", 2).unwrap();
        assert_eq!(s.acquire("a", t(20), t(30)).unwrap().unwrap().epoch, 3);
        assert_eq!(s.lease().unwrap().leader_at(t(25)), Some("a"));
    }

    #[test]
    fn heartbeats_are_upserted() {
        let s = SqliteClusterStore::open_in_memory().unwrap();
        let mut n = NodeBeat {
            name: "a".into(),
            address: "127.0.0.1:1".into(),
            started_at: t(0),
            last_heartbeat: t(0),
        };
        s.heartbeat(&n).unwrap();
        n.last_heartbeat = t(2);
        s.heartbeat(&n).unwrap();
        assert_eq!(s.nodes().unwrap(), vec![n]);
    }
}
