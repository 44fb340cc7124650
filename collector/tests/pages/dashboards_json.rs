//! Static checks of the shipped Grafana dashboards: unique panel ids, every panel and query on
//! the `${datasource}` variable (no hard-coded uid), a unit on every panel, Europe/Stockholm.
//! Whether every query returns data is checked against a real Prometheus in `dashboards_live.rs`.

use serde_json::Value;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

pub fn dashboard_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../dashboards");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
}

#[test]
fn dashboards_are_well_formed() {
    let files = dashboard_files();
    let titles: HashSet<String> = files
        .iter()
        .map(|f| {
            let d: Value = serde_json::from_str(&std::fs::read_to_string(f).unwrap()).unwrap();
            d["title"].as_str().unwrap().to_string()
        })
        .collect();
    for wanted in [
        "Översikt",
        "Tillgänglighet",
        "Kraft och UPS",
        "Skrivare och skärmar",
        "Agenter",
    ] {
        assert!(
            titles.iter().any(|t| t.ends_with(wanted)),
            "no dashboard titled …{wanted}: {titles:?}"
        );
    }
    let mut uids = HashSet::new();
    for file in &files {
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        let d: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap())
            .unwrap_or_else(|e| panic!("{name}: not JSON: {e}"));
        assert!(
            uids.insert(d["uid"].as_str().unwrap().to_string()),
            "{name}: duplicate uid"
        );
        assert_eq!(d["timezone"], "Europe/Stockholm", "{name}: time zone");
        let vars = d["templating"]["list"].as_array().unwrap();
        assert!(
            vars.iter()
                .any(|v| v["name"] == "datasource" && v["type"] == "datasource"),
            "{name}: no datasource variable"
        );
        let mut ids = HashSet::new();
        for p in d["panels"].as_array().unwrap() {
            let title = p["title"].as_str().unwrap();
            assert!(
                ids.insert(p["id"].as_i64().unwrap()),
                "{name}: panel id {} twice",
                p["id"]
            );
            assert_eq!(
                p["datasource"]["uid"], "${datasource}",
                "{name} / {title}: datasource"
            );
            let unit = p["fieldConfig"]["defaults"]["unit"].as_str();
            assert!(
                unit.is_some_and(|u| !u.is_empty()),
                "{name} / {title}: no unit"
            );
            let targets = p["targets"].as_array().unwrap();
            assert!(!targets.is_empty(), "{name} / {title}: no query");
            for t in targets {
                assert_eq!(
                    t["datasource"]["uid"], "${datasource}",
                    "{name} / {title}: query datasource"
                );
                assert!(
                    t["expr"].as_str().is_some_and(|e| !e.is_empty()),
                    "{name} / {title}: empty expr"
                );
            }
        }
    }
}
