//! ICMP, HTTP(S) and TCP probes against real peers: loopback addresses, servers started here,
//! and a network-namespace host whose link the test takes down.

use crate::rig_net::{http_server, make_cert, NetnsHost, Reply};
use driftvakt_agent::config::{AgentConfig, CheckSpec, DeviceConfig};
use driftvakt_agent::probe::Probers;
use driftvakt_common::clock::{Clock, FixedClock, SystemClock};
use driftvakt_common::wire::{ProbeResult, Value};
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

/// Loads an agent config from YAML text (written to a temp file, like a real one).
pub(crate) fn config(yaml: &str) -> (AgentConfig, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agent.yaml");
    std::fs::File::create(&path)
        .unwrap()
        .write_all(yaml.as_bytes())
        .unwrap();
    let cfg = AgentConfig::load(&path).unwrap_or_else(|e| panic!("{e}"));
    (cfg, dir)
}

/// Runs every check of every device once.
pub(crate) async fn probe_all(yaml: &str) -> Vec<ProbeResult> {
    probe_all_with(yaml, Arc::new(SystemClock)).await
}

/// Runs every check of every device once, with `clock` as the agent's clock.
pub(crate) async fn probe_all_with(yaml: &str, clock: Arc<dyn Clock>) -> Vec<ProbeResult> {
    let (cfg, _dir) = config(yaml);
    let probers = Probers::new(&cfg.probe_settings(), clock).unwrap();
    let mut out = Vec::new();
    for d in &cfg.file.devices {
        for c in d.checks() {
            out.push(probers.run(d, &c, Duration::from_secs(2)).await);
        }
    }
    out
}

pub(crate) fn device(id: &str, class: &str, address: &str, checks: &str) -> String {
    format!("  - id: {id}\n    class: {class}\n    address: {address}\n    checks:\n{checks}")
}

pub(crate) fn num(r: &ProbeResult, k: &str) -> f64 {
    r.number(k)
        .unwrap_or_else(|| panic!("{k} missing in {r:?}"))
}

#[tokio::test]
async fn tcp_open_and_closed_ports() {
    let open = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let open_port = open.local_addr().unwrap().port();
    let closed_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let yaml = format!(
        "agent:\n  id: t\ndevices:\n{}{}",
        device(
            "p-open",
            "printer",
            "127.0.0.1",
            &format!("      - kind: tcp\n        port: {open_port}\n")
        ),
        device(
            "p-closed",
            "printer",
            "127.0.0.1",
            &format!("      - kind: tcp\n        port: {closed_port}\n")
        ),
    );
    let r = probe_all(&yaml).await;
    assert!(r[0].ok, "{:?}", r[0]);
    assert!(num(&r[0], "tcp_connect_seconds") < 1.0);
    assert!(!r[1].ok);
    assert_eq!(r[1].error.as_deref(), Some("connection_refused"));
    assert!(r[1]
        .detail
        .as_deref()
        .unwrap()
        .contains(&closed_port.to_string()));
}

#[tokio::test]
async fn http_status_body_and_redirects() {
    let port = http_server(None, |path| match path {
        "/" => Reply::ok("<h1>Bokning: Sal 3 ledig</h1>"),
        "/old" => Reply {
            status: 301,
            body: String::new(),
            location: Some("/".into()),
        },
        _ => Reply {
            status: 503,
            body: "down".into(),
            location: None,
        },
    })
    .await;
    let check = |extra: &str| format!("      - kind: http\n{extra}");
    let url = |p: &str| format!("        url: http://127.0.0.1:{port}{p}\n");
    let yaml = format!(
        "agent:\n  id: t\ndevices:\n{}{}{}{}{}",
        device(
            "ok",
            "screen",
            "127.0.0.1",
            &check(&format!("{}        body_contains: Sal 3\n", url("/")))
        ),
        device(
            "body",
            "screen",
            "127.0.0.1",
            &check(&format!("{}        body_contains: Sal 4\n", url("/")))
        ),
        device("status", "screen", "127.0.0.1", &check(&url("/broken"))),
        device("redir", "screen", "127.0.0.1", &check(&url("/old"))),
        device(
            "noredir",
            "screen",
            "127.0.0.1",
            &check(&format!(
                "{}        follow_redirects: false\n        expect_status: [301]\n",
                url("/old")
            ))
        ),
    );
    let r = probe_all(&yaml).await;
    assert!(r[0].ok, "{:?}", r[0]);
    assert_eq!(num(&r[0], "http_status_code"), 200.0);
    assert_eq!(r[1].error.as_deref(), Some("body_mismatch"));
    assert_eq!(r[2].error.as_deref(), Some("http_status"));
    assert_eq!(num(&r[2], "http_status_code"), 503.0);
    assert!(
        r[3].ok && num(&r[3], "http_status_code") == 200.0,
        "{:?}",
        r[3]
    );
    assert!(
        r[4].ok && num(&r[4], "http_status_code") == 301.0,
        "{:?}",
        r[4]
    );
}

#[tokio::test]
async fn https_certificate_days_and_trust() {
    let cert = make_cert(10);
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &cert.cert_pem).unwrap();
    let port = http_server(Some(&cert), |_| Reply::ok("ok")).await;
    let url = format!("https://127.0.0.1:{port}/");
    let yaml = format!(
        "agent:\n  id: t\ndevices:\n{}{}{}",
        device("trusted", "screen", "127.0.0.1", &format!("      - kind: http\n        url: {url}\n        ca_file: {}\n", ca.display())),
        device("untrusted", "screen", "127.0.0.1", &format!("      - kind: http\n        url: {url}\n")),
        device("insecure", "screen", "127.0.0.1", &format!("      - kind: http\n        url: {url}\n        insecure_skip_verify: true\n        cert_min_days: 5\n")),
    );
    let r = probe_all(&yaml).await;
    assert!(r[0].ok, "{:?}", r[0]);
    let days = num(&r[0], "tls_cert_days_left");
    assert!((8.0..=10.5).contains(&days), "days left {days}");
    assert_eq!(r[0].findings[0].code, "tls_certificate_expiring");
    assert!(r[0].degraded());
    assert!(!r[1].ok);
    assert_eq!(r[1].error.as_deref(), Some("tls_error"), "{:?}", r[1]);
    assert!(r[2].ok && r[2].findings.is_empty(), "{:?}", r[2]);
}

#[tokio::test]
async fn certificate_days_and_result_times_come_from_the_agents_clock() {
    // Valid for ten more days by the wall clock; the agent's clock says it is 20 days later.
    let cert = make_cert(10);
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &cert.cert_pem).unwrap();
    let port = http_server(Some(&cert), |_| Reply::ok("ok")).await;
    let yaml = format!(
        "agent:\n  id: t\ndevices:\n{}",
        device(
            "trusted",
            "screen",
            "127.0.0.1",
            &format!(
                "      - kind: http\n        url: https://127.0.0.1:{port}/\n        ca_file: {}\n",
                ca.display()
            )
        ),
    );
    let later = chrono::Utc::now() + chrono::Duration::days(20);
    let r = probe_all_with(&yaml, Arc::new(FixedClock(later))).await;
    assert!(r[0].ok, "{:?}", r[0]);
    assert_eq!(r[0].time, later);
    let days = num(&r[0], "tls_cert_days_left");
    assert!((-12.0..=-9.5).contains(&days), "days left {days}");
    assert_eq!(
        r[0].findings[0].code, "tls_certificate_expired",
        "{:?}",
        r[0]
    );
}

#[tokio::test]
async fn icmp_loopback_rtt_and_loss() {
    let yaml = format!(
        "agent:\n  id: t\ndevices:\n{}{}",
        device(
            "lo4",
            "switch",
            "127.0.0.1",
            "      - kind: icmp\n        count: 3\n        spacing: 10ms\n"
        ),
        device("lo6", "switch", "::1", "      - icmp\n"),
    );
    let r = probe_all(&yaml).await;
    for res in &r {
        assert!(res.ok, "{res:?}");
        assert_eq!(num(res, "icmp_sent"), 3.0);
        assert_eq!(num(res, "icmp_received"), 3.0);
        assert_eq!(num(res, "icmp_loss_ratio"), 0.0);
        let (min, avg, max) = (
            num(res, "icmp_rtt_min_seconds"),
            num(res, "icmp_rtt_avg_seconds"),
            num(res, "icmp_rtt_max_seconds"),
        );
        assert!(
            min > 0.0 && min <= avg && avg <= max && max < 0.1,
            "{min} {avg} {max}"
        );
    }
}

/// Hundreds of concurrent pingers through one shared socket lose no replies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn icmp_six_hundred_concurrent_pingers_lose_nothing() {
    let mut yaml = String::from("agent:\n  id: t\ndevices:\n");
    for i in 0..600u32 {
        yaml.push_str(&device(
            &format!("d{i}"),
            "access_point",
            &format!("127.1.{}.{}", i / 250, i % 250 + 1),
            "      - kind: icmp\n        count: 1\n",
        ));
    }
    let (cfg, _dir) = config(&yaml);
    let probers = Arc::new(Probers::new(&cfg.probe_settings(), Arc::new(SystemClock)).unwrap());
    let tasks: Vec<_> = cfg
        .file
        .devices
        .iter()
        .cloned()
        .map(|d: Arc<DeviceConfig>| {
            let p = probers.clone();
            tokio::spawn(async move {
                let c: CheckSpec = d.checks().remove(0);
                p.run(&d, &c, Duration::from_secs(3)).await
            })
        })
        .collect();
    let mut lost = 0;
    for t in tasks {
        let r = t.await.unwrap();
        if !r.ok {
            lost += 1;
        }
    }
    assert_eq!(lost, 0, "{lost} of 600 concurrent pingers got no reply");
}

#[tokio::test]
async fn icmp_namespace_host_before_and_after_link_down() {
    let host = NetnsHost::create("icmp", 7);
    let yaml = format!(
        "agent:\n  id: t\ndevices:\n{}",
        device(
            "ap-ns",
            "access_point",
            &host.host_ip,
            "      - kind: icmp\n        count: 2\n        spacing: 10ms\n"
        ),
    );
    let (cfg, _dir) = config(&yaml);
    let probers = Probers::new(&cfg.probe_settings(), Arc::new(SystemClock)).unwrap();
    let d = &cfg.file.devices[0];
    let c = d.checks().remove(0);
    let up = probers.run(d, &c, Duration::from_secs(1)).await;
    assert!(up.ok, "{up:?}");
    host.link_down();
    let down = probers.run(d, &c, Duration::from_millis(800)).await;
    assert!(!down.ok, "{down:?}");
    assert_eq!(down.error.as_deref(), Some("timeout"));
    assert_eq!(num(&down, "icmp_loss_ratio"), 1.0);
    assert!(
        down.duration_ms < 1500.0,
        "a dead host must not hold the probe past its timeout"
    );
    host.link_up();
    let back = probers.run(d, &c, Duration::from_secs(2)).await;
    assert!(back.ok, "{back:?}");
    assert!(matches!(
        back.values.get("icmp_rtt_avg_seconds"),
        Some(Value::Number(_))
    ));
}
