//! The schema's compatibility marker (`store::schema`) on both backends: a new database records
//! the oldest schema version that can run on it; a program runs on a newer schema whose marker
//! allows it (without migrating it, and `run` logs so at INFO), and refuses one whose marker
//! does not, with a message that says which release it needs. The schema "one release ahead"
//! is made by hand: the version raised by one and the marker set, as the next release's
//! migration would leave them.

use driftvakt_collector::store::schema::{oldest_compatible, MARKER_SINCE};
use driftvakt_collector::store::sqlite::migrations::SCHEMA_VERSION;
use driftvakt_collector::store::{Applied, Database, Location, StoredResult};
use driftvakt_collector_testkit::backends::{Backend, TestDb};
use driftvakt_collector_testkit::both_backends;
use driftvakt_collector_testkit::fixtures::write_inventory;
use driftvakt_collector_testkit::process::Proc;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_driftvakt-collector");

/// Sets the stored version and marker, as a release that migrated the database would.
fn set_schema(db: &TestDb, version: i64, oldest: i64) {
    match (&db.location, &db.pg) {
        (Location::Sqlite(path), _) => {
            let conn = rusqlite::Connection::open(path).unwrap();
            conn.execute("UPDATE dv_schema SET oldest_compatible = ?1", [oldest])
                .unwrap();
            conn.pragma_update(None, "user_version", version).unwrap();
        }
        (_, Some(pg)) => {
            pg.cluster.psql(
                &pg.name,
                &format!("UPDATE dv_schema SET version = {version}, oldest_compatible = {oldest}"),
            );
        }
        _ => unreachable!("a PostgreSQL location has its database"),
    }
}

/// A fresh database of `backend`, created and migrated by this program.
fn migrated(backend: Backend, dir: &Path) -> TestDb {
    let db = backend.fresh(dir, "schema");
    drop(Database::open(&db.location).unwrap().stores().unwrap());
    db
}

fn one_result(time: i64) -> StoredResult {
    StoredResult::single("a1", "d1", "icmp", time, true, false, None, "{}".into())
}

fn a_newer_schema_runs_only_when_its_marker_allows_it(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let db = migrated(backend, dir.path());
    let schema = Database::open(&db.location).unwrap().schema().unwrap();
    assert_eq!(schema.version, SCHEMA_VERSION);
    const { assert!(SCHEMA_VERSION >= MARKER_SINCE) };
    assert_eq!(
        schema.oldest_compatible,
        Some(oldest_compatible(SCHEMA_VERSION)),
        "a migrated database records its marker"
    );
    assert_eq!(schema.newer_note(), None);

    // The next release after an expand migration: this program still runs on it, unmigrated.
    set_schema(&db, SCHEMA_VERSION + 1, SCHEMA_VERSION);
    let opened = Database::open(&db.location).unwrap();
    let stores = opened.stores().expect("a compatible newer schema opens");
    let applied = stores
        .results
        .apply_batch("a1", "b1", &[one_result(1_000)], 5)
        .unwrap();
    assert!(
        matches!(applied, Applied::New { inserted: 1, .. }),
        "{applied:?}"
    );
    let schema = opened.schema().unwrap();
    assert_eq!(
        (schema.version, schema.oldest_compatible),
        (SCHEMA_VERSION + 1, Some(SCHEMA_VERSION)),
        "left as it was"
    );
    let note = schema
        .newer_note()
        .expect("run says it runs on a newer schema");
    assert!(
        note.contains(&format!(
            "database schema version {} is newer than this program ({SCHEMA_VERSION}) and \
             compatible",
            SCHEMA_VERSION + 1
        )),
        "{note}"
    );
    drop(stores);

    // After a contract migration: refused, naming the release it needs.
    set_schema(&db, SCHEMA_VERSION + 2, SCHEMA_VERSION + 1);
    let err = Database::open(&db.location)
        .and_then(|d| d.stores())
        .err()
        .expect("an incompatible newer schema is refused")
        .to_string();
    assert!(
        err.contains(&format!(
            "database schema version {} is newer than this program ({SCHEMA_VERSION}) and needs \
             a program of schema version {} or later",
            SCHEMA_VERSION + 2,
            SCHEMA_VERSION + 1
        )),
        "{err}"
    );
}

/// `run` on the database (`--database`), its stderr in `log`: the process once `/healthz`
/// answers (killed when dropped), or `None` when it exited first.
fn run_collector(config: &Path, db: &TestDb, log: &Path) -> Option<Proc> {
    let port = driftvakt_collector_testkit::ports::free_port();
    let mut cmd = Command::new(BIN);
    cmd.args(["run", "--config"])
        .arg(config)
        .args(["--database", &db.text()])
        .args(["--listen", &format!("127.0.0.1:{port}")]);
    let mut proc = Proc::spawn("collector", &mut cmd, log);
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if proc.child.try_wait().unwrap().is_some() {
            return None;
        }
        if driftvakt_collector_testkit::http::get(port, "/healthz").is_some() {
            return Some(proc);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!(
        "the collector neither served nor exited within 20 s: {}",
        proc.describe()
    );
}

fn run_logs_a_compatible_newer_schema_and_refuses_an_incompatible_one(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let config = write_inventory(dir.path(), None);
    let db = migrated(backend, dir.path());
    set_schema(&db, SCHEMA_VERSION + 1, SCHEMA_VERSION);
    let log = dir.path().join("compatible.log");
    let served = run_collector(&config, &db, &log).unwrap_or_else(|| {
        panic!(
            "run refused a compatible newer schema: {}",
            std::fs::read_to_string(&log).unwrap()
        )
    });
    drop(served);
    let text = std::fs::read_to_string(&log).unwrap();
    let line = text
        .lines()
        .find(|l| l.contains("is newer than this program"))
        .unwrap_or_else(|| panic!("no line about the newer schema: {text}"));
    assert!(
        line.contains("INFO") && line.contains("running on it without migrating"),
        "{line}"
    );

    set_schema(&db, SCHEMA_VERSION + 2, SCHEMA_VERSION + 1);
    let log = dir.path().join("incompatible.log");
    if let Some(served) = run_collector(&config, &db, &log) {
        panic!(
            "run served on an incompatible schema: {}",
            served.describe()
        );
    }
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains(&format!(
            "needs a program of schema version {} or later",
            SCHEMA_VERSION + 1
        )),
        "{text}"
    );
}

both_backends!(
    a_newer_schema_runs_only_when_its_marker_allows_it,
    run_logs_a_compatible_newer_schema_and_refuses_an_incompatible_one,
);
