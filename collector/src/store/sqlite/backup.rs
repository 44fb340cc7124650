//! `db backup` and `db restore` of a SQLite database, and the lock that keeps a restore off a
//! database a collector runs on.
//!
//! **Backup** ([`backup`]): SQLite's online backup API copies every page of the database in one
//! step (`sqlite3_backup_step(-1)`), that is inside one read transaction. With WAL the
//! collector's writers go on meanwhile and are not waited for; the copy is the database as of
//! the moment that read began: every transaction committed before it (a batch with its results
//! and its id), none after, nothing half. It is written to `FILE.partial`, checked
//! (`PRAGMA integrity_check`), switched to a rollback journal (one self-contained file, no
//! `-wal` beside it), synced and renamed to `FILE`; an existing `FILE` is never overwritten.
//!
//! **Restore** ([`restore`]): the backup is checked first (integrity, a Driftvakt schema this
//! program knows), then copied page by page over the database with the same API (which also
//! takes care of the database's `-wal`, so no stale log is replayed over the restored pages).
//! It refuses while a collector runs on the database.
//!
//! **The run lock** ([`RunLock`]): `run` holds a shared `flock` on `DATABASE.lock` (beside the
//! database) for as long as it runs; a restore takes it exclusively without waiting, so it
//! refuses while any collector runs on the file, and a collector started during a restore
//! refuses to start. (The CLI tools that only read or add a row, such as `report` or
//! `incident add`, do not take it.)

use super::migrations::SCHEMA_VERSION;
use crate::store::copy::{RUNTIME, TABLES};
use crate::store::StoreError;
use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags};
use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long a backup or restore step waits for a lock another connection holds.
const BUSY_LIMIT: Duration = Duration::from_secs(30);

/// What a backup or restore wrote.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Copied {
    /// The file read.
    pub from: String,
    /// The file written.
    pub to: String,
    /// Size of the file written, in bytes.
    pub bytes: u64,
    /// The schema version (`user_version`) of what was copied.
    pub schema_version: i64,
    /// Rows per table of the schema, in what was written.
    pub tables: Vec<TableRows>,
}

/// Rows of one table.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TableRows {
    pub table: String,
    pub rows: u64,
}

fn failed(message: String) -> StoreError {
    StoreError::Backup(message)
}

/// Copies the database at `db` (which a collector may be writing) into the new file `to`.
pub fn backup(db: &Path, to: &Path) -> Result<Copied, StoreError> {
    if !db.is_file() {
        return Err(failed(format!("database {} does not exist", db.display())));
    }
    if to.exists() {
        return Err(failed(format!(
            "{} exists: a backup never overwrites a file; give a new name",
            to.display()
        )));
    }
    let partial = with_suffix(to, ".partial");
    remove_if_present(&partial)?;
    let source = open_read_only(db)?;
    let mut target = Connection::open(&partial)?;
    copy_pages(&source, &mut target)?;
    drop(source);
    // One self-contained file: no `-wal` to carry beside it.
    target.pragma_update(None, "journal_mode", "DELETE")?;
    check_integrity(&target, &partial)?;
    let copied = summary(&target, db, to)?;
    drop(target);
    File::open(&partial)?.sync_all()?;
    std::fs::rename(&partial, to)?;
    sync_folder(to)?;
    Ok(Copied {
        bytes: std::fs::metadata(to)?.len(),
        ..copied
    })
}

/// Replaces the database at `db` (created when missing) with the backup `from`; refuses while
/// a collector runs on `db` ([`RunLock`]).
pub fn restore(from: &Path, db: &Path) -> Result<Copied, StoreError> {
    if !from.is_file() {
        return Err(failed(format!("backup {} does not exist", from.display())));
    }
    if db.exists() && std::fs::canonicalize(from)? == std::fs::canonicalize(db)? {
        return Err(failed(format!(
            "{} is the database itself: give the backup file",
            from.display()
        )));
    }
    let source = open_read_only(from)?;
    check_integrity(&source, from)?;
    check_schema(&source, from)?;
    let _lock = RunLock::exclusive(db)?;
    let mut target = Connection::open(db)?;
    target.busy_timeout(Duration::from_secs(5))?;
    copy_pages(&source, &mut target)?;
    drop(source);
    target.pragma_update(None, "journal_mode", "WAL")?;
    check_integrity(&target, db)?;
    let copied = summary(&target, from, db)?;
    drop(target);
    Ok(Copied {
        bytes: std::fs::metadata(db)?.len(),
        ..copied
    })
}

fn open_read_only(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    Ok(conn)
}

/// Every page of `source` into `target`, in one step (one read transaction on the source);
/// a busy or locked database is waited for, at most [`BUSY_LIMIT`].
fn copy_pages(source: &Connection, target: &mut Connection) -> Result<(), StoreError> {
    let backup = Backup::new(source, target)?;
    let start = Instant::now();
    loop {
        match backup.step(-1)? {
            StepResult::Done => return Ok(()),
            StepResult::More => {}
            StepResult::Busy | StepResult::Locked if start.elapsed() < BUSY_LIMIT => {
                std::thread::sleep(Duration::from_millis(50));
            }
            _ => {
                return Err(failed(format!(
                    "the database stayed locked for {BUSY_LIMIT:?}; try again"
                )))
            }
        }
    }
}

fn check_integrity(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let verdict: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
    if verdict == "ok" {
        Ok(())
    } else {
        Err(failed(format!(
            "{} fails SQLite's integrity check: {verdict}",
            path.display()
        )))
    }
}

/// A Driftvakt database (its results table is there) at a schema version this program knows.
fn check_schema(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let version = super::schema_version(conn)?;
    if version > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew {
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    let batches: i64 = conn.query_row(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'dv_batches'",
        [],
        |r| r.get(0),
    )?;
    if version == 0 || batches == 0 {
        return Err(failed(format!(
            "{} is not a Driftvakt database (no schema version or no dv_batches table)",
            path.display()
        )));
    }
    Ok(())
}

/// Rows per table of the schema in `conn` (tables an older schema lacks are left out).
fn summary(conn: &Connection, from: &Path, to: &Path) -> Result<Copied, StoreError> {
    let mut tables = Vec::new();
    for table in TABLES.iter().chain(RUNTIME) {
        let sql = format!("SELECT count(*) FROM \"{table}\"");
        match conn.query_row(&sql, [], |r| r.get::<_, i64>(0)) {
            Ok(rows) => tables.push(TableRows {
                table: table.to_string(),
                rows: rows as u64,
            }),
            Err(rusqlite::Error::SqliteFailure(_, Some(m))) if m.contains("no such table") => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Copied {
        from: from.display().to_string(),
        to: to.display().to_string(),
        bytes: 0,
        schema_version: super::schema_version(conn)?,
        tables,
    })
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn remove_if_present(path: &Path) -> Result<(), StoreError> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
        _ => Ok(()),
    }
}

/// Syncs the folder of `path`, so the rename survives a power cut.
fn sync_folder(path: &Path) -> Result<(), StoreError> {
    let folder = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    File::open(folder)?.sync_all()?;
    Ok(())
}

/// The `flock` on `DATABASE.lock` (see the module doc); released when dropped.
#[derive(Debug)]
pub struct RunLock {
    _file: File,
}

impl RunLock {
    /// `run`'s shared lock: several collectors may hold it at once; refused while a restore
    /// holds it.
    pub fn shared(db: &Path) -> Result<RunLock, StoreError> {
        let (path, lock) = RunLock::take(db, libc::LOCK_SH)?;
        lock.ok_or_else(|| {
            failed(format!(
                "a restore (`db restore`) is writing {} (it holds {}): start the collector \
                 when it is done",
                db.display(),
                path.display()
            ))
        })
    }

    /// A restore's exclusive lock: refused while a collector runs on the database.
    pub fn exclusive(db: &Path) -> Result<RunLock, StoreError> {
        let (path, lock) = RunLock::take(db, libc::LOCK_EX)?;
        lock.ok_or_else(|| {
            failed(format!(
                "a collector is running on {} (it holds {}): stop it first (systemctl stop \
                 driftvakt-collector, on every node that uses this file), then restore",
                db.display(),
                path.display()
            ))
        })
    }

    /// The lock file's path, and the lock if it could be taken without waiting (`None` when
    /// another process holds it the conflicting way).
    fn take(db: &Path, operation: libc::c_int) -> Result<(PathBuf, Option<RunLock>), StoreError> {
        let path = with_suffix(db, ".lock");
        if let Some(folder) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(folder)?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)?;
        // SAFETY: `flock` on a descriptor this function owns; no memory is passed.
        let rc = unsafe { libc::flock(file.as_raw_fd(), operation | libc::LOCK_NB) };
        if rc == 0 {
            return Ok((path, Some(RunLock { _file: file })));
        }
        let err = std::io::Error::last_os_error();
        if err.kind() == std::io::ErrorKind::WouldBlock {
            Ok((path, None))
        } else {
            Err(err.into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{backup, restore, RunLock};

    #[test]
    fn restore_refuses_what_is_not_a_backup_and_backup_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("collector.db");
        drop(crate::store::SqliteStore::open(&db).unwrap());
        let other = dir.path().join("other.db");
        rusqlite::Connection::open(&other)
            .unwrap()
            .execute_batch("CREATE TABLE t (x); PRAGMA user_version = 3;")
            .unwrap();
        let err = restore(&other, &db).unwrap_err().to_string();
        assert!(err.contains("is not a Driftvakt database"), "{err}");
        let err = restore(&db, &db).unwrap_err().to_string();
        assert!(err.contains("is the database itself"), "{err}");
        let err = backup(&db, &other).unwrap_err().to_string();
        assert!(err.contains("never overwrites"), "{err}");
        let copy = dir.path().join("b/copy.db");
        std::fs::create_dir_all(copy.parent().unwrap()).unwrap();
        let done = backup(&db, &copy).unwrap();
        assert!(done.tables.iter().any(|t| t.table == "dv_batches"));
        assert!(
            !dir.path().join("b/copy.db-wal").exists(),
            "one self-contained file"
        );
        restore(&copy, &db).unwrap();
    }

    #[test]
    fn collectors_share_the_run_lock_and_a_restore_takes_it_alone() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("data/collector.db");
        let (a, b) = (RunLock::shared(&db).unwrap(), RunLock::shared(&db).unwrap());
        let refused = RunLock::exclusive(&db).unwrap_err().to_string();
        assert!(refused.contains("a collector is running on"), "{refused}");
        assert!(refused.contains("collector.db.lock"), "{refused}");
        drop((a, b));
        let restore = RunLock::exclusive(&db).unwrap();
        let refused = RunLock::shared(&db).unwrap_err().to_string();
        assert!(
            refused.contains("a restore (`db restore`) is writing"),
            "{refused}"
        );
        drop(restore);
        RunLock::shared(&db).unwrap();
    }
}
