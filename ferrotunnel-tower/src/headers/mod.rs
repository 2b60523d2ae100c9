//! Adds, sets and removes request and response headers, with per-request values.
//!
//! A [`HeadersLayer`] holds rules, applied in the order they were added: the request rules
//! before the request is passed on, the response rules to every response the inner service
//! returns — the local service's, and the refusals of the layers inside this one. Errors of the
//! inner service pass through untouched.
//!
//! - **add** appends a value and keeps the header's other values;
//! - **set** replaces every value of the header with one;
//! - **remove** removes every value of the header.
//!
//! Values are [`HeaderTemplate`]s: literal text, or text with placeholders filled in for each
//! request (`${visitor_ip}`, `${visitor_addr}`, `${tunnel}`, `${request_id}`, `${host}`; `$$` is
//! a literal `$`). A placeholder with no value for a request becomes empty text. A request rule
//! sees the request as the rules before it left it. Response rules take the values of the
//! request the response answers, as this layer passed it on (captured then, and only when a
//! response value uses a placeholder). A literal value is made once, when parsed; a value that
//! comes out invalid for one request is skipped for that request (logged at `debug`).
//!
//! Headers a proxy must own (hop-by-hop and framing headers, `content-length`, `host`) cannot
//! be named in a rule: see [`EditableHeader`].
//!
//! On the command line a rule is a [`HeaderRule`] (`"Name: value"`) and a header to remove an
//! [`EditableHeader`]; both read back what they print.
//!
//! ```
//! use std::net::SocketAddr;
//!
//! use ferrotunnel::BoxError;
//! use ferrotunnel_tower::headers::HeadersLayer;
//! use http::{Request, Response};
//! use tower::{ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), BoxError> {
//! let layer = HeadersLayer::new()
//!     .set_request("X-Env".parse()?, "prod".parse()?)
//!     .add_request("X-Visitor".parse()?, "${visitor_ip}".parse()?)
//!     .remove_response("Server".parse()?)
//!     .set_response("X-Served-For".parse()?, "${visitor_addr}".parse()?);
//!
//! let service = ServiceBuilder::new()
//!     .layer(layer)
//!     .service_fn(|request: Request<String>| async move {
//!         // The local service sees the request rules' work.
//!         assert_eq!(request.headers()["x-env"], "prod");
//!         assert_eq!(request.headers()["x-visitor"], "192.0.2.7");
//!         let response = Response::builder()
//!             .header("server", "local/1.0")
//!             .body(String::from("hello"))?;
//!         Ok::<_, BoxError>(response)
//!     });
//!
//! let mut request = Request::new(String::new());
//! // Inside FerroTunnel the ingress says who the visitor is; here, a plain address.
//! request
//!     .extensions_mut()
//!     .insert(SocketAddr::from(([192, 0, 2, 7], 50312)));
//! let response = service.oneshot(request).await?;
//! assert!(response.headers().get("server").is_none());
//! assert_eq!(response.headers()["x-served-for"], "192.0.2.7:50312");
//! # Ok(())
//! # }
//! ```

mod edit;
mod future;
mod layer;
mod rule;
mod service;
mod template;
#[cfg(test)]
mod tests;
mod values;

pub use future::ResponseFuture;
pub use layer::HeadersLayer;
pub use rule::{EditableHeader, HeaderRule};
pub use service::Headers;
pub use template::HeaderTemplate;
