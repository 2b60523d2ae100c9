//! Plugins for the FerroTunnel ingress stack, and the built-in policies, as `tower` layers.
//!
//! Every request a visitor sends to a FerroTunnel server runs through a `tower` stack: the
//! tunnel is resolved from the `Host` header (a [`TunnelContext`](ferrotunnel::TunnelContext)
//! goes into the request extensions), then the plugin layers run, then the request is
//! forwarded over the tunnel to the local service. Any `tower::Layer` fits that slot. This
//! crate adds:
//!
//! - **built-in layers**, each usable in any tower stack (axum, hyper, ours): [`auth`] (Basic,
//!   bearer, API key, or an async validator; 401), [`rate_limit`] (GCRA per visitor, tunnel,
//!   header or server, bounded memory; 429 with `Retry-After`), [`ip_filter`] (CIDR allow and
//!   deny lists; 403), [`headers`] (add, set, remove, with per-request values) and
//!   [`circuit_breaker`] (503 while a tunnel keeps failing). tower-http's CORS and compression
//!   and tower's timeout and concurrency limit are reused as they are.
//! - **an async [`Plugin`] trait**, the simple way to write a plugin: `on_request` decides
//!   `Continue`, `Reject` or `Respond`, and may await another service on the way.
//! - **[`policy`]**: the same layers as data, as the `ferrotunnel` command line, its config
//!   files and a client's tunnel registration name them, and [`TunnelPolicies`](policy::TunnelPolicies),
//!   which builds them into each tunnel's own stack on a server.
//! - **[`capture`]**: the traffic inspector's recorder, a layer that records every exchange
//!   (heads, body prefixes, timings, outcome) into a bounded store and publishes events.
//! - **[`metrics`]** and **[`trace`]**: Prometheus metrics of every request, and OpenTelemetry
//!   spans that carry the visitor's trace across the tunnel, for the server's observe and
//!   forward steps and a client's HTTP path.
//! - [`ServiceBuilderExt`] and [`ServerBuilderExt`], so that each is one method call away.
//!
//! ```
//! use ferrotunnel::TunnelBody;
//! use ferrotunnel_tower::{Action, Plugin, RequestContext, ServiceBuilderExt, async_trait};
//! use http::{Request, Response, StatusCode};
//! use tower::{ServiceBuilder, ServiceExt};
//!
//! /// Lets a request through only if it carries the right `x-api-key`.
//! struct ApiKey(&'static str);
//!
//! #[async_trait]
//! impl Plugin for ApiKey {
//!     fn name(&self) -> &str {
//!         "api-key"
//!     }
//!
//!     async fn on_request(&self, request: &mut Request<TunnelBody>, cx: &RequestContext) -> Action {
//!         match request.headers().get("x-api-key") {
//!             Some(key) if key == self.0 => Action::Continue,
//!             _ => Action::reject(
//!                 StatusCode::UNAUTHORIZED,
//!                 format!("tunnel {} needs an x-api-key", cx.tunnel_name().unwrap_or("?")),
//!             ),
//!         }
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), ferrotunnel::BoxError> {
//! // On a server: `Server::builder().plugin(ApiKey("secret"))` (with `ServerBuilderExt`).
//! // Here, in front of a plain function:
//! let service = ServiceBuilder::new()
//!     .plugin(ApiKey("secret"))
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
//!
//! `docs/plugin-guide.md` in the repository is the guide: writing, testing, ordering,
//! configuring and shipping a plugin.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod auth;
pub mod body;
pub mod capture;
pub mod circuit_breaker;
pub mod duration;
mod ext;
pub mod headers;
pub mod ip_filter;
pub mod metrics;
pub mod plugin;
pub mod policy;
pub mod rate_limit;
pub mod request;
pub mod trace;

pub use async_trait::async_trait;
pub use auth::{AsyncAuth, AsyncAuthLayer, Auth, AuthLayer, AuthValidator, Verdict};
pub use body::{RefusingFuture, ResponseBody, refusal};
pub use capture::{CaptureLayer, CaptureStore};
pub use circuit_breaker::{CircuitBreaker, CircuitBreakerLayer};
pub use ext::{ServerBuilderExt, ServiceBuilderExt};
pub use headers::{Headers, HeadersLayer};
pub use ip_filter::{IpFilter, IpFilterLayer};
pub use plugin::{Action, Plugin, PluginLayer, PluginService, RequestContext};
pub use rate_limit::{RateLimit, RateLimitLayer};
