//! The `calendar` subcommand run as a process: its JSON is an interface other tools read.

use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_driftvakt-collector"))
        .arg("calendar")
        .args(args)
        .env_remove("RUST_BACKTRACE")
        .output()
        .expect("binary runs")
}

fn json(args: &[&str]) -> Value {
    let out = run(args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON output")
}

fn failure(args: &[&str]) -> String {
    let out = run(args);
    assert!(!out.status.success(), "{args:?} should fail");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn db_arg(dir: &Path) -> String {
    dir.join("driftvakt.db").display().to_string()
}

#[test]
fn windows_for_a_year_as_json() {
    let v = json(&[
        "windows",
        "--from",
        "2026-01-01",
        "--to",
        "2026-12-31",
        "--format",
        "json",
    ]);
    let list = v.as_array().unwrap();
    assert_eq!(list.len(), 24);
    assert_eq!(list[4]["kind"], "primary");
    assert_eq!(list[4]["start"], "2026-03-17T18:00:00+01:00");
    assert_eq!(list[4]["end"], "2026-03-17T22:00:00+01:00");
    assert_eq!(list[4]["active"], true);
    assert_eq!(list[4]["holiday"], Value::Null);
    assert_eq!(list[5]["kind"], "secondary");
    assert_eq!(list[5]["start"], "2026-03-24T18:00:00+01:00");
    assert_eq!(list[5]["active"], false);
    assert_eq!(list[19]["start"], "2026-10-27T18:00:00+01:00");
    assert_eq!(list[18]["start"], "2026-10-20T18:00:00+02:00");
    let starts: Vec<&str> = list.iter().map(|w| w["start"].as_str().unwrap()).collect();
    let mut sorted = starts.clone();
    sorted.sort();
    assert_eq!(starts, sorted);
}

#[test]
fn windows_on_holidays_are_named() {
    let v = json(&["windows", "--from", "2030-12-01", "--to", "2030-12-31"]);
    let list = v.as_array().unwrap();
    assert_eq!(list[1]["kind"], "secondary");
    assert_eq!(list[1]["start"], "2030-12-24T18:00:00+01:00");
    assert_eq!(list[1]["holiday"], "Julafton");
}

#[test]
fn holidays_as_json_object() {
    let v = json(&["holidays", "--year", "2027", "--format", "json"]);
    let map = v.as_object().unwrap();
    assert_eq!(map.len(), 16);
    assert_eq!(map["2027-03-28"], "Påskdagen");
    assert_eq!(map["2027-06-25"], "Midsommarafton");
    assert_eq!(map["2027-12-24"], "Julafton");
    assert_eq!(map["2027-12-31"], "Nyårsafton");
    assert_eq!(map["2027-11-06"], "Alla helgons dag");
}

#[test]
fn at_describes_an_instant() {
    let v = json(&["at", "2026-12-24T10:00:00+01:00", "--format", "json"]);
    assert_eq!(v["moment"], "on_call");
    assert_eq!(v["holiday"], "Julafton");
    assert_eq!(v["office_hours"], false);
    let v = json(&["at", "2026-03-17T19:00:00+01:00", "--format", "json"]);
    assert_eq!(v["moment"], "window");
    assert_eq!(v["window"]["kind"], "primary");
    let v = json(&["at", "2026-03-18T09:00:00+01:00", "--format", "json"]);
    assert_eq!(v["moment"], "office_hours");
    let out = run(&["at", "2026-12-24T10:00:00+01:00"]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("it-beredskap") && text.contains("Julafton"),
        "{text}"
    );
}

#[test]
fn operator_commands_persist_in_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = db_arg(dir.path());
    let now = "--now=2026-03-20T09:00:00+01:00";
    let a = json(&[
        "activate-secondary",
        "--date",
        "2026-03-24",
        "--by",
        "anna",
        "--database",
        &db,
        now,
        "--format",
        "json",
    ]);
    assert_eq!(a["active"], true);
    let added = json(&[
        "add-window",
        "--start",
        "2026-04-01T18:00:00+02:00",
        "--end",
        "2026-04-01T20:00:00+02:00",
        "--scope",
        "site:Kommunhuset Tranemo",
        "--reason",
        "Byte av UPS",
        "--by",
        "bo",
        "--database",
        &db,
        now,
        "--format",
        "json",
    ]);
    let id = added["id"].as_i64().unwrap();
    let v = json(&[
        "windows",
        "--from",
        "2026-03-24",
        "--to",
        "2026-04-01",
        "--database",
        &db,
    ]);
    let list = v.as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["kind"], "secondary");
    assert_eq!(list[0]["active"], true);
    assert_eq!(list[0]["activated_by"], "anna");
    assert_eq!(list[0]["activated_at"], "2026-03-20T09:00:00+01:00");
    assert_eq!(list[1]["kind"], "adhoc");
    assert_eq!(list[1]["id"], id);
    assert_eq!(list[1]["scope"], "site:Kommunhuset Tranemo");
    assert_eq!(list[1]["reason"], "Byte av UPS");
    assert_eq!(list[1]["start"], "2026-04-01T18:00:00+02:00");

    let id_text = id.to_string();
    json(&[
        "cancel-window",
        "--id",
        &id_text,
        "--by",
        "cecilia",
        "--database",
        &db,
        now,
        "--format",
        "json",
    ]);
    let listed = json(&["list-windows", "--database", &db]);
    assert_eq!(listed[0]["cancelled"], true);
    assert_eq!(listed[0]["cancelled_by"], "cecilia");

    // Withdrawal after the start is refused with a clear error, before it is allowed.
    let err = failure(&[
        "withdraw-secondary",
        "--date",
        "2026-03-24",
        "--database",
        &db,
        "--now=2026-03-24T18:05:00+01:00",
    ]);
    assert!(
        err.contains("started at 2026-03-24T18:00:00+01:00"),
        "{err}"
    );
    json(&[
        "withdraw-secondary",
        "--date",
        "2026-03-24",
        "--database",
        &db,
        now,
        "--format",
        "json",
    ]);
    let v = json(&[
        "windows",
        "--from",
        "2026-03-24",
        "--to",
        "2026-03-24",
        "--database",
        &db,
    ]);
    assert_eq!(v[0]["active"], false);
}

#[test]
fn config_file_supplies_rules_and_database() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("calendar.yaml");
    let yaml = format!(
        "calendar:\n  primary: {{ ordinal: last, weekday: thursday }}\ndatabase: {}\n",
        db_arg(dir.path())
    );
    std::fs::write(&config, yaml).unwrap();
    let config = config.display().to_string();
    json(&[
        "--config",
        &config,
        "add-window",
        "--start",
        "2026-06-02T20:00:00+02:00",
        "--end",
        "2026-06-02T21:00:00+02:00",
        "--scope",
        "all",
        "--reason",
        "Test",
        "--by",
        "anna",
        "--now=2026-06-01T00:00:00Z",
        "--format",
        "json",
    ]);
    let v = json(&[
        "windows",
        "--config",
        &config,
        "--from",
        "2026-06-01",
        "--to",
        "2026-06-30",
    ]);
    let kinds: Vec<(&str, &str)> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|w| (w["kind"].as_str().unwrap(), w["start"].as_str().unwrap()))
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("adhoc", "2026-06-02T20:00:00+02:00"),
            // May's last Thursday is the 28th; its secondary a week later falls in June.
            ("secondary", "2026-06-04T18:00:00+02:00"),
            ("primary", "2026-06-25T18:00:00+02:00"),
        ]
    );
}

#[test]
fn clear_errors() {
    let err = failure(&["activate-secondary", "--date", "2026-03-24", "--by", "anna"]);
    assert!(err.contains("needs a database"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "calendar:\n  primary:\n    start: \"25:00\"\n").unwrap();
    let err = failure(&[
        "windows",
        "--config",
        &bad.display().to_string(),
        "--from",
        "2026-01-01",
        "--to",
        "2026-01-31",
    ]);
    assert!(
        err.contains("bad.yaml:3:12: calendar.primary.start"),
        "{err}"
    );
    let missing = dir.path().join("nope.db").display().to_string();
    let err = failure(&[
        "windows",
        "--database",
        &missing,
        "--from",
        "2026-01-01",
        "--to",
        "2026-01-31",
    ]);
    assert!(err.contains("does not exist"), "{err}");
}
