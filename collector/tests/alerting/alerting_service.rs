//! A service outage outside office hours, through the real ingest path: exactly one störning
//! to the municipality's editors and one alert to on-call; on recovery one åtgärdat with the
//! duration (and the alert cleared for on-call); the report counts the on-call case. Results
//! that reveal an outage only after it ended send nothing; an outage found late while it is
//! still going on is announced at once, with its real start.

use crate::rig::*;
use driftvakt_collector::availability::Period;
use driftvakt_collector::report::{self, Format};

/// Tuesday 10 March 2026, 21:50 in Stockholm: outside office hours.
const EVENING: &str = "2026-03-10T20:50:00Z";

#[tokio::test]
async fn outage_outside_office_hours_gives_one_notice_one_page_and_one_recovery() {
    let rig = Rig::start(EVENING);
    let (opened, _) = rig.rounds(0, 10, &[]).await;
    assert!(opened.is_empty(), "{opened:?}");

    // Fails from minute 10; confirmed by the third failure (minute 12), starting at minute 10.
    let (opened, _) = rig.rounds(10, 12, &["ap-bibl"]).await;
    assert!(opened.is_empty(), "not confirmed yet: {opened:?}");
    let r = rig.round(12, &["ap-bibl"]).await;
    assert_eq!(
        r.opened,
        ["service:wifi-biblioteket", "device:ap-bibl:down"],
        "{r:?}"
    );
    let (opened, closed) = rig.rounds(13, 30, &["ap-bibl"]).await;
    assert!(
        opened.is_empty() && closed.is_empty(),
        "{opened:?} {closed:?}"
    );

    let mails = rig.deliver_until(2).await;
    let notice = to(&mails, EDITORS);
    assert_eq!(notice.len(), 1);
    assert_eq!(
        notice[0].subject,
        "Driftmeddelande – störning: Trådlöst nätverk, Biblioteket"
    );
    assert!(
        notice[0]
            .text
            .contains("sedan tisdag 10 mars 2026 kl. 22.00"),
        "{}",
        notice[0].text
    );
    let page = to(&mails, ON_CALL);
    assert_eq!(page.len(), 1);
    assert_eq!(
        page[0].subject,
        "Larm: Accesspunkt entré, Biblioteket – Enheten svarar inte"
    );
    assert!(page[0].text.contains("beredskap"), "{}", page[0].text);
    assert!(to(&mails, SERVICE_DESK).is_empty());

    // Back at minute 30: closed at once, told after hold-down.
    let r = rig.round(30, &[]).await;
    assert_eq!(
        r.closed,
        ["device:ap-bibl:down", "service:wifi-biblioteket"],
        "{r:?}"
    );
    rig.rounds(31, 45, &[]).await;
    let mails = rig.deliver_until(4).await;
    let editors = to(&mails, EDITORS);
    assert_eq!(editors.len(), 2);
    let up = editors
        .iter()
        .find(|m| m.subject.contains("åtgärdat"))
        .unwrap();
    assert_eq!(
        up.subject,
        "Driftmeddelande – åtgärdat: Trådlöst nätverk, Biblioteket"
    );
    assert!(up.text.contains("varade i 20 minuter"), "{}", up.text);
    assert!(up
        .text
        .contains("fungerar igen sedan tisdag 10 mars 2026 kl. 22.20"));
    let on_call = to(&mails, ON_CALL);
    assert_eq!(on_call.len(), 2);
    assert!(on_call
        .iter()
        .any(|m| m.subject.starts_with("Larm upphört:")));

    // Nothing more, ever.
    assert_eq!(rig.settle().await.len(), 4);

    // The report for March counts the on-call case, in JSON, table and HTML.
    let calendar = rig.calendar.calendar().unwrap();
    let period = Period::parse("2026-03").unwrap();
    let now = rig.clock_now();
    let mut r =
        report::build(&rig.app.inventory, &*rig.app.store, &calendar, &period, now).unwrap();
    let db =
        driftvakt_collector::store::Database::open(&rig.app.inventory.settings.database).unwrap();
    report::add_oncall_cases(&mut r, rig.notifier().store(), &*db.oncall_cases().unwrap()).unwrap();
    assert_eq!(r.oncall_cases, 1);
    assert_eq!(r.incidents.period, 1);
    assert!(report::render(&r, Format::Table).contains("On-call cases: 1 in period"));
    assert!(report::render(&r, Format::Html).contains("<span class=n id=oncall-cases>1</span>"));
    let json: serde_json::Value = serde_json::from_str(&report::render(&r, Format::Json)).unwrap();
    assert_eq!(json["oncall_cases"], 1);
    // The same through the database's own stores, as the API and the CLI open them.
    let mut again =
        report::build(&rig.app.inventory, &*rig.app.store, &calendar, &period, now).unwrap();
    let db = driftvakt_collector::store::Database::open(&rig.db().into()).unwrap();
    report::add_oncall_cases(
        &mut again,
        &*db.notify().unwrap(),
        &*db.oncall_cases().unwrap(),
    )
    .unwrap();
    assert_eq!(again.oncall_cases, 1);
}

#[tokio::test]
async fn an_outage_over_before_it_was_reported_sends_nothing() {
    let rig = Rig::start(EVENING);
    rig.rounds(0, 5, &[]).await;
    // An agent replays its spool at minute 60: ap-bibl was down from 10 to 30, and is up now.
    let mut replay = Vec::new();
    for m in 5..60 {
        let ok = !(10..30).contains(&m);
        replay.extend(
            ICMP_DEVICES
                .iter()
                .map(|d| icmp(d, rig.at(m), ok || *d != "ap-bibl")),
        );
    }
    let r = rig.ingest(60, replay).await;
    assert!(r.opened.is_empty() && r.closed.is_empty(), "{r:?}");
    assert!(rig.settle().await.is_empty());
    // It is in the availability record all the same.
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
    assert_eq!(r.incidents.period, 1);
}

#[tokio::test]
async fn an_outage_found_late_and_still_going_on_is_announced_once_with_its_start() {
    let rig = Rig::start(EVENING);
    rig.rounds(0, 5, &[]).await;
    let mut replay = Vec::new();
    for m in 5..40 {
        replay.extend(
            ICMP_DEVICES
                .iter()
                .map(|d| icmp(d, rig.at(m), m < 20 || *d != "ap-bibl")),
        );
    }
    let r = rig.ingest(40, replay).await;
    assert_eq!(
        r.opened,
        ["service:wifi-biblioteket", "device:ap-bibl:down"]
    );
    // Due at once: the hold-down counts from the real start (minute 20, 22.10).
    let mails = rig.deliver_until(2).await;
    let notice = to(&mails, EDITORS)[0];
    assert!(notice.text.contains("kl. 22.10"), "{}", notice.text);
    rig.rounds(41, 45, &["ap-bibl"]).await;
    assert_eq!(rig.settle().await.len(), 2);
}
