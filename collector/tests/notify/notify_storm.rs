//! One root cause, one message: a dark site with ten devices behind it gives one notice and no
//! alerts for the children; a storm of 200 alerts stays under the per-recipient rate limit, the
//! overflow arriving as one digest.

use driftvakt_collector::notify::{AlertKind, Event, OutboxStore};
use driftvakt_collector_testkit::notify::*;
use driftvakt_collector_testkit::smtp::*;

#[tokio::test]
async fn a_dark_site_with_ten_children_gives_one_notice() {
    let tmp = tempfile::tempdir().unwrap();
    let peer = SmtpPeer::start(&tmp.path().join("mail"));
    let clock = ManualClock::at("2026-03-10T10:00:00+01:00");
    let n = smtp_notifier(config(peer.port), &tmp.path().join("c.db"), clock.clone());
    let children: Vec<String> = (1..=10).map(|i| format!("ap-{i}")).collect();
    let since = "2026-03-10T10:00:00+01:00";
    let ids = n
        .handle(Event::SiteDark {
            site_id: "stadshuset".into(),
            site_name: "Stadshuset".into(),
            municipality: "Tranemo".into(),
            node_switch: "sw-core".into(),
            since: utc(since),
            unreachable_children: children.clone(),
        })
        .unwrap();
    assert_eq!(ids.len(), 1);
    for c in &children {
        assert!(n
            .handle(device_alert(c, AlertKind::Down, since))
            .unwrap()
            .is_empty());
    }
    // Other kinds for a child still count (a UPS on battery is news of its own).
    clock.advance(mins(15));
    let mails = deliver_until(&n, &peer, 1).await;
    clock.advance(mins(15));
    n.deliver_due().await;
    assert_eq!(peer.messages().len(), 1);
    assert_eq!(
        mails[0].subject,
        "Driftmeddelande – störning: Nätverket, Stadshuset"
    );
    assert_eq!(mails[0].to(), "intranat@tranemo.example.se");
    assert!(mails[0].text.contains("(10 enheter)"));
}

#[tokio::test]
async fn a_storm_of_200_alerts_becomes_a_digest_under_the_rate_limit() {
    let tmp = tempfile::tempdir().unwrap();
    let peer = SmtpPeer::start(&tmp.path().join("mail"));
    let clock = ManualClock::at("2026-03-10T10:00:00+01:00");
    let n = smtp_notifier(config(peer.port), &tmp.path().join("c.db"), clock.clone());
    for i in 0..200 {
        let since = "2026-03-10T10:00:00+01:00";
        n.handle(device_alert(&format!("dev-{i}"), AlertKind::Down, since))
            .unwrap();
    }
    let rows = n.store().list(None).unwrap();
    assert_eq!(rows.len(), 20, "19 alerts and one digest");
    clock.advance(mins(20));
    let mails = deliver_until(&n, &peer, 20).await;
    clock.advance(mins(30));
    n.deliver_due().await;
    assert_eq!(peer.messages().len(), 20);
    let digest: Vec<_> = mails
        .iter()
        .filter(|m| m.subject.starts_with("Sammanfattning"))
        .collect();
    assert_eq!(digest.len(), 1);
    assert_eq!(digest[0].subject, "Sammanfattning: 181 larm");
    assert_eq!(digest[0].text.matches("Larm: Enhet dev-").count(), 181);
    assert!(mails
        .iter()
        .all(|m| m.to() == "servicedesk@kommun.example.se"));
}
