//! Stops sending visitors to a failing tunnel for a while, and tests it again before it sends
//! them back.
//!
//! A [`CircuitBreakerLayer`] keeps one breaker per tunnel (by
//! [`tunnel_name`](crate::request::tunnel_name); one breaker for all requests without a
//! tunnel, outside a FerroTunnel ingress). A **failure** is an error from the inner service —
//! inside FerroTunnel a dead local service, a timeout, an offline tunnel, before the rescue
//! layer above turns it into a response — or a `5xx` response. Anything else is a success.
//!
//! - **closed**: requests pass; failures in a row are counted, a success resets the count,
//!   and the 5th failure in a row (by default) opens the breaker;
//! - **open**: every request is answered at once, without calling the inner service, with
//!   `503 Service Unavailable` and `Retry-After` (the seconds left, rounded up):
//!   `tunnel "app" is failing (5 failures in a row), so this server stops sending it requests
//!   for 30 s; retry in 12 s`;
//! - **half-open**, once the cool-down (30 s by default) is over: one request, the probe, is let
//!   through, and the others are refused while it is in flight. A success closes the breaker,
//!   a failure opens it for another cool-down. A probe the visitor gave up on (its future
//!   dropped) lets the next request probe; a probe that has not answered within a cool-down is
//!   given up on too.
//!
//! State changes are logged (`warn` when a breaker opens, `info` when it closes). The state is
//! a few atomics per tunnel, and the breakers of a layer are shared by all its clones: on the
//! closed, healthy path a request costs a map lookup under a read lock and one atomic load.
//!
//! Put the layer inside the layers that refuse requests for their own reasons (rate limits,
//! authentication): their refusals are 4xx, but a refusal the breaker cannot see cannot count.
//!
//! ```
//! use std::time::Duration;
//!
//! use ferrotunnel::BoxError;
//! use ferrotunnel_tower::CircuitBreakerLayer;
//! use http::{Request, Response, StatusCode, header::RETRY_AFTER};
//! use tower::{Service, ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), BoxError> {
//! let mut service = ServiceBuilder::new()
//!     .layer(CircuitBreakerLayer::new().failures(2).cool_down(Duration::from_secs(10)))
//!     .service_fn(|_request: Request<String>| async {
//!         Err::<Response<String>, BoxError>("the local service is down".into())
//!     });
//!
//! for _ in 0..2 {
//!     let failed = service.ready().await?.call(Request::new(String::new())).await;
//!     assert!(failed.is_err(), "errors pass through");
//! }
//! // Open: refused without calling the local service.
//! let response = service.oneshot(Request::new(String::new())).await?;
//! assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
//! assert_eq!(response.headers()[RETRY_AFTER], "10");
//! # Ok(())
//! # }
//! ```

mod breaker;
mod future;
mod layer;
mod registry;
mod service;
mod spec;
#[cfg(test)]
mod tests;

pub use future::ResponseFuture;
pub use layer::CircuitBreakerLayer;
pub use service::CircuitBreaker;
pub use spec::CircuitBreakerSpec;
