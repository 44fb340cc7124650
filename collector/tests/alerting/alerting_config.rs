//! The inventory's `notify:` section: loaded from the main file, validated like the rest
//! (recipients must name municipalities the sites define, addresses must parse), refused in
//! included files; the outbox folder defaults to `outbox` next to the database. The notifier's
//! metrics carry exactly the names the dashboards query.

use driftvakt_collector::inventory::Inventory;
use driftvakt_collector::notify::OutboxStats;
use driftvakt_collector::notify::{outbox_dir, NotifyMetrics};
use std::path::Path;

const BASE: &str = r#"
collector:
  database: /var/lib/driftvakt/collector.db
sites:
  - { id: s1, name: Stadshuset, municipality: Ulricehamn }
devices:
  - { id: sw, class: switch, site: s1, address: 10.0.0.1, checks: [icmp] }
"#;

fn load(dir: &Path, text: &str) -> Result<Inventory, String> {
    let path = dir.join("collector.yaml");
    std::fs::write(&path, text).unwrap();
    Inventory::load(&path).map_err(|e| e.to_string())
}

#[test]
fn the_demo_config_has_a_notify_section_for_ulricehamn() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/demo.yaml");
    let inv = Inventory::load(&path).unwrap();
    let n = inv.notify.expect("demo.yaml has notify:");
    assert!(n.smtp.is_none(), "the demo writes .eml files");
    let u = &n.municipalities["Ulricehamn"];
    assert!(!u.editors.is_empty() && !u.service_desk.is_empty() && !u.on_call.is_empty());
    assert_eq!(
        outbox_dir(&n, &inv.settings.database),
        Path::new("data/outbox")
    );
}

#[test]
fn recipients_must_name_known_municipalities() {
    let tmp = tempfile::tempdir().unwrap();
    let text = format!(
        "{BASE}notify:\n  municipalities:\n    Ulricehamn: {{ editors: [a@example.se] }}\n    Borås: {{ editors: [b@example.se] }}\n  from:\n    municipalities: {{ Tranemo: \"IT <it@example.se>\" }}\n"
    );
    let err = load(tmp.path(), &text).unwrap_err();
    assert!(err.contains("notify.municipalities.Borås"), "{err}");
    assert!(err.contains("unknown municipality `Borås`"), "{err}");
    assert!(err.contains("notify.from.municipalities.Tranemo"), "{err}");
    assert!(!err.contains("Ulricehamn`"), "{err}");
}

#[test]
fn addresses_and_keys_are_checked() {
    let tmp = tempfile::tempdir().unwrap();
    let bad_addr = format!(
        "{BASE}notify:\n  municipalities:\n    Ulricehamn: {{ on_call: [not-an-address] }}\n"
    );
    let err = load(tmp.path(), &bad_addr).unwrap_err();
    assert!(
        err.contains("notify.municipalities.Ulricehamn.on_call[0]"),
        "{err}"
    );
    let unknown = format!("{BASE}notify:\n  hold_dwon: 5m\n");
    let err = load(tmp.path(), &unknown).unwrap_err();
    assert!(err.contains("hold_dwon"), "{err}");
}

#[test]
fn notify_belongs_in_the_main_file() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("more.yaml"), "notify: {}\n").unwrap();
    let err = load(tmp.path(), &format!("include: [more.yaml]\n{BASE}")).unwrap_err();
    assert!(
        err.contains("`notify:` belongs in the main file only"),
        "{err}"
    );
    let inv = load(tmp.path(), &format!("{BASE}notify: {{}}\n")).unwrap();
    let n = inv.notify.unwrap();
    assert_eq!(
        outbox_dir(&n, &inv.settings.database),
        Path::new("/var/lib/driftvakt/outbox")
    );
    assert!(load(tmp.path(), BASE).unwrap().notify.is_none());
}

#[test]
fn metrics_have_the_names_the_dashboards_query() {
    let mut registry = prometheus_client::registry::Registry::default();
    let m = NotifyMetrics::register(&mut registry);
    m.update(
        &OutboxStats {
            pending: 3,
            sent: 10,
            failed: 1,
            cancelled: 2,
        },
        7,
    );
    m.delivered(2);
    let text = driftvakt_agent::metrics::render(&registry);
    for line in [
        "driftvakt_notify_outbox_pending 3",
        "driftvakt_notify_sent_total 2",
        "driftvakt_notify_failed 1",
        "driftvakt_oncall_cases{period=\"tertial\"} 7",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "{line} missing in:\n{text}"
        );
    }
}
