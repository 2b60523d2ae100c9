//! Rate limiting per visitor, tunnel, header value or in all: [`RateLimitLayer`].
//!
//! Each key (by default the visitor's IP address) has a bucket of [`Rate`] requests (GCRA, from
//! the `governor` crate): `Rate::per_second(10)` lets 10 requests through at once, then one
//! every 100 ms; [`burst`](RateLimitLayer::burst) changes how many may come at once. A request
//! beyond the limit is answered `429 Too Many Requests` without reaching the inner service:
//!
//! ```text
//! 429 Too Many Requests: at most 10 requests per second from 192.0.2.7; retry in 1 s
//! ```
//!
//! with `Retry-After` (whole seconds, at least 1) and the IETF rate-limit headers
//! (draft-ietf-httpapi-ratelimit-headers): `RateLimit-Policy: "ferrotunnel";q=10;w=1` (a quota
//! of `burst` requests, earned back in `w` seconds) and `RateLimit: "ferrotunnel";r=0;t=1`
//! (`r` requests left, the whole quota back in `t` seconds). Responses let through carry them
//! only with [`headers_on_success`](RateLimitLayer::headers_on_success), which costs a formatted
//! header per request.
//!
//! # Keys
//!
//! [`by_ip`](RateLimitLayer::by_ip) (the default), [`by_tunnel`](RateLimitLayer::by_tunnel),
//! [`by_header`](RateLimitLayer::by_header), [`global`](RateLimitLayer::global) or your own
//! function of the [`RequestHead`] with [`by`](RateLimitLayer::by). A request without a key
//! (no visitor address, no tunnel, the header missing, the function said `None`) counts under
//! one shared "unknown" key: such requests are limited together, not let through.
//!
//! # Shared state and bounded memory
//!
//! The layer, its clones and every service made from them count against the same buckets (unlike
//! `tower::limit::RateLimit`, whose clones each have their own), so a server that clones its
//! stack per connection still limits each visitor once.
//!
//! At most [`max_keys`](RateLimitLayer::max_keys) keys (default 100 000) have a bucket. Keys
//! idle for longer than it takes to earn their burst back are evicted by a sweep that walks the
//! map, run by one request at most every 10 s (or once per window, if that is longer), and
//! once a second while the map is full. When the map is still full after a sweep, new keys share one
//! overflow bucket: someone spraying requests from many addresses costs no memory and is still
//! limited, though new visitors share that bucket with them until the sweep frees places.
//!
//! # Example
//!
//! ```
//! use std::net::SocketAddr;
//!
//! use ferrotunnel::server::VisitorAddr;
//! use ferrotunnel_tower::rate_limit::{Rate, RateLimitLayer};
//! use http::{Request, Response, StatusCode};
//! use tower::{ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), ferrotunnel::BoxError> {
//! let service = ServiceBuilder::new()
//!     .layer(RateLimitLayer::new(Rate::per_minute(2)))
//!     .service_fn(|_request: Request<String>| async {
//!         Ok::<_, ferrotunnel::BoxError>(Response::new(String::from("hello")))
//!     });
//!
//! let from = |ip: [u8; 4]| {
//!     let mut request = Request::new(String::new());
//!     request.extensions_mut().insert(VisitorAddr(SocketAddr::from((ip, 40000))));
//!     request
//! };
//! for _ in 0..2 {
//!     let response = service.clone().oneshot(from([192, 0, 2, 7])).await?;
//!     assert_eq!(response.status(), StatusCode::OK);
//! }
//! let response = service.clone().oneshot(from([192, 0, 2, 7])).await?;
//! assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
//! assert_eq!(response.headers()["retry-after"], "30");
//!
//! // Another visitor has a bucket of its own.
//! let response = service.oneshot(from([192, 0, 2, 8])).await?;
//! assert_eq!(response.status(), StatusCode::OK);
//! # Ok(())
//! # }
//! ```
//!
//! From the command line or a config file, a [`RateLimitSpec`] reads
//! `N/UNIT[,burst=M][,by=ip|tunnel|global|header:NAME]`, like `100/min` or
//! `5/s,by=header:x-api-key`.

mod future;
mod key;
mod layer;
mod service;
mod spec;
mod state;
mod store;
#[cfg(test)]
mod tests;

pub use future::ResponseFuture;
pub use key::RequestHead;
pub use layer::{DEFAULT_MAX_KEYS, RateLimitLayer};
pub use service::RateLimit;
pub use spec::{KeyBy, MAX_BURST, Rate, RateLimitSpec};
