//! The JSON API, one module per resource.

pub(crate) mod events;
pub(crate) mod har;
pub(crate) mod metrics;
pub(crate) mod replay;
pub(crate) mod requests;
pub(crate) mod stats;
pub(crate) mod tunnels;

use axum::{
    Json,
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;

use crate::ApiError;

/// JSON that must never come from a cache: it changes with every request through a tunnel.
pub(crate) fn fresh_json(value: impl Serialize) -> Response {
    (
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        Json(value),
    )
        .into_response()
}

/// `GET /healthz`.
pub(crate) async fn healthz() -> &'static str {
    "ok\n"
}

/// Any other path.
pub(crate) async fn not_found() -> ApiError {
    ApiError::NotFound(
        "not found: the dashboard serves /, /assets/…, /api/tunnels, /api/requests, /api/stats, \
         /api/events, /api/har, /metrics and /healthz"
            .to_owned(),
    )
}
