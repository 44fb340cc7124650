//! Acknowledging on-call alerts.
//!
//! - `POST /api/v1/alerts/{id}/ack` — operator token; 200 with the alert
//!   (`{"id", "acknowledged_at", "acknowledged_by", ...}`), 404 unknown, 409 already
//!   acknowledged or over.
//! - `GET /ack/{token}` — the link in an on-call alert: a small Swedish page saying what is
//!   acknowledged (device, site, what is wrong, since when, who has been paged) with one
//!   button (so a link preview in a chat or SMS app does not acknowledge by fetching it);
//!   `POST /ack/{token}` — acknowledges, once: 200, then 409; 410 when the link has expired,
//!   404 when it is not a valid link.
//!
//! Without a notifier (`notify:` missing) every route answers 503.

use super::auth::operator;
use super::{error, ApiState};
use crate::calendar::swedish::{class_name_sv, date_time_sv, duration_sv};
use crate::events::Event;
use crate::notify::escalation::LinkView;
use crate::notify::{AckError, Acknowledge, OncallPage};
use crate::windows::CalendarError;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::{request::Parts, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use std::sync::Arc;

/// The routes of this file.
pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/v1/alerts/{id}/ack", post(post_ack))
        .route("/ack/{token}", axum::routing::get(get_link).post(post_link))
}

/// Runs `f` on the acknowledger in a blocking task (SQLite).
async fn with_acks<R: Send + 'static>(
    state: &ApiState,
    f: impl FnOnce(&dyn Acknowledge) -> Result<R, AckError> + Send + 'static,
) -> Result<R, Response> {
    let Some(acks) = state.alerts.clone() else {
        return Err(error(
            StatusCode::SERVICE_UNAVAILABLE,
            "alerts are not configured (no notify: section)",
        ));
    };
    let acks: Arc<dyn Acknowledge> = acks;
    match tokio::task::spawn_blocking(move || f(acks.as_ref())).await {
        Ok(r) => r.map_err(|e| ack_error(&e)),
        Err(e) => Err(super::task_failed(e)),
    }
}

fn status_of(e: &AckError) -> StatusCode {
    match e {
        AckError::Unknown(_) | AckError::BadToken => StatusCode::NOT_FOUND,
        AckError::AlreadyAcknowledged { .. } | AckError::Over { .. } => StatusCode::CONFLICT,
        AckError::Expired => StatusCode::GONE,
        AckError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

fn ack_error(e: &AckError) -> Response {
    match e {
        AckError::Store(_) => super::failure(e),
        _ => error(status_of(e), e.to_string()),
    }
}

fn page_json(p: &OncallPage) -> Response {
    Json(p).into_response()
}

async fn post_ack(State(state): State<ApiState>, parts: Parts) -> Response {
    if let Err(refused) = operator(state.operator_token.as_ref(), &parts) {
        return refused;
    }
    let id = match Path::<i64>::from_request_parts(&mut parts.clone(), &state).await {
        Ok(Path(id)) => id,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.body_text()),
    };
    match with_acks(&state, move |a| a.ack_operator(id, "operatör")).await {
        Ok(page) => page_json(&page),
        Err(r) => r,
    }
}

fn html(status: StatusCode, title: &str, body: &str) -> Response {
    let page = format!(
        "<!DOCTYPE html>\n<html lang=\"sv\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\"><title>{title}</title>\
         <style>{ACK_STYLE}</style></head>\
         <body><main><h1>{title}</h1>{body}</main></body></html>\n"
    );
    (status, Html(page)).into_response()
}

/// The pages' look, small enough for a phone at night: large text, the facts in two columns.
const ACK_STYLE: &str = "body { font-family: sans-serif; font-size: 1.15em; margin: 1em; \
     color: #111; background: #fff; } dl { display: grid; grid-template-columns: max-content 1fr; \
     gap: .3em 1em; } dt { font-weight: bold; } dd { margin: 0; } \
     button { font-size: 1.5em; padding: .4em 1em; }";

fn html_error(e: &AckError) -> Response {
    let text = match e {
        AckError::Expired => "Länken har gått ut.".to_string(),
        AckError::BadToken | AckError::Unknown(_) => "Länken är inte giltig.".to_string(),
        AckError::AlreadyAcknowledged { by, .. } => {
            format!("Larmet är redan kvitterat av {}.", escape(by))
        }
        AckError::Over { .. } => "Larmet har redan upphört.".to_string(),
        AckError::Store(_) if super::unavailable(e) => {
            let page = html(
                StatusCode::SERVICE_UNAVAILABLE,
                "Kvittera larm",
                "<p>Databasen kan inte nås just nu; försök igen om en stund.</p>",
            );
            return super::retry_later(page);
        }
        AckError::Store(_) => "Ett fel uppstod; försök igen.".to_string(),
    };
    html(status_of(e), "Kvittera larm", &format!("<p>{text}</p>"))
}

fn escape(s: &str) -> String {
    crate::notify::render::escape_html(s)
}

async fn get_link(State(state): State<ApiState>, Path(token): Path<String>) -> Response {
    let Some(acks) = state.alerts.clone() else {
        return html_error(&AckError::BadToken);
    };
    let (t, calendar) = (token.clone(), state.calendar.clone());
    let read = move || -> Result<(LinkView, chrono_tz::Tz), AckError> {
        let view = acks.link_view(&t)?;
        let tz = calendar.calendar().map_err(|e| match e {
            CalendarError::Store(s) => AckError::Store(s),
            _ => AckError::BadToken,
        })?;
        Ok((view, tz.time_zone()))
    };
    let (view, tz) = match tokio::task::spawn_blocking(read).await {
        Ok(Ok(found)) => found,
        Ok(Err(e)) => return html_error(&e),
        Err(_) => return html_error(&AckError::BadToken),
    };
    let page = &view.page;
    match (page.acknowledged_at, &page.acknowledged_by, page.closed_at) {
        (Some(at), Some(by), _) => html_error(&AckError::AlreadyAcknowledged {
            id: page.id,
            at,
            by: by.clone(),
        }),
        (_, _, Some(at)) => html_error(&AckError::Over { id: page.id, at }),
        _ => html(
            StatusCode::OK,
            "Kvittera larm",
            &format!(
                "{}<form method=\"post\" action=\"/ack/{}\"><button type=\"submit\" \
                 style=\"font-size: 1.5em\">Kvittera – jag tar larmet</button></form>",
                what_is_paged(&view, tz, state.app.now()),
                escape(&token)
            ),
        ),
    }
}

/// What the technician acknowledges: device, site, what is wrong and since when, and who
/// has been paged (the link's holder marked "du").
fn what_is_paged(view: &LinkView, tz: chrono_tz::Tz, now: chrono::DateTime<chrono::Utc>) -> String {
    let Event::DeviceAlert {
        device_name,
        class,
        site_name,
        municipality,
        kind,
        since,
        detail,
        ..
    } = &view.page.event
    else {
        return String::new();
    };
    let paged: Vec<String> = view
        .paged
        .iter()
        .map(|p| {
            if *p == view.contact {
                format!("{} (du)", escape(p))
            } else {
                escape(p)
            }
        })
        .collect();
    let mut rows = vec![
        (
            "Enhet",
            format!("{} ({})", escape(device_name), escape(class_name_sv(class))),
        ),
        (
            "Plats",
            format!("{}, {}", escape(site_name), escape(municipality)),
        ),
        ("Fel", escape(&kind.swedish())),
        (
            "Sedan",
            format!(
                "{} ({})",
                escape(&date_time_sv(*since, tz)),
                escape(&duration_sv(now - *since))
            ),
        ),
    ];
    if !detail.is_empty() {
        rows.push(("Detalj", escape(detail)));
    }
    rows.push(("Larmade", paged.join(", ")));
    let rows: String = rows
        .iter()
        .map(|(k, v)| format!("<dt>{k}</dt><dd>{v}</dd>"))
        .collect();
    format!("<dl>{rows}</dl>")
}

async fn post_link(State(state): State<ApiState>, Path(token): Path<String>) -> Response {
    let Some(acks) = state.alerts.clone() else {
        return html_error(&AckError::BadToken);
    };
    match tokio::task::spawn_blocking(move || acks.ack_link(&token)).await {
        Ok(Ok(page)) => html(
            StatusCode::OK,
            "Kvitterat",
            &format!(
                "<p>Larmet är kvitterat av {}. Tack!</p>",
                escape(page.acknowledged_by.as_deref().unwrap_or(""))
            ),
        ),
        Ok(Err(e)) => html_error(&e),
        Err(_) => html_error(&AckError::BadToken),
    }
}
