//! Inside an ad-hoc service window nothing is sent, and the downtime is planned in the report.

use crate::rig::*;
use driftvakt_collector::availability::Period;
use driftvakt_collector::calendar::WindowScope;
use driftvakt_collector::report;

#[tokio::test]
async fn an_outage_inside_an_adhoc_window_sends_nothing_and_is_planned_downtime() {
    let rig = Rig::start("2026-03-10T20:50:00Z");
    rig.calendar
        .add_window(
            rig.at(5),
            rig.at(60),
            WindowScope::All,
            "Byte av accesspunkter",
            "test",
        )
        .unwrap();
    rig.rounds(0, 10, &[]).await;
    let (opened, closed) = rig.rounds(10, 30, &["ap-bibl"]).await;
    assert_eq!(opened, ["service:wifi-biblioteket", "device:ap-bibl:down"]);
    assert!(closed.is_empty());
    let (_, closed) = rig.rounds(30, 45, &[]).await;
    assert_eq!(closed.len(), 2);
    rig.notifier().tick().unwrap();
    assert!(rig.settle().await.is_empty(), "no mail inside the window");

    let calendar = rig.calendar.calendar().unwrap();
    let period = Period::parse("2026-03").unwrap();
    let r = report::build(
        &rig.app.inventory,
        &*rig.app.store,
        &calendar,
        &period,
        rig.clock_now(),
    )
    .unwrap();
    let wifi = r
        .services
        .iter()
        .find(|s| s.id == "wifi-biblioteket")
        .unwrap();
    assert_eq!(wifi.figures.downtime_s, 1200.0);
    assert_eq!(wifi.figures.planned_downtime_s, 1200.0);
    assert_eq!(wifi.figures.unplanned_downtime_s, 0.0);
    assert_eq!(r.incidents.period, 0, "entirely planned: not an incident");
    assert_eq!(r.oncall_cases, 0);
}
