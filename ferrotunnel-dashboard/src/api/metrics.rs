//! `GET /metrics`: the process's metrics in the Prometheus text format, on the dashboard's port
//! and, through [`metrics_router`](crate::metrics_router), on a port of their own.

use axum::{
    extract::State,
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use metrics_exporter_prometheus::PrometheusHandle;

use crate::{ApiError, DashboardState};

/// The Prometheus text format's content type.
const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// `GET /metrics` on the dashboard.
pub(crate) async fn dashboard(State(state): State<DashboardState>) -> Response {
    match &state.metrics {
        Some(handle) => render(handle),
        None => ApiError::NotFound(
            "this dashboard exports no metrics: its program installed no Prometheus recorder \
             (DashboardState::metrics)"
                .to_owned(),
        )
        .into_response(),
    }
}

/// `GET /metrics` on its own port.
pub(crate) async fn standalone(State(handle): State<PrometheusHandle>) -> Response {
    render(&handle)
}

fn render(handle: &PrometheusHandle) -> Response {
    (
        [(header::CONTENT_TYPE, HeaderValue::from_static(TEXT_FORMAT))],
        handle.render(),
    )
        .into_response()
}
