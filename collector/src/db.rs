//! Opening the collector's SQLite database. Every part that persists something (results and
//! outages, service windows, the mail outbox, what alerting has announced) keeps its tables in
//! the same file, opened the same way: WAL (readers never block the writer), `synchronous=FULL`
//! (what was acknowledged survives a power cut), and a 5 s busy timeout for the moments two
//! writers meet.

use rusqlite::Connection;
use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// Opens (creating if needed) the database file at `path`.
pub fn open(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    Ok(conn)
}

/// The connection behind a mutex; a panic while it was held leaves SQLite consistent, so a
/// poisoned lock is taken over rather than propagated.
pub fn lock(conn: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    conn.lock().unwrap_or_else(|e| e.into_inner())
}
