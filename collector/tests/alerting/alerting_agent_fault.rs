//! The monitor's own fault is not the devices': an agent without the privilege to ping (every
//! ICMP result `permission_denied`) leaves its devices unknown, not down; the editors get no
//! störning, on-call is not paged, and the IT team (the service desk, in office hours) gets one
//! alert about the agent, in Swedish, saying what to do. When the agent is fixed the alert
//! clears and the devices are up. The alert's count of unknown devices is the one true when it
//! is sent, and a new count is told to whoever heard of the old one.

use crate::rig::*;
use driftvakt_collector::alerting::CheckReport;
use driftvakt_collector::state::Health;

/// Tuesday 10 March 2026, 10:00 in Stockholm: office hours.
const MORNING: &str = "2026-03-10T09:00:00Z";

/// One ICMP result per device that the agent could not send: no privilege for raw sockets.
async fn denied_round(rig: &Rig, minute: i64) -> Vec<String> {
    let results = ICMP_DEVICES
        .iter()
        .map(|d| {
            let mut r = icmp(d, rig.at(minute), false);
            r.error = Some("permission_denied".into());
            r.detail = Some("raw ICMP socket: Operation not permitted".into());
            r
        })
        .collect();
    rig.ingest(minute, results).await.opened
}

#[tokio::test]
async fn an_agent_that_cannot_ping_makes_devices_unknown_and_alerts_the_it_team_once() {
    let rig = Rig::start(MORNING);
    let mut opened = Vec::new();
    for m in 0..20 {
        opened.extend(denied_round(&rig, m).await);
    }
    assert_eq!(opened, ["agent:a1:permission_denied"]);

    let status = rig.app.status().unwrap();
    for d in &status.devices {
        assert_eq!(d.state, Health::Unknown, "{}", d.id);
    }
    for s in &status.services {
        assert_ne!(s.state, Health::Down, "{}", s.id);
    }

    let mails = rig.deliver_until(1).await;
    assert_eq!(mails.len(), 1, "{:?}", subjects(&mails));
    let alert = to(&mails, SERVICE_DESK);
    assert_eq!(
        alert.len(),
        1,
        "the IT team gets it: {:?}",
        subjects(&mails)
    );
    assert_eq!(
        alert[0].subject,
        "Larm: Driftvakt-agenten a1, Stadshuset, Biblioteket – Agenten kan inte mäta: 6 enheter är okända"
    );
    for advice in ["CAP_NET_RAW", "ping_group_range", "okända, inte som nere"] {
        assert!(
            alert[0].text.contains(advice),
            "{advice}: {}",
            alert[0].text
        );
    }

    // Fixed: ordinary results again; the alert clears and nothing else is said.
    let (opened, closed) = rig.rounds(20, 40, &[]).await;
    assert!(opened.is_empty(), "{opened:?}");
    assert_eq!(closed, ["agent:a1:permission_denied"]);
    let status = rig.app.status().unwrap();
    assert!(status.devices.iter().all(|d| d.state == Health::Up));
    let all = rig.settle().await;
    assert!(to(&all, EDITORS).is_empty(), "{:?}", subjects(&all));
    assert!(to(&all, ON_CALL).is_empty(), "{:?}", subjects(&all));
}

/// One ICMP result per device at `minute`: the agent could not ping those in `denied`, the
/// others answer.
async fn partly_denied(rig: &Rig, minute: i64, denied: &[&str]) -> CheckReport {
    let results = ICMP_DEVICES
        .iter()
        .map(|d| {
            let mut r = icmp(d, rig.at(minute), !denied.contains(d));
            if denied.contains(d) {
                r.error = Some("permission_denied".into());
                r.detail = Some("raw ICMP socket: Operation not permitted".into());
            }
            r
        })
        .collect();
    rig.ingest(minute, results).await
}

#[tokio::test]
async fn the_agent_fault_alert_says_the_count_true_when_sent_and_is_revised() {
    let rig = Rig::start(MORNING);
    let key = "agent:a1:permission_denied";
    let two = ["ap-1", "ap-2"];
    let five = ["ap-1", "ap-2", "ap-3", "ap-bibl", "ups-stadshuset"];
    let mut opened = Vec::new();
    for m in 0..3 {
        opened.extend(partly_denied(&rig, m, &two).await.opened);
    }
    assert_eq!(opened, [key]);
    // More devices go unknown while the alert is still held (hold-down 10 minutes).
    let mut revised = Vec::new();
    for m in 3..12 {
        let r = partly_denied(&rig, m, &five).await;
        assert!(r.opened.is_empty() && r.closed.is_empty(), "{r:?}");
        revised.extend(r.revised);
    }
    assert_eq!(revised, [key], "revised once, when the count changed");
    let mails = rig.deliver_until(1).await;
    assert_eq!(
        subjects(&mails),
        ["Larm: Driftvakt-agenten a1, Stadshuset, Biblioteket – Agenten kan inte mäta: 5 enheter är okända"],
        "the held alert says the count true when it is sent"
    );
    assert!(
        mails[0].text.contains("visas 5 enheter som okända"),
        "{}",
        mails[0].text
    );

    // Once told, a new count is told too.
    let mut revised = Vec::new();
    for m in 12..15 {
        revised.extend(partly_denied(&rig, m, &ICMP_DEVICES).await.revised);
    }
    assert_eq!(revised, [key]);
    let mails = rig.deliver_until(2).await;
    let mut told = subjects(&mails);
    told.sort();
    assert_eq!(
        told,
        [
            "Larm: Driftvakt-agenten a1, Stadshuset, Biblioteket – Agenten kan inte mäta: 5 enheter är okända",
            "Larm: Driftvakt-agenten a1, Stadshuset, Biblioteket – Agenten kan inte mäta: 6 enheter är okända",
        ]
    );
    assert_eq!(to(&mails, SERVICE_DESK).len(), 2);

    // A restart re-derives the same count: nothing more is said.
    let rig = rig.restart();
    let r = partly_denied(&rig, 15, &ICMP_DEVICES).await;
    assert!(r.opened.is_empty() && r.revised.is_empty(), "{r:?}");

    // Fixed: one recovery, to the desk that heard of it.
    let (opened, closed) = rig.rounds(16, 30, &[]).await;
    assert!(opened.is_empty(), "{opened:?}");
    assert_eq!(closed, [key]);
    let all = rig.settle().await;
    let subjects = subjects(&all);
    assert_eq!(all.len(), 3, "{subjects:?}");
    let cleared = subjects.iter().filter(|s| s.starts_with("Larm upphört"));
    assert_eq!(cleared.count(), 1, "{subjects:?}");
    assert!(to(&all, EDITORS).is_empty(), "{subjects:?}");
}
