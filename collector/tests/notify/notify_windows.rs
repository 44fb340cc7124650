//! Quiet inside service windows: failures inside an active window that applies send nothing;
//! one that outlasts its window is announced when the window ends; planned maintenance is
//! announced N days before, once, and at once when a secondary window is activated.

use driftvakt_collector::calendar::{Window, WindowKind, WindowScope};
use driftvakt_collector::notify::{AlertKind, Event, OutboxStore};
use driftvakt_collector_testkit::notify::*;
use driftvakt_collector_testkit::smtp::*;

#[tokio::test]
async fn an_outage_in_the_window_waits_and_is_sent_when_the_window_ends() {
    let tmp = tempfile::tempdir().unwrap();
    let peer = SmtpPeer::start(&tmp.path().join("mail"));
    // The primary window: Tuesday 17 March 2026 18:00–22:00.
    let clock = ManualClock::at("2026-03-17T18:30:00+01:00");
    let n = smtp_notifier(config(peer.port), &tmp.path().join("c.db"), clock.clone());
    let since = "2026-03-17T18:30:00+01:00";
    assert!(n
        .handle(service_down("wifi", "stadshuset", since))
        .unwrap()
        .is_empty());
    assert!(n
        .handle(device_alert("ap-1", AlertKind::Down, since))
        .unwrap()
        .is_empty());
    clock.set("2026-03-17T21:59:00+01:00");
    assert!(n.tick().unwrap().after_window.is_empty());
    assert_eq!(n.deliver_due().await.sent, 0);

    clock.set("2026-03-17T22:00:00+01:00");
    let after = n.tick().unwrap().after_window;
    assert_eq!(after.len(), 2, "the notice and the on-call alert");
    let mails = deliver_until(&n, &peer, 2).await;
    let mut subjects: Vec<&str> = mails.iter().map(|m| m.subject.as_str()).collect();
    subjects.sort();
    assert_eq!(
        subjects,
        [
            "Driftmeddelande – störning: Trådlöst nätverk, Stadshuset",
            "Larm: Enhet ap-1, Stadshuset – Enheten svarar inte"
        ]
    );
    let notice = mails
        .iter()
        .find(|m| m.subject.starts_with("Drift"))
        .unwrap();
    assert!(notice.text.contains("sedan tisdag 17 mars 2026 kl. 18.30"));
    // Nothing twice.
    clock.set("2026-03-17T23:00:00+01:00");
    assert!(n.tick().unwrap().after_window.is_empty());
    n.deliver_due().await;
    assert_eq!(peer.messages().len(), 2);
}

#[tokio::test]
async fn an_outage_that_ends_inside_the_window_sends_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let clock = ManualClock::at("2026-03-17T18:10:00+01:00");
    let n = notifier(
        config(1),
        &tmp.path().join("c.db"),
        clock.clone(),
        driftvakt_collector::notify::FileTransport::new(&tmp.path().join("out")).unwrap(),
    );
    n.handle(service_down(
        "wifi",
        "stadshuset",
        "2026-03-17T18:10:00+01:00",
    ))
    .unwrap();
    clock.set("2026-03-17T19:40:00+01:00");
    n.handle(service_up(
        "wifi",
        "2026-03-17T18:10:00+01:00",
        "2026-03-17T19:40:00+01:00",
    ))
    .unwrap();
    clock.set("2026-03-17T22:30:00+01:00");
    let tick = n.tick().unwrap();
    assert!(tick.after_window.is_empty());
    assert_eq!(n.stats().unwrap().pending, 0);
    assert_eq!(n.deliver_due().await.sent, 0);
}

#[tokio::test]
async fn windows_are_announced_days_before_and_once() {
    let tmp = tempfile::tempdir().unwrap();
    let peer = SmtpPeer::start(&tmp.path().join("mail"));
    let clock = ManualClock::at("2026-03-14T17:59:00+01:00");
    let n = smtp_notifier(config(peer.port), &tmp.path().join("c.db"), clock.clone());
    assert!(
        n.tick().unwrap().announcements.is_empty(),
        "more than 3 days before"
    );
    clock.set("2026-03-14T18:01:00+01:00");
    assert_eq!(
        n.tick().unwrap().announcements.len(),
        2,
        "Tranemo and Ulricehamn"
    );
    clock.advance(mins(60));
    assert!(n.tick().unwrap().announcements.is_empty(), "once");
    let mails = deliver_until(&n, &peer, 2).await;
    let mut to: Vec<String> = mails.iter().map(|m| m.to()).collect();
    to.sort();
    assert_eq!(
        to,
        [
            "intranat@tranemo.example.se",
            "intranat@ulricehamn.example.se"
        ]
    );
    assert_eq!(
        mails[0].subject,
        "Planerat underhåll: tisdag 17 mars 2026 kl. 18.00–22.00"
    );
    assert!(mails[0].text.contains("ordinarie servicefönster"));

    // A secondary window activated now is announced at once, only where it applies, once.
    let secondary = Window {
        kind: WindowKind::Secondary,
        start: utc("2026-03-24T18:00:00+01:00"),
        end: utc("2026-03-24T21:00:00+01:00"),
        active: true,
        holiday: None,
        scope: WindowScope::Municipality("Tranemo".into()),
        reason: Some("Byte av brandvägg".into()),
        id: None,
    };
    let event = Event::WindowAnnouncement {
        window: secondary,
        municipalities: vec![],
    };
    assert_eq!(n.handle(event.clone()).unwrap().len(), 1);
    assert!(n.handle(event).unwrap().is_empty());
    let mails = deliver_until(&n, &peer, 3).await;
    let last = &mails[2];
    assert_eq!(last.to(), "intranat@tranemo.example.se");
    assert_eq!(
        last.subject,
        "Planerat underhåll: tisdag 24 mars 2026 kl. 18.00–21.00"
    );
    assert!(last.text.contains("Byte av brandvägg"));
    assert!(last.text.contains("extra servicefönster"));
    assert_eq!(n.store().list(None).unwrap().len(), 3);
}
