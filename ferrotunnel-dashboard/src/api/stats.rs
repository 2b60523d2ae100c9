//! `GET /api/stats`: the per-second series the overview's graphs are drawn from.

use axum::{extract::State, response::Response};
use ferrotunnel_tower::capture::SecondStats;
use serde::Serialize;

use super::fresh_json;
use crate::{DashboardState, time::rfc3339_seconds};

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Point {
    t: String,
    requests: u64,
    errors: u64,
}

impl From<&SecondStats> for Point {
    fn from(second: &SecondStats) -> Self {
        Self {
            t: rfc3339_seconds(second.at),
            requests: second.requests,
            errors: second.errors,
        }
    }
}

#[derive(Debug, Serialize)]
struct Stats {
    series: Vec<Point>,
    tunnels: usize,
    in_flight: usize,
}

/// `GET /api/stats`.
pub(crate) async fn get(State(state): State<DashboardState>) -> Response {
    fresh_json(Stats {
        series: state.capture.series(None).iter().map(Point::from).collect(),
        tunnels: state.tunnels.snapshot().len(),
        in_flight: state.capture.in_flight(),
    })
}
