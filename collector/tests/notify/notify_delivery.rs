//! Delivery against a real SMTP server that is down, then refusing with 451, then up, with a
//! restart in between (the notifier dropped and reopened on the same database): every notice
//! arrives exactly once. A server refusing with 550 makes the notice `failed` after
//! `max_attempts`, kept and listed by `notify outbox --status failed`.

use driftvakt_collector::notify::{OutboxStore, Status};
use driftvakt_collector_testkit::notify::*;
use driftvakt_collector_testkit::ports::free_port;
use driftvakt_collector_testkit::smtp::*;
use std::collections::BTreeSet;
use std::process::Command;

#[tokio::test]
async fn server_down_then_refusing_then_up_delivers_each_notice_once_across_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("c.db");
    let port = free_port();
    let clock = ManualClock::at("2026-03-10T10:00:00+01:00");
    let n = smtp_notifier(config(port), &db, clock.clone());
    for service in ["wifi", "print", "phone"] {
        let ids = n
            .handle(service_down(
                service,
                "stadshuset",
                "2026-03-10T09:40:00+01:00",
            ))
            .unwrap();
        assert_eq!(ids.len(), 1);
    }
    // Nobody listens on the port.
    let round = n.deliver_due().await;
    assert_eq!((round.sent, round.retried), (0, 3));
    assert_eq!(n.stats().unwrap().pending, 3);
    drop(n);

    // Restart: a new notifier on the same file; the server answers 451.
    let peer = SmtpPeer::start_on(&tmp.path().join("mail"), port);
    peer.refuse("451");
    let n = smtp_notifier(config(port), &db, clock.clone());
    clock.advance(mins(2));
    let round = n.deliver_due().await;
    assert_eq!((round.sent, round.retried), (0, 3));
    let pending = n.store().list(Some(Status::Pending)).unwrap();
    assert!(pending.iter().all(|r| r.attempts == 2), "{pending:?}");
    assert!(pending[0].last_error.as_deref().unwrap().contains("451"));
    assert!(peer.messages().is_empty());

    // The server accepts again.
    peer.refuse("");
    clock.advance(mins(2));
    let mails = deliver_until(&n, &peer, 3).await;
    for _ in 0..3 {
        clock.advance(mins(10));
        n.deliver_due().await;
    }
    let mails_after = peer.messages();
    assert_eq!(mails_after.len(), 3, "exactly once");
    let ids: BTreeSet<String> = mails
        .iter()
        .map(|m| m.header("message-id").unwrap())
        .collect();
    assert_eq!(ids.len(), 3);
    let stored: BTreeSet<String> = n
        .store()
        .list(Some(Status::Sent))
        .unwrap()
        .into_iter()
        .map(|r| r.message_id)
        .collect();
    assert_eq!(ids, stored, "Message-IDs come from the outbox");
    let stats = n.stats().unwrap();
    assert_eq!((stats.pending, stats.sent, stats.failed), (0, 3, 0));
}

#[tokio::test]
async fn a_permanent_refusal_fails_after_max_attempts_and_is_listed() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("c.db");
    let peer = SmtpPeer::start(&tmp.path().join("mail"));
    peer.refuse("550");
    let clock = ManualClock::at("2026-03-10T10:00:00+01:00");
    let n = smtp_notifier(config(peer.port), &db, clock.clone());
    n.handle(service_down(
        "wifi",
        "stadshuset",
        "2026-03-10T09:00:00+01:00",
    ))
    .unwrap();
    let mut failed = 0;
    for _ in 0..5 {
        failed += n.deliver_due().await.failed;
        clock.advance(mins(5));
    }
    assert_eq!(failed, 1);
    let rows = n.store().list(Some(Status::Failed)).unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].attempts, 3);
    assert!(rows[0].last_error.as_deref().unwrap().contains("550"));
    assert!(peer.messages().is_empty());
    drop(n);

    let out = Command::new(env!("CARGO_BIN_EXE_driftvakt-collector"))
        .args(["notify", "outbox", "--status", "failed", "--database"])
        .arg(&db)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("failed"), "{text}");
    assert!(text.contains("intranat@tranemo.example.se"), "{text}");
    assert!(text.contains("550"), "{text}");
    assert!(text.contains("misslyckade: 1"), "{text}");

    let out = Command::new(env!("CARGO_BIN_EXE_driftvakt-collector"))
        .args(["notify", "outbox", "--format", "json", "--database"])
        .arg(&db)
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["stats"]["failed"], 1);
    assert_eq!(json["rows"][0]["status"], "failed");
}

#[test]
fn test_mail_goes_through_the_configured_smtp_relay() {
    let tmp = tempfile::tempdir().unwrap();
    let peer = SmtpPeer::start(&tmp.path().join("mail"));
    let cfg = tmp.path().join("notify.yaml");
    std::fs::write(
        &cfg,
        format!(
            "notify:\n  smtp:\n    host: 127.0.0.1\n    port: {}\n    tls: none\n  from:\n    default: \"Driftvakt <dv@kommun.example.se>\"\n",
            peer.port
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_driftvakt-collector"))
        .args(["notify", "--config"])
        .arg(&cfg)
        .args(["test-mail", "--to", "test@kommun.example.se"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mails = peer.messages();
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].subject, "Testmeddelande från Driftvakt");
    assert_eq!(mails[0].to(), "test@kommun.example.se");
}
