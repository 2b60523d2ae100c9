//! Prometheus-style metrics of every request through the ingress, as one tower layer:
//! [`MetricsLayer`], recorded through the [`metrics`] facade (the program installs the recorder;
//! the `ferrotunnel` binary installs a Prometheus one for `--metrics` and the dashboard).
//!
//! Put it in the server's observe step, [`ServerBuilder::observe_layer`], so that it counts every
//! visitor's request with its final status: 404s for unknown tunnels, 502s from dead local
//! services and the policy layers' refusals included. It learns each request's tunnel from a
//! [`ResolvedTunnel`] it leaves in the request's extensions.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `ferrotunnel_requests_total` | counter | `tunnel`, `method`, `status` (`2xx`, …) |
//! | `ferrotunnel_request_duration_seconds` | histogram | `tunnel` |
//! | `ferrotunnel_bytes_total` | counter | `tunnel`, `direction` (`request`, `response`) |
//! | `ferrotunnel_policy_refusals_total` | counter | `tunnel`, `layer`, `status` (`429`, …) |
//!
//! Label values are bounded: `tunnel` is a registered tunnel's name, or empty for a request
//! that named none (so a visitor inventing hosts makes no new series); `method` is one of the
//! nine standard methods or `_OTHER`; paths and addresses are never labels. A request counts
//! once its response body has ended (or the visitor left), with the time from its arrival to
//! then; the bytes are the bodies' (not the heads'). Client sessions opened over WebSocket on
//! the visitors' port are not requests and are not counted.
//!
//! # Example
//!
//! ```
//! use ferrotunnel_tower::metrics::MetricsLayer;
//!
//! # fn main() -> Result<(), ferrotunnel::Error> {
//! let server = ferrotunnel::Server::builder()
//!     .token("secret")
//!     .observe_layer(MetricsLayer::new())
//!     .build()?;
//! # drop(server);
//! # Ok(())
//! # }
//! ```
//!
//! [`ServerBuilder::observe_layer`]: ferrotunnel::server::ServerBuilder::observe_layer
//! [`ResolvedTunnel`]: ferrotunnel::server::ResolvedTunnel

mod body;
mod layer;
mod series;
#[cfg(test)]
mod tests;

pub use body::{MeteredBody, MeteredRequestBody};
pub use layer::{Metrics, MetricsLayer, ResponseFuture};

use metrics::{Unit, describe_counter, describe_histogram};

/// Requests, by `tunnel`, `method` and `status` class.
pub const REQUESTS: &str = "ferrotunnel_requests_total";
/// Seconds from a request's arrival to its response's end, by `tunnel`.
pub const REQUEST_DURATION: &str = "ferrotunnel_request_duration_seconds";
/// Body bytes, by `tunnel` and `direction` (`request`: from visitors; `response`: to them).
pub const BYTES: &str = "ferrotunnel_bytes_total";
/// Requests a policy layer refused, by `tunnel`, `layer` and `status`.
pub const POLICY_REFUSALS: &str = "ferrotunnel_policy_refusals_total";

/// Describes this layer's metrics, and the core's ([`ferrotunnel::metrics::describe`]), to the
/// installed recorder.
pub fn describe() {
    ferrotunnel::metrics::describe();
    describe_counter!(
        REQUESTS,
        "Visitors' requests, by tunnel, method and status class."
    );
    describe_histogram!(
        REQUEST_DURATION,
        Unit::Seconds,
        "Time from a request's arrival to its response's end, by tunnel."
    );
    describe_counter!(
        BYTES,
        Unit::Bytes,
        "Body bytes, by tunnel and direction (request: from visitors)."
    );
    describe_counter!(
        POLICY_REFUSALS,
        "Requests a policy layer refused, by tunnel, layer and status."
    );
}
