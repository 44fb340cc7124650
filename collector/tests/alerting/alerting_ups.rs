//! UPS findings at a network node: on battery with 35 minutes left gives an on-battery alert
//! and a runtime alert naming the four-hour requirement; both clear when mains returns.

use crate::rig::*;

#[tokio::test]
async fn a_ups_on_battery_at_a_node_alerts_and_names_the_four_hour_requirement() {
    let rig = Rig::start("2026-03-10T20:50:00Z");
    for m in 0..10 {
        rig.round(m, &[]).await;
        rig.ingest(m, vec![ups(rig.at(m), false, 300)]).await;
    }
    let mut opened = Vec::new();
    for m in 10..30 {
        opened.extend(rig.round(m, &[]).await.opened);
        let minutes = 45 - (m as u32 - 10) / 2; // runs down from 45 minutes
        opened.extend(
            rig.ingest(m, vec![ups(rig.at(m), true, minutes)])
                .await
                .opened,
        );
    }
    assert_eq!(
        opened,
        [
            "device:ups-stadshuset:on_battery",
            "device:ups-stadshuset:runtime_below_minimum"
        ]
    );
    let mails = rig.deliver_until(2).await;
    let pages = to(&mails, ON_CALL);
    assert_eq!(pages.len(), 2, "outside office hours both page on-call");
    let runtime = pages
        .iter()
        .find(|m| m.subject.contains("UPS-reserven"))
        .expect("a runtime alert");
    assert_eq!(
        runtime.subject,
        "Larm: UPS Stadshuset, Stadshuset – UPS-reserven räcker 45 minuter (krav 4 timmar)"
    );
    assert!(
        runtime.text.contains("fyra timmars reservkraft"),
        "{}",
        runtime.text
    );
    assert!(
        runtime
            .text
            .contains("Sedan:   tisdag 10 mars 2026 kl. 22.00"),
        "{}",
        runtime.text
    );
    let battery = pages
        .iter()
        .find(|m| m.subject.contains("batteri"))
        .unwrap();
    assert_eq!(
        battery.subject,
        "Larm: UPS Stadshuset, Stadshuset – UPS går på batteri"
    );

    // 35 minutes left: still the same two alerts, nothing new.
    let r = rig.ingest(30, vec![ups(rig.at(30), true, 35)]).await;
    assert!(r.opened.is_empty() && r.closed.is_empty(), "{r:?}");

    // Mains back and recharged.
    let mut closed = Vec::new();
    for m in 31..45 {
        rig.round(m, &[]).await;
        closed.extend(rig.ingest(m, vec![ups(rig.at(m), false, 300)]).await.closed);
    }
    assert_eq!(closed.len(), 2, "{closed:?}");
    let mails = rig.deliver_until(4).await;
    assert_eq!(to(&mails, ON_CALL).len(), 4);
    assert_eq!(rig.settle().await.len(), 4);
}

#[tokio::test]
async fn a_low_runtime_away_from_a_node_is_not_a_four_hour_alert() {
    let rig = Rig::start("2026-03-10T20:50:00Z");
    // The same UPS, but Stadshuset is no node here.
    let path = rig.tmp.path().join("collector.yaml");
    let text = std::fs::read_to_string(&path).unwrap().replace(
        "municipality: Ulricehamn, node: true",
        "municipality: Ulricehamn",
    );
    std::fs::write(&path, text).unwrap();
    let rig = rig.restart();
    let mut opened = Vec::new();
    for m in 0..20 {
        rig.round(m, &[]).await;
        opened.extend(rig.ingest(m, vec![ups(rig.at(m), false, 35)]).await.opened);
    }
    assert!(opened.is_empty(), "{opened:?}");
}

/// Tuesday 10 March 2026, 10:00 in Stockholm: office hours.
const MORNING: &str = "2026-03-10T09:00:00Z";

#[tokio::test]
async fn a_battery_to_replace_goes_to_the_service_desk_and_never_pages() {
    let rig = Rig::start(MORNING);
    let mut opened = Vec::new();
    for m in 0..20 {
        opened.extend(rig.round(m, &[]).await.opened);
        let mut r = ups(rig.at(m), false, 300);
        r.findings.push(finding(
            "ups_battery_replace",
            "the UPS reports that its battery needs replacing",
        ));
        opened.extend(rig.ingest(m, vec![r]).await.opened);
    }
    assert_eq!(opened, ["device:ups-stadshuset:battery_replace"]);
    let mails = rig.deliver_until(1).await;
    let desk = to(&mails, SERVICE_DESK);
    assert_eq!(desk.len(), 1, "{:?}", subjects(&mails));
    assert_eq!(
        desk[0].subject,
        "Larm: UPS Stadshuset, Stadshuset – UPS-batteriet behöver bytas"
    );
    assert!(
        desk[0].text.contains("beställ ett nytt batteri"),
        "{}",
        desk[0].text
    );
    let all = rig.settle().await;
    assert!(to(&all, ON_CALL).is_empty(), "{:?}", subjects(&all));
}
