//! The topology's matching, parents, review and moves on the recorded campus (the same
//! devices as `tests/snmp/lldp-*.snmprec`) and on a generated tree of 500 switches.

use super::*;

fn known(id: &str, address: &str, serial: Option<&str>) -> Known {
    Known {
        id: id.into(),
        address: address.into(),
        serial: serial.map(str::to_string),
    }
}

/// A neighbour on local port `port` (ifIndex = the port's name here).
fn nb(port: &str, chassis: &str, sys_name: &str, addresses: &[&str]) -> Neighbor {
    Neighbor {
        protocol: Some(Protocol::Lldp),
        if_name: port.into(),
        if_index: port.into(),
        chassis_id: chassis.into(),
        sys_name: sys_name.into(),
        port: String::new(),
        addresses: addresses.iter().map(|a| a.to_string()).collect(),
    }
}

fn report(chassis: &str, sys_name: &str, neighbors: Vec<Neighbor>) -> Report {
    Report {
        chassis_id: Some(chassis.into()).filter(|c: &String| !c.is_empty()),
        sys_name: Some(sys_name.into()),
        neighbors,
    }
}

/// The recorded campus as the agent reports it (see `agent/tests/snmp/snmp_lldp.rs`).
fn campus() -> (Vec<Known>, BTreeMap<String, Report>) {
    let known = vec![
        known("core-1", "10.0.1.1", None),
        known("dist-1", "10.0.1.2", None),
        known("dist-2", "10.0.1.4", None),
        known("access-1", "access-1.kommun.example", None),
        known("hp-1", "10.0.1.9", Some("sg12ab345c")),
        known("ap-1", "10.0.3.5", None),
        known("ap-2", "10.0.3.6", None),
        known("ap-3", "10.0.3.7", None),
    ];
    let mut cdp = nb("2", "", "dist-2", &["10.0.1.4"]);
    cdp.protocol = Some(Protocol::Cdp);
    let reports = [
        (
            "core-1",
            report(
                "00:1b:54:00:00:01",
                "core-1",
                vec![
                    nb(
                        "1",
                        "00:1b:54:00:00:02",
                        "dist-1.kommun.example",
                        &["10.0.1.2"],
                    ),
                    cdp,
                ],
            ),
        ),
        (
            "dist-1",
            report(
                "00:1b:54:00:00:02",
                "dist-1.kommun.example",
                vec![
                    nb("10101", "00:1b:54:00:00:01", "core-1", &["10.0.1.1"]),
                    // access-1 by its address as a host name, short form.
                    nb("10102", "00:1b:54:00:00:03", "access-1", &[]),
                    // The HP: only its serial as chassis id.
                    nb("10103", "SG12AB345C", "", &[]),
                ],
            ),
        ),
        (
            "access-1",
            report(
                "00:1b:54:00:00:03",
                "access-1",
                vec![
                    nb("1", "00:1b:54:00:00:02", "dist-1.kommun.example", &[]),
                    nb("5", "24:a4:3c:00:00:05", "ap-1", &["10.0.3.5"]),
                    nb("10", "24:a4:3c:00:00:06", "ap-2", &["10.0.3.6"]),
                    nb("10", "24:a4:3c:00:00:07", "ap-3", &["10.0.3.7"]),
                ],
            ),
        ),
        // ap-2 sees access-1 through the unmanaged switch: still not used.
        (
            "ap-2",
            report(
                "",
                "ap-2",
                vec![nb("eth0", "00:1b:54:00:00:03", "access-1", &[])],
            ),
        ),
    ];
    let reports = reports
        .into_iter()
        .map(|(id, r)| (id.to_string(), r))
        .collect();
    (known, reports)
}

fn parents(proposals: &BTreeMap<String, Proposal>) -> Vec<(String, String)> {
    discovered(proposals).into_iter().collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[test]
fn campus_links_match_by_address_name_chassis_and_serial() {
    let (known, reports) = campus();
    let links = links(&known, &reports);
    let matched: Vec<(&str, &str, Option<&str>, bool)> = links
        .iter()
        .map(|l| {
            (
                l.device.as_str(),
                l.if_name.as_str(),
                l.neighbor.as_deref(),
                l.ambiguous_port,
            )
        })
        .collect();
    assert_eq!(
        matched,
        [
            ("access-1", "1", Some("dist-1"), false),
            ("access-1", "5", Some("ap-1"), false),
            ("access-1", "10", Some("ap-2"), true),
            ("access-1", "10", Some("ap-3"), true),
            ("ap-2", "eth0", Some("access-1"), false),
            ("core-1", "1", Some("dist-1"), false),
            ("core-1", "2", Some("dist-2"), false),
            ("dist-1", "10101", Some("core-1"), false),
            ("dist-1", "10102", Some("access-1"), false),
            ("dist-1", "10103", Some("hp-1"), false),
        ]
    );
}

#[test]
fn campus_parents_and_none_guessed_behind_the_ambiguous_port() {
    let (known, reports) = campus();
    let proposals = propose(&["core-1".into()], &links(&known, &reports));
    assert_eq!(proposals["core-1"], Proposal::Root);
    assert_eq!(
        parents(&proposals),
        pairs(&[
            ("access-1", "dist-1"),
            ("ap-1", "access-1"),
            ("dist-1", "core-1"),
            ("dist-2", "core-1"),
            ("hp-1", "dist-1"),
        ])
    );
    assert!(!proposals.contains_key("ap-2") && !proposals.contains_key("ap-3"));
    let Proposal::Parent(l) = &proposals["dist-2"] else {
        panic!()
    };
    assert_eq!(l.protocol, Some(Protocol::Cdp));
}

#[test]
fn ambiguous_names_are_not_guessed() {
    let known = vec![
        known("sw-a", "sw.site-a.example", None),
        known("sw-b", "sw.site-b.example", None),
    ];
    let d = Directory::new(&known, &BTreeMap::new());
    // Full name: one device. Short name: both.
    assert_eq!(
        d.find(&nb("1", "", "SW.site-a.example", &[])),
        Match::Device("sw-a".into())
    );
    assert_eq!(
        d.find(&nb("1", "", "sw", &[])),
        Match::Ambiguous(vec!["sw-a".into(), "sw-b".into()])
    );
    assert_eq!(d.find(&nb("1", "", "phone-7", &[])), Match::Unknown);
}

#[test]
fn redundant_uplinks_are_listed_not_chosen() {
    let links = vec![
        link("dist-a", "core"),
        link("dist-b", "core"),
        link("acc", "dist-a"),
        link("acc", "dist-b"),
    ];
    let p = propose(&["core".into()], &links);
    assert_eq!(
        p["acc"],
        Proposal::Ambiguous(vec!["dist-a".into(), "dist-b".into()])
    );
}

fn link(device: &str, neighbor: &str) -> Link {
    Link {
        device: device.into(),
        if_name: "up".into(),
        neighbor: Some(neighbor.into()),
        ..Link::default()
    }
}

#[test]
fn review_lists_differing_hand_kept_parents_and_moves_are_one_line_each() {
    let (known, mut reports) = campus();
    let before = discovered(&propose(&["core-1".into()], &links(&known, &reports)));
    let kept: BTreeMap<String, Option<String>> = [
        ("access-1".to_string(), Some("dist-1".to_string())),
        ("ap-1".to_string(), Some("core-1".to_string())),
        ("hp-1".to_string(), None),
    ]
    .into();
    let proposals = propose(&["core-1".into()], &links(&known, &reports));
    let r = review(&kept, &proposals);
    let got: Vec<(&str, Option<&str>, &str)> = r
        .iter()
        .map(|r| (r.device.as_str(), r.kept.as_deref(), r.proposed.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("ap-1", Some("core-1"), "access-1"),
            ("hp-1", None, "dist-1")
        ]
    );
    // access-1 re-cabled from dist-1 to dist-2: both switches' walks say so.
    let access = reports.get_mut("access-1").unwrap();
    access.neighbors[0] = nb("1", "00:1b:54:00:00:04", "dist-2", &["10.0.1.4"]);
    let dist = reports.get_mut("dist-1").unwrap();
    dist.neighbors.remove(1);
    let after = discovered(&propose(&["core-1".into()], &links(&known, &reports)));
    let m = moved(&before, &after);
    assert_eq!(
        m,
        [Move {
            device: "access-1".into(),
            from: "dist-1".into(),
            to: "dist-2".into()
        }]
    );
    assert_eq!(
        m[0].line(),
        "access-1 har flyttats: ansluten till dist-2 (tidigare dist-1). Förslaget väntar på granskning."
    );
}

/// 500 switches: a chain 30 deep from the root, the other 469 hung under earlier switches;
/// links reported by the child, the parent or both, named by address, sysName or MAC; and
/// one port of the root with two neighbours that must get no parent.
#[test]
fn generated_tree_of_500_switches_with_a_chain_30_deep() {
    let n = 500usize;
    let mut expected: BTreeMap<String, String> = BTreeMap::new();
    for i in 1..n {
        let parent = if i <= 30 {
            i - 1
        } else {
            (i * 7919 % 1009) % i
        };
        expected.insert(format!("sw-{i}"), format!("sw-{parent}"));
    }
    let mut known: Vec<Known> = (0..n)
        .map(|i| {
            known(
                &format!("sw-{i}"),
                &format!("10.{}.{}.1", i / 250, i % 250),
                None,
            )
        })
        .collect();
    known.push(self::known("hub-a", "10.9.0.1", None));
    known.push(self::known("hub-b", "10.9.0.2", None));
    let mac = |i: usize| format!("02:00:00:00:{:02x}:{:02x}", i / 256, i % 256);
    let mut reports: BTreeMap<String, Report> = (0..n)
        .map(|i| {
            (
                format!("sw-{i}"),
                report(&mac(i), &format!("sw-{i}.kommun.example"), vec![]),
            )
        })
        .collect();
    for (child, parent) in &expected {
        let c: usize = child[3..].parse().unwrap();
        let p: usize = parent[3..].parse().unwrap();
        let name_of = |i: usize, by: usize| match by % 3 {
            0 => nb("", "", "", &[&format!("10.{}.{}.1", i / 250, i % 250)]),
            1 => nb("", "", &format!("sw-{i}"), &[]),
            _ => nb("", &mac(i), "", &[]),
        };
        if c % 4 != 1 {
            let mut up = name_of(p, c);
            up.if_name = "uplink".into();
            reports.get_mut(child).unwrap().neighbors.push(up);
        }
        if c % 4 != 2 {
            let mut down = name_of(c, c + 1);
            down.if_name = format!("port-{c}");
            reports.get_mut(parent).unwrap().neighbors.push(down);
        }
    }
    let root = reports.get_mut("sw-0").unwrap();
    root.neighbors.push(nb("hub", "", "hub-a", &[]));
    root.neighbors.push(nb("hub", "", "hub-b", &[]));
    let started = std::time::Instant::now();
    let proposals = propose(&["sw-0".into()], &links(&known, &reports));
    let elapsed = started.elapsed();
    assert_eq!(discovered(&proposals), expected);
    assert!(!proposals.contains_key("hub-a") && !proposals.contains_key("hub-b"));
    // The chain: sw-30 is 30 hops from the root.
    let mut hops = 0;
    let mut at = "sw-30".to_string();
    while let Some(Proposal::Parent(l)) = proposals.get(&at) {
        at = parent_of(&at, l).unwrap();
        hops += 1;
    }
    assert_eq!((hops, at.as_str()), (30, "sw-0"));
    assert!(elapsed < std::time::Duration::from_secs(2), "{elapsed:?}");
}
