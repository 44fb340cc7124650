//! The example configuration of the agreement's fourteen "intefunktion" functions
//! (`configs/examples/intefunktion.yaml`, with its example secret files) is a real file: the
//! binary's `check-config` accepts it, it has one function per item, and the README shows it
//! word for word (so the two cannot drift apart).

use std::path::{Path, PathBuf};
use std::process::Command;

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/examples")
}

/// Copies the example and its secrets into `dir`, the secrets made readable by this user only
/// (`chmod 600`, as the file's comment asks).
fn private_copy(dir: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let secrets = dir.join("intefunktion");
    std::fs::create_dir(&secrets).unwrap();
    for entry in std::fs::read_dir(examples().join("intefunktion")).unwrap() {
        let entry = entry.unwrap();
        let copy = secrets.join(entry.file_name());
        std::fs::copy(entry.path(), &copy).unwrap();
        std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let file = dir.join("intefunktion.yaml");
    std::fs::copy(examples().join("intefunktion.yaml"), &file).unwrap();
    file
}

#[test]
fn the_intefunktion_example_passes_check_config() {
    let dir = tempfile::tempdir().unwrap();
    let file = private_copy(dir.path());
    let out = Command::new(env!("CARGO_BIN_EXE_driftvakt-collector"))
        .current_dir(dir.path())
        .args(["check-config", "--config"])
        .arg(&file)
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "check-config: {stdout}{stderr}");
    assert!(
        stdout.contains("ok (1 sites, 14 devices, 14 services, 1 agents)"),
        "{stdout}{stderr}"
    );
    assert!(!stderr.contains("warning"), "no warnings: {stderr}");
}

#[test]
fn the_intefunktion_example_has_every_item_once_with_a_check_that_fits() {
    let text = std::fs::read_to_string(examples().join("intefunktion.yaml")).unwrap();
    let items = [
        ("login", "dc-tranemo", "kind: ldap"),
        ("permissions", "dc-grupper", "group:"),
        ("printing", "utskrift", "kind: http"),
        ("save", "filserver-spara", "kind: smb"),
        ("restore", "backup", "json_value:"),
        ("protection", "klientskydd", "json_value:"),
        ("web_filter", "webbfilter", "expect_block:"),
        ("wireless", "radius", "kind: radius"),
        ("telephony", "vaxel", "kind: sip"),
        ("email", "epost", "kind: imap"),
        ("guides", "infocaption", "login:"),
        ("office", "office", "kind: dns"),
        ("remote_access", "distans", "kind: http"),
        ("software_distribution", "programvara", "kind: http"),
    ];
    for (item, device, check) in items {
        let function = format!("kind: function, function: {item},");
        assert_eq!(text.matches(&function).count(), 1, "{item} once");
        let service = text.lines().find(|l| l.contains(&function)).unwrap();
        assert!(
            service.contains(&format!("members: [{device}]")),
            "{service}"
        );
        // The device's entry: from its line to the next device's (or the services).
        let from = text
            .find(&format!("- {{ id: {device}, class: service"))
            .unwrap_or_else(|| panic!("device {device}"));
        let rest = &text[from + 2..];
        let entry = &rest[..rest.find("\n  - {").unwrap_or(rest.len())];
        assert!(entry.contains(check), "{item}: {check} in {entry}");
        // Each check says what a municipality usually points it at: a comment above it.
        let before = text[..from].trim_end().lines().last().unwrap();
        assert!(before.trim_start().starts_with('#'), "{item}: {before}");
    }
}

#[test]
fn the_readme_shows_the_example_word_for_word() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"))
            .unwrap();
    let file = std::fs::read_to_string(examples().join("intefunktion.yaml")).unwrap();
    let named = readme
        .find("`configs/examples/intefunktion.yaml`")
        .expect("the README names the file");
    let open = readme[named..]
        .find("```yaml\n")
        .expect("a yaml block after it")
        + named
        + 8;
    let close = readme[open..].find("\n```").expect("the block ends") + open + 1;
    let block = &readme[open..close];
    if block != file {
        let diff = block
            .lines()
            .zip(file.lines())
            .position(|(a, b)| a != b)
            .map(|i| i + 1);
        panic!(
            "README's block and configs/examples/intefunktion.yaml differ (first at line {diff:?}; \
             lines {} and {})",
            block.lines().count(),
            file.lines().count()
        );
    }
}
