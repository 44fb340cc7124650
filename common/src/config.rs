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
    serde_saphyr::from_str_with_options(source, options).map_err(|e| {
        let (line, column) = e
            .location()
            .map(|l| (l.line(), l.column()))
            .unwrap_or((0, 0));
        let message = clean_message(&e.without_snippet().to_string());
        let (line, column) = refine_location(source, line, column, &message);
        ConfigError {
            file: path.to_path_buf(),
            line,
            column,
            key: if line > 0 {
                key_path_at(source, line)
            } else {
                None
            },
            message,
        }
    })
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
