//! OpenTelemetry traces that cross the tunnel: one trace from the visitor, through the server
//! and the client, into the local service's own spans.
//!
//! [`TraceLayer`] makes [`tracing`] spans in the OpenTelemetry HTTP conventions, for
//! [`tracing-opentelemetry`](tracing_opentelemetry) to export (the program installs its
//! `OpenTelemetryLayer`; the `ferrotunnel` binary does so for `--otlp-endpoint`). It comes in
//! three kinds, one per hop:
//!
//! | layer | goes in | span | its parent | the W3C `traceparent` sent on |
//! |---|---|---|---|---|
//! | [`TraceLayer::ingress`] | the server's [observe step] | `GET` (kind server) | the visitor's `traceparent`, when it sent one | — |
//! | [`TraceLayer::forward`] | the server's [forward step] | `forward` (kind client) | the ingress span | this span's |
//! | [`TraceLayer::local`] | the client's [HTTP path] | `local` (kind client) | the `traceparent` the server sent | this span's |
//!
//! So the local service receives a `traceparent` (and the visitor's `tracestate`) naming the
//! client's span, or the server's forward span when the client does not trace, in the trace the
//! visitor started, or in a new one. Each span ends when its response body has ended.
//!
//! Attributes: `http.request.method`, `url.path`, `url.scheme`, `server.address`,
//! `network.protocol.version`, `client.address`, `user_agent.original`,
//! `http.response.status_code`, `error.type`, and `ferrotunnel.tunnel` and
//! `ferrotunnel.request_id`. The query string is left out: it often carries secrets.
//! Status: server spans are errors on 5xx, client spans on 4xx and 5xx.
//!
//! The spans' target is [`SPAN_TARGET`], so that a subscriber can send them to OpenTelemetry
//! and keep them out of its log lines. Without the OpenTelemetry layer in the subscriber the
//! spans carry no context and no header is written: a visitor's `traceparent` goes through as
//! it came.
//!
//! # Example
//!
//! ```
//! use ferrotunnel_tower::trace::TraceLayer;
//!
//! # fn main() -> Result<(), ferrotunnel::Error> {
//! let server = ferrotunnel::Server::builder()
//!     .token("secret")
//!     .observe_layer(TraceLayer::ingress())
//!     .forward_layer(TraceLayer::forward())
//!     .build()?;
//! # drop(server);
//! # Ok(())
//! # }
//! ```
//!
//! [observe step]: ferrotunnel::server::ServerBuilder::observe_layer
//! [forward step]: ferrotunnel::server::ServerBuilder::forward_layer
//! [HTTP path]: ferrotunnel::ClientBuilder::http_layer

mod body;
mod layer;
mod propagation;
mod span;
#[cfg(test)]
mod tests;

pub use body::TracedBody;
pub use layer::{Trace, TraceFuture, TraceLayer};

/// The target of every span these layers make.
pub const SPAN_TARGET: &str = "ferrotunnel::trace";
