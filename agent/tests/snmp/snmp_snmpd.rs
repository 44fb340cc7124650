//! The SNMP probe against a real net-snmp `snmpd`: v2c GET and interface walk, SNMPv3
//! authPriv (SHA/AES, MD5/DES) and authNoPriv (SHA-256), and how failures are reported.
//! Each test starts its own snmpd on a free loopback port (see `rig/snmp.rs`).

use crate::rig;

use driftvakt_agent::probe::snmp::client::{ClientCredentials, RequestOptions, SnmpClient};
use driftvakt_agent::probe::snmp::client::{Oid, SnmpSession, SnmpValue};
use driftvakt_agent::probe::snmp::SnmpProber;
use driftvakt_agent::probe::FailureReason;
use driftvakt_common::clock::{Clock, SystemClock};
use driftvakt_common::wire::Value;
use rig::{codes, probe, Lab, Snmpd};
use std::time::{Duration, Instant};

const TIMEOUT: Duration = Duration::from_secs(3);

/// A config with v2c and v3 credentials and devices on the snmpd's port; `extra` appended to
/// the credentials list.
fn config(lab: &Lab, port: u16, auth_pass: &str) -> driftvakt_agent::config::AgentConfig {
    lab.secret("community.txt", rig::COMMUNITY);
    lab.secret("auth.txt", auth_pass);
    lab.secret("priv.txt", rig::PRIV_PASS);
    let yaml = format!(
        r#"
agent:
  id: test
snmp_credentials:
  - id: v2c
    version: v2c
    community: {{ file: community.txt }}
  - id: sha-aes
    version: v3
    user: {sha_aes}
    auth_protocol: sha
    auth_password: {{ file: auth.txt }}
    priv_protocol: aes
    priv_password: {{ file: priv.txt }}
  - id: md5-des
    version: v3
    user: {md5_des}
    auth_protocol: md5
    auth_password: {{ file: auth.txt }}
    priv_protocol: des
    priv_password: {{ file: priv.txt }}
  - id: sha256
    version: v3
    user: {sha256}
    auth_protocol: sha256
    auth_password: {{ file: auth.txt }}
  - id: v1
    version: v1
    community: {{ file: community.txt }}
  - id: nobody
    version: v3
    user: no-such-user
    auth_protocol: sha
    auth_password: {{ file: auth.txt }}
    priv_protocol: aes
    priv_password: {{ file: priv.txt }}
devices:
{devices}"#,
        sha_aes = rig::USER_SHA_AES,
        md5_des = rig::USER_MD5_DES,
        sha256 = rig::USER_SHA256,
        devices = devices(port),
    );
    lab.config(&yaml)
}

fn devices(port: u16) -> String {
    let mut out = String::new();
    let entries = [
        ("host-v2c", "access_point", "v2c", ""),
        ("switch-v2c", "switch", "v2c", "        uplinks: [lo]\n"),
        ("host-sha-aes", "screen", "sha-aes", ""),
        ("host-md5-des", "screen", "md5-des", ""),
        ("host-sha256", "screen", "sha256", ""),
        ("host-nobody", "screen", "nobody", ""),
        ("ups-on-snmpd", "ups", "v2c", ""),
        ("switch-v1", "switch", "v1", ""),
        ("ups-v1", "ups", "v1", ""),
        ("switch-sha-aes", "switch", "sha-aes", ""),
    ];
    for (id, class, creds, extra) in entries {
        out.push_str(&format!(
            "  - id: {id}\n    class: {class}\n    address: 127.0.0.1\n    checks:\n      - kind: snmp\n        port: {port}\n        credentials: {creds}\n        retries: 0\n{extra}"
        ));
    }
    out
}

fn prober(config: &driftvakt_agent::config::AgentConfig) -> SnmpProber {
    let base = config.path.parent().unwrap();
    SnmpProber::new(&config.file.snmp_credentials, base, SystemClock.now())
        .expect("credentials resolve")
}

fn uptime(o: &driftvakt_agent::probe::Outcome) -> f64 {
    match o.values.get("sys_uptime_seconds") {
        Some(Value::Number(n)) => *n,
        other => panic!("no sys_uptime_seconds: {other:?} in {o:?}"),
    }
}

#[tokio::test]
async fn v2c_get_of_sysuptime_and_system_text() {
    let snmpd = Snmpd::start();
    let lab = Lab::new();
    let cfg = config(&lab, snmpd.port, rig::AUTH_PASS);
    let o = probe(&prober(&cfg), &cfg, "host-v2c", TIMEOUT).await;
    assert!(o.ok, "{o:?}");
    assert!(uptime(&o) >= 0.0);
    assert!(
        matches!(o.values.get("sys_descr"), Some(Value::Text(t)) if !t.is_empty()),
        "{o:?}"
    );
    assert!(o.findings.is_empty(), "{o:?}");
}

#[tokio::test]
async fn v2c_walk_of_the_interfaces_table() {
    let snmpd = Snmpd::start();
    // The client on its own: a bulk walk of ifDescr includes the loopback interface.
    let session = SnmpSession::new();
    let creds = ClientCredentials::community(
        driftvakt_agent::config::SnmpVersion::V2c,
        &driftvakt_agent::config::Secret::new(rig::COMMUNITY),
    );
    let options = RequestOptions {
        request_timeout: Duration::from_secs(1),
        retries: 1,
    };
    let peer = format!("127.0.0.1:{}", snmpd.port).parse().unwrap();
    let client = session.client(peer, &creds, options).await.unwrap();
    let rows = client.walk(&Oid::of("1.3.6.1.2.1.2.2.1.2")).await.unwrap();
    assert!(
        rows.iter()
            .any(|(_, v)| *v == SnmpValue::Bytes(b"lo".to_vec())),
        "{rows:?}"
    );
    let kernel_ifs = std::fs::read_dir("/sys/class/net").unwrap().count();
    assert_eq!(
        rows.len(),
        kernel_ifs,
        "one ifDescr row per kernel interface"
    );

    // Through the switch profile: counts and per-interface series; lo is up, so no finding.
    let lab = Lab::new();
    let cfg = config(&lab, snmpd.port, rig::AUTH_PASS);
    let o = probe(&prober(&cfg), &cfg, "switch-v2c", TIMEOUT).await;
    assert!(o.ok, "{o:?}");
    assert_eq!(o.values["if_count"], Value::Number(kernel_ifs as f64));
    let Value::Series(oper) = &o.values["if_oper_status"] else {
        panic!("{o:?}")
    };
    let lo = oper
        .iter()
        .find(|s| s.labels["ifName"] == "lo")
        .expect("lo");
    assert_eq!(lo.value, 1.0);
    assert_eq!(lo.labels["ifIndex"], "1");
    assert!(o.values.contains_key("if_in_octets"), "{o:?}");
    assert!(codes(&o).is_empty(), "{o:?}");
}

#[tokio::test]
async fn v3_auth_priv_and_auth_no_priv_work() {
    let snmpd = Snmpd::start();
    let lab = Lab::new();
    let cfg = config(&lab, snmpd.port, rig::AUTH_PASS);
    let prober = prober(&cfg);
    for id in ["host-sha-aes", "host-md5-des", "host-sha256"] {
        let o = probe(&prober, &cfg, id, TIMEOUT).await;
        assert!(o.ok, "{id}: {o:?}");
        assert!(uptime(&o) >= 0.0, "{id}");
    }
    // A table walk over v3: eight concurrent bulk walks through one engine discovery.
    let o = probe(&prober, &cfg, "switch-sha-aes", TIMEOUT).await;
    let kernel_ifs = std::fs::read_dir("/sys/class/net").unwrap().count();
    assert_eq!(
        o.values.get("if_count"),
        Some(&Value::Number(kernel_ifs as f64)),
        "{o:?}"
    );
    // A second probe reuses the cached engine and sees the uptime go forward: no reboot.
    let o = probe(&prober, &cfg, "host-sha-aes", TIMEOUT).await;
    assert!(o.ok && o.findings.is_empty(), "{o:?}");
}

#[tokio::test]
async fn v3_wrong_password_and_unknown_user_are_snmp_auth() {
    let snmpd = Snmpd::start();
    let lab = Lab::new();
    let cfg = config(&lab, snmpd.port, "not-the-password");
    let prober = prober(&cfg);
    let started = Instant::now();
    let o = probe(&prober, &cfg, "host-sha-aes", TIMEOUT).await;
    assert_eq!(o.error, Some(FailureReason::SnmpAuth), "{o:?}");
    let detail = o.detail.clone().unwrap();
    assert!(!detail.contains("not-the-password"), "{detail}");
    assert!(
        started.elapsed() < TIMEOUT,
        "an auth failure is not a timeout"
    );
    println!("wrong password: {detail}");
    let o = probe(&prober, &cfg, "host-nobody", TIMEOUT).await;
    assert_eq!(o.error, Some(FailureReason::SnmpAuth), "{o:?}");
    println!("unknown user: {}", o.detail.unwrap());
}

#[tokio::test]
async fn wrong_community_times_out_within_the_probe_timeout() {
    let snmpd = Snmpd::start();
    let lab = Lab::new();
    let cfg = config(&lab, snmpd.port, rig::AUTH_PASS);
    lab.secret("community.txt", "wrong-community");
    let prober = prober(&cfg);
    let timeout = Duration::from_millis(600);
    let started = Instant::now();
    let o = probe(&prober, &cfg, "host-v2c", timeout).await;
    assert_eq!(o.error, Some(FailureReason::Timeout), "{o:?}");
    assert!(started.elapsed() < timeout + Duration::from_millis(300));
    let detail = o.detail.unwrap();
    assert!(!detail.contains("wrong-community"));
    // snmpd answers the follow-up SNMPv3 discovery: it is there, the community is not.
    assert!(
        detail.contains("although an SNMP agent answers there")
            && detail.contains("check the community")
            && detail.contains("access list"),
        "{detail}"
    );
}

/// A UPS profile against an agent without any UPS MIB (net-snmp): the check succeeds (the
/// device answers), no UPS values, and the warning names the sysObjectID and `mib:`.
#[tokio::test]
async fn a_ups_without_a_known_mib_answers_with_a_warning() {
    let snmpd = Snmpd::start();
    let lab = Lab::new();
    let cfg = config(&lab, snmpd.port, rig::AUTH_PASS);
    let o = probe(&prober(&cfg), &cfg, "ups-on-snmpd", TIMEOUT).await;
    assert!(o.ok, "{o:?}");
    assert!(o.findings.is_empty(), "{o:?}");
    assert!(!o.values.contains_key("ups_runtime_minutes"));
    let detail = o.detail.unwrap();
    assert!(
        detail.contains("sysObjectID 1.3.6.1.4.1.8072.3.2.10") && detail.contains("`mib:`"),
        "{detail}"
    );
}

#[test]
fn missing_secret_names_the_credentials_and_the_place_but_no_value() {
    let lab = Lab::new();
    lab.secret("community.txt", "s3cret-community");
    let cfg = lab.config(
        "agent:\n  id: t\nsnmp_credentials:\n  - id: core-switches\n    version: v3\n    user: u\n    auth_protocol: sha\n    auth_password: { env: DRIFTVAKT_TEST_UNSET_SNMP_PASS }\n",
    );
    let err = SnmpProber::new(
        &cfg.file.snmp_credentials,
        lab.dir.path(),
        SystemClock.now(),
    )
    .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("core-switches"), "{text}");
    assert!(text.contains("DRIFTVAKT_TEST_UNSET_SNMP_PASS"), "{text}");

    let cfg = lab.config(
        "agent:\n  id: t\nsnmp_credentials:\n  - id: printers\n    version: v2c\n    community: { file: missing.txt }\n",
    );
    let text = SnmpProber::new(
        &cfg.file.snmp_credentials,
        lab.dir.path(),
        SystemClock.now(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        text.contains("printers") && text.contains("missing.txt"),
        "{text}"
    );

    // Resolved secrets stay out of Debug output.
    let cfg = lab.config(
        "agent:\n  id: t\nsnmp_credentials:\n  - id: printers\n    version: v2c\n    community: { file: community.txt }\n",
    );
    let prober = SnmpProber::new(
        &cfg.file.snmp_credentials,
        lab.dir.path(),
        SystemClock.now(),
    )
    .unwrap();
    let debug = format!("{prober:?}");
    assert!(!debug.contains("s3cret-community"), "{debug}");
    assert!(debug.contains("printers"), "{debug}");
}

/// net-snmp drops a request it cannot decrypt without a Report ("error parsing ScopedPDU" in
/// its log), so a wrong privacy password can only show as a timeout.
#[tokio::test]
async fn v3_wrong_privacy_password_is_a_timeout() {
    let snmpd = Snmpd::start();
    let lab = Lab::new();
    let cfg = config(&lab, snmpd.port, rig::AUTH_PASS);
    lab.secret("priv.txt", "not-the-priv-password");
    let o = probe(
        &prober(&cfg),
        &cfg,
        "host-sha-aes",
        Duration::from_millis(800),
    )
    .await;
    assert_eq!(o.error, Some(FailureReason::Timeout), "{o:?}");
    assert!(!o.detail.unwrap().contains("not-the-priv-password"));
}

/// SNMPv1: walks use GETNEXT, and a GET that names a missing object (noSuchName for the whole
/// request in v1) is retried object by object, so a profile the agent lacks is still
/// `no_such_object`.
#[tokio::test]
async fn v1_walks_with_getnext_and_reports_missing_objects() {
    let snmpd = Snmpd::start();
    let lab = Lab::new();
    let cfg = config(&lab, snmpd.port, rig::AUTH_PASS);
    let prober = prober(&cfg);
    let o = probe(&prober, &cfg, "switch-v1", TIMEOUT).await;
    assert!(o.ok, "{o:?}");
    let kernel_ifs = std::fs::read_dir("/sys/class/net").unwrap().count();
    assert_eq!(o.values["if_count"], Value::Number(kernel_ifs as f64));
    assert!(uptime(&o) >= 0.0);
    // The UPS detection GET names objects snmpd lacks: v1 answers noSuchName for the whole
    // request, so it is asked object by object; sysObjectID answers, no UPS MIB does.
    let o = probe(&prober, &cfg, "ups-v1", TIMEOUT).await;
    assert!(o.ok, "{o:?}");
    assert!(o
        .detail
        .clone()
        .unwrap()
        .contains("sysObjectID 1.3.6.1.4.1.8072"));
    assert!(uptime(&o) >= 0.0);
}

/// Many concurrent probes of two agents through one prober: one shared UDP socket, answers
/// matched to the right requests.
#[tokio::test]
async fn concurrent_probes_of_two_agents_share_one_socket() {
    let (a, b) = (Snmpd::start(), Snmpd::start());
    let (lab_a, lab_b) = (Lab::new(), Lab::new());
    let cfg_a = config(&lab_a, a.port, rig::AUTH_PASS);
    let cfg_b = config(&lab_b, b.port, rig::AUTH_PASS);
    let prober = prober(&cfg_a);
    assert_eq!(
        prober.local_addr(),
        None,
        "bound lazily, on the first probe"
    );
    let mut work = Vec::new();
    for i in 0..24 {
        let (cfg, id) = match i % 4 {
            0 => (&cfg_a, "host-v2c"),
            1 => (&cfg_b, "host-v2c"),
            2 => (&cfg_a, "host-sha-aes"),
            _ => (&cfg_b, "switch-v2c"),
        };
        work.push(probe(&prober, cfg, id, TIMEOUT));
    }
    for o in futures::future::join_all(work).await {
        // Same device ids on two agents: uptimes are kept per agent, so no false reboot.
        assert!(o.ok && o.findings.is_empty(), "{o:?}");
    }
    let socket = prober.local_addr().expect("socket bound");
    assert_ne!(socket.port(), 0);
}
