//! Parents from LLDP only, through the real ingest path: an inventory without one `parent:`
//! line (`topology: { parents: auto, roots: [core-1] }`) whose switches' neighbour walks
//! arrive as results. A distribution switch going down then gives one site notice and one
//! alert, nothing for the devices behind it, and each of them is unreachable behind it (the
//! status API's `root_cause`, with its parent's source `lldp`). A re-cabled access switch
//! (its walk names another distribution switch) gives one proposal against its hand-kept
//! parent and one service-desk line, and no mail.

use crate::rig::*;
use driftvakt_collector::availability::Health;
use driftvakt_collector::pages::team::{team_status, Filter};
use driftvakt_common::wire::{ProbeResult, Sample, Value};

const DEVICES: &str = r#"
collector:
  confirm_failures: 3
  database: DATABASE
topology: { parents: auto, roots: [core-1] }
sites:
  - { id: noden, name: Noden, municipality: Ulricehamn, node: true }
  - { id: skolan, name: Skolan, municipality: Ulricehamn, node: true }
devices:
  - { id: core-1, class: switch, site: noden, address: 10.0.1.1, interval: 60s, checks: [icmp] }
  - { id: dist-1, class: switch, site: skolan, address: 10.0.1.2, interval: 60s, checks: [icmp] }
  - { id: dist-2, class: switch, site: skolan, address: 10.0.1.4, interval: 60s, checks: [icmp] }
  - { id: access-1, class: switch, site: skolan, address: 10.0.2.3, interval: 60s, checks: [icmp] }
  - { id: ap-1, class: access_point, site: skolan, address: 10.0.3.5, interval: 60s, checks: [icmp] }
  - { id: ap-2, class: access_point, site: skolan, address: 10.0.3.6, interval: 60s, checks: [icmp] }
agents:
  - { id: a1, token_file: a1.token, municipalities: [Ulricehamn] }
"#;

const ALL: [&str; 6] = ["core-1", "dist-1", "dist-2", "access-1", "ap-1", "ap-2"];
const BEHIND: [&str; 3] = ["access-1", "ap-1", "ap-2"];

fn inventory(extra_parent: bool) -> String {
    let mut text = DEVICES.to_string();
    if extra_parent {
        text = text.replace("address: 10.0.2.3,", "address: 10.0.2.3, parent: dist-1,");
    }
    text + notify_section()
}

/// A neighbour as the agent labels it (see `agent/src/probe/snmp/lldp.rs`).
fn nb(port: &str, sys_name: &str, address: &str) -> Sample {
    let labels = [
        ("protocol", "lldp"),
        ("ifIndex", port),
        ("ifName", port),
        ("chassis_id", ""),
        ("sys_name", sys_name),
        ("port", ""),
        ("addresses", address),
    ];
    Sample {
        labels: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        value: 1.0,
    }
}

fn with_walk(mut r: ProbeResult, neighbours: Vec<Sample>) -> ProbeResult {
    r.values
        .insert("neighbors".into(), Value::Series(neighbours));
    r
}

/// Minute `m`'s results: each device's icmp, failing for `failing`, and the switches' walks
/// when `walks` (the access switch's uplink to `uplink`).
fn minute(rig: &Rig, m: i64, failing: &[&str], walks: Option<&str>) -> Vec<ProbeResult> {
    let at = rig.at(m);
    ALL.iter()
        .map(|d| {
            let r = icmp(d, at, !failing.contains(d));
            let Some(uplink) = walks else { return r };
            match *d {
                "core-1" => with_walk(
                    r,
                    vec![nb("1", "dist-1", "10.0.1.2"), nb("2", "dist-2", "")],
                ),
                "dist-1" if uplink == "dist-1" => with_walk(
                    r,
                    vec![
                        nb("1", "core-1", "10.0.1.1"),
                        nb("2", "access-1", "10.0.2.3"),
                    ],
                ),
                "dist-1" => with_walk(r, vec![nb("1", "core-1", "10.0.1.1")]),
                "access-1" => with_walk(
                    r,
                    vec![
                        nb("1", uplink, ""),
                        nb("5", "ap-1", "10.0.3.5"),
                        nb("6", "ap-2.skolan.example", ""),
                    ],
                ),
                _ => r,
            }
        })
        .collect()
}

#[tokio::test]
async fn a_distribution_switch_down_behind_lldp_parents_gives_one_notice_and_one_alert() {
    let rig = Rig::start_with("2026-03-10T20:50:00Z", &inventory(false));
    rig.ingest(0, minute(&rig, 0, &[], Some("dist-1"))).await;
    for m in 1..10 {
        rig.ingest(m, minute(&rig, m, &[], None)).await;
    }
    let failing = ["dist-1", "access-1", "ap-1", "ap-2"];
    let (mut opened, mut closed) = (Vec::new(), Vec::new());
    for m in 10..30 {
        let r = rig.ingest(m, minute(&rig, m, &failing, None)).await;
        opened.extend(r.opened);
        closed.extend(r.closed);
    }
    opened.sort();
    assert_eq!(
        opened,
        ["device:dist-1:down", "site:skolan"],
        "closed: {closed:?}"
    );
    assert_eq!(rig.notifier().stats().unwrap().pending, 2);
    let status = rig.app.status().unwrap();
    for d in &status.devices {
        let want = match d.id.as_str() {
            "dist-1" => (Health::Down, None, Some("core-1")),
            id if BEHIND.contains(&id) => (Health::Unreachable, Some("dist-1"), None),
            _ => (Health::Up, None, None),
        };
        assert_eq!(
            (d.state, d.root_cause.as_deref()),
            (want.0, want.1),
            "{d:?}"
        );
        if let Some(parent) = want.2 {
            assert_eq!(d.parent.as_deref(), Some(parent));
        }
        if d.id != "core-1" {
            assert_eq!(d.parent_source.as_deref(), Some("lldp"), "{d:?}");
        }
    }
    let parents: Vec<(&str, Option<&str>)> = status
        .devices
        .iter()
        .map(|d| (d.id.as_str(), d.parent.as_deref()))
        .collect();
    assert_eq!(
        parents,
        [
            ("core-1", None),
            ("dist-1", Some("core-1")),
            ("dist-2", Some("core-1")),
            ("access-1", Some("dist-1")),
            ("ap-1", Some("access-1")),
            ("ap-2", Some("access-1")),
        ]
    );
    // The team page says what each device is reached through, and from where that is known.
    let team = team_status(
        &rig.app,
        chrono_tz::Europe::Stockholm,
        None,
        &Filter::default(),
        rig.clock_now(),
    )
    .unwrap();
    let skolan = team.sites.iter().find(|s| s.id == "skolan").unwrap();
    let texts: Vec<(&str, &str, &str)> = skolan
        .devices
        .iter()
        .map(|d| (d.id.as_str(), d.parent_text.as_str(), d.behind.as_str()))
        .collect();
    assert_eq!(
        texts,
        [
            ("dist-1", "Ansluten via core-1 (LLDP)", ""),
            ("dist-2", "Ansluten via core-1 (LLDP)", ""),
            ("access-1", "Ansluten via dist-1 (LLDP)", "dist-1"),
            ("ap-1", "Ansluten via access-1 (LLDP)", "dist-1"),
            ("ap-2", "Ansluten via access-1 (LLDP)", "dist-1"),
        ]
    );
    let mails = rig.deliver_until(2).await;
    let site = to(&mails, EDITORS);
    assert_eq!(site.len(), 1);
    assert_eq!(
        site[0].subject,
        "Driftmeddelande – störning: Nätverket, Skolan"
    );
    assert!(site[0].text.contains("(3 enheter)"), "{}", site[0].text);
    let page = to(&mails, ON_CALL);
    assert_eq!(page.len(), 1);
    assert!(
        page[0].subject.starts_with("Larm: dist-1, Skolan"),
        "{}",
        page[0].subject
    );
    for m in &mails {
        for child in BEHIND {
            assert!(!m.subject.contains(child), "{}", m.subject);
        }
    }
}

#[tokio::test]
async fn a_recabled_access_switch_gives_one_proposal_and_one_service_desk_line() {
    let rig = Rig::start_with("2026-03-10T20:50:00Z", &inventory(true));
    rig.ingest(0, minute(&rig, 0, &[], Some("dist-1"))).await;
    for m in 1..5 {
        rig.ingest(m, minute(&rig, m, &[], None)).await;
    }
    let review = |rig: &Rig| {
        let view = driftvakt_collector::topology::view(
            &rig.app.inventory,
            &rig.app.metrics.topology_reports(),
        );
        view.proposals
    };
    assert!(review(&rig).is_empty(), "{:?}", review(&rig));
    assert!(rig.app.metrics.moves().is_empty());
    // Re-cabled: the next walks say access-1 hangs under dist-2.
    rig.ingest(5, minute(&rig, 5, &[], Some("dist-2"))).await;
    let proposals = review(&rig);
    assert_eq!(proposals.len(), 1, "{proposals:?}");
    let p = &proposals[0];
    assert_eq!(
        (p.device.as_str(), p.kept.as_deref(), p.proposed.as_str()),
        ("access-1", Some("dist-1"), "dist-2")
    );
    let lines: Vec<String> = rig.app.metrics.moves().iter().map(|m| m.line()).collect();
    assert_eq!(
        lines,
        ["access-1 har flyttats: ansluten till dist-2 (tidigare dist-1). Förslaget väntar på granskning."]
    );
    // The hand-kept parent still wins, and nobody is paged.
    let status = rig.app.status().unwrap();
    let access = status.devices.iter().find(|d| d.id == "access-1").unwrap();
    assert_eq!(
        (access.parent.as_deref(), access.parent_source.as_deref()),
        (Some("dist-1"), Some("inventory"))
    );
    rig.ingest(6, minute(&rig, 6, &[], Some("dist-2"))).await;
    assert_eq!(rig.app.metrics.moves().len(), 1);
    assert_eq!(rig.notifier().stats().unwrap().pending, 0);
    assert!(rig.peer.messages().is_empty());
}
