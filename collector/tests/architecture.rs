//! The floor plan, checked: at most eight files at the top of `collector/src`, SQL only under
//! `store/`, the database opened only by the composition root (`cli/`), nothing imports `http/`
//! or `cli/` except `cli/run` starting the server, and no import cycles between the top-level modules; in the agent, collector and common alike the
//! wall clock is read only by `common/src/clock.rs` and the binaries' `main.rs` (one clock per
//! process), and the agent's probes never see the whole `AgentConfig` (see ARCHITECTURE.md). A
//! change that breaks the plan fails here with the place named.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const SRC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src");
/// The workspace's crates whose sources the clock rule covers.
const CRATES: [&str; 3] = ["agent", "collector", "common"];

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

/// Every source file of `collector/src` with its code before `#[cfg(test)]` and without line
/// comments.
fn sources() -> Vec<(String, String)> {
    sources_in(Path::new(SRC))
}

/// Every source file under `root` (paths relative to it), as [`sources`] gives them.
fn sources_in(root: &Path) -> Vec<(String, String)> {
    let mut files = Vec::new();
    rust_files(root, &mut files);
    files
        .into_iter()
        .map(|p| {
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
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

/// Every source file of the agent, collector and common crates, named `CRATE/src/PATH`.
fn workspace_sources() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    CRATES
        .iter()
        .flat_map(|krate| {
            sources_in(&root.join(krate).join("src"))
                .into_iter()
                .map(move |(rel, code)| (format!("{krate}/src/{rel}"), code))
        })
        .collect()
}

#[test]
fn sql_lives_only_in_the_store() {
    for (rel, code) in sources() {
        if !rel.starts_with("store/") {
            for word in ["SELECT ", "INSERT INTO", "CREATE TABLE", "DELETE FROM"] {
                assert!(!code.contains(word), "{rel}: SQL (`{word}`) outside store/");
            }
        }
    }
}

#[test]
fn the_wall_clock_is_read_only_by_the_clock_and_the_binaries() {
    let allowed = [
        "common/src/clock.rs",
        "agent/src/main.rs",
        "collector/src/main.rs",
    ];
    let sources = workspace_sources();
    for krate in CRATES {
        assert!(
            sources.iter().any(|(rel, _)| rel.starts_with(krate)),
            "no sources of {krate} found"
        );
    }
    for (rel, code) in sources {
        if allowed.contains(&rel.as_str()) {
            continue;
        }
        for word in ["Utc::now", "SystemTime::now", "Local::now"] {
            assert!(
                !code.contains(word),
                "{rel}: reads the wall clock (`{word}`); take the injected Clock \
                 (common/src/clock.rs) instead"
            );
        }
    }
}

/// The identifiers just before each `::NAME(` in `code` (`SqliteStore` in
/// `SqliteStore::open(p)`).
fn callers_of(code: &str, name: &str) -> Vec<String> {
    let call = format!("::{name}(");
    code.match_indices(&call)
        .map(|(at, _)| {
            let before = &code[..at];
            let start = before
                .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .map_or(0, |i| i + 1);
            before[start..].to_string()
        })
        .collect()
}

/// Whether `code` names the identifier `word` (not as a part of a longer one).
fn names(code: &str, word: &str) -> bool {
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    code.match_indices(word).any(|(at, _)| {
        let before = code[..at].chars().next_back().is_none_or(|c| !ident(c));
        let after = code[at + word.len()..]
            .chars()
            .next()
            .is_none_or(|c| !ident(c));
        before && after
    })
}

#[test]
fn only_the_composition_root_opens_the_database() {
    for (rel, code) in sources() {
        let in_cli = rel.starts_with("cli/");
        let in_store = rel.starts_with("store/");
        assert!(
            in_cli || !code.contains("Database::open"),
            "{rel}: `Database::open` outside cli/. The composition root (cli/) opens the \
             database once per process and hands the stores down (`Database::stores`, \
             `ApiState::stores`, `Alerting::new`); take the store you need as a parameter or \
             from your state instead of opening it"
        );
        assert!(
            in_cli || in_store || !names(&code, "Database"),
            "{rel}: names `store::Database` outside cli/ and store/. Below the composition \
             root code is handed stores (`Arc<dyn …>`, `Stores`), never the database to open \
             them from"
        );
        if in_store {
            continue;
        }
        for name in ["open", "open_in_memory", "shared"] {
            for caller in callers_of(&code, name) {
                let opener = caller.ends_with("Store")
                    || ["Pool", "Handle", "db", "Connection"].contains(&caller.as_str());
                assert!(
                    !opener,
                    "{rel}: `{caller}::{name}(` opens a store outside store/. Only `cli/` \
                     opens the database (`Database::open`), once, and hands the stores down"
                );
            }
        }
    }
}

#[test]
fn probes_take_their_own_settings() {
    let probes: Vec<_> = workspace_sources()
        .into_iter()
        .filter(|(rel, _)| rel.starts_with("agent/src/probe/"))
        .collect();
    assert!(probes.len() > 5, "the agent's probe sources not found");
    for (rel, code) in probes {
        assert!(
            !code.contains("AgentConfig"),
            "{rel}: a probe uses AgentConfig; give it ProbeSettings or its own fields"
        );
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

/// The top-level modules each module imports (`crate::x` paths, as [`arrows_go_one_way`] reads
/// them).
fn imports() -> BTreeMap<String, BTreeSet<String>> {
    let sources = sources();
    let modules: BTreeSet<String> = sources.iter().map(|(rel, _)| module_of(rel)).collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (rel, code) in &sources {
        let from = module_of(rel);
        for part in code.split("crate::").skip(1) {
            let to: String = part
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            if to != from && modules.contains(&to) {
                graph.entry(from.clone()).or_default().insert(to);
            }
        }
    }
    graph
}

/// The bottom of the house (ARCHITECTURE.md): the pure modules and the configuration
/// (`inventory/`, which reads its files but nothing of the running collector) import only each
/// other, and the shared core (`app`) sits below what reads it: metrics and reports.
#[test]
fn the_bottom_imports_only_the_bottom() {
    let bottom = ["availability", "calendar", "clock", "events", "inventory"];
    let graph = imports();
    for m in bottom {
        for to in graph.get(m).into_iter().flatten() {
            assert!(
                bottom.contains(&to.as_str()),
                "{m} imports {to}: the pure modules and the configuration import only each \
                 other ({}); move what {m} needs from {to} down, or the code up",
                bottom.join(", ")
            );
        }
    }
    for above in ["metrics", "report", "ingest", "alerting", "notify"] {
        assert!(
            !graph.get("app").is_some_and(|to| to.contains(above)),
            "app imports {above}: the shared core sits below what reads it"
        );
    }
}

/// One meaning per name (ARCHITECTURE.md, "Names"): the five states are `Health` (not a
/// `State` beside axum's and the `state` module, nor an `OutageKind`); on-call pages are
/// `OncallPage`s (the web pages are `pages/`); the notifier follows `Failure`s (an incident is the
/// report's or one registered by hand); the notifier's tables are one `NotifyStore`.
#[test]
fn one_meaning_per_name() {
    let gone = [
        ("OutageKind", "availability::Health"),
        ("NotifyTables", "store::NotifyStore"),
        ("PageStore", "store::OncallPageStore"),
        ("IncidentState", "store::FailureState"),
    ];
    for (rel, code) in sources() {
        for (old, new) in gone {
            assert!(!names(&code, old), "{rel}: `{old}` is `{new}` now");
        }
        for old in [
            "enum State",
            "availability::State",
            "state::State",
            "trait NotifyStore",
        ] {
            let allowed = old == "trait NotifyStore" && rel == "store/open.rs";
            assert!(
                allowed || !code.contains(old),
                "{rel}: `{old}`: one type under one name (see ARCHITECTURE.md, \"Names\")"
            );
        }
        let page = rel.starts_with("store/") && code.contains("pub struct Page ");
        let incident = rel == "store/policy.rs" && code.contains("pub struct Incident ");
        assert!(
            !page && !incident,
            "{rel}: an on-call page or a followed failure under a name it shares"
        );
    }
}
