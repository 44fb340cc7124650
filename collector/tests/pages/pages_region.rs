//! The team page and the driftinformation of a region, through the real collector binary:
//! 750 devices in two municipalities, 280 services, one device down.
//!
//! - `/` shows whole sites on pages of at least 500 devices (`?sida=N`, links at the foot that
//!   keep the filter), and of the 280 services only the one not up, saying how many are left
//!   out; `?kommun=SLUG` shows one municipality, its counts and its services.
//! - `/driftinfo/{kommun}` is built once and served again until something changes; an
//!   operator's new incident is on the very next read.

use super::pages_text::{get, http, post_batch, result, start_collector, Proc, OPERATOR_TOKEN};
use chrono::{Duration, Utc};
use serde_json::{json, Value};
use std::fmt::Write as _;

/// Sites `t0`..`t11` in Tranemo with 60 devices each, `u0`..`u2` in Ulricehamn with 10.
fn sites() -> Vec<(String, &'static str, usize)> {
    let mut out: Vec<(String, &'static str, usize)> =
        (0..12).map(|s| (format!("t{s}"), "Tranemo", 60)).collect();
    out.extend((0..3).map(|s| (format!("u{s}"), "Ulricehamn", 10)));
    out
}

fn devices() -> Vec<String> {
    sites()
        .iter()
        .flat_map(|(site, _, n)| (0..*n).map(move |i| format!("{site}-d{i}")))
        .collect()
}

fn inventory(database: &std::path::Path) -> String {
    let mut y = format!(
        "collector:\n  database: {}\n  operator_token: {{ env: DV_TEXT_OPERATOR }}\nsites:\n",
        database.display()
    );
    for (id, municipality, _) in sites() {
        let _ = writeln!(
            y,
            "  - {{ id: {id}, name: Plats {id}, municipality: {municipality} }}"
        );
    }
    y.push_str("devices:\n");
    let mut n = 0u32;
    for (site, _, count) in sites() {
        for i in 0..count {
            n += 1;
            let _ = writeln!(
                y,
                "  - {{ id: {site}-d{i}, class: access_point, site: {site}, address: 10.60.{}.{}, \
                 interval: 300s, checks: [icmp] }}",
                n / 250,
                n % 250 + 1
            );
        }
    }
    // A service for each of the first 250 Tranemo devices and each Ulricehamn device.
    y.push_str("services:\n");
    let all = devices();
    let served = all[..250]
        .iter()
        .chain(all.iter().filter(|d| d.starts_with('u')));
    for d in served {
        let _ = writeln!(y, "  - {{ id: svc-{d}, name: Tjänst {d}, members: [{d}] }}");
    }
    let _ = writeln!(
        y,
        "agents:\n  - {{ id: remote, token_env: DV_TEXT_AGENT, devices: [{}] }}",
        all.join(", ")
    );
    y
}

/// Every device answered an hour ago and a minute ago; `t0-d1` failed for the last 30 minutes.
fn post_results(port: u16) {
    let now = Utc::now();
    let mut results = Vec::new();
    for d in devices() {
        results.push(result(&d, now - Duration::hours(1), true));
        if d != "t0-d1" {
            results.push(result(&d, now - Duration::minutes(1), true));
        }
    }
    for m in [30, 25, 20, 15, 10, 5] {
        results.push(result("t0-d1", now - Duration::minutes(m), false));
    }
    post_batch(port, "region-1", results);
}

/// The region's collector started, its results posted: the folder, the process, its port.
fn region() -> (tempfile::TempDir, Proc, u16) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("collector.yaml");
    std::fs::write(&config, inventory(&dir.path().join("driftvakt.db"))).unwrap();
    let port = driftvakt_collector_testkit::ports::free_port();
    let collector = start_collector(&config, port, &dir.path().join("collector.log"));
    post_results(port);
    (dir, collector, port)
}

fn site_ids(page: &str) -> Vec<String> {
    page.split("id=\"plats-")
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap().to_string())
        .collect()
}

#[test]
fn the_team_page_shows_one_page_of_sites_and_one_municipality_at_a_time() {
    let (_dir, _collector, port) = region();

    // The region: the first nine sites (540 devices) on page 1 of 2, the down service listed,
    // the 279 services that are up left out and counted.
    let first = get(port, "/?uppdatera=nej");
    let t: Vec<String> = (0..9).map(|s| format!("t{s}")).collect();
    assert_eq!(site_ids(&first), t, "page 1");
    assert!(
        first.contains("1 av 750 enheter är inte i drift"),
        "{first}"
    );
    assert!(first.contains("Sida 1 av 2"), "{first}");
    assert!(
        first.contains("href=\"?uppdatera=nej&amp;sida=2\" rel=\"next\""),
        "the link to page 2 keeps the filter:\n{first}"
    );
    assert!(first.contains("(svc-t0-d1)"), "the down service is listed");
    assert!(
        !first.contains("(svc-t0-d2)"),
        "services that are up are left out"
    );
    assert!(first.contains("279 tjänster i drift visas inte"), "{first}");

    let second = get(port, "/?uppdatera=nej&sida=2");
    assert_eq!(
        site_ids(&second),
        ["t9", "t10", "t11", "u0", "u1", "u2"],
        "page 2"
    );
    assert!(second.contains("aria-current=\"page\">2</a>"), "{second}");
    // Past the last page: the last page.
    assert_eq!(site_ids(&get(port, "/?sida=99")), site_ids(&second));

    // One municipality: its sites, its counts, all its services (30, under the limit).
    let ulricehamn = get(port, "/?kommun=ulricehamn");
    assert_eq!(site_ids(&ulricehamn), ["u0", "u1", "u2"]);
    assert!(
        ulricehamn.contains("0 av 30 enheter i kommunen är inte i drift"),
        "{ulricehamn}"
    );
    assert!(!ulricehamn.contains("Sida "), "one page");
    assert!(ulricehamn.contains("(svc-u2-d9)") && !ulricehamn.contains("(svc-t"));
    assert!(ulricehamn.contains("<option value=\"ulricehamn\" selected>Ulricehamn</option>"));

    // A search within a municipality keeps both on its page links.
    let searched = get(port, "/?q=-d&kommun=tranemo&uppdatera=nej");
    assert!(
        searched.contains("href=\"?q=-d&amp;kommun=tranemo&amp;uppdatera=nej&amp;sida=2\""),
        "{searched}"
    );
    assert_eq!(site_ids(&searched).len(), 9);
    let (status, body) = http(port, "GET", "/?kommun=tranemo&sida=x", None, "");
    assert_eq!(status, 400, "a page that is not a number: {body}");
}

#[test]
fn the_driftinformation_is_built_once_and_an_operators_incident_is_on_the_next_read() {
    let (_dir, _collector, port) = region();

    let read = || -> Value { serde_json::from_str(&get(port, "/driftinfo/tranemo.json")).unwrap() };
    let first = read();
    let titles = |v: &Value| -> Vec<String> {
        v["ongoing"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["title"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(titles(&first), ["Tjänst t0-d1"], "{first}");

    let incident = json!({ "municipalities": ["Tranemo"], "start": Utc::now() - Duration::minutes(5),
                           "title": "E-post fungerar inte", "by": "anna" });
    let (status, body) = http(
        port,
        "POST",
        "/api/v1/incidents",
        Some(OPERATOR_TOKEN),
        &incident.to_string(),
    );
    assert_eq!(status, 201, "{body}");
    let after = read();
    let mut got = titles(&after);
    got.sort();
    assert_eq!(got, ["E-post fungerar inte", "Tjänst t0-d1"], "{after}");
    assert!(
        after["now"].as_str() > first["now"].as_str(),
        "built again after the write"
    );
    assert_eq!(read()["now"], after["now"], "and then served as built");
}
