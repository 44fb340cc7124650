//! `notify.channels.NAME`: the configuration of the alert channels beside mail, one struct per
//! channel, checked at load (URLs, methods, the SMS body template's syntax, timeouts). What
//! renders and sends is in `notify::channel`, one file per channel beside these structs.

use driftvakt_common::config::{Duration, Validator};
use driftvakt_common::schema::SecretRef;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `notify.channels.NAME`: one key naming the channel's type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ChannelConfig {
    Webhook(WebhookConfig),
    Sms(SmsConfig),
    Teams(TeamsConfig),
    Alertmanager(AlertmanagerConfig),
}

impl ChannelConfig {
    /// The secrets it holds, each with its key under `notify.channels.NAME`
    /// (`webhook.secret`, `sms.bearer_token`, `teams.url`).
    pub fn secrets(&self) -> Vec<(&'static str, &driftvakt_common::schema::SecretRef)> {
        match self {
            ChannelConfig::Webhook(c) => vec![("webhook.secret", &c.secret)],
            ChannelConfig::Sms(c) => [
                ("sms.password", c.password.as_ref()),
                ("sms.bearer_token", c.bearer_token.as_ref()),
            ]
            .into_iter()
            .filter_map(|(k, r)| r.map(|r| (k, r)))
            .collect(),
            ChannelConfig::Teams(c) => vec![("teams.url", &c.url)],
            ChannelConfig::Alertmanager(_) => Vec::new(),
        }
    }

    /// Whether it sends to a person (the on-call contact's phone) rather than to the team.
    pub fn personal(&self) -> bool {
        matches!(self, ChannelConfig::Sms(_))
    }

    pub fn timeout(&self) -> Duration {
        match self {
            ChannelConfig::Webhook(c) => c.timeout,
            ChannelConfig::Sms(c) => c.timeout,
            ChannelConfig::Teams(c) => c.timeout,
            ChannelConfig::Alertmanager(c) => c.timeout,
        }
    }

    /// Checks what serde cannot; errors under `key`.
    pub fn validate(&self, key: &str, v: &mut Validator) {
        match self {
            ChannelConfig::Webhook(c) => check_url(&format!("{key}.webhook.url"), &c.url, v),
            ChannelConfig::Sms(c) => c.validate(&format!("{key}.sms"), v),
            ChannelConfig::Teams(_) => {}
            ChannelConfig::Alertmanager(c) => {
                check_url(&format!("{key}.alertmanager.url"), &c.url, v)
            }
        }
        let t = self.timeout().std().as_secs();
        if !(1..=300).contains(&t) {
            v.error_at_key(key, "timeout must be between 1s and 5m");
        }
    }
}

/// `notify.channels.NAME.webhook`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    pub url: String,
    /// The HMAC key: `{ env: NAME }` or `{ file: PATH }`.
    pub secret: SecretRef,
    /// 1s..5m, default 10s.
    #[serde(default = "default_timeout")]
    pub timeout: Duration,
}

fn default_timeout() -> Duration {
    Duration::from_secs(10)
}

/// `notify.channels.NAME.sms`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmsConfig {
    pub url: String,
    /// `POST` (default) or `PUT`.
    #[serde(default = "default_method")]
    pub method: String,
    /// Default `application/x-www-form-urlencoded`.
    #[serde(default = "default_content_type")]
    pub content_type: String,
    /// The request body, e.g. `from=Driftvakt&to={{ to|urlencode }}&message={{ text|urlencode }}`.
    pub body: String,
    /// Basic authentication: the user name, with `password`.
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<SecretRef>,
    /// `Authorization: Bearer` token.
    #[serde(default)]
    pub bearer_token: Option<SecretRef>,
    /// Extra headers (not secret).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// 1s..5m, default 10s.
    #[serde(default = "default_timeout")]
    pub timeout: Duration,
    /// Longest text, in GSM characters; 40..=160, default 160.
    #[serde(default = "default_max_chars")]
    pub max_chars: usize,
}

fn default_method() -> String {
    "POST".into()
}
fn default_content_type() -> String {
    "application/x-www-form-urlencoded".into()
}
fn default_max_chars() -> usize {
    160
}

impl SmsConfig {
    pub fn validate(&self, key: &str, v: &mut Validator) {
        check_url(&format!("{key}.url"), &self.url, v);
        if !matches!(self.method.as_str(), "POST" | "PUT") {
            v.error_at_key(&format!("{key}.method"), "write POST or PUT");
        }
        // Syntax only: the filters (`urlencode`, `json`) are looked up when the SMS is rendered.
        if let Err(e) = minijinja::Environment::new().template_from_str(&self.body) {
            v.error_at_key(&format!("{key}.body"), format!("template: {e}"));
        }
        if self.password.is_some() != self.username.is_some() {
            v.error_at_key(key, "give username and password together");
        }
        if self.password.is_some() && self.bearer_token.is_some() {
            v.error_at_key(key, "give username/password or bearer_token, not both");
        }
        if !(40..=160).contains(&self.max_chars) {
            v.error_at_key(&format!("{key}.max_chars"), "must be between 40 and 160");
        }
    }
}

/// `notify.channels.NAME.teams`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamsConfig {
    /// The webhook URL: `{ env: NAME }` or `{ file: PATH }`.
    pub url: SecretRef,
    #[serde(default = "default_timeout")]
    pub timeout: Duration,
}

/// `notify.channels.NAME.alertmanager`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertmanagerConfig {
    /// Alertmanager's base URL, e.g. `http://127.0.0.1:9093`.
    pub url: String,
    #[serde(default = "default_timeout")]
    pub timeout: Duration,
    /// How far ahead `endsAt` of a firing alert is. Default 7d.
    #[serde(default = "default_firing_for")]
    pub firing_for: Duration,
}

fn default_firing_for() -> Duration {
    Duration::from_secs(7 * 86_400)
}

/// An `http://` or `https://` URL, else an error at `key`.
pub fn check_url(key: &str, url: &str, v: &mut Validator) {
    if reqwest::Url::parse(url)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .is_none()
    {
        v.error_at_key(
            key,
            format!("invalid URL {url:?}: write http://… or https://…"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(c: &ChannelConfig) -> String {
        let mut v = Validator::new(std::path::Path::new("t.yaml"), "notify:\n");
        c.validate("notify.channels.x", &mut v);
        v.finish().err().map(|e| e.to_string()).unwrap_or_default()
    }

    fn parse(yaml: &str) -> ChannelConfig {
        driftvakt_common::config::parse_yaml(yaml, std::path::Path::new("t.yaml")).unwrap()
    }

    #[test]
    fn sms_settings_are_checked() {
        let c = parse(
            "sms: { url: 'ftp://gw', method: GET, body: '{{ to', username: u, max_chars: 10 }",
        );
        let text = errors(&c);
        for want in [
            "invalid URL \"ftp://gw\"",
            "write POST or PUT",
            "template:",
            "give username and password together",
            "must be between 40 and 160",
        ] {
            assert!(text.contains(want), "{want}: {text}");
        }
        let ok = parse(
            "sms: { url: 'https://gw', body: 'to={{ to|urlencode }}&m={{ text|urlencode }}' }",
        );
        assert_eq!(errors(&ok), "");
        assert!(ok.personal() && ok.secrets().is_empty());
        assert_eq!(ok.timeout(), Duration::from_secs(10));
    }

    #[test]
    fn secrets_and_timeouts() {
        let c = parse("webhook: { url: 'http://127.0.0.1:1/x', secret: { env: S }, timeout: 10m }");
        assert_eq!(c.secrets().len(), 1);
        assert_eq!(c.secrets()[0].0, "webhook.secret");
        assert!(errors(&c).contains("timeout must be between 1s and 5m"));
        let c = parse("alertmanager: { url: 'http://127.0.0.1:9093' }");
        assert_eq!(errors(&c), "");
        assert!(!c.personal());
    }
}
