//! Delivering what is due from the outbox, with retry.
//!
//! Each round claims due rows (status `sending` with a lease, the attempt counted), sends each
//! one and marks it sent right after the server's final 250. A temporary failure (server down,
//! 4xx) puts it back with exponential backoff and jitter, without limit: notices are never
//! lost. A permanent refusal (5xx) is retried until `max_attempts`, then the row is `failed`,
//! kept and listed.
//!
//! Exactly once, with one window of at-least-once: if the process dies after the server
//! accepted a message and before the row is marked sent (a single small SQLite update), the
//! row's lease runs out and it is sent again. The `Message-ID` is derived from the idempotency
//! key, so such a duplicate carries the same Message-ID and can be recognised and dropped.
//!
//! With a [`super::Fence`] (several collectors on one database) a round starts only while this
//! node holds the leader lease, and each row is marked as begun under the lease's epoch in the
//! same transaction as a fresh lease check right before it is sent; a row the fence refuses is
//! given back unsent (see the `cluster` module for what is guaranteed).

use super::channel::Parcel;
use super::transport::SendError;
use super::{Notifier, NotifyStore};
use crate::store::outbox::OutboxRow;
use chrono::{DateTime, Utc};
use rand::Rng;
use serde::Serialize;

/// How many rows one round claims.
const BATCH: usize = 50;

/// What one delivery round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct DeliveryStats {
    pub sent: u32,
    /// Put back for a later attempt.
    pub retried: u32,
    pub failed: u32,
    /// Not sent because this node no longer holds the leader lease.
    pub fenced: u32,
    /// Database errors (logged).
    pub store_errors: u32,
}

impl<S: NotifyStore> Notifier<S> {
    /// Sends what is due now; call it from a loop (e.g. every few seconds).
    pub async fn deliver_due(&self) -> DeliveryStats {
        let mut stats = DeliveryStats::default();
        if !self.may_act() {
            return stats;
        }
        let now = self.clock.now();
        let lease = now + chrono_duration(self.config.retry.lease.std());
        let rows = match self.store.claim_due(now, lease, BATCH) {
            Ok(rows) => rows,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the outbox");
                stats.store_errors += 1;
                return stats;
            }
        };
        for row in rows {
            if !self.begin_send(&row, &mut stats) {
                continue;
            }
            self.deliver_one(&row, &mut stats).await;
        }
        stats
    }

    /// The fence's last word before `row` leaves: `false` gives it back unsent.
    fn begin_send(&self, row: &OutboxRow, stats: &mut DeliveryStats) -> bool {
        let Some(fence) = &self.fence else {
            return true;
        };
        if fence.begin_send(row.id) {
            return true;
        }
        fence.give_back(row.id);
        stats.fenced += 1;
        tracing::warn!(id = row.id, "not sent: this node no longer leads");
        false
    }

    async fn deliver_one(&self, row: &OutboxRow, stats: &mut DeliveryStats) {
        let parcel = Parcel {
            payload: &row.raw,
            key: &row.key,
            sender: &row.sender,
            recipient: &row.recipient,
        };
        let result = match self.channels.get(&row.channel) {
            Some(channel) => channel.send(&parcel).await,
            None => Err(SendError::Permanent(format!(
                "channel {} is not configured",
                row.channel
            ))),
        };
        let now = self.clock.now();
        let stored = match result {
            Ok(()) => {
                stats.sent += 1;
                tracing::info!(
                    id = row.id,
                    channel = row.channel,
                    to = row.recipient,
                    subject = row.subject,
                    "sent"
                );
                self.store.mark_sent(row.id, now)
            }
            Err(SendError::Permanent(e)) if row.attempts >= self.config.retry.max_attempts => {
                stats.failed += 1;
                tracing::error!(
                    id = row.id,
                    to = row.recipient,
                    error = e,
                    "refused: failed"
                );
                self.store.mark_failed(row.id, &e)
            }
            Err(e) => {
                stats.retried += 1;
                let due = now + self.backoff(row.attempts);
                tracing::warn!(id = row.id, to = row.recipient, error = %e, %due, "will retry");
                self.store.reschedule(row.id, due, &e.to_string())
            }
        };
        if let Err(e) = stored {
            stats.store_errors += 1;
            tracing::error!(id = row.id, error = %e, "cannot update the outbox");
        }
    }

    /// `initial * 2^(attempts-1)`, capped, times a random factor in [0.5, 1.0].
    fn backoff(&self, attempts: u32) -> chrono::Duration {
        let r = &self.config.retry;
        let exp = r
            .initial_backoff
            .std()
            .saturating_mul(1u32 << attempts.saturating_sub(1).min(20));
        let capped = exp.min(r.max_backoff.std());
        let factor: f64 = rand::rng().random_range(0.5..=1.0);
        chrono_duration(capped.mul_f64(factor))
    }

    /// When the next pending row is due (to sleep until then); `None` when nothing waits.
    pub fn next_due(&self) -> Option<DateTime<Utc>> {
        let rows = self.store.list(Some(super::Status::Pending)).ok()?;
        rows.iter().map(|r| r.due_at).min()
    }
}

fn chrono_duration(d: std::time::Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}
