//! LLDP and CDP neighbours against snmpsim serving recordings written from LLDP-MIB,
//! CISCO-CDP-MIB and BRIDGE-MIB (`tests/snmp/lldp-*.snmprec`, made by
//! `tests/snmp/lldp/generate.py`): a core switch (LLDP and a CDP-only neighbour), a
//! distribution switch whose LLDP port numbers are bridge ports, an access switch with two
//! neighbours on one port, an HP switch advertising its serial as chassis id, and an access
//! point. Every neighbour's labels are asserted exactly; then the walk's interval and the walk
//! again after a restart (which also shows a re-cabled uplink).

use crate::rig;

use rig::{probe, prober_for, samples, sim_config, text, Lab, SimDevice, Snmpsim};
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(3);

const FILES: &[&str] = &[
    "lldp-core-1.snmprec",
    "lldp-dist-1.snmprec",
    "lldp-access-1.snmprec",
    "lldp-hp-1.snmprec",
    "lldp-ap-1.snmprec",
];

fn device<'a>(id: &'a str, class: &'a str) -> SimDevice<'a> {
    SimDevice {
        id,
        class,
        community: match id {
            "core-1" => "lldp-core-1",
            "dist-1" => "lldp-dist-1",
            "access-1" => "lldp-access-1",
            "hp-1" => "lldp-hp-1",
            _ => "lldp-ap-1",
        },
        extra: &[],
    }
}

/// Each neighbour as `protocol ifIndex ifName | chassis sys_name port | addresses`.
fn neighbours(o: &driftvakt_agent::probe::Outcome) -> Vec<String> {
    samples(o, "neighbors")
        .iter()
        .map(|s| {
            let l = |k: &str| s.labels[k].as_str();
            format!(
                "{} {} {} | {} {} {} | {}",
                l("protocol"),
                l("ifIndex"),
                l("ifName"),
                l("chassis_id"),
                l("sys_name"),
                l("port"),
                l("addresses")
            )
        })
        .collect()
}

#[tokio::test]
async fn neighbours_of_core_distribution_access_hp_and_ap() {
    let sim = Snmpsim::start(FILES);
    let lab = Lab::new();
    let devices = [
        device("core-1", "switch"),
        device("dist-1", "switch"),
        device("access-1", "switch"),
        device("hp-1", "switch"),
        device("ap-1", "access_point"),
    ];
    let cfg = sim_config(&lab, sim.port, &devices);
    let prober = prober_for(&cfg);
    let mut got = Vec::new();
    for d in &devices {
        let o = probe(&prober, &cfg, d.id, TIMEOUT).await;
        assert!(o.ok, "{o:#?}");
        got.push((d.id, text(&o, "lldp_chassis_id"), neighbours(&o)));
    }
    let want = [
        (
            "core-1",
            "00:1b:54:00:00:01",
            vec![
                "lldp 1 Te1/1/1 | 00:1b:54:00:00:02 dist-1.kommun.example Te1/0/1 | 10.0.1.2",
                "cdp 2 Te1/1/2 |  dist-2 TenGigabitEthernet1/0/1 | 10.0.1.4",
            ],
        ),
        (
            "dist-1",
            "00:1b:54:00:00:02",
            vec![
                // LLDP port numbers 1..3 are bridge ports: BRIDGE-MIB names ifIndex 10101..
                "lldp 10101 Te1/0/1 | 00:1b:54:00:00:01 core-1 Te1/1/1 | 10.0.1.1",
                "lldp 10102 Gi1/0/2 | 00:1b:54:00:00:03 access-1 Gi0/1 | 10.0.2.3",
                "lldp 10103 Gi1/0/3 | SG12AB345C  24 | ",
            ],
        ),
        (
            "access-1",
            "00:1b:54:00:00:03",
            vec![
                "lldp 1 Gi0/1 | 00:1b:54:00:00:02 dist-1.kommun.example Gi1/0/2 | 10.0.1.2",
                "lldp 5 Gi0/5 | 24:a4:3c:00:00:05 ap-1 eth0 | 10.0.3.5",
                "lldp 10 Gi0/10 | 24:a4:3c:00:00:06 ap-2 eth0 | 10.0.3.6",
                "lldp 10 Gi0/10 | 24:a4:3c:00:00:07 ap-3 eth0 | 10.0.3.7",
            ],
        ),
        (
            "hp-1",
            "SG12AB345C",
            vec!["lldp 24 24 | 00:1b:54:00:00:02 dist-1.kommun.example 00:1b:54:00:01:03 | "],
        ),
        (
            "ap-1",
            "24:a4:3c:00:00:05",
            vec!["lldp 2 eth0 | 00:1b:54:00:00:03 access-1 Gi0/5 | 10.0.2.3"],
        ),
    ];
    for ((id, chassis, n), (wid, wchassis, wn)) in got.iter().zip(want) {
        assert_eq!((*id, chassis.as_str()), (wid, wchassis));
        assert_eq!(n, &wn, "{id}");
    }
}

#[tokio::test]
async fn walked_once_per_interval_and_again_after_a_restart() {
    let sim = Snmpsim::start(FILES);
    let lab = Lab::new();
    let cfg = sim_config(&lab, sim.port, &[device("access-1", "switch")]);
    let prober = prober_for(&cfg);
    let first = probe(&prober, &cfg, "access-1", TIMEOUT).await;
    assert_eq!(neighbours(&first).len(), 4);
    let second = probe(&prober, &cfg, "access-1", TIMEOUT).await;
    assert!(second.ok, "{second:#?}");
    assert!(!second.values.contains_key("neighbors"), "{second:#?}");
    // Re-cabled to dist-2 while it restarted: sysUpTime went back, the next probe walks.
    let recabled = std::fs::read_to_string(rig::data_dir().join("lldp-access-1-recabled.snmprec"))
        .unwrap()
        .replace("1.3.6.1.2.1.1.3.0|67|700100", "1.3.6.1.2.1.1.3.0|67|100");
    sim.replace("lldp-access-1", &recabled);
    let third = probe(&prober, &cfg, "access-1", TIMEOUT).await;
    assert_eq!(
        neighbours(&third),
        [
            "lldp 1 Gi0/1 | 00:1b:54:00:00:04 dist-2 Gi1/0/9 | 10.0.1.4",
            "lldp 5 Gi0/5 | 24:a4:3c:00:00:05 ap-1 eth0 | 10.0.3.5",
        ]
    );
    assert_eq!(rig::codes(&third), ["rebooted"]);
}

#[tokio::test]
async fn a_device_without_lldp_or_cdp_has_no_neighbour_values() {
    let sim = Snmpsim::start(&["switch-uplink-down.snmprec"]);
    let lab = Lab::new();
    let d = SimDevice {
        id: "sw-plain",
        class: "switch",
        community: "switch-uplink-down",
        extra: &[],
    };
    let cfg = sim_config(&lab, sim.port, &[d]);
    let o = probe(&prober_for(&cfg), &cfg, "sw-plain", TIMEOUT).await;
    assert!(o.ok, "{o:#?}");
    assert!(!o.values.contains_key("neighbors"), "{o:#?}");
    assert!(!o.values.contains_key("lldp_chassis_id"), "{o:#?}");
}
