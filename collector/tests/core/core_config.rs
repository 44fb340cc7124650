//! Inventory loading: every file in `tests/bad_configs` fails with the message(s) in its
//! `# expect:` header (several separated by ` | `), and good inventories with includes load.

use driftvakt_collector::cli::CommonArgs;
use driftvakt_collector::inventory::{Inventory, Rule};
use std::path::{Path, PathBuf};

fn bad_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bad_configs")
}

#[test]
fn every_bad_config_fails_with_its_expected_message() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(bad_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 15, "{files:?}");
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let header = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# expect: "))
            .unwrap_or_else(|| panic!("{}: first line must be `# expect: ...`", file.display()));
        let err = Inventory::load(&file)
            .err()
            .unwrap_or_else(|| panic!("{} loaded but should fail", file.display()))
            .to_string();
        for expect in header.split(" | ") {
            assert!(
                err.contains(expect),
                "{}:\n  expected: {expect}\n  got: {err}",
                file.display()
            );
        }
    }
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    if name.ends_with(".token") {
        // Token files readable by group or others are refused.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    p
}

const MAIN: &str = r#"collector:
  listen: 127.0.0.1:9999
  database: main.db
  target: 0.995
include: [more/tranemo.yaml]
sites:
  - { id: s1, name: Stadshuset, municipality: Ulricehamn, node: true }
devices:
  - { id: core, class: switch, site: s1, address: 10.0.0.1, checks: [icmp] }
services:
  - id: net
    members: [core, t-sw]
    rule: { at_least: 1 }
agents:
  - { id: a1, token_file: a1.token, municipalities: [Tranemo], devices: [core] }
"#;

const INCLUDED: &str = r#"sites:
  - { id: t1, municipality: Tranemo }
devices:
  - { id: t-sw, class: switch, site: t1, address: 10.1.0.1, parent: core, checks: [icmp] }
  - { id: t-ap, class: access_point, site: t1, address: 10.1.0.2, parent: t-sw }
services:
  - { id: wifi-t, members: [t-ap], rule: any, counts_as_incident: false }
"#;

#[test]
fn includes_merge_and_reference_across_files() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("more")).unwrap();
    write(dir.path(), "a1.token", "token-for-a1-0123456789\n");
    write(&dir.path().join("more"), "tranemo.yaml", INCLUDED);
    let main = write(dir.path(), "main.yaml", MAIN);
    let inv = Inventory::load(&main).unwrap();
    assert_eq!(inv.devices.len(), 3);
    assert_eq!(inv.services.len(), 2);
    assert_eq!(inv.settings.target, 0.995);
    let t_ap = inv.device("t-ap").unwrap();
    assert_eq!(t_ap.municipality, "Tranemo");
    assert_eq!(t_ap.rules.primary_check, "icmp");
    assert_eq!(t_ap.rules.interval_ms, 60_000);
    assert_eq!(inv.device("t-sw").unwrap().rules.interval_ms, 30_000);
    assert_eq!(inv.services[0].rule, Rule::AtLeast(1));
    assert_eq!(inv.services[1].rule, Rule::Any);
    assert!(!inv.services[1].counts_as_incident);
    let a1 = inv.agent("a1").unwrap();
    let mut devices: Vec<_> = a1.devices.iter().cloned().collect();
    devices.sort();
    assert_eq!(devices, ["core", "t-ap", "t-sw"]);
    assert_eq!(a1.token.expose(), "token-for-a1-0123456789");
    let order: Vec<_> = inv
        .devices_parents_first()
        .iter()
        .map(|d| d.id.as_str())
        .collect();
    assert_eq!(order, ["core", "t-sw", "t-ap"]);
    // Command-line overrides win over the file.
    let args = CommonArgs {
        config: main,
        listen: Some("127.0.0.1:1234".parse().unwrap()),
        database: Some(PathBuf::from("/tmp/other.db").into()),
    };
    let inv = args.load().unwrap();
    assert_eq!(inv.settings.listen.port(), 1234);
    assert_eq!(inv.settings.database, PathBuf::from("/tmp/other.db").into());
}

#[test]
fn errors_in_included_files_name_that_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("more")).unwrap();
    write(dir.path(), "a1.token", "token-for-a1-0123456789\n");
    let bad = INCLUDED.replace("id: t-ap,", "id: core,");
    write(&dir.path().join("more"), "tranemo.yaml", &bad);
    let main = write(dir.path(), "main.yaml", MAIN);
    let err = Inventory::load(&main).unwrap_err().to_string();
    assert!(
        err.contains("tranemo.yaml:5:11: devices[1]: duplicate device id `core`"),
        "{err}"
    );
    assert!(
        err.contains("tranemo.yaml:7:29: services[0]: unknown member device `t-ap`"),
        "{err}"
    );
}

#[test]
fn the_example_inventory_loads() {
    let dir = tempfile::tempdir().unwrap();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/collector.example.yaml");
    let token = write(dir.path(), "u.token", "example-token-0123456789\n");
    // Each agent needs its own token.
    write(dir.path(), "t.token", "example-token-tranemo-0123456789\n");
    let text = std::fs::read_to_string(example)
        .unwrap()
        .replace(
            "/etc/driftvakt/agents/ulricehamn-1.token",
            token.to_str().unwrap(),
        )
        .replace(
            "token_env: DRIFTVAKT_TOKEN_TRANEMO_1",
            "token_file: t.token",
        );
    let inv = Inventory::load(&write(dir.path(), "c.yaml", &text)).unwrap();
    assert_eq!(inv.municipalities(), ["Ulricehamn", "Tranemo"]);
    assert!(inv.calendar.is_none());
    assert_eq!(inv.settings.incident_goal, 5);
}
