//! Override templates users can trust: every folder in `tests/bad_templates` is a
//! `notify.templates_dir` that `check-config` (the real binary) refuses with the message(s) in
//! its `expect.txt` (several separated by ` | `), naming the file and line; a correct override
//! is used in a real mail; values are HTML-escaped in `body.html`.

use driftvakt_collector::notify::render::{check_templates, Templates};
use driftvakt_collector::notify::{AlertKind, ConfiguredTransport, Event};
use driftvakt_collector_testkit::notify::*;
use driftvakt_collector_testkit::smtp::*;
use std::path::{Path, PathBuf};
use std::process::Command;

fn bad_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bad_templates")
}

/// An inventory with a `notify:` section whose `templates_dir` is `templates`.
fn inventory(dir: &Path, templates: &Path) -> PathBuf {
    let path = dir.join("collector.yaml");
    let text = format!(
        "collector:\n  listen: 127.0.0.1:9999\n  database: c.db\nsites:\n  - {{ id: s1, name: Stadshuset, municipality: Ulricehamn, node: true }}\ndevices:\n  - {{ id: core, class: switch, site: s1, address: 10.0.0.1, checks: [icmp] }}\nnotify:\n  templates_dir: {}\n",
        serde_json::to_string(&templates.display().to_string()).unwrap()
    );
    std::fs::write(&path, text).unwrap();
    path
}

fn check_config(config: &Path) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_driftvakt-collector"))
        .args(["check-config", "--config"])
        .arg(config)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn every_bad_templates_dir_fails_check_config_naming_file_and_line() {
    let mut cases: Vec<PathBuf> = std::fs::read_dir(bad_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    assert!(cases.len() >= 10, "{cases:?}");
    let tmp = tempfile::tempdir().unwrap();
    for case in cases {
        let expect = std::fs::read_to_string(case.join("expect.txt"))
            .unwrap_or_else(|e| panic!("{}: expect.txt: {e}", case.display()));
        let err = check_templates(&case)
            .err()
            .unwrap_or_else(|| panic!("{} passed the check but should fail", case.display()))
            .to_string();
        let (ok, output) = check_config(&inventory(tmp.path(), &case));
        assert!(!ok, "{}: check-config succeeded:\n{output}", case.display());
        for expect in expect.trim().split(" | ") {
            assert!(
                err.contains(expect),
                "{}:\n  expected: {expect}\n  got: {err}",
                case.display()
            );
            assert!(
                output.contains(expect),
                "{}: check-config output\n  expected: {expect}\n  got: {output}",
                case.display()
            );
        }
        // The file named is the override's full path.
        assert!(err.starts_with(&case.display().to_string()), "{err}");
    }
}

/// A correct override: Swedish text, a filter, a condition, and `subject` in the body.
fn good_templates(dir: &Path) {
    let kind = dir.join("service_down");
    std::fs::create_dir_all(&kind).unwrap();
    std::fs::write(
        kind.join("body.txt"),
        "{{ subject }}\n\n{{ service|upper }} är nere i {{ where }} sedan {{ since }}.\n{% if municipality == \"Tranemo\" %}Ring 0325-123 45.\n{% endif %}",
    )
    .unwrap();
}

#[test]
fn a_correct_override_passes_check_config() {
    let tmp = tempfile::tempdir().unwrap();
    let templates = tmp.path().join("templates");
    good_templates(&templates);
    let (ok, output) = check_config(&inventory(tmp.path(), &templates));
    assert!(ok, "{output}");
    assert!(output.contains(": ok ("), "{output}");
    // A folder that is not there is an error too (a typo in `templates_dir`).
    let (ok, output) = check_config(&inventory(tmp.path(), &tmp.path().join("tempaltes")));
    assert!(!ok, "{output}");
    assert!(
        output.contains("tempaltes: notify.templates_dir"),
        "{output}"
    );
}

fn file_notifier(
    tmp: &Path,
    templates: Option<PathBuf>,
) -> (
    driftvakt_collector::notify::Notifier<driftvakt_collector::notify::SqliteNotifyStore>,
    std::sync::Arc<ManualClock>,
    PathBuf,
) {
    let out = tmp.join("outbox");
    // Tuesday 10 March 2026, office hours.
    let clock = ManualClock::at("2026-03-10T10:00:00+01:00");
    let mut c = config(1);
    c.smtp = None;
    c.outbox_dir = out.clone();
    c.templates_dir = templates;
    let transport = ConfiguredTransport::from_config(&c).unwrap();
    let n = notifier(c, &tmp.join("c.db"), clock.clone(), transport);
    (n, clock, out)
}

#[tokio::test]
async fn a_correct_override_is_used_in_a_real_mail() {
    let tmp = tempfile::tempdir().unwrap();
    let templates = tmp.path().join("templates");
    good_templates(&templates);
    check_templates(&templates).unwrap();
    let (n, clock, out) = file_notifier(tmp.path(), Some(templates));
    n.handle(service_down(
        "wifi",
        "stadshuset",
        "2026-03-10T09:50:00+01:00",
    ))
    .unwrap();
    clock.advance(mins(60));
    assert_eq!(n.deliver_due().await.sent, 1);
    let mails = read_eml_dir(&out);
    assert_eq!(mails.len(), 1);
    let m = &mails[0];
    // The subject and HTML are still the built-in ones.
    assert_eq!(
        m.subject,
        "Driftmeddelande – störning: Trådlöst nätverk, Stadshuset"
    );
    assert_eq!(
        m.text,
        "Driftmeddelande – störning: Trådlöst nätverk, Stadshuset\n\nTRÅDLÖST NÄTVERK är nere i Stadshuset sedan tisdag 10 mars 2026 kl. 09.50.\nRing 0325-123 45."
    );
    assert!(
        m.html
            .contains("<strong>Trådlöst nätverk</strong> fungerar inte"),
        "{}",
        m.html
    );
}

#[tokio::test]
async fn a_device_name_with_a_script_tag_is_escaped_in_html_only() {
    let tmp = tempfile::tempdir().unwrap();
    let (n, clock, out) = file_notifier(tmp.path(), None);
    let Event::DeviceAlert {
        device_id,
        class,
        site_id,
        site_name,
        municipality,
        kind,
        since,
        detail,
        ..
    } = device_alert("ap-1", AlertKind::Down, "2026-03-10T09:50:00+01:00")
    else {
        unreachable!()
    };
    n.handle(Event::DeviceAlert {
        device_id,
        device_name: "<script>alert('x')</script> & \"AP\"".into(),
        class,
        site_id,
        site_name,
        municipality,
        kind,
        since,
        detail,
    })
    .unwrap();
    clock.advance(mins(60));
    assert_eq!(n.deliver_due().await.sent, 1);
    let mails = read_eml_dir(&out);
    assert_eq!(mails.len(), 1);
    let m = &mails[0];
    assert!(!m.html.contains("<script>"), "{}", m.html);
    assert!(
        m.html.contains(
            "<td>&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;AP&quot; (accesspunkt)</td>"
        ),
        "{}",
        m.html
    );
    // In the <title> too, via the subject.
    assert!(
        m.html
            .contains("<title>Larm: &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"),
        "{}",
        m.html
    );
    // Plain text and the subject keep the name as it is.
    assert!(m
        .text
        .contains("Enhet:   <script>alert('x')</script> & \"AP\" (accesspunkt)"));
    assert!(m.subject.starts_with("Larm: <script>alert('x')</script>"));
}

#[test]
fn rendering_an_override_with_a_misspelled_variable_fails_naming_file_and_line() {
    let t = Templates::new(Some(bad_dir().join("misspelled_variable")));
    let vars: Vec<(&str, String)> = ["service", "where", "municipality", "since"]
        .iter()
        .map(|k| (*k, format!("<{k}>")))
        .collect();
    let err = t.render("service_down", &vars).unwrap_err().to_string();
    assert!(
        err.contains("misspelled_variable/service_down/body.txt:3: undefined value 'servise'"),
        "{err}"
    );
}
