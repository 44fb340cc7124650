//! The collector's SQLite database read back by a test, read-only: how many results an agent
//! stored, duplicates, and their keys.

use std::path::Path;

/// The collector's database, opened read-only.
pub fn database(path: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap()
}

/// Results stored for `agent`.
pub fn stored_count(db: &Path, agent: &str) -> i64 {
    database(db)
        .query_row(
            "SELECT COUNT(*) FROM dv_results WHERE agent = ?1",
            [agent],
            |r| r.get(0),
        )
        .unwrap()
}

/// (target, check, time) keys stored more than once for `agent`.
pub fn stored_duplicates(db: &Path, agent: &str) -> i64 {
    database(db)
        .query_row(
            "SELECT COUNT(*) FROM (SELECT 1 FROM dv_results WHERE agent = ?1 \
             GROUP BY target, check_name, time_ms HAVING COUNT(*) > 1)",
            [agent],
            |r| r.get(0),
        )
        .unwrap()
}

/// The (target, check, time in ms) of every result stored for `agent`.
pub fn stored_keys(db: &Path, agent: &str) -> std::collections::BTreeSet<(String, String, i64)> {
    let conn = database(db);
    let mut stmt = conn
        .prepare("SELECT target, check_name, time_ms FROM dv_results WHERE agent = ?1")
        .unwrap();
    stmt.query_map([agent], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}
