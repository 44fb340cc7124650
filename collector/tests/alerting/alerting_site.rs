//! A node switch down with three access points behind it: one site notice to the editors and
//! one alert for the switch, none for the children (not even opened and cancelled), even when
//! the children's results arrive (and are checked) before the switch's; when it returns, one
//! "åtgärdat" for the site.

use crate::rig::*;
use driftvakt_collector::notify::OutboxStore;

const CHILDREN: [&str; 3] = ["ap-1", "ap-2", "ap-3"];

/// One minute with the children's batch ingested (and checked) before the switch's.
async fn children_first(rig: &Rig, minute: i64, failing: bool) -> (Vec<String>, Vec<String>) {
    let at = rig.at(minute);
    let children = CHILDREN.iter().map(|d| icmp(d, at, !failing)).collect();
    let a = rig.ingest(minute, children).await;
    let rest = ICMP_DEVICES
        .iter()
        .filter(|d| !CHILDREN.contains(d))
        .map(|d| icmp(d, at, !(failing && *d == "sw-stadshuset")))
        .collect();
    let b = rig.ingest(minute, rest).await;
    ([a.opened, b.opened].concat(), [a.closed, b.closed].concat())
}

#[tokio::test]
async fn a_dark_node_gives_one_site_notice_and_no_alerts_for_the_devices_behind_it() {
    let rig = Rig::start("2026-03-10T20:50:00Z");
    rig.rounds(0, 10, &[]).await;
    let (mut opened, mut closed) = (Vec::new(), Vec::new());
    for m in 10..30 {
        let (o, c) = children_first(&rig, m, true).await;
        opened.extend(o);
        closed.extend(c);
    }
    // The children were confirmed down one check before their switch, whose latest probe had
    // already failed: their alerts wait for the switch's verdict and are never opened.
    assert!(
        opened.contains(&"site:stadshuset".to_string()),
        "{opened:?}"
    );
    assert!(opened.contains(&"device:sw-stadshuset:down".to_string()));
    let stats = rig.notifier().stats().unwrap();
    assert_eq!(
        stats.pending, 2,
        "site notice and switch alert only: {stats:?}"
    );
    for child in CHILDREN {
        let key = format!("device:{child}:down");
        assert!(!opened.contains(&key) && !closed.contains(&key), "{key}");
    }

    let mails = rig.deliver_until(2).await;
    let site = to(&mails, EDITORS);
    assert_eq!(site.len(), 1);
    assert_eq!(
        site[0].subject,
        "Driftmeddelande – störning: Nätverket, Stadshuset"
    );
    assert!(site[0].text.contains("(3 enheter)"), "{}", site[0].text);
    let page = to(&mails, ON_CALL);
    assert_eq!(page.len(), 1);
    assert!(page[0]
        .subject
        .starts_with("Larm: sw-stadshuset, Stadshuset"));
    for m in &mails {
        for child in CHILDREN {
            assert!(!m.subject.contains(child), "{}", m.subject);
        }
    }

    let r = rig.round(30, &[]).await;
    assert_eq!(r.closed, ["device:sw-stadshuset:down", "site:stadshuset"]);
    rig.rounds(31, 45, &[]).await;
    let mails = rig.deliver_until(4).await;
    let site = to(&mails, EDITORS);
    assert_eq!(
        subjects(&site.into_iter().cloned().collect::<Vec<_>>()),
        [
            "Driftmeddelande – störning: Nätverket, Stadshuset",
            "Driftmeddelande – åtgärdat: Nätverket, Stadshuset"
        ]
    );
    assert_eq!(rig.settle().await.len(), 4);
    // Nothing about a child was ever enqueued for sending.
    for row in rig.notifier().store().list(None).unwrap() {
        if CHILDREN.iter().any(|c| row.key.contains(c)) {
            assert_eq!(row.status.as_str(), "cancelled", "{}", row.key);
        }
    }
}
