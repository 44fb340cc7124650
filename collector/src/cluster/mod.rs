//! Two or more collectors on one database: every node accepts agents' batches (ingest is
//! idempotent by batch id across nodes, in the database) and serves status, reports and
//! `/metrics`; exactly one node, the **leader**, runs alerting, the notifier's delivery (mail,
//! channels, on-call pages and their escalation) and the scheduled reports.
//!
//! # Heartbeat and lease
//! Every node ([`Member`], named by `collector.node`, default the host name; names must be
//! unique) writes a heartbeat every `collector.cluster.heartbeat` (default 2 s): name, address,
//! start and last beat (`cluster_nodes`). The leader holds a lease (`cluster_lease`: holder,
//! epoch, expiry) for `collector.cluster.lease` (default 10 s) and renews it at every heartbeat.
//! A follower tries to acquire it at every heartbeat; it succeeds once the lease has expired
//! (or when it already is the holder, e.g. after its own restart). Acquiring always raises the
//! **epoch**, the fencing token; renewing needs the same holder *and* epoch before expiry. A
//! leader that was killed is thus replaced within `lease + heartbeat` (12 s by default; Zabbix
//! HA needs 60 s by default); a clean stop releases the lease and the other node takes over at
//! its next heartbeat. All of it is pure logic over [`ClusterStore`] with the injected
//! [`Clock`]: no wall clock in here.
//!
//! # Fencing: a node that lost its lease sends nothing more
//! Before every externally visible send the notifier asks its [`Fence`] (this node):
//! `begin_send` checks in the database, in one transaction, that this node holds the lease with
//! its epoch *now*, and marks the outbox row `send_epoch = epoch`; then the message goes out,
//! then the row is marked sent. The alerting check and the notifier's tick also run only after
//! a fresh lease check ([`Fence::may_act`]). A leader whose renewal fails steps down at once:
//! its alerting, delivery and tick tasks are aborted and it becomes a follower (it may lead
//! again later through the normal acquire, with a new epoch). A leader frozen (SIGSTOP) past
//! its lease wakes to find its epoch gone: every fence check fails, its next heartbeat steps it
//! down, and it begins nothing more (a send it had begun before freezing may finish: below).
//!
//! The new leader's acquire puts every outbox row that was claimed but never begun
//! (`sending`, `send_epoch` NULL) back to pending in the same transaction, so it sends them at
//! once; the old leader can no longer begin them (its lease check fails). A row *begun* under an
//! older epoch may have been in the middle of its SMTP conversation when that leader died or
//! froze: the new leader leaves it alone until its sending lease (`notify.retry.lease`, longer
//! than the SMTP timeout) runs out, and only then sends it again (unless the old leader, woken,
//! finished it and marked it sent meanwhile).
//!
//! # What is guaranteed at the SMTP server
//! Exactly once, with one window where it is at-least-once (never at-most-once: no notice is
//! dropped): a leader that stops (killed or frozen) after `begin_send` and before its row is
//! marked sent, i.e. during its SMTP conversation.
//!
//! - Killed there: the new leader sends the row again once its sending lease
//!   (`notify.retry.lease`, default 5 min) has run out. A duplicate only if the server had
//!   already accepted the message in the milliseconds before the kill.
//! - Frozen there and woken *before* the sending lease runs out: it finishes the conversation
//!   it began under its lease, marks the row sent, and the new leader never sends it: once.
//!   (This one send is the only thing a deposed leader still does; it began nothing new.)
//! - Frozen there for *longer* than the sending lease: the new leader sends it, and the woken
//!   one may finish its old conversation if the server kept the connection open (servers drop
//!   an idle client after a few minutes, Postfix's `smtpd_timeout` 300 s): a second copy.
//!
//! Both copies carry the same `Message-ID` (derived from the idempotency key), so a mail system
//! or reader can drop the duplicate. A freeze or kill anywhere else (between rounds, between
//! claim and `begin_send`, while idle) costs no duplicate and no loss. The SMTP server has no
//! fencing token to check, so no design can close the window completely; we keep it to one
//! conversation and prefer a recognisable duplicate over a lost alert. Keep
//! `notify.retry.lease` at least the server's idle timeout for exactly once across freezes.
//!
//! # What is guaranteed at a channel (webhook, SMS gateway, Teams, Alertmanager)
//! The same as at the SMTP server, with one HTTP request in place of the SMTP conversation and
//! the request's `Idempotency-Key` (the outbox key) in place of the `Message-ID`. A leader
//! frozen while its request is in flight wakes to its timer having fired; the answer the
//! server gave meanwhile is still read (`notify::channel::http::Client`: a timer that fired
//! late waits two more seconds for it), so a delivered request is marked sent and the new
//! leader never repeats it. The window that remains: a server that accepted the request but
//! had not answered by the time the frozen leader woke (or a leader killed after the server
//! accepted it) gets it a second time, with the same `Idempotency-Key`, from the new leader once
//! the row's sending lease (`notify.retry.lease`) has run out or the woken leader put it back.
//! Its length is one request: at most the channel's `timeout` after a leader stops.
//!
//! Clocks: the lease's expiry is written with the acquiring node's clock and checked with the
//! checking node's, so the nodes' clocks must agree (NTP) to well within the lease.

pub mod member;
pub mod task;

pub use crate::inventory::ClusterTiming;
pub use crate::store::{ClusterStore, LeaseRow, NodeBeat, SqliteClusterStore};
pub use member::{Change, Member, Role};
pub use task::{spawn, ClusterMetrics, Lead};

use crate::clock::Clock;
use crate::notify::Fence;
use chrono::{DateTime, Utc};
use serde::Serialize;

/// The cluster as `/api/v1/status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClusterStatus {
    /// The node answering.
    pub node: String,
    /// The holder of an unexpired lease, if any.
    pub leader: Option<String>,
    pub nodes: Vec<NodeStatus>,
}

/// One node as `/api/v1/status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeStatus {
    pub name: String,
    pub address: String,
    pub started_at: DateTime<Utc>,
    pub last_heartbeat: DateTime<Utc>,
    pub leader: bool,
    /// A heartbeat within the lease.
    pub alive: bool,
}

/// This node's name: `configured`, else the host name, else `collector`.
pub fn node_name(configured: Option<&str>) -> String {
    configured
        .map(str::to_string)
        .or_else(host_name)
        .unwrap_or_else(|| "collector".to_string())
}

fn host_name() -> Option<String> {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname writes at most that many bytes.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return None;
    }
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    let name = String::from_utf8_lossy(&buf[..end]).trim().to_string();
    (!name.is_empty()).then_some(name)
}

/// The nodes, the leader and their heartbeats at the clock's now, as `node` sees them.
pub fn status(
    node: &str,
    store: &dyn ClusterStore,
    clock: &dyn Clock,
    timing: ClusterTiming,
) -> Result<ClusterStatus, crate::store::StoreError> {
    let now = clock.now();
    let lease = store.lease()?;
    let leader = lease.leader_at(now).map(str::to_string);
    let alive_after = now - chrono_of(timing.lease.std());
    let nodes = store
        .nodes()?
        .into_iter()
        .map(|n| NodeStatus {
            leader: leader.as_deref() == Some(n.name.as_str()),
            alive: n.last_heartbeat > alive_after,
            name: n.name,
            address: n.address,
            started_at: n.started_at,
            last_heartbeat: n.last_heartbeat,
        })
        .collect();
    Ok(ClusterStatus {
        node: node.to_string(),
        leader,
        nodes,
    })
}

fn chrono_of(d: std::time::Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

impl Fence for Member {
    fn may_act(&self) -> bool {
        self.holds_now()
    }

    fn begin_send(&self, id: crate::store::OutboxId) -> bool {
        self.begin_send_now(id)
    }

    fn give_back(&self, id: crate::store::OutboxId) {
        self.give_back_now(id)
    }
}
