//! Turning a notice into a mail: the template files (one folder per message kind with
//! `subject.txt`, `body.txt` and `body.html`; compiled in, overridable from `templates_dir`
//! without rebuilding), a tiny `{{name}}` substitution engine that HTML-escapes values in HTML
//! templates, Swedish dates and durations, and the MIME message itself (multipart/alternative,
//! a CSV attachment for reports, a `Message-ID` derived from the idempotency key).

use chrono::{DateTime, Datelike, Timelike, Utc, Weekday};
use chrono_tz::Tz;
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart};
use lettre::Message;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// The message kinds, each a folder of templates.
pub const KINDS: &[&str] = &[
    "service_down",
    "service_up",
    "site_dark",
    "site_back",
    "alert",
    "alert_cleared",
    "window",
    "digest",
    "report",
    "test_mail",
];

macro_rules! builtin {
    ($kind:literal) => {
        (
            $kind,
            [
                include_str!(concat!("../../templates/", $kind, "/subject.txt")),
                include_str!(concat!("../../templates/", $kind, "/body.txt")),
                include_str!(concat!("../../templates/", $kind, "/body.html")),
            ],
        )
    };
}

const BUILTIN: &[(&str, [&str; 3])] = &[
    builtin!("service_down"),
    builtin!("service_up"),
    builtin!("site_dark"),
    builtin!("site_back"),
    builtin!("alert"),
    builtin!("alert_cleared"),
    builtin!("window"),
    builtin!("digest"),
    builtin!("report"),
    builtin!("test_mail"),
];

const FILES: [&str; 3] = ["subject.txt", "body.txt", "body.html"];

/// Why rendering or building a mail failed.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("unknown message kind {0:?}")]
    UnknownKind(String),
    #[error("cannot read template {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid mail address {0:?}")]
    Address(String),
    #[error("cannot build the mail: {0}")]
    Build(String),
}

/// A rendered notice: subject, plain text and HTML.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// The templates: built-in ones, overridden file by file from a folder.
#[derive(Debug, Clone, Default)]
pub struct Templates {
    dir: Option<PathBuf>,
}

impl Templates {
    pub fn new(dir: Option<PathBuf>) -> Self {
        Templates { dir }
    }

    /// Renders `kind` with `vars`; values are HTML-escaped in `body.html`.
    pub fn render(&self, kind: &str, vars: &[(&str, String)]) -> Result<Rendered, RenderError> {
        let [subject, text, html] = self.sources(kind)?;
        let subject = substitute(&subject, vars, false);
        let subject = subject.split_whitespace().collect::<Vec<_>>().join(" ");
        let mut vars = vars.to_vec();
        vars.push(("subject", subject.clone()));
        Ok(Rendered {
            text: substitute(&text, &vars, false),
            html: substitute(&html, &vars, true),
            subject,
        })
    }

    fn sources(&self, kind: &str) -> Result<[String; 3], RenderError> {
        let builtin = BUILTIN
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, t)| t)
            .ok_or_else(|| RenderError::UnknownKind(kind.to_string()))?;
        let mut out: [String; 3] = Default::default();
        for (i, file) in FILES.iter().enumerate() {
            out[i] = match self.override_path(kind, file) {
                Some(path) => std::fs::read_to_string(&path)
                    .map_err(|source| RenderError::Read { path, source })?,
                None => builtin[i].to_string(),
            };
        }
        Ok(out)
    }

    fn override_path(&self, kind: &str, file: &str) -> Option<PathBuf> {
        let path = self.dir.as_deref()?.join(kind).join(file);
        path.is_file().then_some(path)
    }

    /// The folder overrides are read from.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }
}

/// Replaces `{{name}}` with the value of `name` (unknown names become empty). With `html`,
/// values are escaped and their line breaks become `<br>`; `{{{name}}}` inserts the value as
/// it is (for HTML that is already HTML, such as a rendered report).
pub fn substitute(template: &str, vars: &[(&str, String)], html: bool) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let raw = rest[start..].starts_with("{{{");
        let (open, close) = if raw { (3, "}}}") } else { (2, "}}") };
        let after = &rest[start + open..];
        let Some(end) = after.find(close) else {
            out.push_str(&rest[start..]);
            return out;
        };
        let name = after[..end].trim();
        let value = vars
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or("");
        if html && !raw {
            out.push_str(&escape_html(value).replace('\n', "<br>\n"));
        } else {
            out.push_str(value);
        }
        rest = &after[end + close.len()..];
    }
    out.push_str(rest);
    out
}

/// Escapes `& < > " '` for HTML text and attributes.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// `t` in `tz` as Swedish text: "tisdag 17 mars 2026 kl. 18.00".
pub fn date_time_sv(t: DateTime<Utc>, tz: Tz) -> String {
    let l = t.with_timezone(&tz);
    format!("{} kl. {:02}.{:02}", date_sv(t, tz), l.hour(), l.minute())
}

/// `t`'s date in `tz`: "tisdag 17 mars 2026".
pub fn date_sv(t: DateTime<Utc>, tz: Tz) -> String {
    let l = t.with_timezone(&tz);
    format!(
        "{} {} {} {}",
        weekday_sv(l.weekday()),
        l.day(),
        crate::swedish::month(l.month0()),
        l.year()
    )
}

/// The time of day of `t` in `tz`: "18.00".
pub fn time_sv(t: DateTime<Utc>, tz: Tz) -> String {
    let l = t.with_timezone(&tz);
    format!("{:02}.{:02}", l.hour(), l.minute())
}

pub fn weekday_sv(w: Weekday) -> &'static str {
    crate::swedish::weekday(w)
}

/// A span as Swedish text: "1 timme 23 minuter", "2 dagar 3 timmar", "mindre än en minut".
pub fn duration_sv(d: chrono::Duration) -> String {
    duration_minutes_sv(d.num_minutes())
}

/// `minutes` as Swedish text (see [`duration_sv`]).
pub fn duration_minutes_sv(minutes: i64) -> String {
    if minutes < 1 {
        return "mindre än en minut".to_string();
    }
    let (days, hours, mins) = (minutes / 1440, minutes / 60 % 24, minutes % 60);
    let mut parts = Vec::new();
    if days > 0 {
        parts.push(unit(days, "dag", "dagar"));
    }
    if hours > 0 {
        parts.push(unit(hours, "timme", "timmar"));
    }
    if mins > 0 && days == 0 {
        parts.push(unit(mins, "minut", "minuter"));
    }
    parts.join(" ")
}

fn unit(n: i64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// What goes into one mail besides the rendered text.
#[derive(Debug, Clone)]
pub struct MailParts<'a> {
    pub from: &'a str,
    pub to: &'a str,
    pub rendered: &'a Rendered,
    pub message_id: &'a str,
    pub date: DateTime<Utc>,
    /// `(file name, CSV text)` for reports.
    pub csv: Option<(&'a str, &'a str)>,
}

/// Builds the RFC 5322 message: multipart/alternative (text and HTML), inside
/// multipart/mixed with the CSV when there is one.
pub fn build_message(parts: &MailParts) -> Result<Vec<u8>, RenderError> {
    let from = mailbox(parts.from)?;
    let to = mailbox(parts.to)?;
    let alternative =
        MultiPart::alternative_plain_html(parts.rendered.text.clone(), parts.rendered.html.clone());
    let body = match parts.csv {
        None => alternative,
        Some((name, csv)) => MultiPart::mixed().multipart(alternative).singlepart(
            Attachment::new(name.to_string()).body(
                csv.to_string(),
                ContentType::parse("text/csv; charset=utf-8").expect("valid content type"),
            ),
        ),
    };
    let message = Message::builder()
        .from(from)
        .to(to)
        .subject(parts.rendered.subject.clone())
        .message_id(Some(parts.message_id.to_string()))
        .date(parts.date.into())
        .multipart(body)
        .map_err(|e| RenderError::Build(e.to_string()))?;
    Ok(message.formatted())
}

pub fn mailbox(addr: &str) -> Result<Mailbox, RenderError> {
    Mailbox::from_str(addr).map_err(|_| RenderError::Address(addr.to_string()))
}

/// A `Message-ID` derived from the idempotency key, so a duplicate is recognisable: the key
/// made header-safe plus a hash of it, at the sender's domain.
pub fn message_id(key: &str, from: &str) -> String {
    let domain = mailbox(from)
        .map(|m| m.email.domain().to_string())
        .unwrap_or_else(|_| "driftvakt.invalid".to_string());
    let safe: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '.'
            }
        })
        .take(120)
        .collect();
    format!(
        "<{safe}.{:016x}@{domain}>",
        driftvakt_common::hash::fnv1a_64(key.as_bytes())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swedish_dates_and_durations() {
        let t: DateTime<Utc> = "2026-03-17T17:00:00Z".parse().unwrap();
        let tz = chrono_tz::Europe::Stockholm;
        assert_eq!(date_time_sv(t, tz), "tisdag 17 mars 2026 kl. 18.00");
        assert_eq!(duration_minutes_sv(83), "1 timme 23 minuter");
        assert_eq!(duration_minutes_sv(1), "1 minut");
        assert_eq!(duration_minutes_sv(120), "2 timmar");
        assert_eq!(duration_minutes_sv(1440 + 61), "1 dag 1 timme");
        assert_eq!(duration_minutes_sv(0), "mindre än en minut");
    }

    #[test]
    fn substitution_escapes_html_only_in_html() {
        let vars = [("x", "<b>&".to_string())];
        assert_eq!(substitute("a {{x}} b", &vars, false), "a <b>& b");
        assert_eq!(substitute("a {{ x }} b", &vars, true), "a &lt;b&gt;&amp; b");
        assert_eq!(substitute("{{nope}}|{{x", &vars, false), "|{{x");
    }

    #[test]
    fn every_kind_has_builtin_templates() {
        let t = Templates::default();
        for kind in KINDS {
            t.render(kind, &[]).unwrap();
        }
    }
}
