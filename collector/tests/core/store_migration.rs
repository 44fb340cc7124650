//! A database written by release 0.1.0 (`fixtures/release-0.1.0.db`: a demo run with outages,
//! notices, alerting state, an activated secondary window and an ad-hoc window) opens with
//! today's store, is migrated to the current schema version, and keeps every row.

use chrono::{DateTime, NaiveDate, Utc};
use driftvakt_collector::store::sqlite::migrations::SCHEMA_VERSION;
use driftvakt_collector::store::sqlite::schema_version;
use driftvakt_collector::store::{
    AnnouncedStore, EntityKind, OutboxStore, SqliteAnnouncedStore, SqliteNotifyStore, SqliteStore,
    SqliteWindowStore, Status, Store, WindowStore,
};
use std::path::{Path, PathBuf};

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/release-0.1.0.db"
);

/// A private copy of the fixture (the committed file is never written).
fn copy_fixture(dir: &Path) -> PathBuf {
    let path = dir.join("driftvakt.db");
    std::fs::copy(FIXTURE, &path).expect("copy the 0.1.0 fixture");
    path
}

fn version_of(path: &Path) -> i64 {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap()
}

#[test]
fn a_release_0_1_0_database_migrates_with_nothing_lost() {
    let dir = tempfile::tempdir().unwrap();
    let path = copy_fixture(dir.path());
    assert_eq!(version_of(&path), 1, "the fixture is a 0.1.0 database");

    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(version_of(&path), SCHEMA_VERSION);

    // Results and outages: seven devices seen, every outage of the demo run kept.
    let seen = store.seen().unwrap();
    assert_eq!(seen.len(), 7, "devices with results: {:?}", seen.keys());
    let devices = store
        .outages(EntityKind::Device, None, i64::MIN, i64::MAX)
        .unwrap();
    let services = store
        .outages(EntityKind::Service, None, i64::MIN, i64::MAX)
        .unwrap();
    assert_eq!((devices.len(), services.len()), (11, 8));
    let screen: Vec<_> = devices
        .iter()
        .filter(|o| o.id == "skarm-biblioteket-entre")
        .map(|o| (o.start, o.end, o.kind.as_str()))
        .collect();
    assert_eq!(
        screen,
        vec![
            (1795786296350, Some(1795786356355), "down"),
            (1795786356355, None, "unknown")
        ]
    );
    let total: usize = seen
        .keys()
        .map(|d| store.results(d, i64::MIN).unwrap().len())
        .sum();
    assert_eq!(total, 36);

    // Operators' decisions on windows.
    let windows = SqliteWindowStore::open(&path).unwrap();
    let activations = windows.list_activations().unwrap();
    assert_eq!(activations.len(), 1);
    assert_eq!(
        activations[0].date,
        NaiveDate::from_ymd_opt(2026, 12, 22).unwrap()
    );
    assert_eq!(activations[0].activated_by, "fixture");
    let adhoc = windows.list_adhoc().unwrap();
    assert_eq!(adhoc.len(), 1);
    assert_eq!(adhoc[0].reason, "Byte av switch");
    assert_eq!(adhoc[0].scope.to_string(), "site:biblioteket");
    assert_eq!(
        adhoc[0].start,
        "2026-12-01T17:00:00Z".parse::<DateTime<Utc>>().unwrap()
    );

    // The notifier's outbox: three notices, all sent.
    let notify = SqliteNotifyStore::open(&path).unwrap();
    let sent = notify.list(Some(Status::Sent)).unwrap();
    let subjects: Vec<&str> = sent.iter().map(|r| r.subject.as_str()).collect();
    assert_eq!(
        subjects,
        vec![
            "Driftmeddelande – störning: Lokalbokning, Biblioteket",
            "Larm: skarm-biblioteket-bokning, Biblioteket – Enheten svarar inte",
            "Larm: skarm-biblioteket-entre, Biblioteket – Enheten svarar inte",
        ]
    );

    // What alerting had announced.
    let announced = SqliteAnnouncedStore::open(&path).unwrap();
    let keys: Vec<String> = announced
        .all()
        .unwrap()
        .into_iter()
        .map(|a| a.key)
        .collect();
    assert_eq!(
        keys,
        vec![
            "device:skarm-biblioteket-bokning:down",
            "device:skarm-biblioteket-entre:down",
            "service:lokalbokning-biblioteket",
        ]
    );
}

#[test]
fn migrating_twice_changes_nothing_and_a_newer_database_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = copy_fixture(dir.path());
    drop(SqliteStore::open(&path).unwrap());
    let conn = driftvakt_collector::store::sqlite::open(&path).unwrap();
    assert_eq!(schema_version(&conn).unwrap(), SCHEMA_VERSION);
    // A newer schema after a contract migration (its marker excludes this program; the
    // compatible case is in `store_schema`).
    conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
        .unwrap();
    conn.execute(
        "UPDATE dv_schema SET oldest_compatible = ?1",
        [SCHEMA_VERSION + 1],
    )
    .unwrap();
    drop(conn);
    let err = SqliteStore::open(&path)
        .err()
        .expect("a newer, incompatible schema is refused");
    assert!(
        err.to_string().contains("is newer than this program"),
        "{err}"
    );
}

#[test]
fn a_database_url_is_refused_not_taken_for_a_file_path() {
    let url = Path::new("postgres://driftvakt@127.0.0.1:5432/driftvakt");
    let err = SqliteStore::open(url).err().expect("a URL is refused");
    assert!(
        err.to_string()
            .contains("`postgres://…` is a database URL, not a SQLite file path"),
        "{err}"
    );
    assert!(
        !Path::new("postgres:").exists(),
        "no folder named `postgres:` was made"
    );
}
