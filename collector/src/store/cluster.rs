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

use super::columns::time_text;
use super::exec::{Arg, Transact};
use super::StoreError;
use crate::availability::ms;
use chrono::{DateTime, Utc};

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

/// [`ClusterStore::acquire`], written once for every backend: in one transaction, the lease is
/// taken when it has expired or `node` holds it, its epoch always raised; then the outbox rows
/// claimed but never begun (`sending` without a `send_epoch`) go back to pending, so the new
/// leader sends them at once.
pub(crate) fn acquire<S: Transact + ?Sized>(
    store: &S,
    node: &str,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<Option<LeaseRow>, StoreError> {
    let now_text = time_text(now);
    let epoch = store.transaction(|tx| {
        let taken = tx.exec(
            "UPDATE cluster_lease SET holder = $1, epoch = epoch + 1, expires_ms = $3
             WHERE id = 1 AND (expires_ms <= $2 OR holder = $1)",
            &[Arg::Text(node), Arg::Int(ms(now)), Arg::Int(ms(until))],
        )?;
        if taken == 0 {
            return Ok(None);
        }
        let epoch = tx
            .int("SELECT epoch FROM cluster_lease WHERE id = 1", &[])?
            .ok_or_else(|| StoreError::Corrupt("the lease row is missing".into()))?;
        tx.exec(
            "UPDATE notify_outbox SET status = 'pending', due_at = $1
             WHERE status = 'sending' AND send_epoch IS NULL",
            &[Arg::Text(&now_text)],
        )?;
        Ok(Some(epoch))
    })?;
    Ok(epoch.map(|epoch| LeaseRow {
        holder: node.to_string(),
        epoch,
        expires_at: until,
    }))
}
