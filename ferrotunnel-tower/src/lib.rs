//! Plugins for the FerroTunnel ingress stack.
//!
//! Every request a visitor sends to a FerroTunnel server runs through a `tower` stack: the tunnel
//! is resolved from the `Host` header (a [`TunnelContext`](ferrotunnel::TunnelContext) goes into
//! the request extensions), then the plugin layers run, then the request is forwarded over the
//! tunnel to the local service. Any `tower::Layer` fits that slot through
//! [`ServerBuilder::layer`](ferrotunnel::ServerBuilder::layer); this crate adds the simple way to
//! write one: implement [`Plugin`] and wrap it in a [`PluginLayer`].
//!
//! A plugin looks at each request and decides: [`Action::Continue`] (possibly after changing
//! headers), [`Action::Reject`] with a status and a reason, or [`Action::Respond`] with a response
//! of its own. A refused request never reaches the tunnel. [`Plugin::on_response`] sees every
//! response that came back through the tunnel.
//!
//! ```
//! use ferrotunnel::{TunnelBody, TunnelContext};
//! use ferrotunnel_tower::{Action, Plugin, PluginLayer};
//! use http::{Request, Response, StatusCode};
//! use tower::{ServiceBuilder, ServiceExt};
//!
//! /// Lets a request through only if it carries the right `x-api-key`.
//! struct ApiKey(&'static str);
//!
//! impl Plugin for ApiKey {
//!     fn name(&self) -> &str {
//!         "api-key"
//!     }
//!
//!     fn on_request(&self, request: &mut Request<TunnelBody>) -> Action {
//!         // On a server, the tunnel this request is for is in the extensions.
//!         let tunnel = request.extensions().get::<TunnelContext>().map(|t| t.name());
//!         match request.headers().get("x-api-key") {
//!             Some(key) if key == self.0 => Action::Continue,
//!             _ => Action::reject(
//!                 StatusCode::UNAUTHORIZED,
//!                 format!("tunnel {} needs an x-api-key", tunnel.unwrap_or("?")),
//!             ),
//!         }
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), ferrotunnel::BoxError> {
//! // On a server: `Server::builder().layer(PluginLayer::new(ApiKey("secret")))`.
//! // Here, in front of a plain function:
//! let service = ServiceBuilder::new()
//!     .layer(PluginLayer::new(ApiKey("secret")))
//!     .service_fn(|_request: Request<TunnelBody>| async {
//!         Ok::<_, ferrotunnel::BoxError>(Response::new(TunnelBody::default()))
//!     });
//!
//! let request = Request::new(TunnelBody::default());
//! let response = service.clone().oneshot(request).await?;
//! assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
//!
//! let request = Request::builder()
//!     .header("x-api-key", "secret")
//!     .body(TunnelBody::default())?;
//! let response = service.oneshot(request).await?;
//! assert_eq!(response.status(), StatusCode::OK);
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod auth;
pub mod body;
pub mod circuit_breaker;
pub mod duration;
pub mod headers;
pub mod ip_filter;
pub mod plugin;
pub mod policy;
pub mod rate_limit;
pub mod request;

pub use async_trait::async_trait;
pub use auth::{AsyncAuth, AsyncAuthLayer, Auth, AuthLayer, AuthValidator, Verdict};
pub use body::{ResponseBody, refusal};
pub use circuit_breaker::{CircuitBreaker, CircuitBreakerLayer};
pub use headers::{Headers, HeadersLayer};
pub use ip_filter::{IpFilter, IpFilterLayer};
pub use plugin::{Action, Plugin, PluginLayer, PluginService, RequestContext};
pub use rate_limit::{RateLimit, RateLimitLayer};
