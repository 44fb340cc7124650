//! SMS through an HTTP gateway: the request is a template, so any Swedish provider's API fits
//! (form or JSON body, basic auth or a bearer token, extra headers). The body template
//! (minijinja) gets `to` (E.164), `text`, and the filters `urlencode` (form encoding) and `json`
//! (a JSON string with quotes).
//!
//! The text is the time of the fault and the alert's Swedish line, then the acknowledgement link, at most `max_chars`
//! (default 160) characters of the GSM 03.38 alphabet, so one SMS carries it and å, ä, ö, é and
//! ü arrive as written: characters outside the alphabet are replaced (– with -, other letters
//! with their base letter or `?`), the line is shortened with `…`-free `..` when too long, and
//! the link is never cut.

use super::{http, AlertMessage, Audience, Channel, MessageEvent, Parcel};
use crate::calendar::swedish::short_date_time_sv;
pub use crate::inventory::channels::SmsConfig;
use crate::notify::transport::SendError;
use driftvakt_common::schema::Secret;
use minijinja::Environment;
use std::collections::BTreeMap;
use std::path::Path;

fn env() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env.add_filter("urlencode", |s: String| form_encode(&s));
    env.add_filter("json", |s: String| {
        serde_json::to_string(&s).unwrap_or_default()
    });
    env
}

/// `application/x-www-form-urlencoded` encoding of one value (UTF-8).
pub fn form_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// GSM 03.38 basic characters (one unit each); `^{}\[~]|€` take two (escape).
const GSM_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
const GSM_EXTENDED: &str = "^{}\\[~]|€";

/// `c` in the GSM alphabet, or the nearest character that is.
fn gsm_char(c: char) -> char {
    if GSM_BASIC.contains(c) || GSM_EXTENDED.contains(c) {
        return c;
    }
    match c {
        '–' | '—' | '‐' => '-',
        '’' | '‘' | '´' => '\'',
        '”' | '“' => '"',
        'á' | 'â' | 'ã' => 'a',
        'Á' | 'À' | 'Â' => 'A',
        'ê' | 'ë' => 'e',
        'È' | 'Ê' | 'Ë' => 'E',
        'í' | 'î' | 'ï' => 'i',
        'ó' | 'ô' | 'õ' => 'o',
        'ú' | 'û' => 'u',
        'ç' => 'c',
        '\t' => ' ',
        _ => '?',
    }
}

/// GSM units of `s` (extended characters count two).
pub fn gsm_len(s: &str) -> usize {
    s.chars()
        .map(|c| if GSM_EXTENDED.contains(c) { 2 } else { 1 })
        .sum()
}

/// The SMS text: `line` in the GSM alphabet, shortened so that with ` link` it fits `max`.
pub fn sms_text(line: &str, link: Option<&str>, max: usize) -> String {
    let line: String = line.chars().map(gsm_char).collect();
    let tail = link.map(|l| format!(" {l}")).unwrap_or_default();
    let room = max.saturating_sub(gsm_len(&tail));
    let mut text = String::new();
    if gsm_len(&line) <= room {
        text = line;
    } else {
        for c in line.chars() {
            if gsm_len(&text) + gsm_len(&c.to_string()) + 2 > room {
                break;
            }
            text.push(c);
        }
        text = format!("{}..", text.trim_end());
    }
    text + &tail
}

pub struct Sms {
    config: SmsConfig,
    password: Option<Secret>,
    token: Option<Secret>,
    client: http::Client,
}

impl Sms {
    pub fn new(c: &SmsConfig, base: &Path) -> Result<Self, String> {
        Ok(Sms {
            password: c.password.as_ref().map(|p| p.resolve(base)).transpose()?,
            token: c
                .bearer_token
                .as_ref()
                .map(|p| p.resolve(base))
                .transpose()?,
            client: http::client(c.timeout.std())?,
            config: c.clone(),
        })
    }
}

/// The Swedish line of an SMS for `msg`; an alert starts with the time of the fault
/// ("7/12 kl. 03.12 Larm: …"), where shortening never reaches it.
fn line(msg: &AlertMessage) -> String {
    match msg.event {
        MessageEvent::Alert | MessageEvent::Escalated => format!(
            "{} {}",
            short_date_time_sv(msg.since, chrono_tz::Europe::Stockholm),
            msg.text
        ),
        MessageEvent::Acknowledged => format!(
            "Kvitterat av {}: {}",
            msg.contact.as_deref().unwrap_or("?"),
            msg.text
        ),
        MessageEvent::Resolved => msg.text.clone(),
    }
}

impl Channel for Sms {
    fn audience(&self) -> Audience {
        Audience::Phone
    }

    fn render(&self, msg: &AlertMessage, to: Option<&str>) -> Result<Vec<u8>, String> {
        let to = to.ok_or("an SMS needs a phone number")?;
        let link = match msg.event {
            MessageEvent::Alert | MessageEvent::Escalated => msg.ack_url.as_deref(),
            _ => None,
        };
        let text = sms_text(&line(msg), link, self.config.max_chars);
        let env = env();
        let body = env
            .render_str(
                &self.config.body,
                BTreeMap::from([("to", to.to_string()), ("text", text)]),
            )
            .map_err(|e| format!("sms body template: {e}"))?;
        Ok(body.into_bytes())
    }

    async fn send(&self, parcel: &Parcel<'_>) -> Result<(), SendError> {
        let payload = parcel.payload;
        let key = parcel.key;
        let method = if self.config.method == "PUT" {
            reqwest::Method::PUT
        } else {
            reqwest::Method::POST
        };
        let mut req = self
            .client
            .request(method, &self.config.url)
            .header("content-type", &self.config.content_type)
            .header("idempotency-key", key)
            .body(payload.to_vec());
        for (k, v) in &self.config.headers {
            req = req.header(k, v);
        }
        if let (Some(user), Some(pw)) = (&self.config.username, &self.password) {
            req = req.basic_auth(user, Some(pw.expose()));
        }
        if let Some(t) = &self.token {
            req = req.bearer_auth(t.expose());
        }
        self.client.send(req, "sms").await
    }
}
