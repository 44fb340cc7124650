//! The example configuration parses and validates; config errors name the key; a template in
//! `templates_dir` overrides the built-in one without rebuilding, with values HTML-escaped.

use driftvakt_collector::notify::render::Templates;
use driftvakt_collector::notify::NotifyFile;
use std::path::Path;

#[test]
fn the_example_configuration_is_valid() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/notify.example.yaml");
    let file = NotifyFile::load(&path).unwrap_or_else(|e| panic!("{e}"));
    let n = &file.notify;
    assert_eq!(n.reports.len(), 2);
    assert_eq!(n.hold_down.std().as_secs(), 600);
    assert!(!n.alerts.supply_low.page_on_call);
    assert_eq!(
        n.recipients("Tranemo", driftvakt_collector::notify::Role::OnCall)
            .len(),
        1
    );
}

#[test]
fn errors_name_the_key() {
    let bad = "notify:\n  municipalities:\n    Tranemo:\n      editors: [\"not an address\"]\n  reports:\n    - name: x\n      cron: \"every day\"\n      period: previous_month\n";
    let err = NotifyFile::parse(bad, Path::new("n.yaml"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("notify.municipalities.Tranemo.editors[0]"),
        "{err}"
    );
    assert!(err.contains("notify.reports[0].cron"), "{err}");
    let unknown = "notify:\n  hold_dwon: 5m\n";
    let err = NotifyFile::parse(unknown, Path::new("n.yaml"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("hold_dwon"), "{err}");
}

#[test]
fn templates_dir_overrides_a_file_and_html_is_escaped() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("service_down");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("subject.txt"), "Störning i {{service}}\n").unwrap();
    let t = Templates::new(Some(tmp.path().to_path_buf()));
    let vars = [("service", "Skrivare <plan 2> & kopiator".to_string())];
    let r = t.render("service_down", &vars).unwrap();
    assert_eq!(r.subject, "Störning i Skrivare <plan 2> & kopiator");
    // body.html is still the built-in one, with the value escaped.
    assert!(r
        .html
        .contains("<strong>Skrivare &lt;plan 2&gt; &amp; kopiator</strong>"));
    assert!(r
        .text
        .contains("Skrivare <plan 2> & kopiator fungerar inte"));
}
