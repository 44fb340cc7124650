//! One node's side of the lease: the state machine follower ⇄ leader, one step per heartbeat
//! ([`Member::beat`]), and the database checks the [`crate::notify::Fence`] makes before a
//! send. Pure logic over the [`ClusterStore`] and the injected [`Clock`].

use super::{ClusterStatus, ClusterStore, ClusterTiming, NodeBeat};
use crate::clock::Clock;
use crate::store::{OutboxId, StoreError};
use chrono::{DateTime, SubsecRound, Utc};
use std::sync::{Arc, Mutex};

/// Where this node stands, as it believes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Follower,
    /// Holds the lease with `epoch` until `until` (as of its last renewal).
    Leader {
        epoch: i64,
        until: DateTime<Utc>,
    },
}

/// What one heartbeat changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Unchanged,
    /// This node took the lease: start leading.
    Elected {
        epoch: i64,
    },
    /// This node lost the lease (taken over, expired, or not renewable): stop leading.
    SteppedDown {
        epoch: i64,
    },
}

/// One collector node in the cluster.
pub struct Member {
    name: String,
    address: String,
    started_at: DateTime<Utc>,
    pub(super) timing: ClusterTiming,
    store: Arc<dyn ClusterStore>,
    clock: Arc<dyn Clock>,
    role: Mutex<Role>,
    /// Set once another live process beats under this node's name (see [`Member::beat`]).
    twin: std::sync::atomic::AtomicBool,
}

impl Member {
    /// A follower named `name` listening on `address`, started at the clock's now (to the
    /// millisecond: the store keeps milliseconds, and [`Member::notice_twin`] compares this
    /// process's start with the stored one, so a finer start would take its own row for a twin).
    pub fn new(
        name: String,
        address: String,
        timing: ClusterTiming,
        store: Arc<dyn ClusterStore>,
        clock: Arc<dyn Clock>,
    ) -> Member {
        Member {
            name,
            address,
            started_at: clock.now().trunc_subsecs(3),
            timing,
            store,
            clock,
            role: Mutex::new(Role::Follower),
            twin: Default::default(),
        }
    }

    /// Whether another live collector process beats under this node's name (a copied
    /// configuration): both write one row, so neither shows up as a second node.
    pub fn has_twin(&self) -> bool {
        self.twin.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Looks at this name's row before writing it: a row started at another time whose last
    /// heartbeat came after this process started was written by a twin (a crashed earlier
    /// run of this node beat before this one started). Logged once, as an error.
    fn notice_twin(&self) -> Result<(), StoreError> {
        let twin = self.store.nodes()?.into_iter().find(|n| {
            n.name == self.name
                && n.started_at != self.started_at
                && n.last_heartbeat > self.started_at
        });
        if let Some(t) = twin {
            if !self.twin.swap(true, std::sync::atomic::Ordering::Relaxed) {
                tracing::error!(
                    node = %self.name,
                    other_address = %t.address,
                    other_started_at = %t.started_at,
                    "another collector process beats under this node's name: give each node its \
                     own collector.node (the lease still fences every send)"
                );
            }
        }
        Ok(())
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn role(&self) -> Role {
        *self.role.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn set_role(&self, role: Role) {
        *self.role.lock().unwrap_or_else(|e| e.into_inner()) = role;
    }

    fn lease_until(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now + super::chrono_of(self.timing.lease.std())
    }

    /// One heartbeat: writes this node's beat, then acquires the lease (follower) or renews it
    /// (leader). A leader that cannot reach the database steps down once its lease has run out
    /// by its own clock.
    pub fn beat(&self) -> Result<Change, StoreError> {
        let now = self.clock.now();
        let beat = NodeBeat {
            name: self.name.clone(),
            address: self.address.clone(),
            started_at: self.started_at,
            last_heartbeat: now,
        };
        let step = self
            .notice_twin()
            .and_then(|()| self.store.heartbeat(&beat))
            .and_then(|()| match self.role() {
                Role::Follower => self.try_lead(now),
                Role::Leader { epoch, .. } => self.keep_lead(epoch, now),
            });
        step.or_else(|e| self.expire(now).ok_or(e))
    }

    fn try_lead(&self, now: DateTime<Utc>) -> Result<Change, StoreError> {
        match self.store.acquire(&self.name, now, self.lease_until(now))? {
            Some(lease) => {
                self.set_role(Role::Leader {
                    epoch: lease.epoch,
                    until: lease.expires_at,
                });
                Ok(Change::Elected { epoch: lease.epoch })
            }
            None => Ok(Change::Unchanged),
        }
    }

    fn keep_lead(&self, epoch: i64, now: DateTime<Utc>) -> Result<Change, StoreError> {
        let until = self.lease_until(now);
        if self.store.renew(&self.name, epoch, now, until)? {
            self.set_role(Role::Leader { epoch, until });
            return Ok(Change::Unchanged);
        }
        self.set_role(Role::Follower);
        Ok(Change::SteppedDown { epoch })
    }

    /// After a failed step: a leader past its own lease steps down.
    fn expire(&self, now: DateTime<Utc>) -> Option<Change> {
        match self.role() {
            Role::Leader { epoch, until } if now >= until => {
                self.set_role(Role::Follower);
                Some(Change::SteppedDown { epoch })
            }
            _ => None,
        }
    }

    /// Lets the lease go at once (a clean stop), so another node takes over at its next
    /// heartbeat.
    pub fn resign(&self) -> Result<(), StoreError> {
        if let Role::Leader { epoch, .. } = self.role() {
            self.set_role(Role::Follower);
            self.store.release(&self.name, epoch)?;
        }
        Ok(())
    }

    /// The fencing check in the database: this node holds the lease with its epoch now.
    pub fn holds_now(&self) -> bool {
        let Role::Leader { epoch, .. } = self.role() else {
            return false;
        };
        self.store
            .holds(&self.name, epoch, self.clock.now())
            .unwrap_or_else(|e| {
                tracing::error!(error = %e, "cannot check the leader lease: acting as follower");
                false
            })
    }

    /// Marks the claimed outbox row `id` as being sent under this node's epoch, if it still
    /// holds the lease (one transaction).
    pub fn begin_send_now(&self, id: OutboxId) -> bool {
        let Role::Leader { epoch, .. } = self.role() else {
            return false;
        };
        self.store
            .begin_send(id, &self.name, epoch, self.clock.now())
            .unwrap_or_else(|e| {
                tracing::error!(id, error = %e, "cannot fence the send: not sent");
                false
            })
    }

    /// Puts the claimed, unsent row `id` back to pending.
    pub fn give_back_now(&self, id: OutboxId) {
        if let Err(e) = self.store.give_back(id, self.clock.now()) {
            tracing::error!(id, error = %e, "cannot give the outbox row back");
        }
    }

    /// The nodes, the leader and their heartbeats (for `/api/v1/status`).
    pub fn status(&self) -> Result<ClusterStatus, StoreError> {
        super::status(
            &self.name,
            self.store.as_ref(),
            self.clock.as_ref(),
            self.timing,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{NewNotice, OutboxStore, Status};
    use crate::store::{SqliteClusterStore, SqliteNotifyStore};
    use driftvakt_common::config::Duration;

    /// A clock the test steps by hand.
    struct Stepping(Mutex<DateTime<Utc>>);

    impl Stepping {
        fn at(secs: i64) -> Arc<Stepping> {
            Arc::new(Stepping(Mutex::new(t(secs))))
        }
        fn set(&self, secs: i64) {
            *self.0.lock().unwrap() = t(secs);
        }
    }

    impl Clock for Stepping {
        fn now(&self) -> DateTime<Utc> {
            *self.0.lock().unwrap()
        }
    }

    fn t(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_770_000_000 + secs, 0).unwrap()
    }

    fn timing() -> ClusterTiming {
        ClusterTiming {
            lease: Duration::from_secs(10),
            heartbeat: Duration::from_secs(2),
        }
    }

    fn pair(store: Arc<dyn ClusterStore>, clock: &Arc<Stepping>) -> (Member, Member) {
        let member = |name: &str| {
            let c: Arc<dyn Clock> = clock.clone();
            Member::new(
                name.into(),
                "127.0.0.1:0".into(),
                timing(),
                store.clone(),
                c,
            )
        };
        (member("a"), member("b"))
    }

    fn memory() -> Arc<dyn ClusterStore> {
        Arc::new(SqliteClusterStore::open_in_memory().unwrap())
    }

    #[test]
    fn a_twin_under_the_same_name_is_noticed_and_a_restart_is_not() {
        let store = memory();
        let clock = Stepping::at(0);
        let node = |at: i64| {
            clock.set(at);
            let c: Arc<dyn Clock> = clock.clone();
            Member::new("a".into(), "127.0.0.1:0".into(), timing(), store.clone(), c)
        };
        let first = node(0);
        first.beat().unwrap();
        // The same node started again after a crash: its old row beat before it started.
        let again = node(30);
        again.beat().unwrap();
        assert!(!again.has_twin());
        // A second process with a copied configuration while `again` runs.
        let twin = node(31);
        twin.beat().unwrap();
        clock.set(32);
        again.beat().unwrap();
        assert!(
            again.has_twin(),
            "the row was written after `again` started"
        );
        clock.set(33);
        twin.beat().unwrap();
        assert!(twin.has_twin(), "and after the twin started");
    }

    #[test]
    fn a_start_finer_than_a_millisecond_is_not_its_own_twin() {
        let store = memory();
        let fine = DateTime::from_timestamp(1_770_000_000, 123_456_789).unwrap();
        let clock = Arc::new(Stepping(Mutex::new(fine)));
        let c: Arc<dyn Clock> = clock.clone();
        let node = Member::new("a".into(), "127.0.0.1:0".into(), timing(), store, c);
        for step in 1..=5 {
            *clock.0.lock().unwrap() = fine + chrono::Duration::seconds(2 * step);
            node.beat().unwrap();
        }
        assert!(!node.has_twin(), "its own row, read back in milliseconds");
    }

    #[test]
    fn the_first_to_beat_leads_and_the_other_follows() {
        let clock = Stepping::at(0);
        let (a, b) = pair(memory(), &clock);
        assert_eq!(a.beat().unwrap(), Change::Elected { epoch: 1 });
        assert_eq!(b.beat().unwrap(), Change::Unchanged);
        assert_eq!(b.role(), Role::Follower);
        assert!(a.holds_now() && !b.holds_now());
    }

    #[test]
    fn no_takeover_while_the_leader_renews_and_none_before_expiry() {
        let clock = Stepping::at(0);
        let (a, b) = pair(memory(), &clock);
        a.beat().unwrap();
        for s in (2..60).step_by(2) {
            clock.set(s);
            assert_eq!(a.beat().unwrap(), Change::Unchanged);
            assert_eq!(b.beat().unwrap(), Change::Unchanged);
        }
        // The leader stops beating at 58: its lease lasts until 68.
        clock.set(67);
        assert_eq!(b.beat().unwrap(), Change::Unchanged, "not before expiry");
        clock.set(68);
        assert_eq!(b.beat().unwrap(), Change::Elected { epoch: 2 });
    }

    #[test]
    fn a_stale_leader_cannot_renew_steps_down_and_is_fenced() {
        let clock = Stepping::at(0);
        let (a, b) = pair(memory(), &clock);
        a.beat().unwrap();
        // `a` freezes; `b` takes over after expiry with a higher epoch.
        clock.set(11);
        assert_eq!(b.beat().unwrap(), Change::Elected { epoch: 2 });
        // `a` wakes: it still believes it leads, but the fencing check fails at once ...
        assert!(matches!(a.role(), Role::Leader { epoch: 1, .. }));
        assert!(!a.holds_now());
        // ... and its next heartbeat's renew fails: it steps down.
        assert_eq!(a.beat().unwrap(), Change::SteppedDown { epoch: 1 });
        assert_eq!(a.role(), Role::Follower);
        assert!(b.holds_now());
        // Later it may lead again, through the normal acquire, with a new epoch.
        clock.set(40);
        assert_eq!(a.beat().unwrap(), Change::Elected { epoch: 3 });
        assert_eq!(b.beat().unwrap(), Change::SteppedDown { epoch: 2 });
    }

    #[test]
    fn epochs_rise_on_every_acquire_and_a_restart_takes_over_at_once() {
        let clock = Stepping::at(0);
        let store = memory();
        let (a, _) = pair(store.clone(), &clock);
        a.beat().unwrap();
        // The same node restarted (a new process, same name): no waiting for expiry.
        clock.set(3);
        let (again, _) = pair(store, &clock);
        assert_eq!(again.beat().unwrap(), Change::Elected { epoch: 2 });
        assert_eq!(a.beat().unwrap(), Change::SteppedDown { epoch: 1 });
    }

    #[test]
    fn a_clean_stop_hands_over_at_the_next_heartbeat() {
        let clock = Stepping::at(0);
        let (a, b) = pair(memory(), &clock);
        a.beat().unwrap();
        clock.set(1);
        a.resign().unwrap();
        assert_eq!(b.beat().unwrap(), Change::Elected { epoch: 2 });
    }

    #[test]
    fn the_status_names_nodes_leader_and_heartbeats() {
        let clock = Stepping::at(0);
        let (a, b) = pair(memory(), &clock);
        a.beat().unwrap();
        clock.set(1);
        b.beat().unwrap();
        clock.set(30);
        let s = b.status().unwrap();
        assert_eq!(s.node, "b");
        assert_eq!(s.leader, None, "the lease expired at 10");
        assert_eq!(s.nodes.len(), 2);
        assert_eq!(s.nodes[1].last_heartbeat, t(1));
        assert!(!s.nodes[0].alive);
        b.beat().unwrap();
        let s = a.status().unwrap();
        assert_eq!(s.leader.as_deref(), Some("b"));
        assert!(s.nodes[1].leader && s.nodes[1].alive && !s.nodes[0].leader);
    }

    fn notice(key: &str) -> NewNotice {
        NewNotice {
            key: key.into(),
            kind: "alert".into(),
            recipient: "jour@example.se".into(),
            sender: "driftvakt@example.se".into(),
            subject: key.into(),
            message_id: format!("<{key}@driftvakt>"),
            raw: b"Subject: x\r\n\r\nx\r\n".to_vec(),
            due_at: t(0),
            oncall_case: None,
            channel: "mail".into(),
        }
    }

    #[test]
    fn sends_are_fenced_and_claims_of_a_lost_leader_are_recovered() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("c.db");
        let outbox = SqliteNotifyStore::open(&db).unwrap();
        let cluster: Arc<dyn ClusterStore> = Arc::new(SqliteClusterStore::open(&db).unwrap());
        let clock = Stepping::at(0);
        let (a, b) = pair(cluster.clone(), &clock);
        let one = outbox.enqueue(&notice("one"), t(0)).unwrap().unwrap();
        let two = outbox.enqueue(&notice("two"), t(0)).unwrap().unwrap();
        a.beat().unwrap();
        // `a` claims both, begins `one`, then freezes before `two`.
        assert_eq!(outbox.claim_due(t(0), t(300), 10).unwrap().len(), 2);
        assert!(a.begin_send_now(one));
        clock.set(11);
        assert_eq!(b.beat().unwrap(), Change::Elected { epoch: 2 });
        // The takeover gave back `two` (claimed, never begun) but not `one` (maybe in flight).
        assert_eq!(outbox.get(two).unwrap().unwrap().status, Status::Pending);
        assert_eq!(outbox.get(one).unwrap().unwrap().status, Status::Sending);
        // `b` claims `two` now; `one` only after its sending lease.
        let claimed = outbox.claim_due(t(11), t(311), 10).unwrap();
        assert_eq!(claimed.iter().map(|r| r.id).collect::<Vec<_>>(), vec![two]);
        // `a` wakes: it may not begin anything, not even the row `b` claimed.
        assert!(!a.begin_send_now(two));
        assert!(b.begin_send_now(two));
        let epoch_of = |id| {
            let s = SqliteClusterStore::open(&db).unwrap();
            crate::store::sqlite::send_epoch_of(&s, id).unwrap()
        };
        assert_eq!(epoch_of(two), Some(2));
        assert_eq!(epoch_of(one), Some(1));
        // After `one`'s sending lease ran out, `b` takes it over under its own epoch.
        let late = outbox.claim_due(t(301), t(601), 10).unwrap();
        assert_eq!(late.iter().map(|r| r.id).collect::<Vec<_>>(), vec![one]);
        assert_eq!(epoch_of(one), None);
        clock.set(301);
        b.beat().unwrap();
        assert!(
            !b.begin_send_now(one),
            "b's lease expired at 21 without renewal"
        );
        assert_eq!(b.role(), Role::Follower);
    }
}
