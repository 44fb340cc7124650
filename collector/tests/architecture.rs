//! The floor plan, checked: at most eight files at the top of `collector/src`, SQL (`UPDATE`
//! too) only under `store/`, the database opened only by the composition root (`cli/`),
//! nothing imports `http/` or `cli/` except `cli/run` starting the server, no import cycles
//! between the top-level modules nor between the files of one folder (in agent, collector and
//! common; grouped `crate::{…}` and `super::`/`self::` imports count), the pure modules doing
//! no I/O and importing only one another; in the agent, collector and common alike the wall
//! clock (`Utc::now`, `SystemTime::now`, `Local::now`) is read only by `common/src/clock.rs`
//! and the binaries' `main.rs` (one clock per process), and the agent's probes never see the
//! whole `AgentConfig`; no `impl Store for` outside `store/` (ingest signals alerting
//! explicitly, no decorator of the store; see ARCHITECTURE.md). A change that breaks the plan
//! fails here with the place named.

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

/// The SQL statements `code` holds: the keywords of each, as found.
fn sql_in(code: &str) -> Vec<String> {
    let mut found: Vec<String> = ["SELECT ", "INSERT INTO", "CREATE TABLE", "DELETE FROM"]
        .into_iter()
        .filter(|w| code.contains(w))
        .map(str::to_string)
        .collect();
    // `UPDATE t SET …`: the keyword alone is too common a word in text.
    for (at, _) in code.match_indices("UPDATE ") {
        let rest = &code[at + "UPDATE ".len()..];
        let table: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !table.is_empty() && rest[table.len()..].trim_start().starts_with("SET ") {
            found.push(format!("UPDATE {table} SET"));
        }
    }
    found
}

#[test]
fn sql_lives_only_in_the_store() {
    for (rel, code) in sources() {
        if !rel.starts_with("store/") {
            let sql = sql_in(&code);
            assert!(sql.is_empty(), "{rel}: SQL ({sql:?}) outside store/");
        }
    }
    assert_eq!(
        sql_in("let q = \"UPDATE dv_outbox SET state = 'sent'\";"),
        ["UPDATE dv_outbox SET"]
    );
    assert!(sql_in("// UPDATE notices are sent").is_empty());
}

/// The pure modules (ARCHITECTURE.md): no I/O and no clock, importing nothing of the
/// collector's but one another. `inventory` is not among them yet: it loads its file and
/// imports `notify` and `store` (issue 25, item 4 moves it to the bottom).
const PURE: [&str; 4] = ["availability", "calendar", "events", "clock"];

/// What a pure module may not name: I/O, processes, the network, the database.
const IO: [&str; 11] = [
    "std::fs",
    "std::net",
    "std::process",
    "std::io::Write",
    "tokio::",
    "reqwest",
    "rusqlite",
    "tokio_postgres",
    "lettre",
    "File::",
    "TcpStream",
];

#[test]
fn pure_modules_do_no_io_and_import_only_pure_modules() {
    let sources = sources();
    let mut seen = BTreeSet::new();
    for (rel, code) in &sources {
        let module = module_path(rel);
        let Some(top) = module.first().filter(|m| PURE.contains(&m.as_str())) else {
            continue;
        };
        seen.insert(top.clone());
        for word in IO {
            assert!(
                !code.contains(word),
                "{rel}: `{word}` in a pure module ({PURE:?}): do the I/O in a service above it \
                 and hand the pure code values"
            );
        }
        for path in imports(&module, code) {
            let Some(to) = path.first() else { continue };
            let is_module = sources
                .iter()
                .any(|(r, _)| module_path(r).first() == Some(to));
            assert!(
                !is_module || PURE.contains(&to.as_str()),
                "{rel}: a pure module imports `{}` ({to} is not pure: {PURE:?})",
                path.join("::")
            );
        }
    }
    assert_eq!(seen.len(), PURE.len(), "pure modules not found: {seen:?}");
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

/// The traits `code` implements for some type (`impl<T: X> a::b::Store for Y` gives `Store`).
fn implemented_traits(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (at, _) in code.match_indices("impl") {
        let before_ok = at == 0 || !is_ident(code.as_bytes()[at - 1]);
        let rest = &code[at + 4..];
        if !before_ok || rest.starts_with(|c: char| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let head = rest.split('{').next().unwrap_or("");
        // Skip the generics: `impl<…>` (nested brackets counted).
        let mut depth = 0;
        let mut start = 0;
        for (i, c) in head.char_indices() {
            match c {
                '<' => depth += 1,
                '>' => depth -= 1,
                _ if depth == 0 && !c.is_whitespace() => {
                    start = i;
                    break;
                }
                _ => {}
            }
        }
        let head = &head[start..];
        if let Some((path, _)) = head.split_once(" for ") {
            let last = path.trim().rsplit("::").next().unwrap_or("");
            out.push(last.trim().to_string());
        }
    }
    out
}

#[test]
fn the_results_store_is_implemented_only_in_the_store() {
    for (rel, code) in sources() {
        if rel.starts_with("store/") {
            continue;
        }
        assert!(
            !implemented_traits(&code).iter().any(|t| t == "Store"),
            "{rel}: `impl Store for` outside store/. Only the backends implement the results \
             store; to react to what ingest changed, subscribe to the core's signal \
             (`App::subscribe`) instead of wrapping the store"
        );
    }
    let decorator = "pub struct S;\nimpl crate::store::Store for S {\n fn f() {}\n}";
    assert_eq!(implemented_traits(decorator), ["Store"]);
    let generic = "impl<T: Store + ?Sized> Store for std::sync::Arc<T> {}";
    assert_eq!(implemented_traits(generic), ["Store"]);
    assert_eq!(
        implemented_traits("impl WindowStore for W {} impl App { fn f() {} }"),
        ["WindowStore"]
    );
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

/// A file's module path from its crate root: `http/results.rs` → `[http, results]`,
/// `http/mod.rs` → `[http]`, `lib.rs` → `[]`.
fn module_path(rel: &str) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .trim_end_matches(".rs")
        .split('/')
        .map(str::to_string)
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// One use tree at `s[*at..]` (`a::b`, `a::{b, c::{d, self}}`, `a::*`), each leaf as the list
/// of its segments; `*at` ends after it.
fn use_tree(s: &[u8], at: &mut usize) -> Vec<Vec<String>> {
    while *at < s.len() && s[*at].is_ascii_whitespace() {
        *at += 1;
    }
    if s.get(*at) == Some(&b'{') {
        *at += 1;
        let mut out = Vec::new();
        loop {
            while *at < s.len() && (s[*at].is_ascii_whitespace() || s[*at] == b',') {
                *at += 1;
            }
            if *at >= s.len() || s[*at] == b'}' {
                *at += 1;
                return out;
            }
            let before = *at;
            out.extend(use_tree(s, at));
            if *at == before {
                *at += 1; // not a path (`*`, `as x`): step over it
            }
        }
    }
    let start = *at;
    while *at < s.len() && is_ident(s[*at]) {
        *at += 1;
    }
    let ident = String::from_utf8_lossy(&s[start..*at]).into_owned();
    if ident.is_empty() {
        return vec![Vec::new()];
    }
    if s[*at..].starts_with(b"::") {
        *at += 2;
        return use_tree(s, at)
            .into_iter()
            .map(|rest| std::iter::once(ident.clone()).chain(rest).collect())
            .collect();
    }
    vec![vec![ident]]
}

/// Every path `code` (the file of module `module`) names through `crate::`, `super::` or
/// `self::`, grouped imports expanded, resolved to a path from the crate root.
fn imports(module: &[String], code: &str) -> Vec<Vec<String>> {
    let s = code.as_bytes();
    let mut out = Vec::new();
    let mut at = 0;
    while at < s.len() {
        let rest = &s[at..];
        let head = ["crate::", "super::", "self::"]
            .into_iter()
            .find(|h| rest.starts_with(h.as_bytes()));
        let starts_ident = at == 0 || !is_ident(s[at - 1]);
        let Some(head) = head.filter(|_| starts_ident) else {
            at += 1;
            continue;
        };
        let base: Vec<String> = match head {
            "crate::" => Vec::new(),
            "self::" => module.to_vec(),
            _ => module[..module.len().saturating_sub(1)].to_vec(),
        };
        at += head.len();
        for path in use_tree(s, &mut at) {
            let mut full = base.clone();
            for segment in path {
                match segment.as_str() {
                    "super" => {
                        full.pop();
                    }
                    "self" => {}
                    _ => full.push(segment),
                }
            }
            out.push(full);
        }
    }
    out
}

/// A crate's imports as arrows between siblings: for each folder (`[]` is the crate root), the
/// arrows between the modules directly in it, each with a file that draws it. An import from
/// `a/x.rs` of `crate::a::y::T` is the arrow `x → y` in folder `a`; of `crate::b::T`, the
/// arrow `a → b` at the root.
type Arrows = BTreeMap<Vec<String>, BTreeMap<String, BTreeMap<String, String>>>;

fn arrows(sources: &[(String, String)]) -> Arrows {
    let files: Vec<(String, Vec<String>, &String)> = sources
        .iter()
        .filter(|(rel, _)| rel != "main.rs" && !rel.starts_with("bin/"))
        .map(|(rel, code)| (rel.clone(), module_path(rel), code))
        .collect();
    let modules: BTreeSet<Vec<String>> = files
        .iter()
        .flat_map(|(_, m, _)| (1..=m.len()).map(|n| m[..n].to_vec()))
        .collect();
    let mut out = Arrows::new();
    for (rel, module, code) in &files {
        for path in imports(module, code) {
            let shared = module.iter().zip(&path).take_while(|(a, b)| a == b).count();
            if module.len() <= shared || path.len() <= shared {
                continue; // a module and what is inside it, or its own folder's mod.rs
            }
            if !modules.contains(&path[..=shared]) {
                continue; // an item of the folder's mod.rs, not a sibling module
            }
            out.entry(module[..shared].to_vec())
                .or_default()
                .entry(module[shared].clone())
                .or_default()
                .entry(path[shared].clone())
                .or_insert_with(|| rel.clone());
        }
    }
    out
}

/// The groups of modules in `graph` that import each other round (strongly connected
/// components of more than one module), each sorted, with the arrows inside it and the file
/// drawing each.
fn cycles(graph: &BTreeMap<String, BTreeMap<String, String>>) -> Vec<(Vec<String>, Vec<String>)> {
    let reach = |from: &str| -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from.to_string()];
        while let Some(n) = todo.pop() {
            for next in graph.get(&n).into_iter().flat_map(|m| m.keys()) {
                if seen.insert(next.clone()) {
                    todo.push(next.clone());
                }
            }
        }
        seen
    };
    let reachable: BTreeMap<&String, BTreeSet<String>> =
        graph.keys().map(|n| (n, reach(n))).collect();
    let mut groups: BTreeSet<Vec<String>> = BTreeSet::new();
    for (n, from_n) in &reachable {
        let group: Vec<String> = from_n
            .iter()
            .filter(|m| reachable.get(m).is_some_and(|r| r.contains(*n)))
            .cloned()
            .collect();
        if group.len() > 1 {
            groups.insert(group);
        }
    }
    groups
        .into_iter()
        .map(|group| {
            let arrows = group
                .iter()
                .flat_map(|a| {
                    graph[a]
                        .iter()
                        .filter(|(b, _)| group.contains(b))
                        .map(move |(b, rel)| format!("{a} → {b} in {rel}"))
                })
                .collect();
            (group, arrows)
        })
        .collect()
}

/// Fails naming every cycle (and the files drawing its arrows) if `graph` has one.
fn assert_acyclic(what: &str, graph: &BTreeMap<String, BTreeMap<String, String>>) {
    let found = cycles(graph);
    assert!(
        found.is_empty(),
        "import cycles in {what}: {}",
        found
            .iter()
            .map(|(group, arrows)| format!("{} ({})", group.join(" ⇄ "), arrows.join("; ")))
            .collect::<Vec<_>>()
            .join(", ")
    );
}

#[test]
fn arrows_go_one_way() {
    let arrows = arrows(&sources());
    let top = arrows.get(&Vec::new()).cloned().unwrap_or_default();
    assert!(top.len() > 10, "the collector's imports not found: {top:?}");
    for tos in top.values() {
        for (to, rel) in tos {
            if to == "http" || to == "cli" {
                assert!(
                    rel == "cli/run.rs" && to == "http",
                    "{rel} imports {to}: nothing imports http/ or cli/"
                );
            }
        }
    }
    assert_acyclic("collector/src", &top);
}

/// Every crate of the workspace whose folders must have no import cycle between their files:
/// the product's crates and the benchmark and test kits beside them.
const ACYCLIC_CRATES: [&str; 6] = [
    "agent",
    "collector",
    "common",
    "bench",
    "testkit/base",
    "testkit/collector",
];

#[test]
fn no_cycles_between_the_files_of_a_folder_in_any_crate() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut found = Vec::new();
    for krate in ACYCLIC_CRATES {
        let arrows = arrows(&sources_in(&root.join(krate).join("src")));
        // A kit of a few files may import nothing of its own; a product crate always does.
        assert!(
            !arrows.is_empty() || !CRATES.contains(&krate),
            "no imports found in {krate}/src"
        );
        for (folder, graph) in &arrows {
            let place = format!("{krate}/src/{}", folder.join("/"));
            let place = place.trim_end_matches('/').to_string();
            for (group, arrows) in cycles(graph) {
                found.push(format!(
                    "{place}: {} ({})",
                    group.join(" ⇄ "),
                    arrows.join("; ")
                ));
            }
        }
    }
    assert!(
        found.is_empty(),
        "import cycles between the files of a folder: {}. Move what both need into a third \
         file (or the folder's mod.rs) so the arrows go one way",
        found.join(", ")
    );
}

/// The top-level modules each module imports (`crate::x` paths, as [`arrows_go_one_way`] reads
/// them).
fn top_level_imports() -> BTreeMap<String, BTreeSet<String>> {
    arrows(&sources())
        .get(&Vec::new())
        .map(|graph| {
            graph
                .iter()
                .map(|(from, to)| (from.clone(), to.keys().cloned().collect()))
                .collect()
        })
        .unwrap_or_default()
}

/// The bottom of the house (ARCHITECTURE.md): the pure modules and the configuration
/// (`inventory/`, which reads its files but nothing of the running collector) import only each
/// other, and the shared core (`app`) sits below what reads it: metrics and reports.
#[test]
fn the_bottom_imports_only_the_bottom() {
    let bottom = ["availability", "calendar", "clock", "events", "inventory"];
    let graph = top_level_imports();
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

#[test]
fn grouped_and_relative_imports_are_arrows() {
    let code = "use crate::{app::App, store::{self, Location}};\nuse super::y::T;\n\
                fn f() { self::z::g(); super::super::b::h(); }";
    let got = imports(&["a".into(), "x".into()], code);
    let want: Vec<Vec<&str>> = vec![
        vec!["app", "App"],
        vec!["store"],
        vec!["store", "Location"],
        vec!["a", "y", "T"],
        vec!["a", "x", "z", "g"],
        vec!["b", "h"],
    ];
    assert_eq!(got, want);
    let sources = vec![
        ("a/mod.rs".to_string(), "pub mod x; pub mod y;".to_string()),
        ("a/x.rs".to_string(), "use super::y::T;".to_string()),
        ("a/y.rs".to_string(), "use crate::a::{x::U, Z};".to_string()),
        ("b.rs".to_string(), "use crate::a::x::U;".to_string()),
    ];
    let arrows = arrows(&sources);
    assert_eq!(arrows[&vec!["a".to_string()]]["x"]["y"], "a/x.rs");
    assert_eq!(arrows[&vec!["a".to_string()]]["y"]["x"], "a/y.rs");
    assert_eq!(arrows[&Vec::<String>::new()]["b"]["a"], "b.rs");
    let found = cycles(&arrows[&vec!["a".to_string()]]);
    assert_eq!(found.len(), 1, "x → y → x is a cycle: {found:?}");
    assert_eq!(found[0].0, ["x", "y"]);
}
