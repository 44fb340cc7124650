//! Outage and recovery through a real SMTP server (aiosmtpd): the two driftmeddelanden reach
//! the editors of the municipality with Swedish subjects, dates and durations in both text and
//! HTML; an outage over before hold-down sends nothing; a flap gives one message; a recovery
//! that outlasted hold-down is told even when a new outage comes while its notice waits for the
//! SMTP server; the demo file transport writes .eml files.

use driftvakt_collector::notify::{FileTransport, OutboxStore, Status};
use driftvakt_collector_testkit::notify::*;
use driftvakt_collector_testkit::smtp::*;

#[tokio::test]
async fn outage_and_recovery_give_two_notices_in_swedish() {
    let tmp = tempfile::tempdir().unwrap();
    let peer = SmtpPeer::start(&tmp.path().join("mail"));
    let clock = ManualClock::at("2026-03-10T14:00:00+01:00");
    let n = smtp_notifier(config(peer.port), &tmp.path().join("c.db"), clock.clone());

    let ids = n
        .handle(service_down(
            "wifi",
            "stadshuset",
            "2026-03-10T14:00:00+01:00",
        ))
        .unwrap();
    assert_eq!(ids.len(), 1, "one editor in Tranemo");
    // Held for hold-down (10 minutes): nothing is sent before.
    assert_eq!(n.deliver_due().await.sent, 0);
    clock.advance(mins(10));
    let mails = deliver_until(&n, &peer, 1).await;
    let down = &mails[0];
    assert_eq!(down.to(), "intranat@tranemo.example.se");
    assert_eq!(
        down.subject,
        "Driftmeddelande – störning: Trådlöst nätverk, Stadshuset"
    );
    assert!(down
        .header("from")
        .unwrap()
        .contains("it@tranemo.example.se"));
    assert!(down
        .header("content-type")
        .unwrap()
        .starts_with("multipart/alternative"));
    assert!(
        down.text.contains("sedan tisdag 10 mars 2026 kl. 14.00"),
        "{}",
        down.text
    );
    assert!(down.text.contains("IT arbetar med att åtgärda felet"));
    assert!(down.html.contains("<strong>Trådlöst nätverk</strong>"));
    assert!(down.html.contains("tisdag 10 mars 2026 kl. 14.00"));
    let mid = down.header("message-id").unwrap();
    assert!(mid.contains("service-down.wifi"), "{mid}");

    clock.set("2026-03-10T15:23:00+01:00");
    let ids = n
        .handle(service_up(
            "wifi",
            "2026-03-10T14:00:00+01:00",
            "2026-03-10T15:23:00+01:00",
        ))
        .unwrap();
    assert_eq!(ids.len(), 1);
    clock.advance(mins(10));
    let mails = deliver_until(&n, &peer, 2).await;
    let up = &mails[1];
    assert_eq!(
        up.subject,
        "Driftmeddelande – åtgärdat: Trådlöst nätverk, Stadshuset"
    );
    assert!(
        up.text.contains("varade i 1 timme 23 minuter"),
        "{}",
        up.text
    );
    assert!(up
        .text
        .contains("fungerar igen sedan tisdag 10 mars 2026 kl. 15.23"));
    assert!(up.html.contains("1 timme 23 minuter"));

    // Nothing more, and the same event again enqueues nothing.
    n.tick().unwrap();
    clock.advance(mins(60));
    assert_eq!(n.deliver_due().await.sent, 0);
    assert_eq!(peer.messages().len(), 2);
    let stats = n.stats().unwrap();
    assert_eq!((stats.sent, stats.pending, stats.failed), (2, 0, 0));
}

#[tokio::test]
async fn an_outage_over_within_hold_down_sends_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let clock = ManualClock::at("2026-03-10T14:00:00+01:00");
    let n = notifier(
        config(1),
        &tmp.path().join("c.db"),
        clock.clone(),
        FileTransport::new(&tmp.path().join("out")).unwrap(),
    );
    n.handle(service_down(
        "wifi",
        "stadshuset",
        "2026-03-10T14:00:00+01:00",
    ))
    .unwrap();
    clock.advance(mins(4));
    let ids = n
        .handle(service_up(
            "wifi",
            "2026-03-10T14:00:00+01:00",
            "2026-03-10T14:04:00+01:00",
        ))
        .unwrap();
    assert!(ids.is_empty(), "no recovery notice for an untold outage");
    clock.advance(mins(60));
    assert_eq!(n.deliver_due().await.sent, 0);
    let stats = n.stats().unwrap();
    assert_eq!((stats.sent, stats.pending, stats.cancelled), (0, 0, 1));
    assert!(read_eml_dir(&tmp.path().join("out")).is_empty());
}

#[tokio::test]
async fn a_flapping_service_gives_one_message() {
    let tmp = tempfile::tempdir().unwrap();
    let clock = ManualClock::at("2026-03-10T14:00:00+01:00");
    let out = tmp.path().join("out");
    let n = notifier(
        config(1),
        &tmp.path().join("c.db"),
        clock.clone(),
        FileTransport::new(&out).unwrap(),
    );
    n.handle(service_down(
        "wifi",
        "stadshuset",
        "2026-03-10T14:00:00+01:00",
    ))
    .unwrap();
    clock.advance(mins(11));
    assert_eq!(n.deliver_due().await.sent, 1);
    // Up and down again, five times, each within hold-down.
    for i in 0..5 {
        let t = clock_text(&clock);
        n.handle(service_up("wifi", "2026-03-10T14:00:00+01:00", &t))
            .unwrap();
        clock.advance(mins(2));
        let t = clock_text(&clock);
        let again = n.handle(service_down("wifi", "stadshuset", &t)).unwrap();
        assert!(again.is_empty(), "flap {i} enqueued {again:?}");
        clock.advance(mins(3));
        n.deliver_due().await;
    }
    clock.advance(mins(30));
    n.tick().unwrap();
    assert_eq!(n.deliver_due().await.sent, 0);
    let mails = read_eml_dir(&out);
    assert_eq!(mails.len(), 1, "one message for the flapping period");
    assert!(mails[0].subject.starts_with("Driftmeddelande – störning"));
    assert_eq!(n.store().list(Some(Status::Pending)).unwrap().len(), 0);
}

/// Found by the real-time soak (issue 26): with the SMTP server refusing, a recovery's notice
/// waited for a retry; a new outage of the same service 20 s later took it for a flap and
/// cancelled it, so the editors heard of two outages and of one recovery.
#[tokio::test]
async fn a_recovery_longer_than_hold_down_is_told_though_a_new_outage_comes_before_it_went_out() {
    let tmp = tempfile::tempdir().unwrap();
    let peer = SmtpPeer::start(&tmp.path().join("mail"));
    let clock = ManualClock::at("2026-03-10T14:00:00+01:00");
    let n = smtp_notifier(config(peer.port), &tmp.path().join("c.db"), clock.clone());
    n.handle(service_down(
        "wifi",
        "stadshuset",
        "2026-03-10T14:00:00+01:00",
    ))
    .unwrap();
    clock.advance(mins(11));
    deliver_until(&n, &peer, 1).await;

    // Back at 14:30; its notice is due at 14:40 (hold-down), when the server refuses it.
    clock.set("2026-03-10T14:30:00+01:00");
    let up = n
        .handle(service_up(
            "wifi",
            "2026-03-10T14:00:00+01:00",
            "2026-03-10T14:30:00+01:00",
        ))
        .unwrap();
    assert_eq!(up.len(), 1);
    peer.refuse("451");
    clock.set("2026-03-10T14:40:00+01:00");
    assert_eq!(n.deliver_due().await.sent, 0, "refused");

    // Down again at 14:45: the recovery lasted 15 minutes, longer than hold-down.
    clock.set("2026-03-10T14:45:00+01:00");
    let again = n
        .handle(service_down(
            "wifi",
            "stadshuset",
            "2026-03-10T14:45:00+01:00",
        ))
        .unwrap();
    assert_eq!(again.len(), 1, "a new outage, not a flap");
    peer.refuse("");
    clock.advance(mins(30));
    let mails = deliver_until(&n, &peer, 3).await;
    let subjects: Vec<&str> = mails.iter().map(|m| m.subject.as_str()).collect();
    assert_eq!(
        subjects.iter().filter(|s| s.contains("åtgärdat")).count(),
        1,
        "{subjects:?}"
    );
    assert_eq!(
        subjects.iter().filter(|s| s.contains("störning")).count(),
        2,
        "{subjects:?}"
    );
    n.tick().unwrap();
    clock.advance(mins(60));
    assert_eq!(n.deliver_due().await.sent, 0);
    assert_eq!(peer.messages().len(), 3);
}

#[tokio::test]
async fn demo_file_transport_writes_eml_files() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("outbox");
    let clock = ManualClock::at("2026-03-10T14:00:00+01:00");
    let mut c = config(1);
    c.smtp = None;
    c.outbox_dir = out.clone();
    let transport = driftvakt_collector::notify::ConfiguredTransport::from_config(&c).unwrap();
    let n = notifier(c, &tmp.path().join("c.db"), clock.clone(), transport);
    n.handle(service_down(
        "wifi",
        "stadshuset",
        "2026-03-10T13:50:00+01:00",
    ))
    .unwrap();
    assert_eq!(n.deliver_due().await.sent, 1);
    let files: Vec<_> = std::fs::read_dir(&out).unwrap().collect();
    assert_eq!(files.len(), 1);
    let mails = read_eml_dir(&out);
    assert_eq!(
        mails[0].subject,
        "Driftmeddelande – störning: Trådlöst nätverk, Stadshuset"
    );
    assert!(mails[0].text.contains("tisdag 10 mars 2026 kl. 13.50"));
}

fn clock_text(clock: &ManualClock) -> String {
    use driftvakt_collector::clock::Clock;
    clock.now().to_rfc3339()
}
