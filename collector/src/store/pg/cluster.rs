//! The cluster's tables on PostgreSQL (migration 12): the twin of [`crate::store::cluster`]'s
//! SQLite statements, with the same rules (see that module's doc). Each decision is one
//! conditional statement; `acquire` and `begin_send` lock the lease row (`FOR UPDATE`) so the
//! check and what follows from it are one step for every other node.

use super::{get, Pool};
use crate::availability::ms;
use crate::store::cluster::{self, ClusterStore, LeaseRow, NodeBeat};
use crate::store::columns::instant_ms as instant;
use crate::store::columns::time_text;
use crate::store::exec::{Exec, Transact};
use crate::store::StoreError;
use chrono::{DateTime, Utc};
use std::sync::Arc;

/// The cluster's tables in a PostgreSQL database.
#[derive(Debug, Clone)]
pub struct PgClusterStore {
    pool: Arc<Pool>,
}

impl PgClusterStore {
    pub fn new(pool: Arc<Pool>) -> PgClusterStore {
        PgClusterStore { pool }
    }
}

const HOLDS: &str = "SELECT count(*) FROM cluster_lease
                     WHERE id = 1 AND holder = $1 AND epoch = $2 AND expires_ms > $3";

impl Transact for PgClusterStore {
    fn transaction<R>(
        &self,
        f: impl FnOnce(&mut dyn Exec) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        self.pool.transaction(f)
    }
}

impl ClusterStore for PgClusterStore {
    fn heartbeat(&self, n: &NodeBeat) -> Result<(), StoreError> {
        let (started, beat) = (ms(n.started_at), ms(n.last_heartbeat));
        self.pool.run(async |c| {
            c.sql()
                .exec(
                    "INSERT INTO cluster_nodes (node, address, started_ms, heartbeat_ms)
                     VALUES ($1, $2, $3, $4)
                     ON CONFLICT (node) DO UPDATE SET address = excluded.address,
                         started_ms = excluded.started_ms, heartbeat_ms = excluded.heartbeat_ms",
                    &[&n.name, &n.address, &started, &beat],
                )
                .await?;
            Ok(())
        })
    }

    fn nodes(&self) -> Result<Vec<NodeBeat>, StoreError> {
        let rows = self.pool.run(async |c| {
            c.sql()
                .query(
                    "SELECT node, address, started_ms, heartbeat_ms FROM cluster_nodes
                     ORDER BY node",
                    &[],
                )
                .await
        })?;
        rows.iter()
            .map(|r| {
                Ok(NodeBeat {
                    name: get(r, 0)?,
                    address: get(r, 1)?,
                    started_at: instant(get(r, 2)?)?,
                    last_heartbeat: instant(get(r, 3)?)?,
                })
            })
            .collect()
    }

    fn lease(&self) -> Result<LeaseRow, StoreError> {
        let row = self.pool.run(async |c| {
            c.sql()
                .one(
                    "SELECT holder, epoch, expires_ms FROM cluster_lease WHERE id = 1",
                    &[],
                )
                .await
        })?;
        Ok(LeaseRow {
            holder: get(&row, 0)?,
            epoch: get(&row, 1)?,
            expires_at: instant(get(&row, 2)?)?,
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
        let (now_ms, until_ms) = (ms(now), ms(until));
        let n = self.pool.run(async |c| {
            c.sql()
                .exec(
                    "UPDATE cluster_lease SET expires_ms = $4
                     WHERE id = 1 AND holder = $1 AND epoch = $2 AND expires_ms > $3",
                    &[&node, &epoch, &now_ms, &until_ms],
                )
                .await
        })?;
        Ok(n == 1)
    }

    fn release(&self, node: &str, epoch: i64) -> Result<(), StoreError> {
        self.pool.run(async |c| {
            c.sql()
                .exec(
                    "UPDATE cluster_lease SET expires_ms = 0
                     WHERE id = 1 AND holder = $1 AND epoch = $2",
                    &[&node, &epoch],
                )
                .await?;
            Ok(())
        })
    }

    fn holds(&self, node: &str, epoch: i64, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let now_ms = ms(now);
        let row = self
            .pool
            .run(async |c| c.sql().one(HOLDS, &[&node, &epoch, &now_ms]).await)?;
        Ok(get::<i64>(&row, 0)? == 1)
    }

    fn begin_send(
        &self,
        id: i64,
        node: &str,
        epoch: i64,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let now_ms = ms(now);
        self.pool.run(async |c| {
            let mut tx = c.tx().await?;
            // The lease row stays locked until commit: no takeover in between.
            let held = tx
                .sql()
                .opt(
                    "SELECT 1 FROM cluster_lease
                     WHERE id = 1 AND holder = $1 AND epoch = $2 AND expires_ms > $3
                     FOR UPDATE",
                    &[&node, &epoch, &now_ms],
                )
                .await?;
            if held.is_none() {
                return Ok(false);
            }
            let marked = tx
                .sql()
                .exec(
                    "UPDATE notify_outbox SET send_epoch = $2 WHERE id = $1 AND status = 'sending'",
                    &[&id, &epoch],
                )
                .await?;
            tx.commit().await?;
            Ok(marked == 1)
        })
    }

    fn give_back(&self, id: i64, now: DateTime<Utc>) -> Result<(), StoreError> {
        let now_text = time_text(now);
        self.pool.run(async |c| {
            c.sql()
                .exec(
                    "UPDATE notify_outbox SET status = 'pending', due_at = $2
                     WHERE id = $1 AND status = 'sending' AND send_epoch IS NULL",
                    &[&id, &now_text],
                )
                .await?;
            Ok(())
        })
    }
}
