//! What the operator web's handlers share: who is asking ([`Drift::visitor`]), the CSRF check,
//! the audit line, the form body and the page answers (strict CSP: no script at all, the style
//! sheet from this origin only).

use crate::http::{auth, body, ApiState};
use crate::pages::render::PageTemplates;
use crate::store::AuditEntry;
use crate::web::sessions::Sessions;
use crate::web::{valid_name, Action, AuthKind, Person, WebSettings};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;

/// The session cookie.
pub const SESSION_COOKIE: &str = "dv_session";
/// The login form's own CSRF cookie (before there is a session).
pub const LOGIN_COOKIE: &str = "dv_login";

/// What every page may load: its own style sheet and nothing else (no script, no frames).
const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
                   base-uri 'none'; frame-ancestors 'none'";

/// The operator web's state: its settings, the accounts' file and the sessions.
pub struct Drift {
    pub settings: WebSettings,
    /// `auth: local`: the accounts' file, resolved against the inventory's folder.
    pub users_file: Option<PathBuf>,
    pub sessions: Sessions,
}

/// Someone recognised, with the identity their CSRF token is made from.
pub struct Visitor {
    pub person: Person,
    pub identity: String,
}

/// Why nobody is recognised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denied {
    /// No session, or an expired one (local), or no user header (proxy).
    NoSession,
    /// The user header came from an address that is not a configured proxy.
    NotProxy(String),
    /// The proxy's user has no group that gives a role.
    NoRole(String),
}

impl Denied {
    /// The audit log's words.
    pub fn reason(&self) -> String {
        match self {
            Denied::NoSession => "refused: no session".into(),
            Denied::NotProxy(from) => format!("refused: user header from {from}, not a proxy"),
            Denied::NoRole(user) => format!("refused: {user} has no group that gives a role"),
        }
    }

    /// The page's words.
    pub fn swedish(&self) -> String {
        match self {
            Denied::NoSession => "Du är inte inloggad, eller så har sessionen gått ut.".into(),
            Denied::NotProxy(_) => {
                "Anropet kom inte från den betrodda proxyn; inloggning via rubrik godtas bara därifrån."
                    .into()
            }
            Denied::NoRole(_) => "Ditt konto har ingen roll i Driftvakt.".into(),
        }
    }
}

impl Drift {
    /// Who is asking, from the session cookie (local) or the proxy's headers.
    pub fn visitor(&self, parts: &Parts, now: DateTime<Utc>) -> Result<Visitor, Denied> {
        match self.settings.auth {
            AuthKind::Local => {
                let id = cookie(&parts.headers, SESSION_COOKIE).ok_or(Denied::NoSession)?;
                let person = self.sessions.person(&id, now).ok_or(Denied::NoSession)?;
                Ok(Visitor {
                    person,
                    identity: id,
                })
            }
            AuthKind::TrustedProxy => self.proxied(parts),
        }
    }

    fn proxied(&self, parts: &Parts) -> Result<Visitor, Denied> {
        let header_of = |name: &str| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .filter(|v| !v.is_empty())
        };
        let user = header_of(&self.settings.user_header);
        let ip = peer_ip(parts);
        if !ip.is_some_and(|ip| self.settings.proxies.contains(&ip)) {
            return Err(match user {
                Some(_) => Denied::NotProxy(peer_text(parts)),
                None => Denied::NoSession,
            });
        }
        let name = user.filter(|u| valid_name(u)).ok_or(Denied::NoSession)?;
        let groups = header_of(&self.settings.groups_header).unwrap_or("");
        let role = self
            .settings
            .groups
            .role_of(groups.split([',', ';', ' ']).map(str::trim))
            .ok_or_else(|| Denied::NoRole(name.to_string()))?;
        Ok(Visitor {
            person: Person {
                name: name.to_string(),
                role,
            },
            identity: format!("proxy:{name}"),
        })
    }
}

/// The peer's address, when the accept loop recorded it.
pub fn peer_ip(parts: &Parts) -> Option<IpAddr> {
    auth::peer(parts).map(|p| p.ip())
}

/// The peer's address as the audit log writes it.
pub fn peer_text(parts: &Parts) -> String {
    peer_ip(parts).map_or_else(|| "-".to_string(), |ip| ip.to_string())
}

/// The value of cookie `name`.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// A `Set-Cookie` value: `Secure; HttpOnly; SameSite=Strict`, path `/drift`; `max_age` 0 deletes.
pub fn set_cookie(name: &str, value: &str, max_age: Option<i64>) -> HeaderValue {
    let age = max_age
        .map(|a| format!("; Max-Age={a}"))
        .unwrap_or_default();
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/drift; Secure; HttpOnly; SameSite=Strict{age}"
    ))
    .expect("cookie values are hex")
}

/// A form body: every field with all its values (check boxes repeat a name).
pub struct Form(pub HashMap<String, Vec<String>>);

impl Form {
    /// Reads and decodes an `application/x-www-form-urlencoded` body (at most 64 KiB).
    pub async fn read(parts: &Parts, b: axum::body::Body) -> Result<Form, Response> {
        let bytes = body::read(parts, b, 64 * 1024).await?;
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes)
            .map_err(|e| crate::http::error(StatusCode::BAD_REQUEST, format!("form: {e}")))?;
        let mut map: HashMap<String, Vec<String>> = HashMap::new();
        for (k, v) in pairs {
            map.entry(k).or_default().push(v);
        }
        Ok(Form(map))
    }

    /// The first value of `name`, trimmed; empty when missing.
    pub fn get(&self, name: &str) -> String {
        self.0
            .get(name)
            .and_then(|v| v.first())
            .map(|v| v.trim().to_string())
            .unwrap_or_default()
    }

    /// Every non-empty value of `name`.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0
            .get(name)
            .map(|v| v.iter().filter(|x| !x.is_empty()).cloned().collect())
            .unwrap_or_default()
    }
}

/// The page templates (overridable as the public pages are).
pub fn templates(s: &ApiState) -> PageTemplates {
    let dir = s
        .app
        .inventory
        .notify
        .as_ref()
        .and_then(|n| n.templates_dir.as_deref());
    PageTemplates::new(dir)
}

/// What every page shows beside its own data.
#[derive(Serialize)]
pub struct Frame<'a, T: Serialize> {
    /// Which page (`oversikt`, `fonster`, `logg`, `logga-in`, `besked`).
    pub page: &'a str,
    pub title: &'a str,
    /// The person logged in (name, role in Swedish), when known.
    pub person: Option<(String, String)>,
    pub csrf: String,
    /// Whether the login is our own form (a logout button) or the proxy's.
    pub local: bool,
    #[serde(flatten)]
    pub data: T,
}

/// Renders `drift.html` with `frame` as a page with `status`.
pub fn page<T: Serialize>(s: &ApiState, status: StatusCode, frame: &Frame<'_, T>) -> Response {
    match templates(s).render("drift.html", frame, &[]) {
        Ok(html) => html_response(status, html),
        Err(e) => crate::http::error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// An HTML answer with the operator web's headers (CSP, no caching, no framing).
pub fn html_response(status: StatusCode, html: String) -> Response {
    let mut r = (status, html).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    secure_headers(h);
    r
}

/// The headers every operator web answer carries.
pub fn secure_headers(h: &mut HeaderMap) {
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
}

#[derive(Serialize)]
struct Notice<'a> {
    heading: &'a str,
    text: &'a str,
}

/// A page that only says something (a refusal, an error), with a link back.
pub fn notice(
    s: &ApiState,
    d: &Drift,
    status: StatusCode,
    person: Option<&Visitor>,
    heading: &str,
    text: &str,
) -> Response {
    let frame = Frame {
        page: "besked",
        title: heading,
        person: person.map(|v| (v.person.name.clone(), v.person.role.swedish().to_string())),
        csrf: person
            .map(|v| d.sessions.csrf(&v.identity))
            .unwrap_or_default(),
        local: d.settings.auth == AuthKind::Local,
        data: Notice { heading, text },
    };
    page(s, status, &frame)
}

/// `303 See Other` to `to` (after a change: the browser's back and reload do not post again).
pub fn see_other(to: &str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    r.headers_mut().insert(
        header::LOCATION,
        HeaderValue::from_str(to).unwrap_or(HeaderValue::from_static("/drift/")),
    );
    secure_headers(r.headers_mut());
    r
}

/// Appends a line to the audit log (off the async threads); a failure to write it is logged.
pub async fn audit(s: &ApiState, who: &str, action: &str, detail: &str, peer: &str, outcome: &str) {
    let entry = AuditEntry {
        id: 0,
        at: s.app.now(),
        who: who.to_string(),
        action: action.to_string(),
        detail: detail.to_string(),
        peer: peer.to_string(),
        outcome: outcome.to_string(),
    };
    let store = s.stores.audit.clone();
    match tokio::task::spawn_blocking(move || store.insert(&entry)).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => tracing::error!("audit log: cannot write {action} by {who}: {e}"),
        Err(e) => tracing::error!("audit log: {e}"),
    }
}

/// A change's gate: the visitor, a CSRF token that matches, a role that allows `action`.
/// Every refusal is audited under `what` and answered with a page saying why.
pub async fn gate(
    s: &ApiState,
    d: &Drift,
    parts: &Parts,
    form: &Form,
    what: &str,
    detail: &str,
    action: Action,
) -> Result<Visitor, Response> {
    let peer = peer_text(parts);
    let v = match d.visitor(parts, s.app.now()) {
        Ok(v) => v,
        Err(denied) => {
            audit(s, "-", what, detail, &peer, &denied.reason()).await;
            let status = match denied {
                Denied::NoSession => StatusCode::UNAUTHORIZED,
                _ => StatusCode::FORBIDDEN,
            };
            return Err(notice(
                s,
                d,
                status,
                None,
                "Inte inloggad",
                &denied.swedish(),
            ));
        }
    };
    let token = form.get("csrf");
    if token.is_empty() || !d.sessions.csrf_ok(&v.identity, &token) {
        let why = if token.is_empty() {
            "refused: missing CSRF token"
        } else {
            "refused: wrong CSRF token"
        };
        audit(s, &v.person.name, what, detail, &peer, why).await;
        return Err(notice(
            s,
            d,
            StatusCode::FORBIDDEN,
            Some(&v),
            "Formuläret godtogs inte",
            "Formuläret saknade giltig kontrollkod (CSRF). Ladda om sidan och försök igen.",
        ));
    }
    if !v.person.may(action) {
        let why = format!("refused: role {} may not", v.person.role.name());
        audit(s, &v.person.name, what, detail, &peer, &why).await;
        return Err(notice(
            s,
            d,
            StatusCode::FORBIDDEN,
            Some(&v),
            "Inte behörig",
            &format!(
                "Din roll ({}) får inte göra detta.",
                v.person.role.swedish()
            ),
        ));
    }
    Ok(v)
}
