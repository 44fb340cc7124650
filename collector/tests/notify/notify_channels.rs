//! The alert channels against a real HTTP receiver on loopback: each channel gets the right
//! payload once (webhook JSON with its HMAC signature, the SMS gateway's form with a Swedish
//! text under 160 characters, a Teams Adaptive Card in Swedish); a receiver answering 500 three
//! times gets it once; an unacknowledged night alert escalates to the next contact when the
//! clock passes `escalate_after` (set, not slept) and an acknowledgement stops the chain; the
//! acknowledgement link works once, names who took it, fills the on-call case, and expires.

use crate::channel_rig::*;
use driftvakt_collector::notify::{
    AckError, Acknowledge, OncallPageStore, OutboxStore, PolicyStore, Status,
};

const NIGHT: &str = "2026-03-10T23:30:00+01:00";
const SINCE: &str = "2026-03-10T23:10:00+01:00";

#[tokio::test]
async fn each_channel_gets_the_right_payload_once() {
    let tmp = tempfile::tempdir().unwrap();
    let rx = Receiver::start();
    let clock = ManualClock::at(NIGHT);
    let yaml = channel_yaml(tmp.path(), &rx, "jour-sms, it-teams, hook", "mail");
    let n = channel_notifier(&yaml, tmp.path(), clock.clone());
    let ids = n.handle(down(SINCE)).unwrap();
    assert_eq!(ids.len(), 3, "SMS to Anna, Teams, webhook");
    deliver_until_http(&n, &clock, &rx, "/hook", 1).await;
    for _ in 0..3 {
        clock.advance(mins(5));
        n.deliver_due().await;
    }
    assert_eq!(rx.all().len(), 3, "each once: {:?}", rx.all());

    // Webhook: the documented JSON, signed.
    let hook = &rx.accepted("/hook")[0];
    let sig = hook.header("x-driftvakt-signature");
    assert_eq!(
        sig,
        format!("sha256={}", hmac_hex(WEBHOOK_SECRET, hook.body.as_bytes()))
    );
    let j = hook.json();
    assert_eq!(j["version"], 1);
    assert_eq!(j["event"], "alert");
    assert_eq!(j["kind"], "down");
    assert_eq!(j["device_id"], "ap-1");
    assert_eq!(j["municipality"], "Tranemo");
    assert_eq!(j["role"], "on_call");
    assert_eq!(j["contact"], "Anna Åström");
    assert_eq!(hook.header("idempotency-key"), j["id"].as_str().unwrap());
    let ack = j["ack_url"].as_str().unwrap();
    assert!(
        ack.starts_with("https://driftvakt.example.se/ack/"),
        "{ack}"
    );
    assert!(j["alert_id"].as_i64().is_some());

    // SMS: basic auth, form body, to Anna's phone, Swedish text with the link, ≤ 160.
    let sms = &rx.accepted("/sms")[0];
    assert!(sms.header("authorization").starts_with("Basic "));
    assert!(!sms.body.contains(SMS_PASSWORD));
    assert_eq!(form_field(&sms.body, "to"), "+46701111111");
    let text = form_field(&sms.body, "message");
    assert!(
        text.chars().count() <= 160,
        "{} chars: {text}",
        text.chars().count()
    );
    assert!(
        text.starts_with("10/3 kl. 23.10 Larm: Enhet ap-1, Stadshuset - "),
        "the time of the fault first: {text}"
    );
    assert!(
        text.contains("svarar inte"),
        "Swedish characters kept: {text}"
    );
    assert!(text.ends_with(ack), "the link is whole: {text}");

    // Teams: an Adaptive Card in Swedish with a Kvittera button.
    let teams = rx.accepted("/teams")[0].json();
    let card = &teams["attachments"][0];
    assert_eq!(
        card["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    let content = &card["content"];
    assert_eq!(content["type"], "AdaptiveCard");
    assert_eq!(content["lang"], "sv");
    let facts = content["body"][1]["facts"].as_array().unwrap();
    let titles: Vec<&str> = facts.iter().map(|f| f["title"].as_str().unwrap()).collect();
    assert_eq!(titles, ["Enhet", "Plats", "Larm", "Sedan", "Detalj", "Hos"]);
    assert_eq!(
        facts[0]["value"], "Enhet ap-1 (accesspunkt)",
        "the class in Swedish"
    );
    assert_eq!(content["actions"][0]["title"], "Kvittera");
    assert_eq!(content["actions"][0]["url"], ack);

    let stats = n.stats().unwrap();
    assert_eq!((stats.sent, stats.pending, stats.failed), (3, 0, 0));
}

#[tokio::test]
async fn a_receiver_answering_500_three_times_then_200_gets_it_once() {
    let tmp = tempfile::tempdir().unwrap();
    let rx = Receiver::start();
    rx.answer(&[500, 500, 500]);
    let clock = ManualClock::at(NIGHT);
    let yaml = channel_yaml(tmp.path(), &rx, "hook", "hook");
    let n = channel_notifier(&yaml, tmp.path(), clock.clone());
    assert_eq!(n.handle(down(SINCE)).unwrap().len(), 1);
    let got = deliver_until_http(&n, &clock, &rx, "/hook", 1).await;
    for _ in 0..5 {
        clock.advance(mins(10));
        n.deliver_due().await;
    }
    assert_eq!(rx.accepted("/hook").len(), 1, "delivered once");
    let all = rx.all();
    assert_eq!(
        all.iter().map(|g| g.status).collect::<Vec<_>>(),
        [500, 500, 500, 200]
    );
    let keys: std::collections::BTreeSet<String> =
        all.iter().map(|g| g.header("idempotency-key")).collect();
    assert_eq!(keys.len(), 1, "the same idempotency key every time");
    assert_eq!(got[0].body, all[0].body, "the same payload every time");
    let sent = n.store().list(Some(Status::Sent)).unwrap();
    assert_eq!(sent.len(), 1);
    assert_eq!((sent[0].channel.as_str(), sent[0].attempts), ("hook", 4));
}

#[tokio::test]
async fn a_permanent_refusal_fails_after_max_attempts_and_is_listed() {
    let tmp = tempfile::tempdir().unwrap();
    let rx = Receiver::start();
    rx.answer(&[400, 400, 400, 400]);
    let clock = ManualClock::at(NIGHT);
    let yaml = channel_yaml(tmp.path(), &rx, "hook", "hook");
    let n = channel_notifier(&yaml, tmp.path(), clock.clone());
    n.handle(down(SINCE)).unwrap();
    for _ in 0..6 {
        n.deliver_due().await;
        clock.advance(mins(2));
    }
    let failed = n.store().list(Some(Status::Failed)).unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].channel, "hook");
    assert!(failed[0]
        .last_error
        .as_deref()
        .unwrap()
        .contains("HTTP 400"));
    assert_eq!(rx.all().len(), 3, "max_attempts");
}

#[tokio::test]
async fn an_unacknowledged_night_alert_escalates_and_an_acknowledgement_stops_it() {
    let tmp = tempfile::tempdir().unwrap();
    let rx = Receiver::start();
    let clock = ManualClock::at(NIGHT);
    let yaml = channel_yaml(tmp.path(), &rx, "jour-sms, it-teams", "mail");
    let n = channel_notifier(&yaml, tmp.path(), clock.clone());
    n.handle(down(SINCE)).unwrap();
    n.deliver_due().await;
    let phones = |rx: &Receiver| -> Vec<String> {
        rx.accepted("/sms")
            .iter()
            .map(|g| form_field(&g.body, "to"))
            .collect()
    };
    assert_eq!(phones(&rx), ["+46701111111"]);

    // 14 minutes: nothing happens.
    clock.advance(mins(14));
    assert!(n.tick().unwrap().escalated.is_empty());
    n.deliver_due().await;
    assert_eq!(phones(&rx), ["+46701111111"]);

    // 15 minutes after the page: Bengt gets it, and the team hears who has it.
    clock.advance(mins(1));
    let escalated = n.tick().unwrap().escalated;
    assert_eq!(escalated.len(), 2, "SMS to Bengt, Teams");
    n.deliver_due().await;
    assert_eq!(phones(&rx), ["+46701111111", "+46702222222"]);
    let teams = rx.accepted("/teams");
    assert_eq!(teams.len(), 2);
    let title = teams[1].json()["attachments"][0]["content"]["body"][0]["text"].clone();
    assert!(
        title
            .as_str()
            .unwrap()
            .starts_with("Eskalerat till Bengt Öberg: Larm:"),
        "{title}"
    );

    // Bengt acknowledges with his link.
    let sms = form_field(&rx.accepted("/sms")[1].body, "message");
    let token = sms.rsplit("/ack/").next().unwrap().to_string();
    clock.advance(mins(3));
    let page = n.ack_link(&token).unwrap();
    assert_eq!(page.acknowledged_by.as_deref(), Some("Bengt Öberg"));
    n.deliver_due().await;
    let teams = rx.accepted("/teams");
    let title = teams[2].json()["attachments"][0]["content"]["body"][0]["text"].clone();
    assert!(
        title
            .as_str()
            .unwrap()
            .starts_with("Kvitterat av Bengt Öberg"),
        "{title}"
    );

    // The chain stops: Cecilia never gets it.
    for _ in 0..4 {
        clock.advance(mins(15));
        assert!(n.tick().unwrap().escalated.is_empty());
        n.deliver_due().await;
    }
    assert_eq!(phones(&rx).len(), 2);

    // The on-call case carries the acknowledgement time.
    let cases = n
        .store()
        .oncall_cases(utc("2026-03-10T00:00:00Z"), utc("2026-03-12T00:00:00Z"))
        .unwrap();
    assert_eq!(cases.len(), 1);
    assert_eq!(
        cases[0].acknowledged_at,
        Some(utc("2026-03-10T23:48:00+01:00"))
    );
}

#[tokio::test]
async fn a_recovery_stops_the_chain_and_resolves_every_channel() {
    let tmp = tempfile::tempdir().unwrap();
    let rx = Receiver::start();
    let clock = ManualClock::at(NIGHT);
    let yaml = channel_yaml(tmp.path(), &rx, "jour-sms, hook", "mail");
    let n = channel_notifier(&yaml, tmp.path(), clock.clone());
    n.handle(down(SINCE)).unwrap();
    n.deliver_due().await;
    clock.advance(mins(5));
    n.handle(driftvakt_collector::notify::Event::DeviceAlertCleared {
        device_id: "ap-1".into(),
        kind: driftvakt_collector::notify::AlertKind::Down,
        until: utc("2026-03-10T23:34:00+01:00"),
    })
    .unwrap();
    for _ in 0..4 {
        clock.advance(mins(10));
        assert!(
            n.tick().unwrap().escalated.is_empty(),
            "no escalation after recovery"
        );
        n.deliver_due().await;
    }
    let hooks = rx.accepted("/hook");
    assert_eq!(hooks.len(), 2);
    assert_eq!(hooks[1].json()["event"], "resolved");
    assert_eq!(hooks[1].json()["until"], "2026-03-10T22:34:00Z");
    let sms = rx.accepted("/sms");
    assert_eq!(sms.len(), 2, "alert and recovery to Anna only");
    assert!(form_field(&sms[1].body, "message").starts_with("Larm upphört"));
}

#[tokio::test]
async fn the_ack_link_works_once_and_expires() {
    let tmp = tempfile::tempdir().unwrap();
    let rx = Receiver::start();
    let clock = ManualClock::at(NIGHT);
    let yaml = channel_yaml(tmp.path(), &rx, "hook", "mail");
    let n = channel_notifier(&yaml, tmp.path(), clock.clone());

    // A first alert: its link works once.
    n.handle(down(SINCE)).unwrap();
    n.deliver_due().await;
    let url = rx.accepted("/hook")[0].json()["ack_url"]
        .as_str()
        .unwrap()
        .to_string();
    let token = url.rsplit("/ack/").next().unwrap().to_string();
    assert!(n.link_page(&token).unwrap().acknowledged_at.is_none());
    let view = n.link_view(&token).unwrap();
    assert_eq!(view.contact, "Anna Åström", "whose link it is");
    assert_eq!(view.paged, ["Anna Åström"], "who has been paged so far");
    let page = n.ack_link(&token).unwrap();
    assert_eq!(page.acknowledged_by.as_deref(), Some("Anna Åström"));
    assert!(matches!(
        n.ack_link(&token),
        Err(AckError::AlreadyAcknowledged { .. })
    ));
    assert!(matches!(
        n.ack_operator(page.id, "operatör"),
        Err(AckError::AlreadyAcknowledged { .. })
    ));

    // A tampered link is refused.
    let mut bad = token.clone();
    bad.replace_range(0..1, "9");
    assert!(matches!(n.ack_link(&bad), Err(AckError::BadToken)));

    // A second alert: its link expires after valid_for (2h).
    n.handle(device_alert(
        "ap-2",
        driftvakt_collector::notify::AlertKind::Down,
        SINCE,
    ))
    .unwrap();
    n.deliver_due().await;
    let hooks: Vec<serde_json::Value> = rx.accepted("/hook").iter().map(|g| g.json()).collect();
    let events: Vec<(&str, &str)> = hooks
        .iter()
        .map(|j| {
            (
                j["device_id"].as_str().unwrap(),
                j["event"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        events,
        [
            ("ap-1", "alert"),
            ("ap-1", "acknowledged"),
            ("ap-2", "alert")
        ]
    );
    assert_eq!(
        hooks[1]["contact"], "Anna Åström",
        "the team hears who has it"
    );
    let url = hooks[2]["ack_url"].as_str().unwrap().to_string();
    let token = url.rsplit("/ack/").next().unwrap().to_string();
    clock.advance(chrono::Duration::hours(2));
    assert!(matches!(n.ack_link(&token), Err(AckError::Expired)));
    assert!(matches!(n.link_page(&token), Err(AckError::Expired)));
    // The operator can still acknowledge it through the API's path.
    let pages = n.store().due_pages(utc("2030-01-01T00:00:00Z")).unwrap();
    assert_eq!(pages.len(), 1, "the second alert still waits");
    let acked = n.ack_operator(pages[0].id, "operatör").unwrap();
    assert_eq!(acked.acknowledged_by.as_deref(), Some("operatör"));
}
