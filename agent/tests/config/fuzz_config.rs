//! The agent's YAML loader on careless and hostile input: random bytes and text, and the
//! shipped configs with lines deleted, duplicated, re-indented and characters changed, must never
//! panic, and must either load or give errors that name the file and, for anything the parser
//! or a field check found, a line (whole-file checks such as `agent.concurrency` have none but
//! name their key). Deterministic: a fixed-seed generator and a fixed budget.

use driftvakt_agent::config::AgentConfig;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use std::path::Path;

fn runner(cases: u32) -> TestRunner {
    let config = Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    };
    TestRunner::new_with_rng(config, TestRng::deterministic_rng(RngAlgorithm::ChaCha))
}

/// Writes `bytes` to `path` and loads it; an error must say where.
fn check(path: &Path, bytes: &[u8]) -> Result<(), TestCaseError> {
    std::fs::write(path, bytes).unwrap();
    let Err(errors) = AgentConfig::load(path) else {
        return Ok(());
    };
    prop_assert!(!errors.0.is_empty());
    let text = errors.to_string();
    for e in &errors.0 {
        prop_assert_eq!(&e.file, path);
        let shown = e.to_string();
        prop_assert!(shown.starts_with(&path.display().to_string()), "{}", shown);
        prop_assert!(text.contains(&shown));
        if e.line == 0 {
            // About the file as a whole: it must name the key or the file's trouble.
            let names_it = [
                "agent.",
                "devices",
                "snmp_credentials",
                "UTF-8",
                "empty",
                "read",
            ]
            .iter()
            .any(|w| e.message.contains(w));
            prop_assert!(names_it, "an error with no line and no key: {}", shown);
        } else {
            prop_assert!(e.column >= 1, "{}", shown);
            let lines = String::from_utf8_lossy(bytes).lines().count() as u64;
            prop_assert!(
                e.line <= lines + 1,
                "line {} of {}: {}",
                e.line,
                lines,
                shown
            );
        }
    }
    Ok(())
}

fn configs() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs");
    [
        "demo-agent.yaml",
        "agent.example.yaml",
        "agent-central.example.yaml",
    ]
    .iter()
    .map(|f| std::fs::read_to_string(dir.join(f)).unwrap())
    .collect()
}

#[test]
fn arbitrary_bytes_and_text_never_panic_and_errors_say_where() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agent.yaml");
    runner(256)
        .run(&prop::collection::vec(any::<u8>(), 0..400), |b| {
            check(&path, &b)
        })
        .unwrap();
    runner(256)
        .run(&any::<String>(), |s| check(&path, s.as_bytes()))
        .unwrap();
    // Text that looks like YAML: keys, indentation, flow collections, anchors, tags.
    let yamlish = prop::collection::vec(
        prop::sample::select(vec![
            "agent:",
            "\n",
            "  ",
            "id: a",
            "devices:",
            "- ",
            "checks: [icmp]",
            "{",
            "}",
            "[",
            "]",
            ",",
            ":",
            "&a ",
            "*a",
            "!!str ",
            "<<: *a",
            "'",
            "\"",
            "#",
            "interval: 1s",
            "class: switch",
            "address: 127.0.0.1",
            "~",
            "yes",
            "1e999",
            "\t",
            "---",
            "...",
        ]),
        0..60,
    )
    .prop_map(|parts| parts.concat());
    runner(512)
        .run(&yamlish, |s| check(&path, s.as_bytes()))
        .unwrap();
}

/// One edit of a valid config, by line.
#[derive(Debug, Clone)]
enum Edit {
    DeleteLine(prop::sample::Index),
    DuplicateLine(prop::sample::Index),
    Indent(prop::sample::Index, i8),
    SwapLines(prop::sample::Index, prop::sample::Index),
    Replace(prop::sample::Index, char),
    Truncate(prop::sample::Index),
}

fn edit() -> impl Strategy<Value = Edit> {
    let ch = prop::sample::select(vec![
        ':', '-', ' ', '\t', '[', ']', '{', '}', '#', '"', '\'', '0', '9', 'x', '&', '*', '!',
        '\u{0}', 'é', '\n',
    ]);
    let idx = any::<prop::sample::Index>;
    prop_oneof![
        idx().prop_map(Edit::DeleteLine),
        idx().prop_map(Edit::DuplicateLine),
        (idx(), -4i8..=4).prop_map(|(i, n)| Edit::Indent(i, n)),
        (idx(), idx()).prop_map(|(a, b)| Edit::SwapLines(a, b)),
        (idx(), ch).prop_map(|(i, c)| Edit::Replace(i, c)),
        idx().prop_map(Edit::Truncate),
    ]
}

fn apply(text: &str, e: &Edit) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let n = lines.len().max(1);
    match e {
        Edit::DeleteLine(i) if !lines.is_empty() => {
            lines.remove(i.index(n));
        }
        Edit::DuplicateLine(i) if !lines.is_empty() => {
            let l = lines[i.index(n)].clone();
            lines.insert(i.index(n), l);
        }
        Edit::Indent(i, by) if !lines.is_empty() => {
            let l = &mut lines[i.index(n)];
            if *by >= 0 {
                l.insert_str(0, &" ".repeat(*by as usize));
            } else {
                let cut = l.len() - l.trim_start_matches(' ').len();
                l.drain(..cut.min(by.unsigned_abs() as usize));
            }
        }
        Edit::SwapLines(a, b) if !lines.is_empty() => lines.swap(a.index(n), b.index(n)),
        Edit::Replace(i, c) => {
            let chars: Vec<char> = text.chars().collect();
            if chars.is_empty() {
                return text.to_string();
            }
            let mut chars = chars;
            let at = i.index(chars.len());
            chars[at] = *c;
            return chars.into_iter().collect();
        }
        Edit::Truncate(i) => {
            let chars: Vec<char> = text.chars().collect();
            return chars[..i.index(chars.len() + 1)].iter().collect();
        }
        _ => {}
    }
    lines.join("\n") + "\n"
}

#[test]
fn mutated_shipped_configs_never_panic_and_errors_say_where() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agent.yaml");
    let configs = configs();
    // The demo (loopback targets, no secrets) loads as shipped.
    std::fs::write(&path, &configs[0]).unwrap();
    AgentConfig::load(&path).unwrap();
    let strategy = (
        prop::sample::select(configs),
        prop::collection::vec(edit(), 1..5),
    );
    runner(512)
        .run(&strategy, |(text, edits)| {
            let mutated = edits.iter().fold(text, |t, e| apply(&t, e));
            check(&path, mutated.as_bytes())
        })
        .unwrap();
}
