//! The UPS profile over snmpsim, one MIB per vendor: RFC 1628, APC PowerNet-MIB, Eaton
//! XUPS-MIB, MGE-MIB and LIEBERT-GP-POWER-MIB, each on mains and on battery (our own data files
//! in `tests/snmp/`, written from the MIB definitions), plus the real Eaton ConnectUPS
//! recording that speaks only XUPS-MIB (`../shared/devices/`, GPL, used from there).
//!
//! Every vendor gives the same readings and the same findings: on battery with 35 minutes
//! left, `ups_on_battery` and `ups_runtime_below_minimum` (the four-hour node requirement)
//! are what the collector turns into its on-battery and reserve alerts. Unknown values (-1)
//! and an unknown MIB give no finding and no failed check.

use crate::rig;

use driftvakt_agent::probe::{FailureReason, Outcome};
use rig::{
    codes, flag, number, probe, prober_for, shared_devices_dir, sim_config, text, Lab, SimDevice,
    Snmpsim,
};
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(5);

/// (mib, data file on mains, data file on battery)
const VENDORS: &[(&str, &str, &str)] = &[
    ("rfc1628", "ups-mains", "ups-battery"),
    ("apc", "ups-apc-mains", "ups-apc-battery"),
    ("eaton", "ups-eaton-mains", "ups-eaton-battery"),
    ("mge", "ups-mge-mains", "ups-mge-battery"),
    ("liebert", "ups-liebert-mains", "ups-liebert-battery"),
];

const RUNTIME_MESSAGE: &str =
    "estimated runtime 35 minutes is below the 4-hour/240-minute requirement";

fn files(extra: &[&'static str]) -> Vec<String> {
    let mut out: Vec<String> = VENDORS
        .iter()
        .flat_map(|(_, m, b)| [format!("{m}.snmprec"), format!("{b}.snmprec")])
        .collect();
    out.extend(extra.iter().map(|f| f.to_string()));
    out
}

fn ups<'a>(id: &'a str, community: &'a str, extra: &'a [&'a str]) -> SimDevice<'a> {
    SimDevice {
        id,
        class: "ups",
        community,
        extra,
    }
}

async fn read(sim: &Snmpsim, community: &str, extra: &[&str]) -> Outcome {
    let lab = Lab::new();
    let cfg = sim_config(&lab, sim.port, &[ups("ups", community, extra)]);
    probe(&prober_for(&cfg), &cfg, "ups", TIMEOUT).await
}

#[tokio::test]
async fn every_vendor_mib_gives_the_same_readings_and_findings_on_mains_and_battery() {
    let all = files(&[]);
    let sim = Snmpsim::start(&all.iter().map(String::as_str).collect::<Vec<_>>());
    for (mib, mains, battery) in VENDORS {
        let o = read(&sim, mains, &[]).await;
        assert!(o.ok, "{mib} on mains: {o:#?}");
        assert_eq!(text(&o, "ups_mib"), *mib, "{o:#?}");
        assert_eq!(number(&o, "ups_runtime_minutes"), 300.0, "{mib}");
        assert_eq!(number(&o, "ups_charge_ratio"), 1.0, "{mib}");
        assert_eq!(number(&o, "ups_output_source"), 3.0, "{mib}");
        assert!(!flag(&o, "ups_on_battery"), "{mib}");
        assert!(!flag(&o, "ups_runtime_implausible"), "{mib}");
        assert!(number(&o, "sys_uptime_seconds") > 0.0, "{mib}: uptime read");
        assert!(o.findings.is_empty(), "{mib} on mains: {o:#?}");
        assert_eq!(o.detail, None, "{mib}");

        let o = read(&sim, battery, &[]).await;
        assert!(o.ok, "{mib} on battery: {o:#?}");
        assert_eq!(text(&o, "ups_mib"), *mib);
        assert_eq!(number(&o, "ups_runtime_minutes"), 35.0, "{mib}");
        assert_eq!(number(&o, "ups_charge_ratio"), 0.41, "{mib}");
        assert_eq!(number(&o, "ups_output_source"), 5.0, "{mib}");
        assert!(flag(&o, "ups_on_battery"), "{mib}");
        assert_eq!(
            codes(&o),
            ["ups_on_battery", "ups_runtime_below_minimum"],
            "{mib}: {o:#?}"
        );
        assert_eq!(o.findings[0].message, "the UPS runs on battery", "{mib}");
        assert_eq!(o.findings[1].message, RUNTIME_MESSAGE, "{mib}");
    }
}

/// The four-hour node alert from an APC and an Eaton: the same device switching from mains to
/// battery between probes (the MIB detected once and remembered) raises the two findings.
#[tokio::test]
async fn apc_and_eaton_switching_to_battery_raise_the_node_findings() {
    for (mib, mains, battery) in [VENDORS[1], VENDORS[2]] {
        let sim = Snmpsim::start(&[&format!("{mains}.snmprec")]);
        let lab = Lab::new();
        let cfg = sim_config(&lab, sim.port, &[ups("node-ups", mains, &[])]);
        let prober = prober_for(&cfg);
        let o = probe(&prober, &cfg, "node-ups", TIMEOUT).await;
        assert!(o.ok && o.findings.is_empty(), "{mib}: {o:#?}");
        let data = std::fs::read_to_string(rig::data_dir().join(format!("{battery}.snmprec")))
            .expect("battery data file");
        sim.replace(mains, &data);
        let o = probe(&prober, &cfg, "node-ups", TIMEOUT).await;
        assert_eq!(text(&o, "ups_mib"), mib);
        assert_eq!(
            codes(&o),
            ["ups_on_battery", "ups_runtime_below_minimum"],
            "{mib}: {o:#?}"
        );
        assert_eq!(o.findings[1].message, RUNTIME_MESSAGE);
    }
}

/// Runtime and charge -1 (unknown) and sysUpTime 0: reported as unknown, never a finding.
#[tokio::test]
async fn minus_one_runtime_and_charge_and_zero_uptime_are_unknown_not_alarms() {
    let sim = Snmpsim::start(&["ups-unknown-values.snmprec"]);
    let o = read(&sim, "ups-unknown-values", &[]).await;
    assert!(o.ok, "{o:#?}");
    assert!(o.findings.is_empty(), "no false alarm: {o:#?}");
    assert!(!o.values.contains_key("ups_runtime_minutes"), "{o:#?}");
    assert!(!o.values.contains_key("ups_charge_ratio"), "{o:#?}");
    assert!(flag(&o, "ups_runtime_implausible"));
    assert!(flag(&o, "ups_charge_implausible"));
    assert!(flag(&o, "sys_uptime_implausible"));
    assert!(!o.values.contains_key("sys_uptime_seconds"));
    assert!(!flag(&o, "ups_on_battery"));
}

/// The real Eaton ConnectUPS recording: XUPS-MIB only, no RFC 1628, no runtime object. It reads
/// (no `no_such_object`), as Eaton, with its charge, and no finding.
#[tokio::test]
async fn real_eaton_connectups_speaking_only_xups_reads_fine() {
    let path = shared_devices_dir().join("ups-eaton-connectups-xups.snmprec");
    let sim = Snmpsim::start(&[path.to_str().expect("utf-8 path")]);
    let o = read(&sim, "ups-eaton-connectups-xups", &[]).await;
    assert!(o.ok, "{o:#?}");
    assert_eq!(text(&o, "ups_mib"), "eaton");
    assert_eq!(text(&o, "sys_object_id"), "1.3.6.1.4.1.534.1");
    assert_eq!(number(&o, "ups_charge_ratio"), 1.0);
    assert!(!o.values.contains_key("ups_runtime_minutes"));
    assert_eq!(number(&o, "sys_uptime_seconds"), 25_109_198.99);
    assert!(o.findings.is_empty(), "{o:#?}");
    assert_eq!(o.detail, None);
}

/// A UPS answering SNMP but no UPS MIB we know: success, no UPS values, one warning naming
/// its sysObjectID and `mib:`. A configured MIB it does not speak says so the same way.
#[tokio::test]
async fn an_unknown_mib_ups_gives_a_warning_and_no_failed_check() {
    let sim = Snmpsim::start(&["ups-unknown-mib.snmprec", "ups-apc-mains.snmprec"]);
    let o = read(&sim, "ups-unknown-mib", &[]).await;
    assert!(o.ok, "{o:#?}");
    assert_eq!(o.error, None);
    assert!(o.findings.is_empty());
    assert!(!o.values.contains_key("ups_mib"));
    assert!(!o.values.contains_key("ups_runtime_minutes"));
    assert_eq!(number(&o, "sys_uptime_seconds"), 3456.0);
    let warning = o.detail.clone().expect("a warning");
    assert!(
        warning.contains("sysObjectID 1.3.6.1.4.1.935.10.1")
            && warning.contains("none of the known UPS MIBs")
            && warning.contains("`mib:`")
            && warning.contains("rfc1628, apc, eaton, mge, liebert"),
        "{warning}"
    );

    // `mib: rfc1628` on an APC without RFC 1628: the same, naming the configured MIB.
    let o = read(&sim, "ups-apc-mains", &["mib: rfc1628"]).await;
    assert!(o.ok && o.findings.is_empty(), "{o:#?}");
    let warning = o.detail.expect("a warning");
    assert!(
        warning.contains("the configured `mib: rfc1628` answers none of its objects")
            && warning.contains("1.3.6.1.4.1.318.1.3.27"),
        "{warning}"
    );
    // `mib: apc` on the same device reads it.
    let o = read(&sim, "ups-apc-mains", &["mib: apc"]).await;
    assert_eq!(text(&o, "ups_mib"), "apc");
    assert_eq!(number(&o, "ups_runtime_minutes"), 300.0);
}

/// APC's replace-battery indicator and failed self-test, and a reboot seen from sysUpTime.
#[tokio::test]
async fn apc_battery_replacement_failed_self_test_and_reboot() {
    let sim = Snmpsim::start(&["ups-apc-worn.snmprec"]);
    let lab = Lab::new();
    let cfg = sim_config(&lab, sim.port, &[ups("apc", "ups-apc-worn", &[])]);
    let prober = prober_for(&cfg);
    let o = probe(&prober, &cfg, "apc", TIMEOUT).await;
    assert!(o.ok, "{o:#?}");
    assert_eq!(codes(&o), ["ups_battery_replace", "ups_self_test_failed"]);
    assert_eq!(
        o.findings[0].message,
        "the UPS reports that its battery needs replacing"
    );
    assert_eq!(
        o.findings[1].message,
        "the UPS's last self-test failed (11/02/2026)"
    );
    assert!(flag(&o, "ups_battery_replace"));
    assert_eq!(text(&o, "ups_self_test"), "failed");
    // The UPS restarts: sysUpTime from 86,400 s down to 12 s.
    let data = std::fs::read_to_string(rig::data_dir().join("ups-apc-worn.snmprec")).unwrap();
    sim.replace(
        "ups-apc-worn",
        &data.replace("1.3.6.1.2.1.1.3.0|67|8640000", "1.3.6.1.2.1.1.3.0|67|1200"),
    );
    let o = probe(&prober, &cfg, "apc", TIMEOUT).await;
    assert_eq!(
        codes(&o),
        ["ups_battery_replace", "ups_self_test_failed", "rebooted"],
        "{o:#?}"
    );
}

/// SNMPv3 `context_name`: snmpsim selects the data file by context, as some agents and proxies
/// select data. Without the context it has nothing to serve and does not answer.
#[tokio::test]
async fn v3_context_name_selects_the_data() {
    let sim = Snmpsim::start(&["ups-mge-mains.snmprec"]);
    let lab = Lab::new();
    lab.secret("auth.txt", "auctoritas");
    lab.secret("priv.txt", "privatus");
    let device = |id: &str, creds: &str| {
        format!(
            "  - id: {id}\n    class: ups\n    address: 127.0.0.1\n    checks:\n      - kind: snmp\n        port: {}\n        credentials: {creds}\n",
            sim.port
        )
    };
    let v3 = |id: &str, context: &str| {
        format!(
            "  - id: {id}\n    version: v3\n    user: simulator\n    auth_protocol: md5\n    auth_password: {{ file: auth.txt }}\n    priv_protocol: des\n    priv_password: {{ file: priv.txt }}\n{context}"
        )
    };
    let cfg = lab.config(&format!(
        "agent:\n  id: t\nsnmp_credentials:\n{}{}devices:\n{}{}",
        v3("with-context", "    context_name: ups-mge-mains\n"),
        v3("no-context", ""),
        device("mge", "with-context"),
        device("mge-no-context", "no-context"),
    ));
    let prober = prober_for(&cfg);
    let o = probe(&prober, &cfg, "mge", TIMEOUT).await;
    assert!(o.ok, "{o:#?}");
    assert_eq!(text(&o, "ups_mib"), "mge");
    assert_eq!(number(&o, "ups_runtime_minutes"), 300.0);
    let o = probe(&prober, &cfg, "mge-no-context", Duration::from_secs(2)).await;
    assert_eq!(o.error, Some(FailureReason::Timeout), "{o:#?}");
    let detail = o.detail.unwrap();
    assert!(detail.contains("v3 user simulator"), "{detail}");
}
