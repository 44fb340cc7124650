//! The `dns`, `sip` and `radius` probes against real servers started here from Debian's
//! packages (the test kit's `unbound`, `kamailio` and `freeradius`): each passes, and fails
//! with its reason when the answer is not the expected one, the account, secret or certificate
//! is wrong, and when its server is stopped.

use crate::probes::{device, num, probe_all};
use crate::rig_net::make_cert;
use driftvakt_common::wire::ProbeResult;
use driftvakt_testkit::files::secret_file;
use driftvakt_testkit::freeradius::FreeradiusPeer;
use driftvakt_testkit::kamailio::KamailioPeer;
use driftvakt_testkit::unbound::UnboundPeer;

fn agent(devices: &[String]) -> String {
    format!("agent:\n  id: t\ndevices:\n{}", devices.concat())
}

fn check(kind: &str, lines: &[String]) -> String {
    let mut s = format!("      - kind: {kind}\n");
    for l in lines {
        s.push_str(&format!("        {l}\n"));
    }
    s
}

fn service(id: &str, kind: &str, lines: &[String]) -> String {
    device(id, "service", "127.0.0.1", &check(kind, lines))
}

fn failed_with<'a>(r: &'a ProbeResult, error: &str) -> &'a str {
    assert!(!r.ok, "{} should fail with {error}: {r:?}", r.target);
    assert_eq!(r.error.as_deref(), Some(error), "{}: {r:?}", r.target);
    r.detail.as_deref().unwrap_or_default()
}

#[tokio::test]
async fn dns_answers_missing_answers_error_codes_and_a_stopped_server() {
    let mut unbound = UnboundPeer::start(
        "kommun.test.",
        &[
            "www.kommun.test. IN A 192.0.2.10",
            "www.kommun.test. IN A 192.0.2.11",
            "www.kommun.test. IN AAAA 2001:db8::10",
            "_ldap._tcp.dc._msdcs.kommun.test. IN SRV 0 100 389 dc1.kommun.test.",
            "kommun.test. IN MX 10 mx1.kommun.test.",
        ],
    );
    let port = format!("port: {}", unbound.port);
    let dns = |id: &str, lines: &[&str]| {
        let mut all: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
        all.push(port.clone());
        service(id, "dns", &all)
    };
    let yaml = agent(&[
        dns(
            "a",
            &["query: www.kommun.test", "expect: [192.0.2.10, 192.0.2.11]"],
        ),
        dns(
            "aaaa",
            &[
                "query: www.kommun.test",
                "record: AAAA",
                "expect: ['2001:DB8::10']",
            ],
        ),
        dns(
            "srv",
            &[
                "query: _ldap._tcp.dc._msdcs.kommun.test",
                "record: SRV",
                "expect: [dc1.kommun.test]",
            ],
        ),
        dns(
            "mx",
            &[
                "query: kommun.test",
                "record: MX",
                "expect: ['10 mx1.kommun.test.']",
            ],
        ),
        dns(
            "a-missing",
            &["query: www.kommun.test", "expect: [192.0.2.99]"],
        ),
        dns(
            "mx-too-few",
            &["query: kommun.test", "record: MX", "min_answers: 2"],
        ),
        dns(
            "srv-nxdomain",
            &["query: _kerberos._tcp.kommun.test", "record: SRV"],
        ),
    ]);
    let r = probe_all(&yaml).await;
    for ok in &r[..4] {
        assert!(ok.ok, "{ok:?}");
        assert!(num(ok, "dns_response_seconds") < 1.0, "{ok:?}");
    }
    assert_eq!(num(&r[0], "dns_answers"), 2.0);
    assert_eq!(num(&r[2], "dns_answers"), 1.0);
    let detail = failed_with(&r[4], "answer_mismatch");
    assert!(
        detail.contains("192.0.2.99") && detail.contains("192.0.2.10"),
        "{detail}"
    );
    let detail = failed_with(&r[5], "answer_mismatch");
    assert!(
        detail.contains("1 records, expected at least 2"),
        "{detail}"
    );
    let detail = failed_with(&r[6], "dns_rcode");
    assert!(detail.contains("NXDOMAIN"), "{detail}");

    unbound.stop();
    let r = probe_all(&agent(&[dns("a", &["query: www.kommun.test"])])).await;
    let detail = failed_with(&r[0], "connection_refused");
    assert!(detail.contains(&unbound.port.to_string()), "{detail}");
}

#[tokio::test]
async fn a_dns_answer_too_long_for_udp_is_asked_again_over_tcp() {
    // 40 A records do not fit in 512 bytes (the probe sends no EDNS): unbound sets TC.
    let records: Vec<String> = (1..=40)
        .map(|i| format!("many.kommun.test. IN A 192.0.2.{i}"))
        .collect();
    let refs: Vec<&str> = records.iter().map(String::as_str).collect();
    let unbound = UnboundPeer::start("kommun.test.", &refs);
    let r = probe_all(&agent(&[service(
        "many",
        "dns",
        &[
            "query: many.kommun.test".into(),
            "min_answers: 40".into(),
            "expect: [192.0.2.40]".into(),
            format!("port: {}", unbound.port),
        ],
    )]))
    .await;
    assert!(r[0].ok, "{:?}", r[0]);
    assert_eq!(num(&r[0], "dns_answers"), 40.0);
}

#[tokio::test]
async fn sip_options_over_udp_tcp_and_tls_then_a_stopped_switchboard() {
    let cert = make_cert(30);
    let mut kamailio = KamailioPeer::start(&cert.cert_pem, &cert.key_pem);
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &cert.cert_pem).unwrap();
    let (port, tls_port) = (kamailio.port, kamailio.tls_port);
    let sip = |id: &str, lines: &[String]| service(id, "sip", lines);
    let tls = |extra: &str| {
        let mut l = vec![
            "transport: tls".to_string(),
            format!("port: {tls_port}"),
            "server_name: localhost".to_string(),
        ];
        if !extra.is_empty() {
            l.push(extra.to_string());
        }
        l
    };
    let ca_line = format!("ca_file: {}", ca.display());
    let yaml = agent(&[
        sip("udp", &[format!("port: {port}")]),
        sip("tcp", &["transport: tcp".into(), format!("port: {port}")]),
        sip(
            "tls",
            &[tls(&ca_line), vec!["cert_min_days: 7".into()]].concat(),
        ),
        sip(
            "tls-expiring",
            &[tls(&ca_line), vec!["cert_min_days: 60".into()]].concat(),
        ),
        sip("tls-unknown-ca", &tls("")),
        sip(
            "not-found",
            &[format!("port: {port}"), "uri: sip:nobody@127.0.0.1".into()],
        ),
    ]);
    let r = probe_all(&yaml).await;
    for ok in &r[..4] {
        assert!(ok.ok, "{ok:?}");
        assert_eq!(num(ok, "sip_status"), 200.0);
        assert!(num(ok, "sip_response_seconds") < 1.0);
    }
    assert!(r[2].findings.is_empty(), "{:?}", r[2]);
    let days = num(&r[2], "tls_cert_days_left");
    assert!((28.0..=31.0).contains(&days), "{days}");
    assert_eq!(r[3].findings[0].code, "tls_certificate_expiring");
    failed_with(&r[4], "tls_error");
    let detail = failed_with(&r[5], "sip_status");
    assert!(detail.contains("404"), "{detail}");
    assert_eq!(num(&r[5], "sip_status"), 404.0);

    kamailio.stop();
    let r = probe_all(&agent(&[
        sip("udp", &[format!("port: {port}")]),
        sip("tcp", &["transport: tcp".into(), format!("port: {port}")]),
        sip("tls", &[tls(&ca_line)].concat()),
    ]))
    .await;
    for down in &r {
        failed_with(down, "connection_refused");
    }
}

#[tokio::test]
async fn sip_over_tls_with_an_expired_certificate_is_a_tls_error() {
    let cert = make_cert(-2);
    let kamailio = KamailioPeer::start(&cert.cert_pem, &cert.key_pem);
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &cert.cert_pem).unwrap();
    let r = probe_all(&agent(&[service(
        "tls",
        "sip",
        &[
            "transport: tls".into(),
            format!("port: {}", kamailio.tls_port),
            "server_name: localhost".into(),
            format!("ca_file: {}", ca.display()),
        ],
    )]))
    .await;
    let detail = failed_with(&r[0], "tls_error");
    assert!(detail.to_lowercase().contains("expired"), "{detail}");
}

#[tokio::test]
async fn radius_accept_reject_wrong_secret_and_a_stopped_server() {
    let mut radius = FreeradiusPeer::start("delad-hemlighet-1", "wifitest", "Sommar2026");
    let dir = tempfile::tempdir().unwrap();
    let file = |name: &str, value: &str| secret_file(dir.path(), name, value);
    let right_secret = file("secret", "delad-hemlighet-1");
    let wrong_secret = file("wrong-secret", "en-annan-hemlighet");
    let right_password = file("password", "Sommar2026");
    let wrong_password = file("wrong-password", "Vinter2025");
    let port = radius.port;
    let rad = |id: &str, user: &str, secret: &str, password: &str| {
        service(
            id,
            "radius",
            &[
                format!("port: {port}"),
                format!("user: {user}"),
                format!("secret: {{ file: {secret} }}"),
                format!("password: {{ file: {password} }}"),
            ],
        )
    };
    let yaml = agent(&[
        rad("accept", "wifitest", &right_secret, &right_password),
        rad("wrong-password", "wifitest", &right_secret, &wrong_password),
        rad("unknown-user", "ingen", &right_secret, &right_password),
        rad("wrong-secret", "wifitest", &wrong_secret, &right_password),
    ]);
    let r = probe_all(&yaml).await;
    assert!(r[0].ok, "{:?}\n{}", r[0], radius.log());
    assert_eq!(num(&r[0], "radius_code"), 2.0);
    assert!(num(&r[0], "radius_response_seconds") < 1.0);
    for rejected in &r[1..3] {
        let detail = failed_with(rejected, "auth_failed");
        assert!(detail.contains("Access-Reject"), "{detail}");
        assert_eq!(num(rejected, "radius_code"), 3.0);
    }
    let detail = failed_with(&r[3], "timeout");
    assert!(detail.contains("shared secret"), "{detail}");

    radius.stop();
    let r = probe_all(&agent(&[rad(
        "accept",
        "wifitest",
        &right_secret,
        &right_password,
    )]))
    .await;
    failed_with(&r[0], "connection_refused");
}
