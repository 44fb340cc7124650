//! `GET /api/v1/report?period=2026-T1` (or `from=..&to=..`): the availability report as JSON,
//! the same as `driftvakt-collector report --format json`.

use super::{error, ApiState};
use crate::availability::{period_of, Period};
use crate::report;
use axum::extract::{Query, State as AxState};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Deserialize;

/// Query of `GET /api/v1/report`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportQuery {
    pub period: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

impl ReportQuery {
    /// The period a report query names (`period`, or `from` and `to`) at `now`; a query that
    /// does not parse or names no period is the 400 to answer.
    #[allow(clippy::result_large_err)] // the error is the answer, returned at once
    pub fn period(
        query: Result<Query<ReportQuery>, axum::extract::rejection::QueryRejection>,
        now: DateTime<Utc>,
    ) -> Result<Period, Response> {
        let q = match query {
            Ok(Query(q)) => q,
            Err(e) => return Err(error(StatusCode::BAD_REQUEST, e.body_text())),
        };
        period_of(q.period.as_deref(), q.from, q.to, now)
            .map_err(|e| error(StatusCode::BAD_REQUEST, e))
    }
}

#[allow(clippy::result_large_err)] // the error is the answer, returned at once
pub async fn get_report(
    AxState(state): AxState<ApiState>,
    query: Result<Query<ReportQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let now = state.app.now();
    let period = match ReportQuery::period(query, now) {
        Ok(p) => p,
        Err(answer) => return answer,
    };
    let (app, stores) = (state.app.clone(), state.stores.clone());
    let calendar = state.calendar.clone();
    let result = tokio::task::spawn_blocking(move || {
        let windows = calendar.calendar().map_err(|e| super::failure(&e))?;
        let build = || {
            let mut r = report::build(&app.inventory, &*app.store, &windows, &period, now)?;
            report::add_oncall_cases(&mut r, &*stores.notify, &*stores.oncall_cases)?;
            report::add_intefunktion_cases(&mut r, &app.inventory, &*stores.intefunktion)?;
            Ok(r)
        };
        build().map_err(|e| match e {
            report::ReportError::Future(_) => {
                error(StatusCode::BAD_REQUEST, "the period has not started yet")
            }
            e => super::failure(&e),
        })
    })
    .await;
    match result {
        Ok(Ok(r)) => Json(r).into_response(),
        Ok(Err(answer)) => answer,
        Err(e) => super::task_failed(e),
    }
}
