//! FerroTunnel's traffic inspector and live dashboard, as an `axum` app anyone can mount.
//!
//! It reads a [`CaptureStore`](ferrotunnel_tower::capture::CaptureStore) — filled by the
//! capture layer in front of a server's tunnels (`ferrotunnel server --dashboard`) or of a
//! client's local service (`ferrotunnel client --inspect`) — and the live tunnels, and serves:
//!
//! | route | what |
//! |---|---|
//! | `GET /` | the web UI (embedded: no CDN, works offline) |
//! | `GET /api/tunnels`, `GET /api/tunnels/{name}` | live tunnels with requests, errors, bytes, in flight, p50/p99 |
//! | `GET /api/requests?tunnel=&status=&method=&path=&min_ms=&limit=&before=` | captured exchanges, newest first, paged |
//! | `GET /api/requests/{id}` | one exchange: headers (secrets masked), bodies, timings, a `curl` line |
//! | `DELETE /api/requests` | forget every captured exchange |
//! | `POST /api/requests/{id}/replay` | the request again, as it was or with changes (method, path, headers, body) |
//! | `GET /api/requests/{id}/har`, `GET /api/har` | HTTP Archive 1.2, for browsers' developer tools |
//! | `GET /api/stats` | requests and errors per second over the last 10 minutes |
//! | `GET /api/events` | Server-Sent Events: exchanges started and finished, tunnels up and down, stats every second |
//! | `GET /healthz` | `ok` |
//!
//! A bad filter value is a `400`, an unknown id a `404`, a replay whose tunnel is gone a `409`;
//! each with a text body that says what happened ([`ApiError`]).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use ferrotunnel_dashboard::{DashboardState, IngressReplay};
//! use ferrotunnel_tower::capture::{CaptureConfig, CaptureStore};
//!
//! let capture = CaptureStore::new(CaptureConfig::default());
//! let server = ferrotunnel::Server::builder()
//!     .token("secret")
//!     .layer(capture.layer()) // record every request to every tunnel
//!     .build()?
//!     .start()
//!     .await?;
//! let state = DashboardState::new(capture, server.watch_tunnels())
//!     .replay_with(IngressReplay::new(server.ingress_service()));
//!
//! // On its own port:
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:9090").await?;
//! tokio::spawn(ferrotunnel_dashboard::serve(listener, state.clone()));
//!
//! // Or inside your own axum app, under a prefix:
//! let app: axum::Router = axum::Router::new().nest_service("/inspect", ferrotunnel_dashboard::router(state));
//! # drop(app);
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::{future::Future, io};

use axum::{
    Router,
    routing::{get, post},
};
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::TcpListener;

mod api;
mod error;
mod page;
mod state;
mod time;
mod tunnels;
mod views;

#[cfg(test)]
mod tests;

pub use error::ApiError;
pub use state::{BoxFuture, DashboardState, IngressReplay, LocalReplay, Replay};
pub use tunnels::TunnelView;

/// The dashboard app: see the [crate docs](crate) for its routes.
pub fn router(state: DashboardState) -> Router {
    let auth = state.auth.clone();
    let router = Router::new()
        .route("/", get(page::index))
        .route("/assets/{file}", get(page::asset))
        .route("/api/tunnels", get(api::tunnels::list))
        .route("/api/tunnels/{name}", get(api::tunnels::get))
        .route(
            "/api/requests",
            get(api::requests::list).delete(api::requests::clear),
        )
        .route("/api/requests/{id}", get(api::requests::get))
        .route("/api/requests/{id}/replay", post(api::replay::replay))
        .route("/api/requests/{id}/har", get(api::har::one))
        .route("/api/har", get(api::har::all))
        .route("/api/stats", get(api::stats::get))
        .route("/api/events", get(api::events::events))
        .route("/metrics", get(api::metrics::dashboard))
        .route("/healthz", get(api::healthz))
        .fallback(api::not_found)
        .with_state(state);
    match auth {
        Some(auth) => router.layer(auth),
        None => router,
    }
}

/// Only `GET /metrics` (the Prometheus text format of `handle`'s metrics) and `/healthz`: for a
/// metrics port of its own, such as `ferrotunnel server --metrics ADDR`.
pub fn metrics_router(handle: PrometheusHandle) -> Router {
    Router::new()
        .route("/metrics", get(api::metrics::standalone))
        .route("/healthz", get(api::healthz))
        .with_state(handle)
}

/// Serves the dashboard on `listener` until the listener fails.
pub async fn serve(listener: TcpListener, state: DashboardState) -> io::Result<()> {
    axum::serve(listener, router(state)).await
}

/// Serves the dashboard on `listener` until `shutdown` completes, then lets requests in flight
/// finish. (Event streams are endless: they end when the listener's connections close.)
pub async fn serve_with_shutdown<F>(
    listener: TcpListener,
    state: DashboardState,
    shutdown: F,
) -> io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}
