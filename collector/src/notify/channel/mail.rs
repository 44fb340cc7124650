//! The built-in `mail` channel: notices rendered from the templates ([`crate::notify::render`],
//! chosen by the policy per recipient: the municipality's editors, the service desk, on-call's
//! addresses, the on-call contact's own) into RFC 5322 messages, sent to the outbox row's
//! recipient from its sender through the injected [`MailTransport`] (SMTP or the `.eml` folder,
//! [`crate::notify::transport`]; tests inject their own). Its audience is [`Audience::Mailbox`].

use super::{AlertMessage, Audience, Channel, Parcel};
use crate::notify::transport::{envelope, MailTransport, SendError};
use std::sync::Arc;

/// The channel's name in `notify.routes` and in outbox rows.
pub const NAME: &str = crate::inventory::notify::MAIL;

/// Mail through a transport.
#[derive(Clone)]
pub struct Mail {
    transport: Arc<dyn MailTransport>,
}

impl Mail {
    pub fn new(transport: Arc<dyn MailTransport>) -> Self {
        Mail { transport }
    }
}

impl Channel for Mail {
    fn audience(&self) -> Audience {
        Audience::Mailbox
    }

    /// Mail is rendered from the notice templates with the recipient's own wording, never from
    /// the channel-neutral message.
    fn render(&self, _msg: &AlertMessage, _to: Option<&str>) -> Result<Vec<u8>, String> {
        Err("mail notices are rendered from the templates".into())
    }

    async fn send(&self, parcel: &Parcel<'_>) -> Result<(), SendError> {
        let env = envelope(parcel.sender, parcel.recipient)?;
        self.transport.send(&env, parcel.payload).await
    }
}
