//! Ingest tells alerting explicitly (`App::subscribe`, no decorator of the store): each
//! re-derivation that changed something publishes which devices and services, from when, and
//! so does a batch with failed results (what alerting tells reads them too); a batch that
//! leaves every stored outage as it was publishes nothing.

use driftvakt_collector::availability::ms;
use driftvakt_collector_testkit::fixtures::{history, minute, open_app, result};
use driftvakt_common::wire::{Batch, ProbeResult};

fn batch(id: &str, results: Vec<ProbeResult>) -> Batch {
    Batch {
        agent: "a1".into(),
        batch_id: id.into(),
        results,
    }
}

#[test]
fn ingest_signals_what_changed_and_only_then() {
    let dir = tempfile::tempdir().unwrap();
    let app = open_app(dir.path());
    let mut changes = app.subscribe();
    assert!(!changes.has_changed().unwrap(), "nothing ingested yet");

    // The printer's first results (ping to minute 9, its port to minute 8): changed.
    let mut first = history("prn", 0, 10, |_| false);
    first.extend((0..9).map(|m| result("prn", "tcp", m, true)));
    app.ingest_blocking("a1", &batch("b0", first)).unwrap();
    assert!(
        changes.has_changed().unwrap(),
        "first results not signalled"
    );
    let told = changes.borrow_and_update().clone();
    assert!(told.devices.contains_key("prn"), "{told:?}");
    assert!(told.services.contains_key("print"), "{told:?}");

    // The port's result of minute 9, in order: the stored outages stay as they are, nobody
    // is told.
    let same = vec![result("prn", "tcp", 9, true)];
    app.ingest_blocking("a1", &batch("b1", same)).unwrap();
    assert!(
        !changes.has_changed().unwrap(),
        "an unchanged re-derivation was signalled: {:?}",
        *changes.borrow()
    );

    // The switch stops answering: down after three failures, and the Wi-Fi service with it.
    app.ingest_blocking("a1", &batch("b2", history("sw", 0, 10, |_| false)))
        .unwrap();
    changes.borrow_and_update();
    let failing = history("sw", 10, 20, |_| true);
    app.ingest_blocking("a1", &batch("b3", failing)).unwrap();
    assert!(changes.has_changed().unwrap(), "the outage not signalled");
    let down = changes.borrow_and_update().clone();
    assert!(
        down.devices
            .get("sw")
            .is_some_and(|&from| from <= ms(minute(10))),
        "{down:?}"
    );
    assert!(down.services.contains_key("wifi"), "{down:?}");
    assert!(!down.devices.contains_key("prn"), "{down:?}");

    // A failed result is told (findings, agent faults and a parent's failing probe are read
    // from results), from its time at the latest.
    let fault = vec![result("prn", "tcp", 10, false)];
    app.ingest_blocking("a1", &batch("b4", fault)).unwrap();
    assert!(
        changes.has_changed().unwrap(),
        "a failed result not signalled"
    );
    let noted = changes.borrow_and_update().clone();
    assert!(
        noted
            .devices
            .get("prn")
            .is_some_and(|&from| from <= ms(minute(10))),
        "{noted:?}"
    );
}
