//! Notification configuration (`notify:` in the collector's config, re-exported as
//! `notify::config`): recipients per
//! municipality and role, the SMTP relay or the demo outbox folder, hold-down, rate limit,
//! retry, which alert kinds page the on-call person, and cron-scheduled reports. Parsing is
//! strict (unknown keys are errors) with the shared YAML loader; [`NotifyConfig::validate`]
//! checks what serde cannot (addresses, cron expressions).

use crate::events::AlertKind;
use chrono::{DateTime, TimeZone, Utc};
use driftvakt_common::config::{load_yaml, parse_yaml, ConfigErrors, Duration, Validator};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// The `notify:` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotifyConfig {
    /// Folder with template overrides (`KIND/subject.txt`, `body.txt`, `body.html`).
    pub templates_dir: Option<PathBuf>,
    /// The SMTP relay; without it mails are written as `.eml` files to `outbox_dir`.
    pub smtp: Option<SmtpConfig>,
    /// Where the file transport writes `.eml` files when no SMTP relay is configured.
    pub outbox_dir: PathBuf,
    pub from: FromConfig,
    /// Recipients per municipality and role.
    pub municipalities: BTreeMap<String, Recipients>,
    /// A transition must last this long before it is announced; flaps within it give one mail.
    /// 0s..1d.
    #[serde(deserialize_with = "driftvakt_common::config::bounded::hold_down")]
    pub hold_down: Duration,
    /// Mails per recipient per hour before the rest goes into one digest.
    pub rate_limit_per_hour: u32,
    /// How long overflowing alerts are collected before the digest is sent. 0s..1d.
    #[serde(deserialize_with = "driftvakt_common::config::bounded::digest_delay")]
    pub digest_delay: Duration,
    /// Days before an active window that its announcement is sent.
    pub announce_days_before: u32,
    pub retry: RetryConfig,
    /// Per alert kind: whether it pages the on-call person outside office hours.
    pub alerts: AlertRouting,
    pub reports: Vec<ReportSchedule>,
    /// Allow `smtp.tls: none` together with `smtp.username` (the password then crosses the
    /// network in clear text; a warning is logged at start and by `check-config`). Default false:
    /// such a configuration is an error.
    pub allow_plaintext_auth: bool,
    /// Alert channels beside mail, by name (`webhook`, `sms`, `teams`, `alertmanager`; see
    /// `notify::channel`). Secrets in them come from `{ env: }` or `{ file: }` only.
    pub channels: BTreeMap<String, super::channels::ChannelConfig>,
    /// Which channels the service desk and on-call get, per municipality and alert kind; the
    /// first matching route wins, and without one both get mail.
    pub routes: Vec<ChannelRoute>,
    /// An on-call page not acknowledged after this long goes to the next contact in the
    /// municipality's on-call list. 1m..1d, default 15m.
    #[serde(deserialize_with = "deserialize_escalate_after")]
    pub escalate_after: Duration,
    /// Acknowledgement links in on-call alerts (signed, single-purpose, expiring).
    pub ack: Option<AckConfig>,
}

fn deserialize_escalate_after<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Duration, D::Error> {
    let v = Duration::deserialize(d)?;
    if v.std() < std::time::Duration::from_secs(60)
        || v.std() > std::time::Duration::from_secs(86_400)
    {
        return Err(serde::de::Error::custom(format!(
            "escalate_after must be between 1m and 1d, not {}",
            v.humane()
        )));
    }
    Ok(v)
}

/// Which channels the roles get for the alerts a route matches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelRoute {
    /// Municipalities the route applies to; empty or absent: all.
    #[serde(default)]
    pub municipalities: Vec<String>,
    /// Alert kinds (see [`KIND_TAGS`]); empty or absent: all.
    #[serde(default)]
    pub kinds: Vec<String>,
    /// Channels for the service desk (office hours): `mail` and team channels.
    #[serde(default = "mail_only")]
    pub service_desk: Vec<String>,
    /// Channels for on-call: `mail`, `sms` channels (to the contact's phone) and team channels.
    #[serde(default = "mail_only")]
    pub on_call: Vec<String>,
}

fn mail_only() -> Vec<String> {
    vec![MAIL.to_string()]
}

/// The built-in channel's name.
pub const MAIL: &str = "mail";

/// The alert kinds a route may name.
pub const KIND_TAGS: &[&str] = &[
    "down",
    "on_battery",
    "runtime_below_minimum",
    "supply_low",
    "cert_expiring",
    "battery_replace",
    "self_test_failed",
    "agent_fault",
];

/// Acknowledgement links: `{public_url}/ack/{token}`, the token signed with `key`
/// (HMAC-SHA256), valid for `valid_for`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AckConfig {
    /// The collector's address as the technician's phone reaches it.
    pub public_url: String,
    /// The signing key: `{ env: NAME }` or `{ file: PATH }` (at least 16 bytes).
    pub key: driftvakt_common::schema::SecretRef,
    /// How long a link works. 1m..7d, default 12h.
    #[serde(default = "default_ack_valid")]
    pub valid_for: Duration,
}

fn default_ack_valid() -> Duration {
    Duration::from_secs(12 * 3600)
}

impl Default for NotifyConfig {
    fn default() -> Self {
        NotifyConfig {
            templates_dir: None,
            smtp: None,
            outbox_dir: PathBuf::from("outbox"),
            from: FromConfig::default(),
            municipalities: BTreeMap::new(),
            hold_down: Duration::from_secs(600),
            rate_limit_per_hour: 20,
            digest_delay: Duration::from_secs(900),
            announce_days_before: 3,
            retry: RetryConfig::default(),
            alerts: AlertRouting::default(),
            reports: Vec::new(),
            allow_plaintext_auth: false,
            channels: BTreeMap::new(),
            routes: Vec::new(),
            escalate_after: Duration::from_secs(900),
            ack: None,
        }
    }
}

/// The SMTP relay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    #[serde(default)]
    pub tls: TlsMode,
    /// User name for authentication; the password comes from `password_env` or `password_file`.
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password_env: Option<String>,
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// 1s..5m.
    #[serde(
        default = "default_smtp_timeout",
        deserialize_with = "driftvakt_common::config::bounded::smtp_timeout"
    )]
    pub timeout: Duration,
}

fn check_addr(key: String, addr: &str, v: &mut Validator) {
    if lettre::message::Mailbox::from_str(addr).is_err() {
        v.error_at_key(&key, format!("invalid mail address {addr:?}"));
    }
}

fn default_smtp_timeout() -> Duration {
    Duration::from_secs(30)
}

/// How the SMTP connection is encrypted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// Plain text (a relay on localhost or a test server).
    None,
    /// STARTTLS, required.
    #[default]
    Starttls,
    /// TLS from the first byte (port 465).
    Implicit,
}

/// Sender addresses: one per municipality, with a default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FromConfig {
    pub default: String,
    pub municipalities: BTreeMap<String, String>,
}

impl Default for FromConfig {
    fn default() -> Self {
        FromConfig {
            default: "Driftvakt <driftvakt@localhost>".to_string(),
            municipalities: BTreeMap::new(),
        }
    }
}

impl FromConfig {
    pub fn for_municipality(&self, municipality: Option<&str>) -> &str {
        municipality
            .and_then(|m| self.municipalities.get(m))
            .unwrap_or(&self.default)
    }
}

/// Who gets what in one municipality.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Recipients {
    /// Intranet editors: driftmeddelanden and planned maintenance.
    pub editors: Vec<String>,
    /// The service desk: device alerts during office hours.
    pub service_desk: Vec<String>,
    /// On-call ("it-beredskap"): alerts outside office hours that page, in escalation order.
    /// Each is a mail address or `{ name, mail, phone }`.
    pub on_call: Vec<Contact>,
}

/// An on-call contact: a mail address, or a person with a name, mail and phone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Contact {
    Mail(String),
    Person(Person),
}

/// A person on the on-call list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Person {
    pub name: String,
    #[serde(default)]
    pub mail: Option<String>,
    /// E.164, e.g. `+46701234567`.
    #[serde(default)]
    pub phone: Option<String>,
}

impl Contact {
    pub fn mail(&self) -> Option<&str> {
        match self {
            Contact::Mail(m) => Some(m),
            Contact::Person(p) => p.mail.as_deref(),
        }
    }
    pub fn phone(&self) -> Option<&str> {
        match self {
            Contact::Mail(_) => None,
            Contact::Person(p) => p.phone.as_deref(),
        }
    }
    /// The name, or the mail address.
    pub fn name(&self) -> &str {
        match self {
            Contact::Mail(m) => m,
            Contact::Person(p) => &p.name,
        }
    }
}

impl From<&str> for Contact {
    fn from(s: &str) -> Self {
        Contact::Mail(s.to_string())
    }
}

impl From<String> for Contact {
    fn from(s: String) -> Self {
        Contact::Mail(s)
    }
}

/// A recipient role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Editors,
    ServiceDesk,
    OnCall,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Editors => "editors",
            Role::ServiceDesk => "service_desk",
            Role::OnCall => "on_call",
        }
    }
}

impl Recipients {
    /// The mail addresses of `role`.
    pub fn role(&self, role: Role) -> Vec<String> {
        match role {
            Role::Editors => self.editors.clone(),
            Role::ServiceDesk => self.service_desk.clone(),
            Role::OnCall => self
                .on_call
                .iter()
                .filter_map(|c| c.mail().map(str::to_string))
                .collect(),
        }
    }
}

/// Retry with exponential backoff and jitter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryConfig {
    /// 1s..1h.
    #[serde(deserialize_with = "driftvakt_common::config::bounded::initial_backoff")]
    pub initial_backoff: Duration,
    /// 1s..1d, and at least `initial_backoff`.
    #[serde(deserialize_with = "driftvakt_common::config::bounded::max_backoff")]
    pub max_backoff: Duration,
    /// Attempts after which a permanent refusal (5xx) marks the mail `failed`. Temporary
    /// failures (4xx, server unreachable) are retried without limit.
    pub max_attempts: u32,
    /// How long a mail being sent is reserved for this sender (crash recovery). 10s..1h, and
    /// longer than `smtp.timeout`.
    #[serde(deserialize_with = "driftvakt_common::config::bounded::lease")]
    pub lease: Duration,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            initial_backoff: Duration::from_secs(30),
            max_backoff: Duration::from_secs(3600),
            max_attempts: 3,
            lease: Duration::from_secs(300),
        }
    }
}

/// Per alert kind: whether it pages on-call outside office hours (otherwise it waits for the
/// next office-hours start and goes to the service desk).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertRouting {
    pub down: KindRouting,
    pub on_battery: KindRouting,
    pub runtime_below_minimum: KindRouting,
    pub supply_low: KindRouting,
    pub cert_expiring: KindRouting,
    /// A UPS battery to replace, a failed UPS self-test: the desk orders a battery in office
    /// hours.
    pub battery_replace: KindRouting,
    pub self_test_failed: KindRouting,
    /// The agent cannot probe (its own fault): the IT team fixes it in office hours.
    pub agent_fault: KindRouting,
}

impl Default for AlertRouting {
    fn default() -> Self {
        let page = |p| KindRouting {
            page_on_call: p,
            page_in_breaks: false,
        };
        AlertRouting {
            down: page(true),
            on_battery: page(true),
            runtime_below_minimum: page(true),
            supply_low: page(false),
            cert_expiring: page(false),
            battery_replace: page(false),
            self_test_failed: page(false),
            agent_fault: page(false),
        }
    }
}

impl AlertRouting {
    pub fn for_kind(&self, kind: &AlertKind) -> &KindRouting {
        match kind {
            AlertKind::Down => &self.down,
            AlertKind::OnBattery => &self.on_battery,
            AlertKind::RuntimeBelowMinimum { .. } => &self.runtime_below_minimum,
            AlertKind::SupplyLow { .. } => &self.supply_low,
            AlertKind::CertExpiring { .. } => &self.cert_expiring,
            AlertKind::BatteryReplace => &self.battery_replace,
            AlertKind::SelfTestFailed => &self.self_test_failed,
            AlertKind::AgentFault { .. } => &self.agent_fault,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KindRouting {
    pub page_on_call: bool,
    /// Page on-call in a break inside a working day (lunch) too; by default such an alert
    /// waits for the service desk to come back.
    #[serde(default)]
    pub page_in_breaks: bool,
}

/// A cron-scheduled report mail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportSchedule {
    /// A short name, part of the idempotency key.
    pub name: String,
    /// `sec min hour day-of-month month day-of-week [year]`, in Europe/Stockholm wall time.
    pub cron: String,
    pub period: ReportPeriod,
    /// Skip firings on weekends, holidays and closed days (with a day-of-month range this
    /// gives "the first working day").
    #[serde(default)]
    pub working_days_only: bool,
    /// Explicit addresses.
    #[serde(default)]
    pub to: Vec<String>,
}

/// Which period a report covers, relative to when it is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportPeriod {
    PreviousTertial,
    PreviousMonth,
}

/// How far ahead a schedule must fire at least once.
const FIRE_HORIZON_YEARS: i32 = 5;

/// `Err("never fires ...")` when `schedule` has no firing in the five years after `now` (or, when
/// `now` is not given, none at all after 1970).
fn check_fires(schedule: &cron::Schedule, now: Option<DateTime<Utc>>) -> Result<(), String> {
    let tz = chrono_tz::Europe::Stockholm;
    match now {
        Some(now) => {
            let horizon = now
                .with_timezone(&tz)
                .checked_add_months(chrono::Months::new(12 * FIRE_HORIZON_YEARS as u32))
                .map(|t| t.with_timezone(&Utc))
                .unwrap_or(now);
            match schedule.after(&now.with_timezone(&tz)).next() {
                Some(t) if t.with_timezone(&Utc) <= horizon => Ok(()),
                _ => Err(format!(
                    "never fires in the next {FIRE_HORIZON_YEARS} years (check day of month, \
                     month and year)"
                )),
            }
        }
        None => {
            let epoch = tz
                .timestamp_opt(0, 0)
                .single()
                .expect("1970 is a valid time");
            match schedule.after(&epoch).next() {
                Some(_) => Ok(()),
                None => Err("never fires (check day of month, month and year)".to_string()),
            }
        }
    }
}

/// A configuration file holding just `notify:` and `database:` (what the CLI reads until the
/// collector's full configuration embeds [`NotifyConfig`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotifyFile {
    pub notify: NotifyConfig,
    pub database: Option<PathBuf>,
    /// The calendar section, when the same file carries it.
    pub calendar: Option<crate::calendar::CalendarConfig>,
}

impl NotifyFile {
    /// Reads, parses and validates `path`.
    pub fn load(path: &Path) -> Result<Self, ConfigErrors> {
        let (file, source): (NotifyFile, String) = load_yaml(path)?;
        let mut v = Validator::new(path, &source);
        file.notify.validate(&mut v, None);
        v.finish()?;
        Ok(file)
    }

    /// Parses and validates YAML text; `path` only names the source in errors.
    pub fn parse(source: &str, path: &Path) -> Result<Self, ConfigErrors> {
        let file: NotifyFile = parse_yaml(source, path)?;
        let mut v = Validator::new(path, source);
        file.notify.validate(&mut v, None);
        v.finish()?;
        Ok(file)
    }
}

impl NotifyConfig {
    /// Checks addresses, cron expressions, SMTP settings and durations that depend on each
    /// other; every error is recorded on `v` with its line, column and key (`notify.…`).
    ///
    /// Every cron schedule must fire: with `now`, at least once in the five years after it;
    /// without, at least once at all (so `0 0 7 31 2 *`, 31 February, is an error either way).
    pub fn validate(&self, v: &mut Validator, now: Option<DateTime<Utc>>) {
        check_addr("notify.from.default".into(), &self.from.default, v);
        for (m, a) in &self.from.municipalities {
            check_addr(format!("notify.from.municipalities.{m}"), a, v);
        }
        for (m, r) in &self.municipalities {
            for role in [Role::Editors, Role::ServiceDesk] {
                for (i, a) in r.role(role).iter().enumerate() {
                    let key = format!("notify.municipalities.{m}.{}[{i}]", role.as_str());
                    check_addr(key, a, v);
                }
            }
            for (i, c) in r.on_call.iter().enumerate() {
                match c {
                    Contact::Mail(a) => {
                        check_addr(format!("notify.municipalities.{m}.on_call[{i}]"), a, v)
                    }
                    Contact::Person(p) => {
                        if let Some(a) = &p.mail {
                            check_addr(format!("notify.municipalities.{m}.on_call[{i}].mail"), a, v)
                        }
                    }
                }
            }
        }
        for (i, r) in self.reports.iter().enumerate() {
            let key = format!("notify.reports[{i}].cron");
            match cron::Schedule::from_str(&r.cron) {
                Err(e) => v.error_at_key(
                    &key,
                    format!(
                        "invalid cron expression {:?}: {e}; write sec min hour day month weekday",
                        r.cron
                    ),
                ),
                Ok(schedule) => {
                    if let Err(msg) = check_fires(&schedule, now) {
                        v.error_at_key(&key, format!("cron expression {:?} {msg}", r.cron));
                    }
                }
            }
            for (j, a) in r.to.iter().enumerate() {
                check_addr(format!("notify.reports[{i}].to[{j}]"), a, v);
            }
        }
        if let Some(smtp) = &self.smtp {
            if smtp.password_env.is_some() && smtp.password_file.is_some() {
                v.error_at_key(
                    "notify.smtp",
                    "give password_env or password_file, not both",
                );
            }
            if smtp.tls == TlsMode::None && smtp.username.is_some() && !self.allow_plaintext_auth {
                v.error_at_key(
                    "notify.smtp.tls",
                    "`tls: none` with `username:` sends the SMTP password in clear text; use \
                     starttls or implicit, or set `notify.allow_plaintext_auth: true` if the \
                     relay is on this host",
                );
            }
            if self.retry.lease <= smtp.timeout {
                v.error_at_key(
                    "notify.retry.lease",
                    format!(
                        "must be longer than notify.smtp.timeout ({}): a mail still being sent \
                         would be sent twice",
                        smtp.timeout.humane()
                    ),
                );
            }
        }
        if self.retry.max_backoff < self.retry.initial_backoff {
            v.error_at_key(
                "notify.retry.max_backoff",
                format!(
                    "must be at least initial_backoff ({})",
                    self.retry.initial_backoff.humane()
                ),
            );
        }
        self.validate_channels(v);
        if self.rate_limit_per_hour < 2 {
            v.error_at_key(
                "notify.rate_limit_per_hour",
                "must be at least 2 (one slot is kept for the digest)",
            );
        }
    }

    fn validate_channels(&self, v: &mut Validator) {
        for (name, c) in &self.channels {
            if name == MAIL {
                v.error_at_key("notify.channels", "`mail` is the built-in channel's name");
            }
            c.validate(&format!("notify.channels.{name}"), v);
            if self.retry.lease <= c.timeout() {
                v.error_at_key(
                    "notify.retry.lease",
                    format!("must be longer than notify.channels.{name}.timeout"),
                );
            }
        }
        for (i, r) in self.routes.iter().enumerate() {
            for (j, k) in r.kinds.iter().enumerate() {
                if !KIND_TAGS.contains(&k.as_str()) {
                    v.error_at_key(
                        &format!("notify.routes[{i}].kinds[{j}]"),
                        format!(
                            "unknown alert kind {k:?}: write one of {}",
                            KIND_TAGS.join(", ")
                        ),
                    );
                }
            }
            for (j, m) in r.municipalities.iter().enumerate() {
                if !self.municipalities.contains_key(m) {
                    v.error_at_key(
                        &format!("notify.routes[{i}].municipalities[{j}]"),
                        format!("municipality {m:?} has no recipients under notify.municipalities"),
                    );
                }
            }
            for (role, list) in [("service_desk", &r.service_desk), ("on_call", &r.on_call)] {
                for (j, c) in list.iter().enumerate() {
                    let key = format!("notify.routes[{i}].{role}[{j}]");
                    match self.channels.get(c) {
                        None if c != MAIL => v.error_at_key(
                            &key,
                            format!(
                                "unknown channel {c:?}: write mail or a name under notify.channels"
                            ),
                        ),
                        Some(ch) if ch.personal() && role == "service_desk" => v.error_at_key(
                            &key,
                            format!(
                                "channel {c:?} sends to a person's phone: only on_call has phones"
                            ),
                        ),
                        _ => {}
                    }
                }
            }
        }
        for (m, r) in &self.municipalities {
            for (i, c) in r.on_call.iter().enumerate() {
                if let Contact::Person(p) = c {
                    if p.mail.is_none() && p.phone.is_none() {
                        v.error_at_key(
                            &format!("notify.municipalities.{m}.on_call[{i}]"),
                            "give mail, phone or both",
                        );
                    }
                    if let Some(phone) = &p.phone {
                        let digits = phone.strip_prefix('+').unwrap_or("");
                        if digits.len() < 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
                            v.error_at_key(
                                &format!("notify.municipalities.{m}.on_call[{i}].phone"),
                                format!("invalid phone number {phone:?}: write +46701234567"),
                            );
                        }
                    }
                }
            }
        }
        if let Some(ack) = &self.ack {
            if !(ack.public_url.starts_with("http://") || ack.public_url.starts_with("https://")) {
                v.error_at_key(
                    "notify.ack.public_url",
                    "must start with http:// or https://",
                );
            }
            let d = ack.valid_for.std().as_secs();
            if !(60..=7 * 86_400).contains(&d) {
                v.error_at_key("notify.ack.valid_for", "must be between 1m and 7d");
            }
        }
    }

    /// What is allowed but unwise: `tls: none` with credentials under `allow_plaintext_auth`.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(smtp) = &self.smtp {
            if smtp.tls == TlsMode::None && smtp.username.is_some() && self.allow_plaintext_auth {
                out.push(format!(
                    "notify.smtp: the SMTP password for {} goes to {}:{} in clear text \
                     (tls: none, allow_plaintext_auth: true)",
                    smtp.username.as_deref().unwrap_or_default(),
                    smtp.host,
                    smtp.port
                ));
            }
        }
        out
    }

    /// The recipients of `role` in `municipality` (none when it is not configured).
    pub fn recipients(&self, municipality: &str, role: Role) -> Vec<String> {
        self.municipalities
            .get(municipality)
            .map(|r| r.role(role))
            .unwrap_or_default()
    }

    /// The on-call list of `municipality`, in escalation order.
    pub fn contacts(&self, municipality: &str) -> &[Contact] {
        self.municipalities
            .get(municipality)
            .map(|r| r.on_call.as_slice())
            .unwrap_or_default()
    }

    /// The channels `role` gets for an alert of `kind` in `municipality`.
    pub fn channels_for(&self, municipality: &str, kind: &str, role: Role) -> Vec<String> {
        let route = self.routes.iter().find(|r| {
            (r.municipalities.is_empty() || r.municipalities.iter().any(|m| m == municipality))
                && (r.kinds.is_empty() || r.kinds.iter().any(|k| k == kind))
        });
        match (route, role) {
            (Some(r), Role::OnCall) => r.on_call.clone(),
            (Some(r), Role::ServiceDesk) => r.service_desk.clone(),
            _ => mail_only(),
        }
    }
}
