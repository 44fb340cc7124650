//! `driftvakt-collector db copy` with the real binary and a throwaway PostgreSQL (the test kit's `pg`):
//! a SQLite installation with rows in every table is copied to PostgreSQL and back to a new
//! SQLite file; the rows per table and the year's report are the same in all three, ids are
//! kept and PostgreSQL's sequences continue after them; a target with rows or another schema
//! version is refused; and the copy's table list is the schema's, on both backends.

use driftvakt_collector_testkit::backends::PgLocation;
use driftvakt_collector_testkit::pg;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use driftvakt_collector::app::App;
use driftvakt_collector::calendar::{NewAdhocWindow, WindowScope};
use driftvakt_collector::events::Event;
use driftvakt_collector::inventory::Inventory;
use driftvakt_collector::store::copy::{RUNTIME, TABLES};
use driftvakt_collector::store::schema_tables;
use driftvakt_collector::store::{
    Announced, Database, Failure, FailureState, IncidentUpdate, Location, NewManualIncident,
    NewNotice, OncallCase, StoredResult,
};
use driftvakt_collector_testkit::fixtures::*;
use driftvakt_common::wire::Batch;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

const DAY: i64 = 1440;
const NOW: &str = "2026-04-01T00:00:00Z";

/// Runs the collector binary with `args`: its stdout, or its stderr when it failed.
pub(crate) fn binary(args: &[&str]) -> Result<String, String> {
    let out = Command::new(env!("CARGO_BIN_EXE_driftvakt-collector"))
        .args(args)
        .output()
        .unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    if out.status.success() {
        Ok(text(&out.stdout))
    } else {
        Err(text(&out.stderr))
    }
}

/// `db copy` as JSON: rows per table (asserted equal in source and target).
fn copy(from: &str, to: &str) -> BTreeMap<String, u64> {
    let out = binary(&["db", "copy", "--from", from, "--to", to, "--format", "json"])
        .unwrap_or_else(|e| panic!("db copy {from} -> {to}: {e}"));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    v["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            assert_eq!(t["source"], t["target"], "{t}");
            let n = t["target"].as_u64().unwrap();
            (t["table"].as_str().unwrap().to_string(), n)
        })
        .collect()
}

fn report(cfg: &Path, database: &str) -> serde_json::Value {
    let cfg = cfg.to_string_lossy();
    let out = binary(&[
        "report",
        "--config",
        &cfg,
        "--database",
        database,
        "--period",
        "2026",
        "--format",
        "json",
        "--now",
        NOW,
    ])
    .unwrap_or_else(|e| panic!("report on {database}: {e}"));
    serde_json::from_str(&out).unwrap()
}

fn utc(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

/// Results over two days three weeks apart (an outage and a flap on the first), pruned so the
/// first day is runs; one batch stored without re-derivation (a pending device).
fn fill_results(cfg: &Path, location: &Location) {
    let inv = Inventory::load(cfg).unwrap();
    let store = Database::open(location).unwrap().store().unwrap();
    let (now, cell) = clock(minute(DAY));
    let app = App::new(inv, store, now).unwrap();
    for (day, prefix) in [(0, "first"), (20, "later")] {
        *cell.lock().unwrap() = minute((day + 1) * DAY);
        let span = day * DAY..(day + 1) * DAY;
        let fails = |m: i64| (600..660).contains(&(m % DAY)) || m % DAY == 300 || m % DAY == 301;
        let mut all = history("prn", span.start, span.end, fails);
        all.extend(history("sw", span.start, span.end, |_| false));
        all.sort_by_key(|r| r.time);
        for (i, chunk) in all.chunks(400).enumerate() {
            let b = Batch {
                agent: "a1".into(),
                batch_id: format!("{prefix}-{i}"),
                results: chunk.to_vec(),
            };
            assert!(app.ingest_blocking("a1", &b).unwrap().rejected.is_empty());
        }
    }
    assert!(app.prune().unwrap().removed > 0, "runs before the horizon");
    let t = minute(21 * DAY - 5).timestamp_millis();
    let r = StoredResult::single("a1", "ap1", "icmp", t, true, false, None, "{}".into());
    app.store.apply_batch("a1", "direct", &[r], t).unwrap();
}

fn notice(key: &str, at: DateTime<Utc>, case: Option<OncallCase>) -> NewNotice {
    NewNotice {
        key: key.into(),
        kind: "alert".into(),
        recipient: "jour@example.se".into(),
        sender: "driftvakt@example.se".into(),
        subject: format!("Larm {key}"),
        message_id: format!("<{key}@driftvakt>"),
        raw: b"Subject: x\r\n\r\n\xc3\xa5 body".to_vec(),
        due_at: at,
        oncall_case: case,
        channel: "mail".into(),
    }
}

fn service_up(at: DateTime<Utc>) -> Event {
    Event::ServiceUp {
        service_id: "print".into(),
        service_name: "Nätverksutskrift".into(),
        municipality: "Ulricehamn".into(),
        since: at - Duration::hours(1),
        until: at,
    }
}

/// A row or more in every other table, through the stores.
fn fill_the_rest(location: &Location) {
    let db = Database::open(location).unwrap();
    let at = utc("2026-03-10T11:00:00Z");
    let windows = db.windows().unwrap();
    let date = NaiveDate::from_ymd_opt(2026, 3, 24).unwrap();
    windows.activate_secondary(date, "anna", at).unwrap();
    for reason in ["Byte av switch", "Avbokad"] {
        let w = NewAdhocWindow {
            start: utc("2026-03-12T16:00:00Z"),
            end: utc("2026-03-12T18:00:00Z"),
            scope: WindowScope::All,
            reason: reason.into(),
            created_by: "bo".into(),
            created_at: at,
        };
        let id = windows.add_adhoc(&w).unwrap();
        if reason == "Avbokad" {
            windows.cancel_adhoc(id, "bo", at).unwrap();
        }
    }
    let notify = db.notify().unwrap();
    let case = OncallCase {
        at,
        device_id: "prn".into(),
        device_name: "Skrivare".into(),
        kind: "down".into(),
        municipality: "Ulricehamn".into(),
        since: at - Duration::hours(1),
        acknowledged_at: None,
        resolved_at: None,
    };
    let sent = notify.enqueue(&notice("a", at, Some(case)), at).unwrap();
    let sent = sent.unwrap();
    notify.claim_due(at, at + Duration::minutes(2), 10).unwrap();
    notify.mark_sent(sent, at).unwrap();
    let digest = notify.enqueue(&notice("digest", at, None), at).unwrap();
    notify
        .add_digest_item(digest.unwrap(), "print", "Utskrift nere")
        .unwrap();
    notify
        .put_failure(&Failure {
            key: "service:print".into(),
            event: service_up(at),
            state: FailureState::Open,
            notices: vec![sent],
            updated_at: at,
        })
        .unwrap();
    notify.set_schedule_mark("monthly", at).unwrap();
    notify
        .open_page("service:print", at, &service_up(at), Some(at))
        .unwrap();
    db.announced()
        .unwrap()
        .put(&Announced {
            key: "service:print".into(),
            since: at,
            event: service_up(at),
        })
        .unwrap();
    let incidents = db.incidents().unwrap();
    let new = NewManualIncident {
        title: "Telefonin".into(),
        description: "Inga samtal in".into(),
        services: vec!["print".into()],
        municipalities: vec!["Ulricehamn".into()],
        start: at,
        end: Some(at + Duration::hours(2)),
        cause: Some("sw".into()),
        by: "anna".into(),
    };
    let id = incidents.add(&new, at).unwrap();
    let update = IncidentUpdate {
        at: at + Duration::minutes(30),
        by: "anna".into(),
        text: "Leverantören felsöker".into(),
    };
    incidents.add_update(id, &update).unwrap();
    db.service_updates()
        .unwrap()
        .add("print", at - Duration::hours(1), at, "bo", "Felsöker")
        .unwrap();
    let case = driftvakt_collector::store::NewManualOncallCase {
        municipality: "Ulricehamn".into(),
        department: "Vård och omsorg".into(),
        start: at,
        end: at + Duration::minutes(20),
        title: "Larmservern på äldreboendet".into(),
        description: String::new(),
        by: "anna".into(),
    };
    db.oncall_cases().unwrap().add(&case, at).unwrap();
    db.register()
        .unwrap()
        .record(&[driftvakt_collector::store::RegisterChange {
            device: "sw".into(),
            day: "2026-05-01".parse().unwrap(),
            municipality: "Ulricehamn".into(),
            owner: "Barn och utbildning".into(),
            status: "active".into(),
        }])
        .unwrap();
    let intefunktion = driftvakt_collector::store::NewIntefunktionCase {
        function: "utskrift".into(),
        municipality: "Ulricehamn".into(),
        start: at,
        end: None,
        title: "Ingen kan skriva ut".into(),
        description: String::new(),
        by: "anna".into(),
        incident: Some(1),
    };
    db.intefunktion().unwrap().add(&intefunktion, at).unwrap();
    let line = driftvakt_collector::store::AuditEntry {
        id: 0,
        at,
        who: "anna".into(),
        action: "incident.register".into(),
        detail: "incident 1: Ingen kan skriva ut".into(),
        peer: "127.0.0.1".into(),
        outcome: "ok".into(),
    };
    db.audit().unwrap().insert(&line).unwrap();
    let accepted = driftvakt_collector::store::AcceptedParent {
        device: "ap1".into(),
        parent: "sw".into(),
        accepted_at: at,
    };
    db.topology().unwrap().accept(&accepted).unwrap();
}

#[test]
fn sqlite_to_postgres_and_back_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("first.db");
    let cfg = write_inventory(dir.path(), Some(&first));
    fill_results(&cfg, &first.clone().into());
    fill_the_rest(&first.clone().into());
    let pg = pg::database();
    let (first_s, url) = (first.to_string_lossy().into_owned(), pg.url());
    let back = dir.path().join("sub").join("back.db");
    let back_s = back.to_string_lossy().into_owned();

    let there = copy(&first_s, &url);
    let empty: Vec<_> = there.iter().filter(|(_, n)| **n == 0).collect();
    assert!(empty.is_empty(), "every table has rows: {empty:?}");
    let listed: BTreeSet<&str> = TABLES.iter().copied().collect();
    assert_eq!(
        there.keys().map(String::as_str).collect::<BTreeSet<_>>(),
        listed
    );
    let again = copy(&url, &back_s);
    assert_eq!(
        again, there,
        "rows per table, SQLite -> PostgreSQL -> SQLite"
    );

    let (a, b, c) = (
        report(&cfg, &first_s),
        report(&cfg, &url),
        report(&cfg, &back_s),
    );
    let prn = a["devices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["id"] == "prn");
    let prn = prn.expect("the printer in the report");
    assert_eq!(
        (prn["downtime_s"].as_f64(), prn["flaps"].as_u64()),
        (Some(7200.0), Some(2))
    );
    assert_eq!(
        a["oncall_cases"], 2,
        "a page and a case registered by hand: {a}"
    );
    assert_eq!(a, b, "the year's report on PostgreSQL");
    assert_eq!(a, c, "the year's report on the SQLite copy of the copy");

    // The same ids, and PostgreSQL hands out the next one after them.
    let ids = "SELECT string_agg(id::text, ',' ORDER BY id) FROM calendar_adhoc_windows";
    assert_eq!(pg.cluster.psql(&pg.name, ids), "1,2");
    let w = NewAdhocWindow {
        start: utc("2026-04-02T16:00:00Z"),
        end: utc("2026-04-02T18:00:00Z"),
        scope: WindowScope::All,
        reason: "Ny".into(),
        created_by: "bo".into(),
        created_at: utc(NOW),
    };
    let windows = Database::open(&pg.location()).unwrap().windows().unwrap();
    assert_eq!(windows.add_adhoc(&w).unwrap(), 3);
}

#[test]
fn a_target_with_rows_or_another_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("first.db");
    fill_the_rest(&first.clone().into());
    let first_s = first.to_string_lossy().into_owned();
    let pg = pg::database();
    copy(&first_s, &pg.url());
    let err = binary(&["db", "copy", "--from", &first_s, "--to", &pg.url()]).unwrap_err();
    assert!(
        err.contains("already has rows in table calendar_secondary_activations"),
        "{err}"
    );
    let other = pg::database();
    other.cluster.psql(
        &other.name,
        "CREATE TABLE dv_schema (version BIGINT NOT NULL); INSERT INTO dv_schema VALUES (3)",
    );
    let target = dir.path().join("x.db").to_string_lossy().into_owned();
    let err = binary(&["db", "copy", "--from", &other.url(), "--to", &target]).unwrap_err();
    assert!(err.contains("schema version 3"), "{err}");
    let missing = dir.path().join("missing.db").to_string_lossy().into_owned();
    let err = binary(&["db", "copy", "--from", &missing, "--to", &pg.url()]).unwrap_err();
    assert!(err.contains("does not exist"), "{err}");
}

/// A new migration's table must be added to the copy's list: both schemas, as migrated, have
/// exactly the tables `db copy` knows.
#[test]
fn the_copy_knows_every_table_of_both_schemas() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite: Location = dir.path().join("dv.db").into();
    drop(Database::open(&sqlite).unwrap().store().unwrap());
    let pg = pg::database();
    drop(Database::open(&pg.location()).unwrap());
    let known: BTreeSet<String> = TABLES
        .iter()
        .chain(RUNTIME)
        .map(|t| t.to_string())
        .collect();
    for location in [sqlite, pg.location()] {
        let found: BTreeSet<String> = schema_tables(&location).unwrap().into_iter().collect();
        let unknown: Vec<_> = found.difference(&known).collect();
        let gone: Vec<_> = known.difference(&found).collect();
        assert!(
            unknown.is_empty() && gone.is_empty(),
            "{location}: tables db copy does not know: {unknown:?}; listed but not in the \
             schema: {gone:?} (update store::copy::TABLES or RUNTIME)"
        );
    }
}
