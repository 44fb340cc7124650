//! Strict YAML loading for Driftvakt configuration files.
//!
//! Every error names the file, the line and column, and the key path (`devices[2].interval`), so a
//! person can fix it without guessing. Booleans are strict (`yes`/`no`/`on` are errors, not
//! booleans), unknown keys are errors (structs carry `deny_unknown_fields`), and durations are
//! written with units (`500ms`, `30s`, `5m`, `1h`).

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use std::fmt;
use std::path::{Path, PathBuf};

pub use serde_saphyr::{Location, Spanned};

/// A configuration error with where it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    pub file: PathBuf,
    /// 1-based line; 0 when the error is about the file as a whole.
    pub line: u64,
    pub column: u64,
    /// Key path such as `devices[1].checks[0].port`, when known.
    pub key: Option<String>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if self.line > 0 {
            write!(f, ":{}:{}", self.line, self.column)?;
        }
        if let Some(key) = &self.key {
            write!(f, ": {key}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Collects errors found after parsing (duplicate ids, unknown references) with their places.
#[derive(Debug)]
pub struct Validator<'a> {
    file: &'a Path,
    source: &'a str,
    errors: Vec<ConfigError>,
}

impl<'a> Validator<'a> {
    pub fn new(file: &'a Path, source: &'a str) -> Self {
        Validator {
            file,
            source,
            errors: Vec::new(),
        }
    }

    /// Records an error at a location taken from a [`Spanned`] value.
    pub fn error_at(&mut self, location: &Location, message: impl Into<String>) {
        let line = location.line();
        self.errors.push(ConfigError {
            file: self.file.to_path_buf(),
            line,
            column: location.column(),
            key: key_path_at(self.source, line),
            message: message.into(),
        });
    }

    /// Records an error about the key `key` (e.g. `notify.reports[0].cron`), placed at the line
    /// and column where the key (or its nearest written ancestor) is in the file.
    pub fn error_at_key(&mut self, key: &str, message: impl Into<String>) {
        let (line, column) = locate_key(self.source, key).unwrap_or((0, 0));
        self.errors.push(ConfigError {
            file: self.file.to_path_buf(),
            line,
            column,
            key: Some(key.to_string()),
            message: message.into(),
        });
    }

    /// Records an error about the file as a whole.
    pub fn error(&mut self, message: impl Into<String>) {
        self.errors.push(ConfigError {
            file: self.file.to_path_buf(),
            line: 0,
            column: 0,
            key: None,
            message: message.into(),
        });
    }

    /// All errors found, or `Ok` when there were none.
    pub fn finish(self) -> Result<(), ConfigErrors> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ConfigErrors(self.errors))
        }
    }
}

/// One or more configuration errors, printed one a line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl From<ConfigError> for ConfigErrors {
    fn from(e: ConfigError) -> Self {
        ConfigErrors(vec![e])
    }
}

/// Reads and parses a YAML file into `T`.
pub fn load_yaml<T: DeserializeOwned>(path: &Path) -> Result<(T, String), ConfigError> {
    let source = std::fs::read_to_string(path).map_err(|e| ConfigError {
        file: path.to_path_buf(),
        line: 0,
        column: 0,
        key: None,
        message: format!("cannot read file: {e}"),
    })?;
    let value = parse_yaml(&source, path)?;
    Ok((value, source))
}

/// Parses YAML text into `T`; `path` only names the source in errors.
pub fn parse_yaml<T: DeserializeOwned>(source: &str, path: &Path) -> Result<T, ConfigError> {
    let mut options = serde_saphyr::options::Options::default();
    options.strict_booleans = true;
    options.budget = Some(budget_for(source));
    serde_saphyr::from_str_with_options(source, options).map_err(|e| {
        let (line, column) = e
            .location()
            .map(|l| (l.line(), l.column()))
            .unwrap_or((0, 0));
        let message = clean_message(&e.without_snippet().to_string());
        let (line, column) = refine_location(source, line, column, &message);
        let message = explain_budget(hide_content(&message));
        ConfigError {
            file: path.to_path_buf(),
            line,
            column,
            // A key path is read from the line; not from a line whose key is not shown.
            key: if line > 0 && !message.contains(NOT_SHOWN) {
                key_path_at(source, line)
            } else {
                None
            },
            message,
        }
    })
}

/// The parser's budget for `source`: what a file of its size can hold written out, so a large
/// inventory in one file loads (50,000 devices with a few keys each are about 600,000 nodes
/// in 5 MB), while anchors and aliases that expand to more than the file holds (a "billion
/// laughs" bomb) are still refused. Without aliases a YAML node takes at least two bytes
/// (`[a,b]`) and an event at least one, so the budget never refuses a file for what it
/// writes out.
fn budget_for(source: &str) -> serde_saphyr::Budget {
    let mut budget = serde_saphyr::Budget::default();
    budget.max_nodes = budget.max_nodes.max(source.len() / 2 + 1);
    budget.max_events = budget.max_events.max(source.len() + 1);
    budget
}

/// A budget breach says what to do.
fn explain_budget(message: String) -> String {
    if !message.starts_with("budget breached") {
        return message;
    }
    format!(
        "{message}: the file expands to more than one YAML file may hold (anchors and aliases \
         are expanded); write it out without aliases, or split it into several files joined \
         with `include:` (for example one file of devices per site or municipality)"
    )
}

/// What stands in a message for a name that is not repeated.
const NOT_SHOWN: &str = "(not shown)";

/// Longest key or variant name an error message repeats from the file.
const SHOWN_NAME: usize = 64;

/// The parser's message without what it quotes of the file's values: a file that is not a
/// configuration (`include: [/etc/shadow]`) must not have its content printed. A string value
/// (`invalid type: string "root:$6$…"`) becomes `a string`; a key or variant name
/// (`unknown field `intervall``) is kept only when it looks like a name (letters, digits, `_`,
/// `-`, `.`, at most 64 characters). The file and line say where to look.
fn hide_content(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(i) = rest.find("string \"") {
        out.push_str(&rest[..i]);
        out.push_str("a string");
        let after = &rest[i + "string \"".len()..];
        let mut escaped = false;
        let end = after.char_indices().find_map(|(k, c)| match c {
            _ if escaped => {
                escaped = false;
                None
            }
            '\\' => {
                escaped = true;
                None
            }
            '"' => Some(k + 1),
            _ => None,
        });
        rest = &after[end.unwrap_or(after.len())..];
    }
    out.push_str(rest);
    for lead in ["unknown field `", "unknown variant `", "duplicate field `"] {
        out = hide_name_after(&out, lead);
    }
    out
}

/// Replaces the back-quoted name after `lead` when it does not look like a name.
fn hide_name_after(message: &str, lead: &str) -> String {
    let Some(start) = message.find(lead).map(|i| i + lead.len()) else {
        return message.to_string();
    };
    let Some(len) = message[start..].find('`') else {
        return message.to_string();
    };
    let name = &message[start..start + len];
    let looks_like_name = name.chars().count() <= SHOWN_NAME
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if looks_like_name {
        return message.to_string();
    }
    let head = &message[..start - 1];
    format!("{head}{NOT_SHOWN}{}", &message[start + len + 1..])
}

/// Inside tagged enums the parser reports the start of the mapping rather than the offending
/// key; when the message names a key or value, point at the line within that mapping that holds
/// it.
fn refine_location(source: &str, line: u64, column: u64, message: &str) -> (u64, u64) {
    let token = quoted_after(message, "unknown field `", '`')
        .map(|k| format!("{k}:"))
        .or_else(|| quoted_after(message, "\"", '"').map(str::to_string));
    let Some(token) = token else {
        return (line, column);
    };
    let lines: Vec<&str> = source.lines().collect();
    let Some(start) = usize::try_from(line).ok().and_then(|l| l.checked_sub(1)) else {
        return (line, column);
    };
    let Some(first) = lines.get(start) else {
        return (line, column);
    };
    if first.contains(&token) {
        return (line, column);
    }
    let base = first.len() - first.trim_start().len();
    for (i, l) in lines.iter().enumerate().skip(start + 1) {
        let t = l.trim_start();
        let indent = l.len() - t.len();
        if !t.is_empty() && !t.starts_with('#') && indent <= base {
            break;
        }
        if let Some(col) = l.find(&token) {
            return ((i + 1) as u64, (col + 1) as u64);
        }
    }
    (line, column)
}

fn quoted_after<'m>(message: &'m str, prefix: &str, close: char) -> Option<&'m str> {
    let start = message.find(prefix)? + prefix.len();
    let len = message[start..].find(close)?;
    Some(&message[start..start + len]).filter(|t| !t.is_empty())
}

/// Strips the parser's own "error: line X column Y:" prefix and " at line X, column Y" suffix:
/// [`ConfigError`] prints the place itself.
fn clean_message(raw: &str) -> String {
    let first = raw.lines().next().unwrap_or(raw).trim();
    let mut msg = first.strip_prefix("error: ").unwrap_or(first);
    if msg.starts_with("line ") {
        if let Some(i) = msg.find(": ") {
            msg = &msg[i + 2..];
        }
    }
    if let Some(i) = msg.rfind(" at line ") {
        msg = &msg[..i];
    }
    msg.to_string()
}

/// The key path of the YAML line `line` (1-based), found by walking up the indentation:
/// `devices[1].checks[0].port`. Best effort for block-style YAML; `None` when the line has no key.
pub fn key_path_at(source: &str, line: u64) -> Option<String> {
    let lines: Vec<&str> = source.lines().collect();
    let idx = usize::try_from(line).ok()?.checked_sub(1)?;
    let (mut indent, first) = line_key(lines.get(idx)?);
    let mut parts: Vec<String> = first.key.into_iter().collect();
    // Column of the `- ` of the list item we are inside and have not yet numbered.
    let mut pending_dash = first.item_indent;
    if let Some(d) = pending_dash {
        indent = d;
    }
    for i in (0..idx).rev() {
        if indent == 0 && pending_dash.is_none() {
            break;
        }
        let (ind, info) = line_key(lines[i]);
        if info.blank {
            continue;
        }
        if let Some(d) = pending_dash {
            let is_sibling_item = info.item_indent == Some(d);
            if !is_sibling_item && ind <= d {
                let n = count_items(&lines[i + 1..=idx], d);
                let index = format!("[{}]", n.saturating_sub(1));
                match parts.last_mut() {
                    Some(last) => *last = format!("{index}.{last}"),
                    None => parts.push(index),
                }
                pending_dash = None;
                // This line holds the list, even when its key sits at the dash's column.
                indent = ind + 1;
            } else {
                continue;
            }
        }
        match info.item_indent {
            Some(d) if d < indent && ind <= indent => {
                if let Some(k) = info.key.filter(|_| ind < indent) {
                    parts.push(k);
                }
                pending_dash = Some(d);
                indent = d;
            }
            _ => {
                if let Some(k) = info.key.filter(|_| ind < indent) {
                    parts.push(k);
                    indent = ind;
                }
            }
        }
    }
    if parts.is_empty() {
        return None;
    }
    parts.reverse();
    Some(parts.join(".").replace(".[", "["))
}

struct LineKey {
    key: Option<String>,
    /// Column of a leading `- ` on this line, if the line starts a list item.
    item_indent: Option<usize>,
    blank: bool,
}

fn line_key(line: &str) -> (usize, LineKey) {
    let trimmed = line.trim_start();
    let indent = line.len() - trimmed.len();
    if trimmed.is_empty() || trimmed.starts_with('#') {
        return (
            indent,
            LineKey {
                key: None,
                item_indent: None,
                blank: true,
            },
        );
    }
    let (item_indent, rest, key_indent) = match trimmed.strip_prefix("- ") {
        Some(rest) => {
            let r = rest.trim_start();
            (Some(indent), r, indent + (trimmed.len() - r.len()))
        }
        None if trimmed == "-" => (Some(indent), "", indent + 2),
        None => (None, trimmed, indent),
    };
    let key = rest.find(':').and_then(|i| {
        let k = rest[..i].trim().trim_matches('"').trim_matches('\'');
        let valid = !k.is_empty() && !k.contains(' ') && !k.starts_with(['[', '{']);
        valid.then(|| k.to_string())
    });
    (
        if item_indent.is_some() && key.is_some() {
            key_indent
        } else {
            indent
        },
        LineKey {
            key,
            item_indent,
            blank: false,
        },
    )
}

fn count_items(lines: &[&str], dash: usize) -> usize {
    lines
        .iter()
        .filter(|l| {
            let t = l.trim_start();
            l.len() - t.len() == dash && (t.starts_with("- ") || t == "-")
        })
        .count()
}

/// A duration written with a unit: `250ms`, `30s`, `5m`, `1h`, `2d`, or combined (`1h30m`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration(pub std::time::Duration);

impl Duration {
    pub const fn from_secs(s: u64) -> Self {
        Duration(std::time::Duration::from_secs(s))
    }
    pub const fn from_millis(ms: u64) -> Self {
        Duration(std::time::Duration::from_millis(ms))
    }
    pub fn std(self) -> std::time::Duration {
        self.0
    }

    /// The duration as a person writes it: the largest units first, parts that are zero left
    /// out (`30s`, `5m`, `1h30m`, `2d`, `1m30s250ms`; `0s` for zero). [`parse_duration`] reads
    /// it back to the same value (to the millisecond, the finest unit the YAML has).
    ///
    /// [`Display`](fmt::Display) keeps its older form (whole seconds, or milliseconds) because
    /// error messages print it.
    pub fn humane(self) -> String {
        let ms = self.0.as_millis();
        if ms == 0 {
            return "0s".to_string();
        }
        let mut out = String::new();
        let mut rest = ms;
        for (unit, size) in [
            ("d", 86_400_000),
            ("h", 3_600_000),
            ("m", 60_000),
            ("s", 1_000),
            ("ms", 1),
        ] {
            let n = rest / size;
            rest %= size;
            if n > 0 {
                out.push_str(&format!("{n}{unit}"));
            }
        }
        out
    }
}

impl std::str::FromStr for Duration {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        parse_duration(s).map(Duration)
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        if !ms.is_multiple_of(1000) {
            write!(f, "{ms}ms")
        } else {
            write!(f, "{}s", ms / 1000)
        }
    }
}

/// Parses `250ms`, `30s`, `5m`, `1h`, `2d` and combinations like `1h30m`.
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let bad = || {
        format!("invalid duration {s:?}: write a number with a unit, e.g. 500ms, 30s, 5m, 1h, 1d")
    };
    let s = s.trim();
    if s.is_empty() {
        return Err(bad());
    }
    let mut total = std::time::Duration::ZERO;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        if digits == 0 {
            return Err(bad());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let part = match unit {
            "ms" => std::time::Duration::from_millis(n),
            "s" => std::time::Duration::from_secs(n),
            "m" => std::time::Duration::from_secs(n * 60),
            "h" => std::time::Duration::from_secs(n * 3600),
            "d" => std::time::Duration::from_secs(n * 86_400),
            _ => return Err(bad()),
        };
        total += part;
    }
    Ok(total)
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Duration;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration with a unit, e.g. 30s")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Duration, E> {
                s.parse().map_err(E::custom)
            }
            fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<Duration, E> {
                Err(E::custom(format!(
                    "invalid duration {n}: a duration needs a unit, e.g. {n}s"
                )))
            }
            fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<Duration, E> {
                Err(E::custom(format!(
                    "invalid duration {n}: a duration needs a unit, e.g. {n}s"
                )))
            }
            fn visit_f64<E: serde::de::Error>(self, n: f64) -> Result<Duration, E> {
                Err(E::custom(format!(
                    "invalid duration {n}: a duration needs a unit, e.g. 500ms"
                )))
            }
        }
        d.deserialize_any(V)
    }
}

/// Serializes in the humane form the YAML is written in (`30s`, `5m`, `1h30m`, `250ms`; see
/// [`Duration::humane`]), which [`Deserialize`] reads back to the same value.
impl serde::Serialize for Duration {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.humane())
    }
}

/// A documented range for one duration setting; errors say `must be at least 1s` / `at most 1d`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    pub min: Duration,
    pub max: Duration,
}

impl Bounds {
    pub const fn new(min_ms: u64, max_ms: u64) -> Self {
        Bounds {
            min: Duration::from_millis(min_ms),
            max: Duration::from_millis(max_ms),
        }
    }

    /// `Err("must be at least 100ms")` when `d` is outside.
    pub fn check(&self, d: Duration) -> Result<Duration, String> {
        if d < self.min {
            Err(format!("must be at least {}", self.min.humane()))
        } else if d > self.max {
            Err(format!("must be at most {}", self.max.humane()))
        } else {
            Ok(d)
        }
    }
}

/// The bounds of every duration setting, in one place (README, "Duration bounds", lists them).
pub mod bounds {
    use super::Bounds;
    const S: u64 = 1000;
    const M: u64 = 60 * S;
    const H: u64 = 60 * M;
    const D: u64 = 24 * H;
    /// How often a check runs (checks, devices, `defaults:`): 100ms..1d.
    pub const INTERVAL: Bounds = Bounds::new(100, D);
    /// How long one probe may take: 50ms..5m, and not longer than its interval.
    pub const TIMEOUT: Bounds = Bounds::new(50, 5 * M);
    /// Pause between ICMP echo requests of one probe: 0s..2m.
    pub const ICMP_SPACING: Bounds = Bounds::new(0, 2 * M);
    /// `collector.max_future`: 1s..1d.
    pub const MAX_FUTURE: Bounds = Bounds::new(S, D);
    /// `agent.collector.push_interval`: 100ms..1h.
    pub const PUSH_INTERVAL: Bounds = Bounds::new(100, H);
    /// `agent.collector.assignment_refresh`: 1s..1d.
    pub const ASSIGNMENT_REFRESH: Bounds = Bounds::new(S, D);
    /// `agent.spool.sync_interval`: 0s (sync every write)..1m.
    pub const SPOOL_SYNC_INTERVAL: Bounds = Bounds::new(0, M);
    /// `notify.hold_down`: 0s (announce at once)..1d.
    pub const HOLD_DOWN: Bounds = Bounds::new(0, D);
    /// `notify.digest_delay`: 0s..1d.
    pub const DIGEST_DELAY: Bounds = Bounds::new(0, D);
    /// `notify.retry.initial_backoff`: 1s..1h.
    pub const INITIAL_BACKOFF: Bounds = Bounds::new(S, H);
    /// `notify.retry.max_backoff`: 1s..1d, and at least `initial_backoff`.
    pub const MAX_BACKOFF: Bounds = Bounds::new(S, D);
    /// `notify.retry.lease`: 10s..1h, and longer than `notify.smtp.timeout`.
    pub const LEASE: Bounds = Bounds::new(10 * S, H);
    /// `notify.smtp.timeout`: 1s..5m.
    pub const SMTP_TIMEOUT: Bounds = Bounds::new(S, 5 * M);
    /// `collector.max_past`: 1h..10 years (3650d).
    pub const MAX_PAST: Bounds = Bounds::new(H, 3650 * D);
    /// `collector.retention.results`: 1h..10 years (3650d).
    pub const RETENTION: Bounds = Bounds::new(H, 3650 * D);
}

/// Serde `deserialize_with` functions that read a [`Duration`] and refuse it outside its
/// [`bounds`]; the parser then reports the error at the value's line and column with its key.
/// The `_opt` form is for `Option<Duration>` fields with `#[serde(default)]`.
pub mod bounded {
    use super::{bounds, Duration};
    use serde::{Deserialize, Deserializer};

    macro_rules! bounded_fns {
        ($($name:ident, $opt:ident => $b:expr;)*) => {$(
            pub fn $name<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
                let v = Duration::deserialize(d)?;
                $b.check(v).map_err(serde::de::Error::custom)
            }
            pub fn $opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
                $name(d).map(Some)
            }
        )*};
    }

    bounded_fns! {
        interval, interval_opt => bounds::INTERVAL;
        timeout, timeout_opt => bounds::TIMEOUT;
        icmp_spacing, icmp_spacing_opt => bounds::ICMP_SPACING;
        max_future, max_future_opt => bounds::MAX_FUTURE;
        max_past, max_past_opt => bounds::MAX_PAST;
        retention, retention_opt => bounds::RETENTION;
        push_interval, push_interval_opt => bounds::PUSH_INTERVAL;
        assignment_refresh, assignment_refresh_opt => bounds::ASSIGNMENT_REFRESH;
        spool_sync_interval, spool_sync_interval_opt => bounds::SPOOL_SYNC_INTERVAL;
        hold_down, hold_down_opt => bounds::HOLD_DOWN;
        digest_delay, digest_delay_opt => bounds::DIGEST_DELAY;
        initial_backoff, initial_backoff_opt => bounds::INITIAL_BACKOFF;
        max_backoff, max_backoff_opt => bounds::MAX_BACKOFF;
        lease, lease_opt => bounds::LEASE;
        smtp_timeout, smtp_timeout_opt => bounds::SMTP_TIMEOUT;
    }
}

/// A [`Location`] from a line and column (both 1-based).
pub fn location(line: u64, column: u64) -> Location {
    // A Location can be deserialized from its parts.
    let json = serde_json::json!({ "line": line, "column": column });
    serde_json::from_value(json).unwrap_or(Location::UNKNOWN)
}

/// The line and column of the key `key` (a path like `notify.reports[1].cron`, as
/// [`key_path_at`] gives them) in `source`; when the key itself is not written on a line of its
/// own (flow style `{ a: 1 }`, or a default), the place of its nearest written ancestor.
pub fn locate_key(source: &str, key: &str) -> Option<(u64, u64)> {
    let lines: Vec<&str> = source.lines().collect();
    let mut want = key.to_string();
    loop {
        for (i, l) in lines.iter().enumerate() {
            let line = (i + 1) as u64;
            if key_path_at(source, line).as_deref() == Some(want.as_str()) {
                let t = l.trim_start();
                let t2 = t.strip_prefix("- ").map(str::trim_start).unwrap_or(t);
                let col = l.len() - t2.len() + 1;
                return Some((line, col as u64));
            }
        }
        // Drop the last segment: `a.b[2].c` → `a.b[2]` → `a.b` → `a`.
        let cut = want.rfind(['.', '['])?;
        want.truncate(cut);
        if want.is_empty() {
            return None;
        }
    }
}

/// `Ok` when the folder `dir` exists, or the nearest folder above it that exists is a writable
/// folder it can be created in; the error says why not.
pub fn folder_can_be_created(dir: &Path) -> Result<(), String> {
    let mut cur = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    loop {
        match std::fs::metadata(cur) {
            Ok(m) if m.is_dir() && m.permissions().readonly() => {
                return Err(format!(
                    "folder {} cannot be created: {} is read-only",
                    dir.display(),
                    cur.display()
                ))
            }
            Ok(m) if m.is_dir() => return Ok(()),
            Ok(_) => {
                return Err(format!(
                    "folder {} cannot be created: {} is not a folder",
                    dir.display(),
                    cur.display()
                ))
            }
            Err(_) => match cur.parent() {
                Some(p) if !p.as_os_str().is_empty() => cur = p,
                _ => return Ok(()),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units_only() {
        assert_eq!(parse_duration("30s").unwrap().as_secs(), 30);
        assert_eq!(parse_duration("1h30m").unwrap().as_secs(), 5400);
        assert_eq!(parse_duration("250ms").unwrap().as_millis(), 250);
        assert_eq!(parse_duration("2d").unwrap().as_secs(), 172_800);
        for bad in ["", "30", "s", "30x", "1.5s", "-3s", "3 s"] {
            assert!(parse_duration(bad).is_err(), "{bad:?} should fail");
        }
    }

    #[test]
    fn durations_serialize_humanely_and_read_back() {
        let cases = [
            (0, "0s"),
            (250, "250ms"),
            (30_000, "30s"),
            (300_000, "5m"),
            (5_400_000, "1h30m"),
            (172_800_000, "2d"),
            (90_250, "1m30s250ms"),
            (90_061_000, "1d1h1m1s"),
        ];
        for (ms, text) in cases {
            let d = Duration::from_millis(ms);
            assert_eq!(d.humane(), text);
            let json = serde_json::to_string(&d).unwrap();
            assert_eq!(json, format!("\"{text}\""));
            let back: Duration = serde_json::from_str(&json).unwrap();
            assert_eq!(back, d, "{text}");
        }
        // Display is unchanged: error messages print it.
        assert_eq!(Duration::from_secs(300).to_string(), "300s");
        assert_eq!(Duration::from_millis(1500).to_string(), "1500ms");
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Inventory {
        devices: Vec<std::collections::BTreeMap<String, String>>,
    }

    #[test]
    fn a_large_file_loads_and_a_bomb_is_refused_with_what_to_do() {
        let mut big = String::from("devices:\n");
        for i in 0..30_000 {
            big.push_str(&format!(
                "  - {{ id: sw-{i}, class: switch, site: s{}, address: 10.{}.{}.{} }}\n",
                i % 100,
                i / 65_536,
                (i / 256) % 256,
                i % 256
            ));
        }
        let inv: Inventory = parse_yaml(&big, Path::new("big.yaml")).unwrap();
        assert_eq!(inv.devices.len(), 30_000);
        // Nine levels of ten aliases each: 10^9 strings from a few hundred bytes.
        let mut bomb = String::from("a0: &a0 [\"lol\"]\n");
        for level in 1..10 {
            let refs = vec![format!("*a{}", level - 1); 10].join(",");
            bomb.push_str(&format!("a{level}: &a{level} [{refs}]\n"));
        }
        bomb.push_str("devices: [*a9]\n");
        let e = parse_yaml::<Inventory>(&bomb, Path::new("bomb.yaml")).unwrap_err();
        let shown = e.to_string();
        assert!(shown.contains("budget breached"), "{shown}");
        assert!(shown.contains("split it into several files"), "{shown}");
        assert!(shown.contains("`include:`"), "{shown}");
    }

    #[test]
    fn messages_never_repeat_a_files_values() {
        let shadow = "root:$6$salt$hash:19000:0:99999:7:::\nbin:*:19000:0:99999:7:::\n";
        #[derive(Debug, Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct File {
            #[serde(default)]
            devices: Vec<String>,
            #[serde(default)]
            inner: Option<Inner>,
        }
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct Inner {
            count: u32,
        }
        let e = parse_yaml::<File>(shadow, Path::new("/etc/shadow")).unwrap_err();
        let shown = e.to_string();
        assert!(shown.starts_with("/etc/shadow:1:"), "{shown}");
        for secret in ["$6$", "salt", "hash", "root:", "19000"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        let env = "DB_PASSWORD: hunter2-secret\n";
        let shown = parse_yaml::<File>(env, Path::new("x.env"))
            .unwrap_err()
            .to_string();
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("unknown field `DB_PASSWORD`"), "{shown}");
        let odd_key = "\"p4ss w0rd!\": 1\n";
        let shown = parse_yaml::<File>(odd_key, Path::new("y"))
            .unwrap_err()
            .to_string();
        assert!(!shown.contains("p4ss"), "{shown}");
        assert!(shown.contains("unknown field (not shown)"), "{shown}");
        let wrong = "inner: just-a-secret-string\n";
        let shown = parse_yaml::<File>(wrong, Path::new("z"))
            .unwrap_err()
            .to_string();
        assert!(!shown.contains("just-a-secret"), "{shown}");
        assert_eq!(
            hide_content(r#"invalid type: string "a\"b", expected x"#),
            "invalid type: a string, expected x"
        );
    }

    #[test]
    fn key_paths_follow_indentation_and_list_items() {
        let src = "agent:\n  id: a\ndevices:\n  - id: one\n    checks:\n      - kind: icmp\n  - id: two\n    checks:\n      - kind: icmp\n      - kind: tcp\n        port: 99999\n";
        assert_eq!(key_path_at(src, 2).as_deref(), Some("agent.id"));
        assert_eq!(key_path_at(src, 4).as_deref(), Some("devices[0].id"));
        assert_eq!(key_path_at(src, 7).as_deref(), Some("devices[1].id"));
        assert_eq!(
            key_path_at(src, 11).as_deref(),
            Some("devices[1].checks[1].port")
        );
        assert_eq!(
            key_path_at(src, 10).as_deref(),
            Some("devices[1].checks[1].kind")
        );
        assert_eq!(
            key_path_at(src, 9).as_deref(),
            Some("devices[1].checks[0].kind")
        );
        let flat = "devices:\n- id: a\n  checks:\n  - kind: tcp\n    prot: 1\n";
        assert_eq!(
            key_path_at(flat, 5).as_deref(),
            Some("devices[0].checks[0].prot")
        );
    }
}
