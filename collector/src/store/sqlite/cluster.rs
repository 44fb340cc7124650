//! [`ClusterStore`] in SQLite (see [`crate::store::cluster`] for the protocol).

use super::Handle;
use crate::availability::ms;
use crate::store::cluster::{self, ClusterStore, LeaseRow, NodeBeat};
use crate::store::columns::{instant_ms as instant, time_text};
use crate::store::exec::{Exec, Transact};
use crate::store::StoreError;
use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension, TransactionBehavior};
use std::path::Path;

/// [`ClusterStore`] on the collector's SQLite file.
#[derive(Debug)]
pub struct SqliteClusterStore {
    conn: Handle,
}

impl SqliteClusterStore {
    /// Opens (creating if needed) the database at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Ok(SqliteClusterStore {
            conn: Handle::open(path)?,
        })
    }

    /// A private in-memory database (tests).
    pub fn open_in_memory() -> Result<Self, StoreError> {
        Ok(SqliteClusterStore {
            conn: Handle::in_memory()?,
        })
    }
}

const HOLDS: &str = "SELECT count(*) FROM cluster_lease
                     WHERE id = 1 AND holder = ?1 AND epoch = ?2 AND expires_ms > ?3";

impl Transact for SqliteClusterStore {
    fn transaction<R>(
        &self,
        f: impl FnOnce(&mut dyn Exec) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        super::transaction(&mut self.conn.lock(), f)
    }
}

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
        cluster::acquire(self, node, now, until)
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
    use chrono::TimeZone;

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
