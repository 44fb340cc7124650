//! Rendering the pages with minijinja, the engine of the mails: strict undefined (a misspelt
//! variable in an override is an error naming the file and line, not an empty cell), HTML
//! escaping in `.html` templates and XML escaping (the same five characters) in `.atom`, and
//! every text made fit for XML first ([`driftvakt_common::xml::fit`]: a control character in a
//! stored title must not make the feed unreadable).
//!
//! The templates are compiled in from `collector/templates/pages/` ([`TEMPLATES`]); a file of
//! the same name in `notify.templates_dir/pages/` replaces one without rebuilding. The view
//! models are handed over as data (serialized), so a template can use every field they have.

use minijinja::value::Value;
use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The page templates and their built-in sources.
pub const TEMPLATES: &[(&str, &str)] = &[
    (
        "driftinfo.html",
        include_str!("../../templates/pages/driftinfo.html"),
    ),
    (
        "driftinfo_body.html",
        include_str!("../../templates/pages/driftinfo_body.html"),
    ),
    (
        "status.html",
        include_str!("../../templates/pages/status.html"),
    ),
    (
        "drift.html",
        include_str!("../../templates/pages/drift.html"),
    ),
    ("feed.atom", include_str!("../../templates/pages/feed.atom")),
    ("style.css", include_str!("../../templates/pages/style.css")),
    (
        "refresh.js",
        include_str!("../../templates/pages/refresh.js"),
    ),
];

/// Why a page could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    #[error("cannot read template {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Template(String),
}

/// The page templates, overridable from `dir/pages/`.
#[derive(Debug, Clone, Default)]
pub struct PageTemplates {
    dir: Option<PathBuf>,
}

impl PageTemplates {
    /// `dir` is `notify.templates_dir` (overrides are read from its `pages/` folder).
    pub fn new(dir: Option<&Path>) -> Self {
        PageTemplates {
            dir: dir.map(|d| d.join("pages")),
        }
    }

    /// The source of template `name` and the name errors use.
    fn source(&self, name: &str) -> Result<(String, String), PageError> {
        if let Some(path) = self.dir.as_ref().map(|d| d.join(name)) {
            if path.is_file() {
                let text = std::fs::read_to_string(&path).map_err(|source| PageError::Read {
                    path: path.clone(),
                    source,
                })?;
                return Ok((path.display().to_string(), text));
            }
        }
        let text = TEMPLATES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, t)| t.to_string())
            .ok_or_else(|| PageError::Template(format!("no page template {name}")))?;
        Ok((format!("pages/{name}"), text))
    }

    /// A template's text as it is (CSS, the refresh script).
    pub fn raw(&self, name: &str) -> Result<String, PageError> {
        Ok(self.source(name)?.1)
    }

    /// Renders template `name` with the fields of `data` (any serializable value, an object
    /// at the top) and `extra` values already safe (rendered fragments, CSS, script).
    pub fn render(
        &self,
        name: &str,
        data: &impl serde::Serialize,
        extra: &[(&str, String)],
    ) -> Result<String, PageError> {
        let (label, text) = self.source(name)?;
        let json = serde_json::to_value(data).map_err(|e| PageError::Template(e.to_string()))?;
        let mut ctx: BTreeMap<String, Value> = match &json {
            serde_json::Value::Object(map) => {
                map.iter().map(|(k, v)| (k.clone(), convert(v))).collect()
            }
            _ => BTreeMap::new(),
        };
        for (k, v) in extra {
            ctx.insert((*k).to_string(), Value::from_safe_string(v.clone()));
        }
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_debug(true);
        env.set_auto_escape_callback(|name| {
            if name.ends_with(".html") || name.ends_with(".atom") {
                AutoEscape::Html
            } else {
                AutoEscape::None
            }
        });
        env.render_named_str(&label, &text, Value::from(ctx))
            .map_err(|e| {
                let line = e.line().map(|l| format!(":{l}")).unwrap_or_default();
                let detail = e.detail().map(|d| format!(": {d}")).unwrap_or_default();
                PageError::Template(format!(
                    "{}{line}: {}{detail}",
                    e.name().unwrap_or(&label),
                    e.kind()
                ))
            })
    }
}

/// A JSON value as a template value.
fn convert(json: &serde_json::Value) -> Value {
    match json {
        serde_json::Value::Null => Value::from(()),
        serde_json::Value::Bool(b) => Value::from(*b),
        serde_json::Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => Value::from(i),
            (None, Some(f)) => Value::from(f),
            _ => Value::from(n.to_string()),
        },
        serde_json::Value::String(s) => Value::from(driftvakt_common::xml::fit(s).as_ref()),
        serde_json::Value::Array(a) => Value::from(a.iter().map(convert).collect::<Vec<_>>()),
        serde_json::Value::Object(map) => Value::from(
            map.iter()
                .map(|(k, v)| (k.clone(), convert(v)))
                .collect::<BTreeMap<String, Value>>(),
        ),
    }
}

/// Renders every built-in or overridden template with an empty context where it needs none,
/// for `check-config`: a template that does not parse is an error naming its file.
pub fn check(dir: Option<&Path>) -> Result<(), PageError> {
    let t = PageTemplates::new(dir);
    let env = Environment::new();
    for (name, _) in TEMPLATES {
        let (label, text) = t.source(name)?;
        env.template_from_named_str(&label, &text)
            .map_err(|e| PageError::Template(format!("{label}: {e}")))?;
    }
    Ok(())
}
