//! The pages people read in a browser, and the operators' updates of probed disturbances.
//!
//! - `GET /` — the team's status page ([`crate::pages::team`]): sites, devices, state, reason,
//!   since when, what is unreachable behind what; `?q=TEXT&state=problem` filters. It shows
//!   addresses: restrict it in front of the collector (see the README).
//! - `GET /driftinfo/{kommun}` — a municipality's driftinformation ([`crate::pages::public`]);
//!   `?embed=1` the fragment without page chrome (for the intranet's CMS),
//!   `?uppdatera=nej` without automatic refresh. `GET /driftinfo/{kommun}.json` the same as
//!   JSON, `GET /driftinfo/{kommun}/feed.atom` as an Atom feed ([`crate::pages::feed`]).
//!   `{kommun}` is the slug ([`crate::pages::slug`]); an unknown one is `404`.
//! - `POST /api/v1/services/{id}/updates` `{"text", "by"?}` — an update of the service's
//!   ongoing disturbance (operator token; `409` when it is not down now).
//!
//! Pages are sent with a Content-Security-Policy that allows nothing from elsewhere (styles
//! and the refresh script are inline, fetches go to this origin only).

use super::{auth, body, error, ApiState};
use crate::incidents::service::{update_service, ServiceChange};
use crate::pages::render::{PageError, PageTemplates};
use crate::pages::team::{team_status, Filter};
use crate::pages::{driftinfo, feed, municipality_of, Driftinfo};
use axum::body::{Body, Bytes};
use axum::extract::{FromRequestParts, Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::Duration;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

/// What a page may load: only itself.
const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; \
                   connect-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'";

/// The routes, to merge into the main router.
pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/", get(team))
        .route("/driftinfo/{kommun}", get(page))
        .route("/driftinfo/{kommun}/feed.atom", get(atom))
        .route("/api/v1/services/{id}/updates", post(add_update))
}

fn templates(s: &ApiState) -> PageTemplates {
    let dir = s
        .app
        .inventory
        .notify
        .as_ref()
        .and_then(|n| n.templates_dir.as_deref());
    PageTemplates::new(dir)
}

fn with_type(content_type: &'static str, text: impl Into<Body>, public: bool) -> Response {
    let body: Body = text.into();
    let mut r = (StatusCode::OK, body).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if content_type.starts_with("text/html") {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        );
    }
    if public {
        h.insert(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        );
    }
    r
}

/// A page that could not be rendered (a template): `500`.
fn internal(e: PageError) -> Response {
    error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
}

/// The driftinformation of the municipality with slug `kommun`, as last built
/// ([`crate::pages::cache`]: built again off the async threads when its rules say so). Every
/// read first reads the operators' updates (the page's own query, small): a page is served
/// only while the database answers, and an update written by another process is shown at once
/// (their count and newest id are the cache's version). A failure is already the answer
/// ([`super::failure`]: `503` while the database is away).
#[allow(clippy::result_large_err)] // the error is the answer, returned at once
async fn load(s: &ApiState, kommun: &str) -> Result<Arc<DriftinfoPage>, Response> {
    let Some(municipality) = municipality_of(&s.app.inventory, kommun) else {
        return Err(error(
            StatusCode::NOT_FOUND,
            format!("no municipality with the slug `{kommun}`"),
        ));
    };
    let store = s.stores.service_updates.clone();
    let since = s.app.now() - Duration::days(31);
    let updates = tokio::task::spawn_blocking(move || store.since(since))
        .await
        .map_err(super::task_failed)?
        .map_err(|e| super::failure(&e))?;
    let newest = updates.iter().map(|u| u.id).max().unwrap_or(0) as u64;
    let version = ((updates.len() as u64) << 32) ^ newest;
    let (app, calendar) = (s.app.clone(), s.calendar.clone());
    let build = move || async move {
        tokio::task::spawn_blocking(move || {
            let now = app.now();
            let calendar = calendar.calendar().map_err(|e| super::failure(&e))?;
            driftinfo(&app, &calendar, &updates, &municipality, now)
                .map(DriftinfoPage::new)
                .map_err(|e| super::failure(&e))
        })
        .await
        .map_err(super::task_failed)?
    };
    s.pages.get(kommun, version, s.app.subscribe(), build).await
}

/// A municipality's driftinformation as built, with each of its renderings made once, on
/// first use, and then served to every reader of that build.
pub struct DriftinfoPage {
    info: Driftinfo,
    json: OnceLock<Bytes>,
    embed: OnceLock<Result<Bytes, String>>,
    /// The whole page with automatic refresh (`[0]`) and without (`[1]`).
    page: [OnceLock<Result<Bytes, String>>; 2],
}

impl DriftinfoPage {
    fn new(info: Driftinfo) -> Self {
        DriftinfoPage {
            info,
            json: OnceLock::new(),
            embed: OnceLock::new(),
            page: [OnceLock::new(), OnceLock::new()],
        }
    }

    fn json(&self) -> Bytes {
        self.json
            .get_or_init(|| Bytes::from(serde_json::to_vec(&self.info).unwrap_or_default()))
            .clone()
    }

    fn embed(&self, t: &PageTemplates) -> Result<Bytes, String> {
        self.embed
            .get_or_init(|| {
                t.render("driftinfo_body.html", &self.info, &[])
                    .map(Bytes::from)
                    .map_err(|e| e.to_string())
            })
            .clone()
    }

    fn page(&self, t: &PageTemplates, refresh: bool) -> Result<Bytes, String> {
        self.page[usize::from(!refresh)]
            .get_or_init(|| {
                let body = String::from_utf8_lossy(&self.embed(t)?).into_owned();
                let style = t.raw("style.css").map_err(|e| e.to_string())?;
                let script = t.raw("refresh.js").map_err(|e| e.to_string())?;
                t.render(
                    "driftinfo.html",
                    &PageData {
                        info: &self.info,
                        refresh,
                    },
                    &[("body", body), ("style", style), ("script", script)],
                )
                .map(Bytes::from)
                .map_err(|e| e.to_string())
            })
            .clone()
    }
}

#[derive(Serialize)]
struct PageData<'a> {
    #[serde(flatten)]
    info: &'a Driftinfo,
    refresh: bool,
}

async fn page(
    State(s): State<ApiState>,
    Path(kommun): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Some(slug) = kommun.strip_suffix(".json") {
        return match load(&s, slug).await {
            Ok(built) => with_type("application/json", built.json(), true),
            Err(answer) => answer,
        };
    }
    let built = match load(&s, &kommun).await {
        Ok(built) => built,
        Err(answer) => return answer,
    };
    let t = templates(&s);
    let rendered = if q.get("embed").is_some_and(|v| v == "1" || v == "true") {
        built.embed(&t)
    } else {
        built.page(&t, q.get("uppdatera").is_none_or(|v| v != "nej"))
    };
    match rendered {
        Ok(html) => with_type("text/html; charset=utf-8", html, true),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

/// The base of absolute links in the feed: `collector.public_url`, else the request's host.
fn base_url(s: &ApiState, headers: &HeaderMap) -> String {
    if let Some(u) = &s.app.inventory.settings.public_url {
        return u.trim_end_matches('/').to_string();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            h.chars()
                .all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c))
        })
        .unwrap_or("localhost");
    format!("http://{host}")
}

#[derive(Serialize)]
struct FeedData<'a> {
    municipality: &'a str,
    slug: &'a str,
    base: String,
    feed: feed::Feed,
}

async fn atom(
    State(s): State<ApiState>,
    Path(kommun): Path<String>,
    headers: HeaderMap,
) -> Response {
    let built = match load(&s, &kommun).await {
        Ok(built) => built,
        Err(answer) => return answer,
    };
    let info = &built.info;
    let data = FeedData {
        municipality: &info.municipality,
        slug: &info.slug,
        base: base_url(&s, &headers),
        feed: feed::feed(info),
    };
    match templates(&s).render("feed.atom", &data, &[]) {
        Ok(xml) => with_type("application/atom+xml; charset=utf-8", xml, true),
        Err(e) => internal(e),
    }
}

#[derive(Serialize)]
struct TeamData<'a> {
    #[serde(flatten)]
    status: &'a crate::pages::team::TeamStatus,
}

#[allow(clippy::result_large_err)] // the error is the answer, returned at once
async fn team(
    State(s): State<ApiState>,
    q: Result<Query<Filter>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let filter = match q {
        Ok(Query(f)) => f,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.body_text()),
    };
    let (app, calendar) = (s.app.clone(), s.calendar.clone());
    let built = tokio::task::spawn_blocking(move || {
        let tz = calendar
            .calendar()
            .map_err(|e| super::failure(&e))?
            .time_zone();
        let grafana = app.inventory.settings.grafana_url.clone();
        team_status(&app, tz, grafana.as_deref(), &filter, app.now())
            .map_err(|e| super::failure(&e))
    })
    .await;
    let status = match built {
        Ok(Ok(st)) => st,
        Ok(Err(answer)) => return answer,
        Err(e) => return super::task_failed(e),
    };
    let t = templates(&s);
    let rendered = t.raw("style.css").and_then(|style| {
        let script = t.raw("refresh.js")?;
        t.render(
            "status.html",
            &TeamData { status: &status },
            &[("style", style), ("script", script)],
        )
    });
    match rendered {
        Ok(html) => with_type("text/html; charset=utf-8", html, false),
        Err(e) => internal(e),
    }
}

async fn add_update(State(s): State<ApiState>, request: Request) -> Response {
    let (mut parts, body_stream) = request.into_parts();
    if let Err(answer) = auth::operator(s.operator_token.as_ref(), &parts) {
        return answer;
    }
    let id = match Path::<String>::from_request_parts(&mut parts, &s).await {
        Ok(Path(id)) => id,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.body_text()),
    };
    let bytes = match body::read(&parts, body_stream, 32 * 1024).await {
        Ok(b) => b,
        Err(answer) => return answer,
    };
    let c: ServiceChange = match serde_json::from_slice(&bytes) {
        Ok(c) => c,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("invalid body: {e}")),
    };
    let (app, updates) = (s.app.clone(), s.stores.service_updates.clone());
    let result = tokio::task::spawn_blocking(move || {
        update_service(&app.inventory, &*app.store, &updates, &id, &c, app.now())
    })
    .await;
    s.pages.written();
    match result {
        Ok(Ok(u)) => (StatusCode::CREATED, Json(u)).into_response(),
        Ok(Err(e)) => super::incidents::answer(e),
        Err(e) => super::task_failed(e),
    }
}
