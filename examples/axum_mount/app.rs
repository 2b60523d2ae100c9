//! The app of the `axum_mount` example, in its own file so that the tests drive the very same
//! router over real sockets.

use axum::{Json, Router, routing::get};
use ferrotunnel::{protocol::TunnelInfo, server::EmbeddedServer};

/// The user's own routes, the tunnels under `/t/<name>/`, and the client-connect endpoint, in
/// one router.
pub(crate) fn app(tunnels: &EmbeddedServer) -> Router {
    let live = tunnels.watch_tunnels();
    Router::new()
        .route(
            "/",
            get(|| async { "This is my own app. Tunnels live under /t/<name>/.\n" }),
        )
        .route(
            "/tunnels",
            get(move || {
                let live = live.clone();
                let listed: Vec<TunnelInfo> = live
                    .borrow()
                    .iter()
                    .map(|tunnel| TunnelInfo {
                        name: tunnel.name.clone(),
                        public_url: tunnel.public_url.clone(),
                    })
                    .collect();
                async move { Json(listed) }
            }),
        )
        .merge(ferrotunnel::axum::routes(tunnels))
}
