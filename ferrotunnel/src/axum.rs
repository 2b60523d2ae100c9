//! Mounting a tunnel server in an axum app (feature `axum`).
//!
//! One `axum::serve` on one port then hosts your own routes, the tunnels' public side, and the
//! endpoint where clients connect over WebSocket:
//!
//! ```no_run
//! # async fn demo() -> ferrotunnel::Result<()> {
//! use axum::{Router, routing::get};
//!
//! let tunnels = ferrotunnel::Server::builder()
//!     .token("secret")
//!     .public_base_url("http://127.0.0.1:3000/t")
//!     .build()?
//!     .into_embedded();
//! let app = Router::new()
//!     .route("/", get(|| async { "my own app" }))
//!     // `/t/<name>/…` reaches tunnel `<name>`; clients connect at ws://127.0.0.1:3000
//!     .merge(ferrotunnel::axum::routes(&tunnels));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>()).await?;
//! # Ok(()) }
//! ```
//!
//! With wildcard DNS, route by host instead: `Router::new().fallback_service(ingress(&tunnels))`.

use std::{
    convert::Infallible,
    net::SocketAddr,
    task::{Context, Poll},
};

use axum::{Router, body::Body, extract::ConnectInfo};
use http::{Request, Response};
use http_body_util::BodyExt;
use tower::{ServiceExt, util::Oneshot};

use crate::{
    BoxError,
    server::{CONNECT_PATH, EmbeddedServer, IngressService, ReceivedAt, TunnelBody, VisitorAddr},
};

/// The routes of a mounted server: `<path prefix>/<name>/…` for visitors (when the server has a
/// path prefix, `/t` by default) and [`CONNECT_PATH`] for clients.
pub fn routes(server: &EmbeddedServer) -> Router {
    let service = ingress(server);
    let mut router = Router::new().route_service(CONNECT_PATH, service.clone());
    if let Some(prefix) = server.path_prefix().filter(|p| !p.is_empty()) {
        router = router
            .route_service(&format!("{prefix}/{{name}}"), service.clone())
            .route_service(&format!("{prefix}/{{name}}/{{*rest}}"), service);
    }
    router
}

/// The whole ingress as a service axum can mount (`route_service`, `nest_service`,
/// `fallback_service`). Serve the app with `into_make_service_with_connect_info::<SocketAddr>()`
/// so that the local service learns the visitor's address in `X-Forwarded-For`.
pub fn ingress(server: &EmbeddedServer) -> AxumIngress {
    AxumIngress {
        inner: server.ingress_service(),
    }
}

/// The ingress stack for axum's request type; see [`ingress`].
#[derive(Debug, Clone)]
pub struct AxumIngress {
    inner: IngressService,
}

impl tower::Service<Request<Body>> for AxumIngress {
    type Response = Response<TunnelBody>;
    type Error = Infallible;
    type Future = Oneshot<IngressService, Request<TunnelBody>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // `call` drives a clone of the stack to readiness itself.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let visitor = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|info| VisitorAddr(info.0));
        let mut request = request.map(|body| body.map_err(BoxError::from).boxed_unsync());
        request
            .extensions_mut()
            .insert(ReceivedAt(std::time::Instant::now()));
        if let Some(visitor) = visitor {
            request.extensions_mut().insert(visitor);
        }
        self.inner.clone().oneshot(request)
    }
}
