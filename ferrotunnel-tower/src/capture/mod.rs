//! The traffic inspector's recorder: [`CaptureLayer`] records every HTTP exchange through it
//! into a bounded, in-memory [`CaptureStore`], and publishes [`CaptureEvent`]s as exchanges
//! start and end. The dashboard (`ferrotunnel --dashboard`) reads the store.
//!
//! # What is recorded
//!
//! An [`Exchange`] per request: the tunnel, the visitor, the request head with its **original**
//! headers (replay needs them: viewers get [`Exchange::masked_request_headers`], with
//! [`MaskedHeaders`] shown as `***`), the first [`body_prefix`](CaptureConfig::body_prefix)
//! bytes and the exact size of each body, the response head, the time to the head and to the
//! end, and how it ended ([`Outcome`]): complete, an error (the inner service's or the response
//! body's), or the visitor gone (the response dropped before its end). Durations run from the
//! ingress's [`ReceivedAt`](ferrotunnel::server::ReceivedAt), or from when the layer was called.
//!
//! Bodies stream through untouched, as they come: nothing is buffered or delayed; only each
//! body's prefix is copied. A request carrying a [`ReplayOf`] extension is recorded as a replay;
//! the layer puts an [`ExchangeId`] in the extensions of the request it passes on and of the
//! response it returns.
//!
//! # Bounds
//!
//! The store keeps at most [`max_exchanges`](CaptureConfig::max_exchanges) exchanges and
//! [`max_bytes`](CaptureConfig::max_bytes) bytes (prefixes, headers and a fixed overhead per
//! exchange). The oldest finished exchanges go first; if only exchanges in flight are left,
//! the oldest of those (they go on streaming, unrecorded). Statistics per tunnel and in all
//! ([`TunnelStats`], [`SecondStats`]) are kept apart from the exchanges: they count on through
//! evictions and [`clear`](CaptureStore::clear).
//!
//! # Cost
//!
//! Per request: a copy of the request and response headers, each body's prefix, and a few
//! short updates under the store's lock (the start, the response head, the end, and the end
//! of a request body if there is one), none held across an await or while bytes are copied.
//! Events are ids; with no subscriber, publishing one costs next to nothing.
//!
//! # Example
//!
//! ```
//! use bytes::Bytes;
//! use ferrotunnel::{BoxError, TunnelBody, server::into_tunnel_body};
//! use ferrotunnel_tower::capture::{CaptureConfig, CaptureEvent, CaptureStore, ExchangeId, Outcome};
//! use http::{Request, Response};
//! use http_body_util::{BodyExt, Full};
//! use tower::{ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), BoxError> {
//! let store = CaptureStore::new(CaptureConfig::default());
//! let mut events = store.subscribe();
//! let service = ServiceBuilder::new()
//!     .layer(store.layer())
//!     .service_fn(|request: Request<TunnelBody>| async move {
//!         let name = request.into_body().collect().await?.to_bytes();
//!         let hello = format!("hello, {}", String::from_utf8_lossy(&name));
//!         Ok::<_, BoxError>(Response::new(into_tunnel_body(Full::new(Bytes::from(hello)))))
//!     });
//!
//! let request = Request::post("/greet")
//!     .header("authorization", "Bearer s3cret")
//!     .body(Full::new(Bytes::from_static(b"world")))?;
//! let response = service.oneshot(request).await?;
//! let ExchangeId(id) = response.extensions().get().copied().expect("an id");
//! let body = response.into_body().collect().await?.to_bytes();
//! assert_eq!(&body[..], b"hello, world");
//!
//! let exchange = store.get(id).expect("recorded");
//! assert_eq!(exchange.uri.path(), "/greet");
//! assert_eq!(&exchange.request_body.prefix[..], b"world");
//! assert_eq!(exchange.response.as_ref().map(|r| r.body.size), Some(12));
//! assert_eq!(exchange.outcome, Outcome::Complete);
//! assert_eq!(exchange.request_headers["authorization"], "Bearer s3cret");
//! assert_eq!(
//!     exchange.masked_request_headers(),
//!     [("authorization".to_owned(), "***".to_owned())]
//! );
//!
//! assert_eq!(events.recv().await?, CaptureEvent::Started(id));
//! assert_eq!(events.recv().await?, CaptureEvent::Finished(id));
//! # Ok(())
//! # }
//! ```

mod body;
mod config;
mod copy;
mod exchange;
mod filter;
mod future;
mod layer;
mod recorder;
mod service;
mod stats;
mod store;
#[cfg(test)]
mod tests;

pub use body::CaptureBody;
pub use config::{CaptureConfig, EXCHANGE_OVERHEAD, MaskedHeaders};
pub use exchange::{
    BodyRecord, CaptureEvent, Exchange, ExchangeId, Outcome, ReplayOf, ResponseRecord,
};
pub use filter::{ExchangeFilter, StatusFilter, StatusFilterError};
pub use future::ResponseFuture;
pub use layer::CaptureLayer;
pub use service::Capture;
pub use stats::{LATENCY_WINDOW, SERIES_SECONDS, SecondStats, TunnelStats};
pub use store::CaptureStore;
