//! Turning a notice into a mail: the template files (one folder per message kind with
//! `subject.txt`, `body.txt` and `body.html`; compiled in, overridable file by file from
//! `templates_dir` without rebuilding), rendered with `minijinja` (strict: a variable the kind
//! does not have is an error naming the file and line, see [`check_templates`]), Swedish dates
//! and durations, and the MIME message itself (multipart/alternative, a CSV attachment for
//! reports, a `Message-ID` derived from the idempotency key).
//!
//! Values are preformatted strings (dates already Swedish). In `.html` templates every value
//! is HTML-escaped and its line breaks become `<br>`; `{{ report|safe }}` inserts HTML as it
//! is (the rendered report). The bodies also get `subject`, the rendered subject line.

use chrono::{DateTime, Utc};
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart};
use lettre::Message;
use minijinja::value::Value;
use minijinja::{AutoEscape, Environment, ErrorKind, UndefinedBehavior};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::LazyLock;

/// The message kinds, each a folder of templates.
pub const KINDS: &[&str] = &[
    "service_down",
    "service_up",
    "intefunktion_open",
    "intefunktion_closed",
    "update",
    "site_dark",
    "site_back",
    "alert",
    "alert_cleared",
    "window",
    "digest",
    "report",
    "test_mail",
];

/// The variables each kind's templates get, with a representative value used to check
/// templates ([`check_templates`]). The bodies also get `subject`.
pub const VARIABLES: &[(&str, &[(&str, &str)])] = &[
    (
        "service_down",
        &[
            ("service", "Skrivare"),
            ("where", "Stadshuset, Ulricehamn"),
            ("municipality", "Ulricehamn"),
            ("since", "tisdag 17 mars 2026 kl. 18.00"),
        ],
    ),
    (
        "service_up",
        &[
            ("service", "Skrivare"),
            ("where", "Stadshuset, Ulricehamn"),
            ("municipality", "Ulricehamn"),
            ("since", "tisdag 17 mars 2026 kl. 18.00"),
            ("until", "tisdag 17 mars 2026 kl. 19.23"),
            ("duration", "1 timme 23 minuter"),
        ],
    ),
    (
        "intefunktion_open",
        &[
            ("service", "Utskrift"),
            ("function", "Utskrift på nätverksskrivare"),
            ("municipality", "Tranemo"),
            ("since", "tisdag 17 mars 2026 kl. 18.00"),
            ("opened_by", "upptäckt av Driftvakts mätningar"),
        ],
    ),
    (
        "intefunktion_closed",
        &[
            ("service", "Utskrift"),
            ("function", "Utskrift på nätverksskrivare"),
            ("municipality", "Tranemo"),
            ("since", "tisdag 17 mars 2026 kl. 18.00"),
            ("until", "tisdag 17 mars 2026 kl. 19.23"),
            ("duration", "1 timme 23 minuter"),
        ],
    ),
    (
        "update",
        &[
            ("service", "Skrivare"),
            ("where", "Stadshuset, Ulricehamn"),
            ("municipality", "Ulricehamn"),
            ("since", "tisdag 17 mars 2026 kl. 18.00"),
            ("at", "tisdag 17 mars 2026 kl. 18.40"),
            ("text", "Leverantören felsöker, beräknas klart 14.00."),
        ],
    ),
    (
        "site_dark",
        &[
            ("site", "Stadshuset"),
            ("municipality", "Ulricehamn"),
            ("since", "tisdag 17 mars 2026 kl. 18.00"),
            ("children_count", "12"),
        ],
    ),
    (
        "site_back",
        &[
            ("site", "Stadshuset"),
            ("municipality", "Ulricehamn"),
            ("since", "tisdag 17 mars 2026 kl. 18.00"),
            ("until", "tisdag 17 mars 2026 kl. 19.23"),
            ("duration", "1 timme 23 minuter"),
        ],
    ),
    (
        "alert",
        &[
            ("device", "sw-stadshuset-1"),
            ("class", "switch"),
            ("site", "Stadshuset"),
            ("municipality", "Ulricehamn"),
            ("what", "går på batteri"),
            ("since", "tisdag 17 mars 2026 kl. 18.00"),
            ("detail", "batteri 80 %"),
            ("route", "it-beredskap"),
            (
                "ack_url",
                "https://driftvakt.example.se/ack/12.0.1773000000.0123456789abcdef",
            ),
        ],
    ),
    (
        "alert_cleared",
        &[
            ("device", "sw-stadshuset-1"),
            ("class", "switch"),
            ("site", "Stadshuset"),
            ("what", "går på batteri"),
            ("municipality", "Ulricehamn"),
            ("since", "tisdag 17 mars 2026 kl. 18.00"),
            ("until", "tisdag 17 mars 2026 kl. 19.23"),
            ("duration", "1 timme 23 minuter"),
        ],
    ),
    (
        "window",
        &[
            ("date", "tisdag 17 mars 2026"),
            ("start", "18.00"),
            ("end", "20.00"),
            ("window_kind", "planerat"),
            ("scope", "nätverket i Ulricehamn"),
            ("reason", "Byte av switchar."),
        ],
    ),
    (
        "digest",
        &[
            ("count", "2"),
            ("limit", "10"),
            ("items", "18.00 – Larm: a\n18.01 – Larm: b"),
        ],
    ),
    (
        "report",
        &[
            ("period", "tertial 1 2026 (januari–april)"),
            ("report", "<p>rapport</p>"),
            ("file", "tillganglighet-2026-T1.csv"),
        ],
    ),
    ("test_mail", &[("now", "tisdag 17 mars 2026 kl. 18.00")]),
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
    builtin!("intefunktion_open"),
    builtin!("intefunktion_closed"),
    builtin!("update"),
    builtin!("site_dark"),
    builtin!("site_back"),
    builtin!("alert"),
    builtin!("alert_cleared"),
    builtin!("window"),
    builtin!("digest"),
    builtin!("report"),
    builtin!("test_mail"),
];

/// The files of one kind: the subject first, then the bodies (`subject` is defined there).
pub const FILES: [&str; 3] = ["subject.txt", "body.txt", "body.html"];

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
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error("invalid mail address {0:?}")]
    Address(String),
    #[error("cannot build the mail: {0}")]
    Build(String),
}

/// A template that does not parse, uses a variable its kind does not have, or cannot be
/// read: `/etc/driftvakt/templates/service_down/body.txt:3: undefined value 'servise' (...)`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}{}: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
pub struct TemplateError {
    /// The override file's path, or `kind/file` for a built-in template.
    pub file: String,
    /// 1-based, when known.
    pub line: Option<usize>,
    pub message: String,
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

/// One template's source and the name errors use.
struct Source {
    name: String,
    text: String,
    overridden: bool,
}

impl Templates {
    pub fn new(dir: Option<PathBuf>) -> Self {
        Templates { dir }
    }

    /// Renders `kind` with `vars`; values are HTML-escaped in `body.html`. A variable of the
    /// kind ([`VARIABLES`]) that `vars` lacks is empty, so templates that pass
    /// [`check_templates`] render; any other variable is an error ([`TemplateError`]).
    pub fn render(&self, kind: &str, vars: &[(&str, String)]) -> Result<Rendered, RenderError> {
        let [subject, text, html] = self.sources(kind)?;
        let mut ctx: BTreeMap<String, Value> = variables(kind)
            .into_iter()
            .map(|k| (k.to_string(), Value::from("")))
            .collect();
        ctx.extend(
            vars.iter()
                .map(|(k, v)| (k.to_string(), Value::from(v.as_str()))),
        );
        let subject = render_source(kind, &subject, &ctx)?;
        let subject = subject.split_whitespace().collect::<Vec<_>>().join(" ");
        ctx.insert("subject".into(), Value::from(subject.as_str()));
        Ok(Rendered {
            text: render_source(kind, &text, &ctx)?,
            html: render_source(kind, &html, &ctx)?,
            subject,
        })
    }

    /// Renders every kind with its representative variables ([`VARIABLES`]), and checks that
    /// override files use no other variable even in branches that value does not take.
    pub fn check(&self) -> Result<(), TemplateError> {
        for kind in KINDS {
            let sources = self.sources(kind).map_err(|e| match e {
                RenderError::Read { path, source } => TemplateError {
                    file: path.display().to_string(),
                    line: None,
                    message: source.to_string(),
                },
                other => TemplateError {
                    file: (*kind).to_string(),
                    line: None,
                    message: other.to_string(),
                },
            })?;
            let vars: Vec<(&str, String)> = sample(kind)
                .iter()
                .map(|(k, v)| (*k, v.to_string()))
                .collect();
            self.render(kind, &vars).map_err(|e| match e {
                RenderError::Template(t) => t,
                other => TemplateError {
                    file: (*kind).to_string(),
                    line: None,
                    message: other.to_string(),
                },
            })?;
            for (i, source) in sources.iter().enumerate() {
                if source.overridden {
                    check_undeclared(kind, i > 0, source)?;
                }
            }
        }
        Ok(())
    }

    fn sources(&self, kind: &str) -> Result<[Source; 3], RenderError> {
        let builtin = BUILTIN
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, t)| t)
            .ok_or_else(|| RenderError::UnknownKind(kind.to_string()))?;
        let source = |i: usize| -> Result<Source, RenderError> {
            Ok(match self.override_path(kind, FILES[i]) {
                Some(path) => Source {
                    name: path.display().to_string(),
                    text: std::fs::read_to_string(&path)
                        .map_err(|source| RenderError::Read { path, source })?,
                    overridden: true,
                },
                None => Source {
                    name: format!("{kind}/{}", FILES[i]),
                    text: builtin[i].to_string(),
                    overridden: false,
                },
            })
        };
        Ok([source(0)?, source(1)?, source(2)?])
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

/// Checks the override templates in `dir` (`notify.templates_dir`), for `check-config`: the
/// folder exists, holds only message-kind folders with the three template files, and every
/// template parses and uses only its kind's variables ([`VARIABLES`], and `subject` in the
/// bodies). The error names the file and, when known, the line.
pub fn check_templates(dir: &Path) -> Result<(), TemplateError> {
    let err = |file: &Path, message: String| TemplateError {
        file: file.display().to_string(),
        line: None,
        message,
    };
    let entries =
        std::fs::read_dir(dir).map_err(|e| err(dir, format!("notify.templates_dir: {e}")))?;
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for path in paths {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        // `pages/`: the web pages' templates (`crate::pages::render`), checked there.
        if name.starts_with('.') || !path.is_dir() || name == "pages" {
            continue;
        }
        if !KINDS.contains(&name) {
            return Err(err(
                &path,
                format!("not a message kind (expected one of: {})", KINDS.join(", ")),
            ));
        }
        let mut files: Vec<PathBuf> = std::fs::read_dir(&path)
            .map_err(|e| err(&path, e.to_string()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        files.sort();
        for file in files {
            let fname = file.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if !fname.starts_with('.') && !FILES.contains(&fname) {
                return Err(err(
                    &file,
                    format!(
                        "not a template file (expected one of: {})",
                        FILES.join(", ")
                    ),
                ));
            }
        }
    }
    Templates::new(Some(dir.to_path_buf())).check()
}

/// The variables `kind`'s templates get (without `subject`).
pub fn variables(kind: &str) -> Vec<&'static str> {
    sample(kind).iter().map(|(k, _)| *k).collect()
}

fn sample(kind: &str) -> &'static [(&'static str, &'static str)] {
    VARIABLES
        .iter()
        .find(|(k, _)| *k == kind)
        .map(|(_, v)| *v)
        .unwrap_or(&[])
}

/// The one environment: strict undefined, trailing newlines kept, HTML escaping by file name
/// with the escaping rules the notices have always had.
static ENV: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_syntax(
        minijinja::syntax::SyntaxConfig::builder()
            .keep_trailing_newline(true)
            .build()
            .expect("the default syntax with trailing newlines kept"),
    );
    // Names the undefined variable in errors.
    env.set_debug(true);
    env.set_auto_escape_callback(|name| {
        if name.ends_with(".html") {
            AutoEscape::Html
        } else {
            AutoEscape::None
        }
    });
    env.set_formatter(|out, state, value| {
        if matches!(state.auto_escape(), AutoEscape::Html) && !value.is_safe() {
            let text = escape_html(&value.to_string()).replace('\n', "<br>\n");
            return out.write_str(&text).map_err(minijinja::Error::from);
        }
        // Plain text (subjects, text bodies): what XML cannot carry is replaced here too.
        match value.as_str().map(driftvakt_common::xml::fit) {
            Some(std::borrow::Cow::Owned(fit)) if value.is_safe() => {
                minijinja::escape_formatter(out, state, &Value::from_safe_string(fit))
            }
            Some(std::borrow::Cow::Owned(fit)) => {
                minijinja::escape_formatter(out, state, &Value::from(fit))
            }
            _ => minijinja::escape_formatter(out, state, value),
        }
    });
    env
});

fn render_source(
    kind: &str,
    source: &Source,
    ctx: &BTreeMap<String, Value>,
) -> Result<String, TemplateError> {
    ENV.render_named_str(&source.name, &source.text, Value::from(ctx.clone()))
        .map_err(|e| template_error(kind, source, &e))
}

fn template_error(kind: &str, source: &Source, e: &minijinja::Error) -> TemplateError {
    let hint = known_hint(kind, !source.name.ends_with("subject.txt"));
    let message = match (e.kind(), e.detail()) {
        (ErrorKind::UndefinedError, Some(d)) => match d.split('`').nth(1) {
            Some(expr) => format!("undefined value '{expr}'{hint}"),
            None => format!("undefined value: {d}{hint}"),
        },
        (ErrorKind::UndefinedError, None) => format!("undefined value{hint}"),
        (ErrorKind::SyntaxError, Some(d)) if source.text.contains("{{{") => {
            format!("syntax error: {d} (`{{{{{{name}}}}}}` is now `{{{{ name|safe }}}}`)")
        }
        (kind, Some(d)) => format!("{kind}: {d}"),
        (kind, None) => kind.to_string(),
    };
    TemplateError {
        file: e.name().unwrap_or(&source.name).to_string(),
        line: e.line(),
        message,
    }
}

/// A variable an override uses that its kind lacks, also where the sample values do not
/// reach it (`{% if %}` branches); the line is the first that mentions it.
fn check_undeclared(kind: &str, body: bool, source: &Source) -> Result<(), TemplateError> {
    let template = ENV
        .template_from_named_str(&source.name, &source.text)
        .map_err(|e| template_error(kind, source, &e))?;
    let known = variables(kind);
    let mut unknown: Vec<String> = template
        .undeclared_variables(false)
        .into_iter()
        .filter(|v| !(known.contains(&v.as_str()) || (body && v == "subject")))
        .filter(|v| ENV.globals().all(|(g, _)| g != v))
        .collect();
    unknown.sort();
    let Some(name) = unknown.first() else {
        return Ok(());
    };
    let line = source
        .text
        .lines()
        .position(|l| mentions(l, name))
        .map(|i| i + 1);
    Err(TemplateError {
        file: source.name.clone(),
        line,
        message: format!("undefined value '{name}'{}", known_hint(kind, body)),
    })
}

fn mentions(line: &str, word: &str) -> bool {
    let ident = |c: char| c.is_alphanumeric() || c == '_';
    line.match_indices(word).any(|(i, _)| {
        !line[..i].chars().next_back().is_some_and(ident)
            && !line[i + word.len()..].chars().next().is_some_and(ident)
    })
}

fn known_hint(kind: &str, body: bool) -> String {
    let mut known = variables(kind);
    if body {
        known.push("subject");
    }
    format!(" ({kind} templates have: {})", known.join(", "))
}

/// Escapes `& < > " '` for HTML text and attributes.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in driftvakt_common::xml::fit(s).chars() {
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

pub use crate::calendar::swedish::{
    date_sv, date_time_sv, duration_minutes_sv, duration_sv, time_sv, weekday_sv,
};

/// What goes into one mail besides the rendered text.
#[derive(Debug, Clone)]
pub struct MailParts<'a> {
    pub from: &'a str,
    pub to: &'a str,
    pub rendered: &'a Rendered,
    pub message_id: &'a str,
    pub date: DateTime<Utc>,
    /// `(file name, CSV text)` attachments for reports.
    pub csv: Vec<(&'a str, &'a str)>,
}

/// Builds the RFC 5322 message: multipart/alternative (text and HTML), inside
/// multipart/mixed with the CSV files when there are any.
pub fn build_message(parts: &MailParts) -> Result<Vec<u8>, RenderError> {
    let from = mailbox(parts.from)?;
    let to = mailbox(parts.to)?;
    let alternative =
        MultiPart::alternative_plain_html(parts.rendered.text.clone(), parts.rendered.html.clone());
    let body = if parts.csv.is_empty() {
        alternative
    } else {
        let mut mixed = MultiPart::mixed().multipart(alternative);
        for (name, csv) in &parts.csv {
            mixed = mixed.singlepart(Attachment::new(name.to_string()).body(
                csv.to_string(),
                ContentType::parse("text/csv; charset=utf-8").expect("valid content type"),
            ));
        }
        mixed
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
    fn html_values_are_escaped_with_line_breaks_and_text_values_are_not() {
        let ctx: BTreeMap<String, Value> = [("x".to_string(), Value::from("<b>&'\n2"))].into();
        let src = |name: &str, text: &str| Source {
            name: name.into(),
            text: text.into(),
            overridden: false,
        };
        let r = |name, text| render_source("digest", &src(name, text), &ctx).unwrap();
        assert_eq!(r("a.txt", "a {{x}} b\n"), "a <b>&'\n2 b\n");
        assert_eq!(r("a.html", "a {{ x }} b"), "a &lt;b&gt;&amp;&#39;<br>\n2 b");
        assert_eq!(r("a.html", "{{ x|safe }}"), "<b>&'\n2");
        let e = render_source("digest", &src("d/x.txt", "a\n{{ nope }}"), &ctx).unwrap_err();
        assert_eq!((e.file.as_str(), e.line), ("d/x.txt", Some(2)));
        assert!(
            e.message.starts_with("undefined value 'nope' (digest"),
            "{e}"
        );
    }

    #[test]
    fn every_kind_has_builtin_templates() {
        assert_eq!(KINDS.len(), VARIABLES.len());
        assert_eq!(BUILTIN.len(), VARIABLES.len());
        Templates::default().check().unwrap();
    }
}
