//! The audit log: every change a person made through the operator web (`/drift/`), and every
//! refusal of one, with who, when, what and from where. Table `audit_log`; appended, never
//! edited. [`AuditStore`] is the trait; `SqliteAuditStore` and `PgAuditStore` keep it.

use super::columns::time_from_text as instant;
use super::StoreError;
use chrono::{DateTime, Utc};
use serde::Serialize;

/// One line of the audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    pub id: i64,
    pub at: DateTime<Utc>,
    /// The person (a local account or the proxy's user name); `-` when nobody was known.
    pub who: String,
    /// What was asked (`incident.register`, `window.secondary`, `login`…).
    pub action: String,
    /// What it was about, in words (an id, a title).
    pub detail: String,
    /// The peer address the request came from.
    pub peer: String,
    /// `ok`, or why it was refused (`refused: …`).
    pub outcome: String,
}

/// The `audit_log` table.
pub trait AuditStore: Send + Sync {
    /// Appends `entry` (its `id` is ignored); returns the id it got.
    fn insert(&self, entry: &AuditEntry) -> Result<i64, StoreError>;

    /// The newest `limit` entries, newest first.
    fn recent(&self, limit: i64) -> Result<Vec<AuditEntry>, StoreError>;
}

/// The columns both backends select, in the order [`decode`] takes them.
pub(crate) const SELECT_RECENT: &str =
    "SELECT id, at, who, action, detail, peer, outcome FROM audit_log
     ORDER BY id DESC LIMIT $1";

/// The insert both backends run (PostgreSQL appends `RETURNING id`).
pub(crate) const INSERT: &str = "INSERT INTO audit_log (at, who, action, detail, peer, outcome)
     VALUES ($1, $2, $3, $4, $5, $6)";

/// A row as read: (id, at, who, action, detail, peer, outcome).
pub(crate) type Row = (i64, String, String, String, String, String, String);

/// A row read back.
pub(crate) fn decode(
    (id, at, who, action, detail, peer, outcome): Row,
) -> Result<AuditEntry, StoreError> {
    Ok(AuditEntry {
        id,
        at: instant(&at)?,
        who,
        action,
        detail,
        peer,
        outcome,
    })
}
