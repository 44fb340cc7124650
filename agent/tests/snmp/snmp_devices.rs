//! The SNMP profiles against recordings of real devices (`tests/snmp/devices/`, trimmed copies
//! of the shared snmpsim-data recordings, BSD licence kept alongside), served by snmpsim.
//!
//! Expected counts were checked against the files: interfaces are the ifTable rows, "up" is
//! ifOperStatus 1, "admin up, oper down" is ifAdminStatus 1 with ifOperStatus 2 or 7.

use crate::rig;

use rig::{
    flag, number, probe, prober_for, sample_where, samples, sim_config, Lab, SimDevice, Snmpsim,
};
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(5);

const RECORDINGS: &[&str] = &[
    "devices/ups-eaton-93e-80.snmprec",
    "devices/ups-phoenixtec.snmprec",
    "devices/switch-cisco-c3560.snmprec",
    "devices/switch-hpe-procurve.snmprec",
    "devices/ap-ubiquiti-m5.snmprec",
];

fn device<'a>(id: &'a str, class: &'a str, community: &'a str) -> SimDevice<'a> {
    SimDevice {
        id,
        class,
        community,
        extra: &[],
    }
}

#[tokio::test]
async fn eaton_ups_on_mains_with_1092_minutes() {
    let sim = Snmpsim::start(RECORDINGS);
    let lab = Lab::new();
    let cfg = sim_config(
        &lab,
        sim.port,
        &[device("eaton", "ups", "ups-eaton-93e-80")],
    );
    let o = probe(&prober_for(&cfg), &cfg, "eaton", TIMEOUT).await;
    assert!(o.ok, "{o:#?}");
    assert_eq!(number(&o, "ups_runtime_minutes"), 1092.0);
    assert_eq!(number(&o, "ups_battery_status"), 2.0);
    assert_eq!(number(&o, "ups_charge_ratio"), 1.0);
    assert_eq!(number(&o, "ups_output_source"), 3.0);
    assert_eq!(number(&o, "ups_input_line_bads"), 0.0);
    assert!(!flag(&o, "ups_on_battery"));
    assert!(!flag(&o, "ups_runtime_implausible"));
    assert!(o.findings.is_empty(), "not degraded: {o:#?}");
}

#[tokio::test]
async fn phoenixtec_zero_minutes_on_mains_is_implausible_not_degraded() {
    let sim = Snmpsim::start(RECORDINGS);
    let lab = Lab::new();
    let cfg = sim_config(&lab, sim.port, &[device("kert", "ups", "ups-phoenixtec")]);
    let o = probe(&prober_for(&cfg), &cfg, "kert", TIMEOUT).await;
    assert!(o.ok, "{o:#?}");
    assert_eq!(number(&o, "ups_runtime_minutes"), 0.0);
    assert_eq!(number(&o, "ups_battery_status"), 2.0);
    assert_eq!(number(&o, "ups_charge_ratio"), 1.0);
    assert!(!flag(&o, "ups_on_battery"));
    assert!(flag(&o, "ups_runtime_implausible"));
    assert!(o.findings.is_empty(), "{o:#?}");
}

#[tokio::test]
async fn cisco_3560_has_57_interfaces_7_up() {
    let sim = Snmpsim::start(RECORDINGS);
    let lab = Lab::new();
    let cfg = sim_config(
        &lab,
        sim.port,
        &[SimDevice {
            id: "cisco",
            class: "switch",
            community: "switch-cisco-c3560",
            extra: &["uplinks: [Gi0/1]"],
        }],
    );
    let o = probe(&prober_for(&cfg), &cfg, "cisco", TIMEOUT).await;
    assert!(o.ok, "{o:#?}");
    assert_eq!(number(&o, "if_count"), 57.0);
    assert_eq!(number(&o, "if_up_count"), 7.0);
    assert_eq!(number(&o, "if_admin_up_oper_down_count"), 49.0);
    assert_eq!(samples(&o, "if_oper_status").len(), 57);
    assert!(flag(&o, "if_counters_64bit"));
    assert_eq!(number(&o, "sys_uptime_seconds"), 4_924_464.81);
    // ifName from ifXTable; Null0 has no 64-bit counter row and falls back to 32 bits.
    let vlan = sample_where(&o, "if_oper_status", "ifIndex", "1");
    assert_eq!(vlan.labels["ifName"], "Vl1");
    assert_eq!(samples(&o, "if_in_octets").len(), 57);
    assert_eq!(sample_where(&o, "if_in_octets", "ifName", "Nu0").value, 0.0);
    // Gi0/1 (ifIndex 10101, ifName hex-encoded in the recording) is admin-up, oper-down.
    assert_eq!(rig::codes(&o), ["uplink_down"]);
    assert_eq!(
        o.findings[0].message,
        "uplink Gi0/1 (ifIndex 10101) is administratively up but operationally down"
    );
}

#[tokio::test]
async fn hpe_procurve_42_interfaces_25_up_uptime_past_2_31() {
    let sim = Snmpsim::start(RECORDINGS);
    let lab = Lab::new();
    let cfg = sim_config(
        &lab,
        sim.port,
        &[device("hpe", "switch", "switch-hpe-procurve")],
    );
    let prober = prober_for(&cfg);
    let o = probe(&prober, &cfg, "hpe", TIMEOUT).await;
    assert!(o.ok, "{o:#?}");
    assert_eq!(number(&o, "if_count"), 42.0);
    assert_eq!(number(&o, "if_up_count"), 25.0);
    assert_eq!(number(&o, "if_admin_up_oper_down_count"), 5.0);
    // 3,110,697,828 ticks: above 2^31, read as unsigned TimeTicks, not a negative number.
    assert_eq!(number(&o, "sys_uptime_seconds"), 31_106_978.28);
    let port1 = sample_where(&o, "if_in_octets", "ifIndex", "1");
    assert_eq!(port1.value, 1_618_982_453_357.0);
    // Same reading again: no reboot.
    let o = probe(&prober, &cfg, "hpe", TIMEOUT).await;
    assert!(o.findings.is_empty(), "{o:#?}");
}

#[tokio::test]
async fn ubiquiti_ap_9_interfaces_with_32_bit_counters() {
    let sim = Snmpsim::start(RECORDINGS);
    let lab = Lab::new();
    let cfg = sim_config(
        &lab,
        sim.port,
        &[
            device("ap", "access_point", "ap-ubiquiti-m5"),
            SimDevice {
                id: "ap-ifs",
                class: "access_point",
                community: "ap-ubiquiti-m5",
                extra: &["profile: switch"],
            },
        ],
    );
    let prober = prober_for(&cfg);
    // The access-point profile: uptime, description, name.
    let o = probe(&prober, &cfg, "ap", TIMEOUT).await;
    assert!(o.ok, "{o:#?}");
    assert_eq!(number(&o, "sys_uptime_seconds"), 8_431_538.0);
    assert_eq!(
        o.values["sys_name"],
        driftvakt_common::wire::Value::Text("Kotelinaya-to-Pat".into())
    );
    // Its interfaces through the switch profile: no ifXTable, so ifDescr names and 32-bit counters.
    let o = probe(&prober, &cfg, "ap-ifs", TIMEOUT).await;
    assert!(o.ok, "{o:#?}");
    assert_eq!(number(&o, "if_count"), 9.0);
    assert_eq!(number(&o, "if_up_count"), 8.0);
    assert!(!flag(&o, "if_counters_64bit"));
    assert_eq!(samples(&o, "if_in_octets").len(), 9);
    assert_eq!(samples(&o, "if_out_octets").len(), 9);
    assert_eq!(
        sample_where(&o, "if_in_octets", "ifName", "lo").value,
        217_556.0
    );
}
