//! Every file in `tests/bad_configs/` must fail to load with the message its first line expects
//! (`# expect: TEXT`): file, line, column, key path and words a person needs, like
//! blackbox_exporter's table of broken configs.

use driftvakt_agent::config::AgentConfig;
use std::path::Path;

#[test]
fn every_broken_config_gives_its_expected_message() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bad_configs");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 15,
        "expected the whole table, found {}",
        files.len()
    );
    let mut failures = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let expect = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# expect: "))
            .unwrap_or_else(|| panic!("{} lacks its `# expect:` line", file.display()));
        match AgentConfig::load(file) {
            Ok(_) => failures.push(format!("{}: loaded, expected an error", file.display())),
            Err(e) => {
                let msg = e.to_string();
                if !msg.contains(expect) || !msg.starts_with(&file.display().to_string()) {
                    failures.push(format!(
                        "{}:\n  expected: {expect}\n  got:      {msg}",
                        file.display()
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_example_and_demo_configs_load() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for name in ["configs/agent.example.yaml", "configs/demo-agent.yaml"] {
        std::env::set_var("DRIFTVAKT_SNMP_COMMUNITY", "public");
        AgentConfig::load(&root.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}
