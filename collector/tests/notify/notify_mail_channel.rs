//! Mail is one channel like the others: `mail` is among the notifier's channels (audience
//! `Mailbox`, beside the SMS channel's `Phone` and the team channels' `Team`), and a stored
//! notice goes out through the same `Configured::send` as a webhook's, through the injected
//! transport (here SMTP to a real server, aiosmtpd).

use crate::channel_rig::{channel_yaml, Receiver};
use driftvakt_collector::notify::channel::{Audience, Parcel};
use driftvakt_collector::notify::{Channels, MailTransport, NotifyFile, SmtpTransport};
use driftvakt_collector_testkit::notify::config;
use driftvakt_collector_testkit::smtp::SmtpPeer;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

#[tokio::test]
async fn mail_is_a_channel_sent_through_the_injected_transport() {
    let tmp = tempfile::tempdir().unwrap();
    let peer = SmtpPeer::start(&tmp.path().join("mail"));
    let smtp = config(peer.port).smtp.unwrap();
    let transport: Arc<dyn MailTransport> = Arc::new(SmtpTransport::from_config(&smtp).unwrap());
    let rx = Receiver::start();
    let yaml = channel_yaml(tmp.path(), &rx, "jour-sms", "hook");
    let file = NotifyFile::parse(&yaml, Path::new("notify.yaml")).unwrap();
    let channels = Channels::from_config(&file.notify, tmp.path())
        .unwrap()
        .with_mail(transport);
    assert_eq!(channels.audience("mail"), Some(Audience::Mailbox));
    assert_eq!(channels.audience("jour-sms"), Some(Audience::Phone));
    assert_eq!(channels.audience("hook"), Some(Audience::Team));
    assert_eq!(channels.audience("it-teams"), Some(Audience::Team));
    assert_eq!(channels.audience("am"), Some(Audience::Team));
    assert_eq!(channels.audience("teams"), None);

    let raw = b"From: Driftvakt <driftvakt@kommun.example.se>\r\n\
To: servicedesk@kommun.example.se\r\n\
Subject: Prov\r\n\
Message-ID: <prov@driftvakt>\r\n\
\r\n\
Hej\r\n";
    let parcel = Parcel {
        payload: raw,
        key: "prov:servicedesk",
        sender: "Driftvakt <driftvakt@kommun.example.se>",
        recipient: "servicedesk@kommun.example.se",
    };
    let mail = channels.get("mail").expect("the mail channel");
    mail.send(&parcel).await.unwrap();
    for _ in 0..100 {
        if !peer.messages().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let got = peer.messages();
    assert_eq!(got.len(), 1, "the mail did not arrive");
    assert_eq!(got[0].to(), "servicedesk@kommun.example.se");
    assert_eq!(got[0].subject, "Prov");
}
