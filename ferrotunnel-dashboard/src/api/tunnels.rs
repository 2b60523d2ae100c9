//! `GET /api/tunnels` and `GET /api/tunnels/{name}`.

use axum::{
    extract::{Path, State},
    response::Response,
};
use ferrotunnel_tower::capture::CaptureStore;
use serde::Serialize;

use super::fresh_json;
use crate::{
    ApiError, DashboardState,
    time::{millis, rfc3339_millis},
    tunnels::TunnelView,
};

/// A live tunnel with its traffic figures (from the capture store).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct TunnelSummary {
    name: String,
    public_url: String,
    client_addr: Option<String>,
    transport: Option<String>,
    connected_since: Option<String>,
    local_addr: Option<String>,
    requests: u64,
    errors: u64,
    bytes_in: u64,
    bytes_out: u64,
    in_flight: usize,
    p50_ms: Option<f64>,
    p99_ms: Option<f64>,
}

impl TunnelSummary {
    pub(crate) fn new(view: TunnelView, capture: &CaptureStore) -> Self {
        let stats = capture.tunnel_stats(&view.name).unwrap_or_default();
        Self {
            connected_since: view.connected_since.map(rfc3339_millis),
            name: view.name,
            public_url: view.public_url,
            client_addr: view.client_addr,
            transport: view.transport,
            local_addr: view.local_addr,
            requests: stats.requests,
            errors: stats.errors,
            bytes_in: stats.bytes_in,
            bytes_out: stats.bytes_out,
            in_flight: stats.in_flight,
            p50_ms: stats.p50.map(millis),
            p99_ms: stats.p99.map(millis),
        }
    }
}

/// Every live tunnel, sorted by name.
pub(crate) fn summaries(state: &DashboardState) -> Vec<TunnelSummary> {
    state
        .tunnels
        .snapshot()
        .into_iter()
        .map(|view| TunnelSummary::new(view, &state.capture))
        .collect()
}

/// `GET /api/tunnels`.
pub(crate) async fn list(State(state): State<DashboardState>) -> Response {
    fresh_json(summaries(&state))
}

/// `GET /api/tunnels/{name}`.
pub(crate) async fn get(
    State(state): State<DashboardState>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let view = state
        .tunnels
        .snapshot()
        .into_iter()
        .find(|view| view.name == name)
        .ok_or_else(|| ApiError::NotFound(format!("no live tunnel named {name:?}")))?;
    Ok(fresh_json(TunnelSummary::new(view, &state.capture)))
}
