//! The floor plan, checked: at most eight files at the top of `collector/src`, SQL only under
//! `store/`, the wall clock only in `clock.rs` and `main.rs`, nothing imports `http/` or `cli/`
//! except `cli/run` starting the server, and no import cycles between the top-level modules
//! (see ARCHITECTURE.md). A change that breaks the plan fails here with the place named.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const SRC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src");

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every source file with its code before `#[cfg(test)]` and without line comments.
fn sources() -> Vec<(String, String)> {
    let mut files = Vec::new();
    rust_files(Path::new(SRC), &mut files);
    files
        .into_iter()
        .map(|p| {
            let rel = p.strip_prefix(SRC).unwrap().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(&p).unwrap();
            let code = text.split("#[cfg(test)]").next().unwrap_or("");
            let code: String = code
                .lines()
                .map(|l| l.split("//").next().unwrap_or(""))
                .collect::<Vec<_>>()
                .join("\n");
            (rel, code)
        })
        .collect()
}

/// The top-level module a file belongs to (`http/results.rs` → `http`, `app.rs` → `app`).
fn module_of(rel: &str) -> String {
    rel.split('/')
        .next()
        .unwrap()
        .trim_end_matches(".rs")
        .to_string()
}

#[test]
fn at_most_eight_files_at_the_top() {
    let top: Vec<_> = std::fs::read_dir(SRC)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .collect();
    assert!(top.len() <= 8, "{} files at the top: {top:?}", top.len());
}

#[test]
fn sql_lives_only_in_the_store_and_the_clock_only_in_clock_and_main() {
    for (rel, code) in sources() {
        if !rel.starts_with("store/") {
            for word in ["SELECT ", "INSERT INTO", "CREATE TABLE", "DELETE FROM"] {
                assert!(!code.contains(word), "{rel}: SQL (`{word}`) outside store/");
            }
        }
        if rel != "clock.rs" && rel != "main.rs" {
            assert!(
                !code.contains("Utc::now"),
                "{rel}: the wall clock outside clock.rs"
            );
        }
    }
}

#[test]
fn arrows_go_one_way() {
    let sources = sources();
    let modules: BTreeSet<String> = sources
        .iter()
        .map(|(rel, _)| module_of(rel))
        .filter(|m| m != "lib" && m != "main")
        .collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (rel, code) in &sources {
        let from = module_of(rel);
        for part in code.split("crate::").skip(1) {
            let to: String = part
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            if to != from && modules.contains(&to) {
                if to == "http" || to == "cli" {
                    assert!(
                        rel == "cli/run.rs" && to == "http",
                        "{rel} imports {to}: nothing imports http/ or cli/"
                    );
                }
                graph.entry(from.clone()).or_default().insert(to);
            }
        }
    }
    // Depth-first search for a cycle.
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) {
        if let Some(at) = path.iter().position(|p| p == node) {
            panic!("import cycle: {}", path[at..].join(" -> ") + " -> " + node);
        }
        if !done.insert(node.to_string()) {
            return;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            visit(next, graph, path, done);
        }
        path.pop();
    }
    let mut done = BTreeSet::new();
    for m in &modules {
        visit(m, &graph, &mut Vec::new(), &mut done);
    }
}
