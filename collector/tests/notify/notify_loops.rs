//! The notifier runs its own loops (`notify::spawn`, no alerting needed): delivery rounds by
//! themselves, one at once when asked (`Notifier::deliver_soon`, what alerting does after a
//! check) instead of at the next five-second round, and the notifier's metrics after each.

use driftvakt_collector::notify::{self, NotifyMetrics, DELIVER_EVERY};
use driftvakt_collector_testkit::notify::*;
use driftvakt_collector_testkit::smtp::*;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[tokio::test]
async fn the_notifier_delivers_by_itself_and_at_once_when_asked() {
    let tmp = tempfile::tempdir().unwrap();
    let peer = SmtpPeer::start(&tmp.path().join("mail"));
    let clock = ManualClock::at("2026-03-10T14:00:00+01:00");
    let n = Arc::new(smtp_notifier(
        config(peer.port),
        &tmp.path().join("c.db"),
        clock.clone(),
    ));
    let mut registry = prometheus_client::registry::Registry::default();
    let metrics = NotifyMetrics::register(&mut registry);
    let tasks = notify::spawn(n.clone(), metrics.clone());
    // The loop's first round (nothing due) has run; the next is DELIVER_EVERY away.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let down = service_down("wifi", "stadshuset", "2026-03-10T14:00:00+01:00");
    assert_eq!(n.handle(down).unwrap().len(), 1);
    clock.advance(mins(10)); // past hold-down: due
    let asked = Instant::now();
    n.deliver_soon();
    while peer.messages().is_empty() {
        assert!(
            asked.elapsed() < DELIVER_EVERY - Duration::from_secs(2),
            "not delivered at once when asked"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(peer.messages()[0].to(), "intranat@tranemo.example.se");
    // The round's metrics: one sent, nothing pending.
    for _ in 0..40 {
        if metrics.sent.get() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(metrics.sent.get(), 1);
    assert_eq!(metrics.outbox_pending.get(), 0);
    for t in tasks {
        t.abort();
    }
}
