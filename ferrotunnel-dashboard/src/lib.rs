//! A web dashboard for a FerroTunnel server, as an `axum` app.
//!
//! - `GET /`: one small self-contained page that lists the live tunnels with links and refreshes
//!   itself from the API every 2 seconds. No external assets.
//! - `GET /api/tunnels`: the live tunnels as a JSON array of `{"name", "public_url"}`, sorted by
//!   name.
//! - `GET /healthz`: `ok`.
//!
//! The app reads the server's live tunnel list through a watch
//! ([`ServerHandle::watch_tunnels`](ferrotunnel::ServerHandle::watch_tunnels)), so it shows what
//! the server routes right now and holds no state of its own.
//!
//! The dashboard has no authentication and shows only tunnel names and public URLs. Bind it to
//! loopback, or put it behind a proxy that authenticates.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use ferrotunnel_dashboard::DashboardState;
//!
//! let server = ferrotunnel::Server::builder().token("secret").build()?.start().await?;
//! let state = DashboardState::new(server.watch_tunnels());
//!
//! // On its own port:
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:9090").await?;
//! tokio::spawn(ferrotunnel_dashboard::serve(listener, state.clone()));
//!
//! // Or inside your own axum app:
//! let app = axum::Router::new().merge(ferrotunnel_dashboard::router(state));
//! # drop(app);
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::{future::Future, io};

use axum::{Router, routing::get};
use ferrotunnel::protocol::TunnelInfo;
use tokio::{net::TcpListener, sync::watch};

mod api;
mod page;
#[cfg(test)]
mod tests;

pub use api::TunnelView;

/// What the dashboard reads: the server's live tunnels.
#[derive(Debug, Clone)]
pub struct DashboardState {
    tunnels: watch::Receiver<Vec<TunnelInfo>>,
}

impl DashboardState {
    /// A dashboard of the tunnels in this watch, usually
    /// [`ServerHandle::watch_tunnels`](ferrotunnel::ServerHandle::watch_tunnels).
    pub fn new(tunnels: watch::Receiver<Vec<TunnelInfo>>) -> Self {
        Self { tunnels }
    }

    /// The live tunnels right now.
    pub fn tunnels(&self) -> Vec<TunnelView> {
        self.tunnels.borrow().iter().map(TunnelView::from).collect()
    }
}

impl From<watch::Receiver<Vec<TunnelInfo>>> for DashboardState {
    fn from(tunnels: watch::Receiver<Vec<TunnelInfo>>) -> Self {
        Self::new(tunnels)
    }
}

/// The dashboard app: see the [crate docs](crate) for its routes.
pub fn router(state: DashboardState) -> Router {
    Router::new()
        .route("/", get(page::index))
        .route("/api/tunnels", get(api::tunnels))
        .route("/healthz", get(api::healthz))
        .fallback(api::not_found)
        .with_state(state)
}

/// Serves the dashboard on `listener` until the listener fails.
pub async fn serve(listener: TcpListener, state: DashboardState) -> io::Result<()> {
    axum::serve(listener, router(state)).await
}

/// Serves the dashboard on `listener` until `shutdown` completes, then lets requests in flight
/// finish.
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
