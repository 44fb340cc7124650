//! A restart mid-outage (the app, the notifier and alerting dropped and opened again on the
//! same database) gives the same mails, once each: before the notice was sent, after it was
//! sent, and between the recovery and its notice.

use crate::rig::*;

#[tokio::test]
async fn restarts_mid_outage_send_the_same_mails_once_each() {
    let rig = Rig::start("2026-03-10T20:50:00Z");
    rig.rounds(0, 10, &[]).await;
    let (opened, _) = rig.rounds(10, 15, &["ap-bibl"]).await;
    assert_eq!(opened.len(), 2);

    // Restart 1: announced, held, nothing sent yet.
    let rig = rig.restart();
    let (opened, closed) = rig.rounds(15, 25, &["ap-bibl"]).await;
    assert!(
        opened.is_empty() && closed.is_empty(),
        "{opened:?} {closed:?}"
    );
    let mails = rig.deliver_until(2).await;
    assert_eq!(mails.len(), 2);

    // Restart 2: after the notices went out.
    let rig = rig.restart();
    let (opened, _) = rig.rounds(25, 30, &["ap-bibl"]).await;
    assert!(opened.is_empty(), "{opened:?}");
    let r = rig.round(30, &[]).await;
    assert_eq!(r.closed.len(), 2);

    // Restart 3: the recovery is enqueued (held), not sent.
    let rig = rig.restart();
    let (opened, closed) = rig.rounds(31, 45, &[]).await;
    assert!(
        opened.is_empty() && closed.is_empty(),
        "{opened:?} {closed:?}"
    );
    let mails = rig.deliver_until(4).await;
    assert_eq!(
        subjects(&mails),
        [
            "Driftmeddelande – störning: Trådlöst nätverk, Biblioteket",
            "Driftmeddelande – åtgärdat: Trådlöst nätverk, Biblioteket",
            "Larm upphört: Accesspunkt entré, Biblioteket – Enheten svarar inte",
            "Larm: Accesspunkt entré, Biblioteket – Enheten svarar inte",
        ]
    );
    let rig = rig.restart();
    assert_eq!(rig.settle().await.len(), 4);
    let stats = rig.notifier().stats().unwrap();
    assert_eq!((stats.sent, stats.pending, stats.failed), (4, 0, 0));
}
