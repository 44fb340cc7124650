//! `GET|POST /drift/logga-in`, `POST /drift/logga-ut`: the local accounts' login (rate limit
//! per address, lockout per account, both audited) and the logout. With `auth: trusted_proxy`
//! the login page only says that the proxy logs in.

use super::common::{
    audit, cookie, gate, notice, page, peer_ip, peer_text, secure_headers, see_other, set_cookie,
    Drift, Form, Frame, LOGIN_COOKIE, SESSION_COOKIE,
};
use crate::http::ApiState;
use crate::web::accounts::Accounts;
use crate::web::sessions::{random_token, Refusal};
use crate::web::{valid_name, Action, AuthKind, Person};
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use serde::Serialize;
use std::sync::Arc;

#[derive(Serialize)]
struct LoginData {
    error: Option<String>,
    name: String,
}

fn login_page(s: &ApiState, d: &Drift, status: StatusCode, data: LoginData) -> Response {
    let token = random_token();
    let frame = Frame {
        page: "logga-in",
        title: "Logga in",
        person: None,
        csrf: token.clone(),
        local: true,
        data,
    };
    let mut r = page(s, status, &frame);
    r.headers_mut()
        .append(header::SET_COOKIE, set_cookie(LOGIN_COOKIE, &token, None));
    let _ = d;
    r
}

/// `GET /drift/logga-in`.
pub async fn form(State(s): State<ApiState>, Extension(d): Extension<Arc<Drift>>) -> Response {
    if d.settings.auth != AuthKind::Local {
        return notice(
            &s,
            &d,
            StatusCode::OK,
            None,
            "Logga in",
            "Inloggningen sköts av organisationens inloggning framför Driftvakt.",
        );
    }
    login_page(
        &s,
        &d,
        StatusCode::OK,
        LoginData {
            error: None,
            name: String::new(),
        },
    )
}

/// `POST /drift/logga-in` `namn`, `losenord`, `csrf`.
pub async fn submit(
    State(s): State<ApiState>,
    Extension(d): Extension<Arc<Drift>>,
    request: Request,
) -> Response {
    let (parts, b) = request.into_parts();
    let form = match Form::read(&parts, b).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let name = form.get("namn");
    let peer = peer_text(&parts);
    let refuse = |status, text: &str| {
        login_page(
            &s,
            &d,
            status,
            LoginData {
                error: Some(text.to_string()),
                name: name.clone(),
            },
        )
    };
    if d.settings.auth != AuthKind::Local {
        return refuse(StatusCode::NOT_FOUND, "Inloggningen sköts av proxyn.");
    }
    let token = cookie(&parts.headers, LOGIN_COOKIE).unwrap_or_default();
    if token.is_empty() || token != form.get("csrf") {
        audit(
            &s,
            &name,
            "login",
            "",
            &peer,
            "refused: missing or wrong CSRF token",
        )
        .await;
        return refuse(
            StatusCode::FORBIDDEN,
            "Formuläret saknade giltig kontrollkod. Försök igen.",
        );
    }
    match check(&s, &d, &parts, &name, &form.get("losenord")).await {
        Ok(person) => {
            audit(&s, &name, "login", "", &peer, "ok").await;
            let id = d.sessions.open(person, s.app.now());
            let mut r = see_other("/drift/");
            let h = r.headers_mut();
            h.append(header::SET_COOKIE, set_cookie(SESSION_COOKIE, &id, None));
            h.append(header::SET_COOKIE, set_cookie(LOGIN_COOKIE, "", Some(0)));
            r
        }
        Err((status, why, text)) => {
            audit(&s, &name, "login", "", &peer, &why).await;
            refuse(status, &text)
        }
    }
}

/// The person `name` is when `password` is right, else (status, audit words, page words).
async fn check(
    s: &ApiState,
    d: &Drift,
    parts: &Parts,
    name: &str,
    password: &str,
) -> Result<Person, (StatusCode, String, String)> {
    let wrong = || {
        (
            StatusCode::UNAUTHORIZED,
            "refused: wrong user name or password".to_string(),
            "Fel användarnamn eller lösenord.".to_string(),
        )
    };
    if !valid_name(name) {
        return Err(wrong());
    }
    let now = s.app.now();
    let ip = peer_ip(parts).unwrap_or(std::net::IpAddr::from([0, 0, 0, 0]));
    match d.sessions.attempt(ip, name, now) {
        Err(Refusal::RateLimited) => {
            return Err((
                StatusCode::TOO_MANY_REQUESTS,
                "refused: too many attempts from this address".into(),
                "För många inloggningsförsök. Vänta en minut och försök igen.".into(),
            ))
        }
        Err(Refusal::Locked(_)) => return Err(locked()),
        Ok(()) => {}
    }
    let Some(file) = d.users_file.clone() else {
        return Err(wrong());
    };
    let (user, pass) = (name.to_string(), password.to_string());
    let verified =
        tokio::task::spawn_blocking(move || Accounts::load(&file).map(|a| a.verify(&user, &pass)))
            .await;
    match verified {
        Ok(Ok(Some(role))) => {
            d.sessions.succeeded(name);
            Ok(Person {
                name: name.to_string(),
                role,
            })
        }
        Ok(Ok(None)) => match d.sessions.failed(name, now) {
            Some(_) => Err(locked()),
            None => Err(wrong()),
        },
        Ok(Err(e)) => {
            tracing::error!("operator web: the accounts' file: {e}");
            Err((
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("refused: accounts' file: {e}"),
                "Kontona kan inte läsas just nu.".into(),
            ))
        }
        Err(e) => Err((
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("refused: {e}"),
            "Ett fel uppstod.".into(),
        )),
    }
}

fn locked() -> (StatusCode, String, String) {
    (
        StatusCode::FORBIDDEN,
        "refused: account locked".into(),
        "Kontot är låst efter för många misslyckade försök. Försök igen senare.".into(),
    )
}

/// `POST /drift/logga-ut` `csrf`.
pub async fn logout(
    State(s): State<ApiState>,
    Extension(d): Extension<Arc<Drift>>,
    request: Request,
) -> Response {
    let (parts, b) = request.into_parts();
    let form = match Form::read(&parts, b).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let v = match gate(&s, &d, &parts, &form, "logout", "", Action::Read).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    d.sessions.close(&v.identity);
    audit(&s, &v.person.name, "logout", "", &peer_text(&parts), "ok").await;
    let mut r = see_other("/drift/logga-in");
    r.headers_mut()
        .append(header::SET_COOKIE, set_cookie(SESSION_COOKIE, "", Some(0)));
    secure_headers(r.headers_mut());
    r.into_response()
}
