//! The SNMP profiles against snmpsim serving our own data files (`tests/snmp/*.snmprec`): a UPS
//! on mains, a UPS on battery with 35 minutes left, a printer with low toner and a "some
//! remaining" supply, a switch with an uplink down, and a reboot. Values and findings are
//! asserted exactly. Each test starts its own snmpsimd (see `rig/snmp.rs`).

use crate::rig;

use driftvakt_agent::probe::FailureReason;
use rig::{
    codes, flag, number, probe, prober_for, sample_where, samples, sim_config, Lab, SimDevice,
    Snmpsim,
};
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(3);

fn device<'a>(id: &'a str, class: &'a str, community: &'a str) -> SimDevice<'a> {
    SimDevice {
        id,
        class,
        community,
        extra: &[],
    }
}

#[tokio::test]
async fn ups_on_mains_is_healthy() {
    let sim = Snmpsim::start(&["ups-mains.snmprec"]);
    let lab = Lab::new();
    let cfg = sim_config(&lab, sim.port, &[device("ups-1", "ups", "ups-mains")]);
    let o = probe(&prober_for(&cfg), &cfg, "ups-1", TIMEOUT).await;
    assert!(o.ok, "{o:#?}");
    assert_eq!(number(&o, "ups_battery_status"), 2.0);
    assert_eq!(number(&o, "ups_runtime_minutes"), 300.0);
    assert_eq!(number(&o, "ups_charge_ratio"), 1.0);
    assert_eq!(number(&o, "ups_output_source"), 3.0);
    assert_eq!(number(&o, "ups_input_line_bads"), 2.0);
    assert!(!flag(&o, "ups_on_battery"));
    assert!(!flag(&o, "ups_runtime_implausible"));
    assert!(o.findings.is_empty(), "{o:#?}");
}

#[tokio::test]
async fn ups_on_battery_with_35_minutes_is_degraded() {
    let sim = Snmpsim::start(&["ups-battery.snmprec"]);
    let lab = Lab::new();
    let cfg = sim_config(&lab, sim.port, &[device("ups-2", "ups", "ups-battery")]);
    let o = probe(&prober_for(&cfg), &cfg, "ups-2", TIMEOUT).await;
    assert!(o.ok, "{o:#?}");
    assert_eq!(number(&o, "ups_runtime_minutes"), 35.0);
    assert_eq!(number(&o, "ups_charge_ratio"), 0.41);
    assert_eq!(number(&o, "ups_output_source"), 5.0);
    assert!(flag(&o, "ups_on_battery"));
    assert_eq!(codes(&o), ["ups_on_battery", "ups_runtime_below_minimum"]);
    let msg = &o.findings[1].message;
    assert_eq!(
        msg,
        "estimated runtime 35 minutes is below the 4-hour/240-minute requirement"
    );
}

#[tokio::test]
async fn ups_switching_from_mains_to_battery_is_seen_on_the_next_probe() {
    let sim = Snmpsim::start(&["ups-mains.snmprec"]);
    let lab = Lab::new();
    let cfg = sim_config(&lab, sim.port, &[device("ups-3", "ups", "ups-mains")]);
    let prober = prober_for(&cfg);
    let o = probe(&prober, &cfg, "ups-3", TIMEOUT).await;
    assert!(o.ok && o.findings.is_empty(), "{o:#?}");
    let battery = std::fs::read_to_string(rig::data_dir().join("ups-battery.snmprec")).unwrap();
    sim.replace("ups-mains", &battery);
    let o = probe(&prober, &cfg, "ups-3", TIMEOUT).await;
    assert_eq!(codes(&o), ["ups_on_battery", "ups_runtime_below_minimum"]);
}

#[tokio::test]
async fn printer_with_low_toner_and_special_levels() {
    let sim = Snmpsim::start(&["printer-low-toner.snmprec"]);
    let lab = Lab::new();
    let cfg = sim_config(
        &lab,
        sim.port,
        &[device("printer-1", "printer", "printer-low-toner")],
    );
    let o = probe(&prober_for(&cfg), &cfg, "printer-1", TIMEOUT).await;
    assert!(o.ok, "{o:#?}");
    assert_eq!(number(&o, "printer_status"), 3.0);
    assert_eq!(number(&o, "printer_device_status"), 3.0);
    let ratios = samples(&o, "printer_supply_ratio");
    assert_eq!(
        ratios.len(),
        2,
        "only supplies with a real ratio: {ratios:?}"
    );
    let black = sample_where(
        &o,
        "printer_supply_ratio",
        "supply",
        "Black Toner Cartridge",
    );
    assert_eq!(black.value, 0.04);
    let cyan = sample_where(&o, "printer_supply_ratio", "supply", "Cyan Toner Cartridge");
    assert_eq!(cyan.value, 0.6);
    let waste = sample_where(&o, "printer_supply_state", "supply", "Waste Toner Box");
    assert_eq!(
        (waste.labels["state"].as_str(), waste.value),
        ("some_remaining", -3.0)
    );
    let staples = sample_where(&o, "printer_supply_state", "supply", "Staples");
    assert_eq!(
        (staples.labels["state"].as_str(), staples.value),
        ("unknown", -2.0)
    );
    // hrDeviceStatus warning(3) is a value, not a finding; only the toner is.
    assert_eq!(codes(&o), ["printer_supply_low"]);
    assert_eq!(
        o.findings[0].message,
        "Black Toner Cartridge is at 4 % (under 10 %)"
    );
}

#[tokio::test]
async fn switch_with_an_uplink_down() {
    let sim = Snmpsim::start(&["switch-uplink-down.snmprec"]);
    let lab = Lab::new();
    let cfg = sim_config(
        &lab,
        sim.port,
        &[SimDevice {
            id: "sw-1",
            class: "switch",
            community: "switch-uplink-down",
            extra: &["uplinks: [Gi0/24, GigabitEthernet0/1]"],
        }],
    );
    let o = probe(&prober_for(&cfg), &cfg, "sw-1", TIMEOUT).await;
    assert!(o.ok, "{o:#?}");
    assert_eq!(number(&o, "sys_uptime_seconds"), 5000.0);
    assert_eq!(number(&o, "if_count"), 4.0);
    assert_eq!(number(&o, "if_up_count"), 1.0);
    assert_eq!(number(&o, "if_admin_up_oper_down_count"), 2.0);
    assert!(flag(&o, "if_counters_64bit"));
    let uplink = sample_where(&o, "if_oper_status", "ifName", "Gi0/24");
    assert_eq!(
        (uplink.labels["ifIndex"].as_str(), uplink.value),
        ("3", 2.0)
    );
    let vlan = sample_where(&o, "if_admin_status", "ifIndex", "100");
    assert_eq!((vlan.labels["ifName"].as_str(), vlan.value), ("Vl1", 2.0));
    assert_eq!(
        sample_where(&o, "if_in_octets", "ifName", "Gi0/1").value,
        1e10
    );
    assert_eq!(
        sample_where(&o, "if_out_octets", "ifName", "Gi0/24").value,
        3.1e10
    );
    assert_eq!(codes(&o), ["uplink_down"]);
    assert_eq!(
        o.findings[0].message,
        "uplink Gi0/24 (ifIndex 3) is administratively up but operationally down"
    );
}

#[tokio::test]
async fn uptime_going_backwards_is_a_reboot() {
    let sim = Snmpsim::start(&["switch-uplink-down.snmprec"]);
    let lab = Lab::new();
    let cfg = sim_config(
        &lab,
        sim.port,
        &[device("sw-2", "switch", "switch-uplink-down")],
    );
    let prober = prober_for(&cfg);
    let o = probe(&prober, &cfg, "sw-2", TIMEOUT).await;
    assert!(o.ok && o.findings.is_empty(), "{o:#?}");
    let original =
        std::fs::read_to_string(rig::data_dir().join("switch-uplink-down.snmprec")).unwrap();
    let rebooted = original.replace("1.3.6.1.2.1.1.3.0|67|500000", "1.3.6.1.2.1.1.3.0|67|1200");
    sim.replace("switch-uplink-down", &rebooted);
    let o = probe(&prober, &cfg, "sw-2", TIMEOUT).await;
    assert_eq!(number(&o, "sys_uptime_seconds"), 12.0);
    assert_eq!(codes(&o), ["rebooted"]);
    assert!(
        o.findings[0].message.contains("from 5000 s to 12 s"),
        "{o:#?}"
    );
    // Once seen, the lower uptime is the new baseline.
    let o = probe(&prober, &cfg, "sw-2", TIMEOUT).await;
    assert!(o.findings.is_empty(), "{o:#?}");
}

#[tokio::test]
async fn profile_override_and_unknown_profile() {
    let sim = Snmpsim::start(&["ups-battery.snmprec"]);
    let lab = Lab::new();
    let cfg = sim_config(
        &lab,
        sim.port,
        &[
            SimDevice {
                id: "odd-ups",
                class: "screen",
                community: "ups-battery",
                extra: &["profile: ups"],
            },
            SimDevice {
                id: "typo",
                class: "ups",
                community: "ups-battery",
                extra: &["profile: upss"],
            },
        ],
    );
    let prober = prober_for(&cfg);
    let o = probe(&prober, &cfg, "odd-ups", TIMEOUT).await;
    assert_eq!(number(&o, "ups_runtime_minutes"), 35.0);
    // UPS profiles read sysUpTime too, so UPS reboots are seen.
    assert_eq!(number(&o, "sys_uptime_seconds"), 1234.56);
    let o = probe(&prober, &cfg, "typo", TIMEOUT).await;
    assert_eq!(o.error, Some(FailureReason::ConfigError));
    assert!(o.detail.unwrap().contains("`upss`"));
}
