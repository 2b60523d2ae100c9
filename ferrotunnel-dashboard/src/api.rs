//! The JSON API and the health check.

use axum::{
    Json,
    extract::State,
    http::{HeaderValue, StatusCode, header},
    response::IntoResponse,
};
use ferrotunnel::protocol::TunnelInfo;
use serde::Serialize;

use crate::DashboardState;

/// One live tunnel, as `GET /api/tunnels` shows it.
///
/// The API's own type rather than the protocol's [`TunnelInfo`], so that the wire protocol can
/// grow without changing the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TunnelView {
    /// The tunnel's name (`app` for `app.localhost`).
    pub name: String,
    /// Where visitors reach it, e.g. `http://app.localhost:8080`.
    pub public_url: String,
}

impl From<&TunnelInfo> for TunnelView {
    fn from(info: &TunnelInfo) -> Self {
        Self {
            name: info.name.clone(),
            public_url: info.public_url.clone(),
        }
    }
}

/// `GET /api/tunnels`.
pub(crate) async fn tunnels(State(state): State<DashboardState>) -> impl IntoResponse {
    (
        // The list changes whenever a client comes or goes: never serve it from a cache.
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        Json(state.tunnels()),
    )
}

/// `GET /healthz`.
pub(crate) async fn healthz() -> &'static str {
    "ok\n"
}

/// Any other path.
pub(crate) async fn not_found() -> (StatusCode, &'static str) {
    (
        StatusCode::NOT_FOUND,
        "not found: the dashboard serves /, /api/tunnels and /healthz\n",
    )
}
