//! `GET /api/requests`, `GET /api/requests/{id}`, `DELETE /api/requests`.

use std::{collections::HashMap, time::Duration};

use axum::{
    extract::{Path, Query, State},
    http::{Method, StatusCode},
    response::{IntoResponse, Response},
};
use ferrotunnel_tower::capture::{Exchange, ExchangeFilter, StatusFilterError};
use serde::Serialize;

use super::fresh_json;
use crate::{
    ApiError, DashboardState,
    views::{ExchangeDetail, ExchangeSummary},
};

/// Items a page holds unless `limit` says otherwise, and at most.
const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 1000;

#[derive(Debug, Serialize)]
struct Page<'a> {
    items: Vec<ExchangeSummary<'a>>,
    next_before: Option<u64>,
}

/// `GET /api/requests?tunnel=&status=&method=&path=&min_ms=&limit=&before=`, newest first.
pub(crate) async fn list(
    State(state): State<DashboardState>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let filter = filter(&query)?;
    let limit = match query.get("limit") {
        None => DEFAULT_LIMIT,
        Some(text) => match text.parse::<usize>() {
            Ok(limit @ 1..=MAX_LIMIT) => limit,
            _ => {
                return Err(bad(
                    "limit",
                    text,
                    &format!("a number from 1 to {MAX_LIMIT}"),
                ));
            }
        },
    };
    let before = match query.get("before") {
        None => None,
        Some(text) => Some(
            text.parse::<u64>()
                .map_err(|_| bad("before", text, "a request id, like 42"))?,
        ),
    };
    // One more than asked, to know whether there is a next page.
    let mut found: Vec<Exchange> = state.capture.list(&filter, before, limit + 1);
    let next_before = (found.len() > limit).then(|| {
        found.truncate(limit);
        found.last().map(|e| e.id)
    });
    Ok(fresh_json(Page {
        items: found.iter().map(ExchangeSummary::new).collect(),
        next_before: next_before.flatten(),
    }))
}

/// The filter the query asks for; a value that cannot be read is a 400 naming the parameter.
pub(crate) fn filter(query: &HashMap<String, String>) -> Result<ExchangeFilter, ApiError> {
    let mut filter = ExchangeFilter::default();
    let given = |name: &str| query.get(name).filter(|value| !value.is_empty());
    if let Some(tunnel) = given("tunnel") {
        filter.tunnel = Some(tunnel.clone());
    }
    if let Some(status) = given("status") {
        filter.status = Some(status.parse().map_err(|err: StatusFilterError| {
            ApiError::BadRequest(format!("bad query parameter status: {err}"))
        })?);
    }
    if let Some(method) = given("method") {
        let method = Method::from_bytes(method.to_ascii_uppercase().as_bytes())
            .map_err(|_| bad("method", method, "an HTTP method, like GET or POST"))?;
        filter.method = Some(method);
    }
    if let Some(path) = given("path") {
        filter.path = Some(path.clone());
    }
    if let Some(text) = given("min_ms") {
        let ms = text
            .parse::<f64>()
            .ok()
            .filter(|ms| ms.is_finite() && *ms >= 0.0 && *ms < 1e12)
            .ok_or_else(|| bad("min_ms", text, "a number of milliseconds, like 250"))?;
        filter.min_duration = Some(Duration::from_secs_f64(ms / 1000.0));
    }
    Ok(filter)
}

fn bad(name: &str, value: &str, wanted: &str) -> ApiError {
    ApiError::BadRequest(format!(
        "bad query parameter {name}: {value:?} is not {wanted}"
    ))
}

/// Reads an exchange id from the path.
fn exchange_id(text: &str) -> Result<u64, ApiError> {
    text.parse().map_err(|_| {
        ApiError::BadRequest(format!(
            "{text:?} is not a request id: ids are numbers, like 42"
        ))
    })
}

/// The exchange whose id is `text` (from the path): a 400 for a non-number, a 404 for an id
/// the store does not hold.
pub(crate) fn find(state: &DashboardState, text: &str) -> Result<Exchange, ApiError> {
    let id = exchange_id(text)?;
    state
        .capture
        .get(id)
        .ok_or_else(|| ApiError::no_exchange(id))
}

/// `GET /api/requests/{id}`.
pub(crate) async fn get(
    State(state): State<DashboardState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(fresh_json(ExchangeDetail::new(&find(&state, &id)?)))
}

/// `DELETE /api/requests`.
pub(crate) async fn clear(State(state): State<DashboardState>) -> impl IntoResponse {
    state.capture.clear();
    StatusCode::NO_CONTENT
}
