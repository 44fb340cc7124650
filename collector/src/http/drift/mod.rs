//! The operator web under `/drift/` (`collector.web`; without it every route here is absent):
//! Swedish server-rendered pages with forms that work without JavaScript, for the service desk,
//! the on-call technicians and the intranet editors.
//!
//! - `GET /drift/` — what needs attention first: on-call alarms not yet acknowledged, services
//!   down (post an update), open incidents (update, close), register an incident;
//! - `GET /drift/fonster` — service windows of the next two months with the sites, services and
//!   devices inside each; activate a secondary window, add or cancel an ad-hoc one;
//! - `GET /drift/logg` — the audit log (who, when, what, from where; refusals too);
//! - `GET|POST /drift/logga-in`, `POST /drift/logga-ut` ([`login`]);
//! - the changes ([`actions`]): `POST /drift/incidenter`, `/drift/incidenter/{id}`,
//!   `/drift/tjanster/{id}/uppdatering`, `/drift/larm/{id}/kvittera`, `/drift/fonster`,
//!   `/drift/fonster/sekundart`, `/drift/fonster/{id}/ta-bort`.
//!
//! Who may: [`crate::web`] (roles, sessions, accounts); [`common`] is what the handlers share.
//! Every answer carries a strict Content-Security-Policy (no script at all; the style sheet
//! `GET /drift/stil.css` from this origin).

pub mod actions;
pub mod common;
pub mod login;
pub mod views;

use crate::http::ApiState;
use crate::web::sessions::Sessions;
use crate::web::AuthKind;
use axum::routing::{get, post};
use axum::{Extension, Router};
use std::sync::Arc;

/// The operator web's routes, or none without `collector.web`.
pub fn routes(state: &ApiState) -> Router<ApiState> {
    let inv = &state.app.inventory;
    let Some(settings) = inv.settings.web.clone() else {
        return Router::new();
    };
    let base = inv.path.parent().unwrap_or(std::path::Path::new("."));
    let users_file = (settings.auth == AuthKind::Local)
        .then(|| settings.users_file.as_ref().map(|f| base.join(f)))
        .flatten();
    let sessions = Sessions::new(
        chrono::Duration::from_std(settings.session.std()).unwrap_or(chrono::Duration::hours(8)),
        settings.lockout_after,
        chrono::Duration::from_std(settings.lockout_for.std())
            .unwrap_or(chrono::Duration::minutes(15)),
    );
    let drift = Arc::new(common::Drift {
        settings,
        users_file,
        sessions,
    });
    Router::new()
        .route("/drift", get(|| async { common::see_other("/drift/") }))
        .route("/drift/", get(views::overview))
        .route(
            "/drift/fonster",
            get(views::windows).post(actions::add_window),
        )
        .route("/drift/logg", get(views::audit_log))
        .route("/drift/stil.css", get(views::style))
        .route("/drift/logga-in", get(login::form).post(login::submit))
        .route("/drift/logga-ut", post(login::logout))
        .route("/drift/incidenter", post(actions::add_incident))
        .route("/drift/incidenter/{id}", post(actions::change_incident))
        .route(
            "/drift/tjanster/{id}/uppdatering",
            post(actions::update_disturbance),
        )
        .route("/drift/larm/{id}/kvittera", post(actions::acknowledge))
        .route(
            "/drift/fonster/sekundart",
            post(actions::activate_secondary),
        )
        .route("/drift/fonster/{id}/ta-bort", post(actions::cancel_window))
        .layer(Extension(drift))
}
