//! Which visitors may use a tunnel, by their IP address: [`IpFilterLayer`].
//!
//! The rules, in order:
//!
//! 1. a request whose visitor address is unknown is refused: the filter fails closed (inside a
//!    FerroTunnel ingress the address is always known; in another stack, put the peer's
//!    [`SocketAddr`](std::net::SocketAddr) in the request extensions, see [`crate::request`]);
//! 2. a visitor in a denied block is refused, even if it is also in an allowed block;
//! 3. if any block is allowed, a visitor must be in one of them; with none, everyone else may
//!    pass.
//!
//! A refused visitor gets `403 Forbidden` with a message naming their own address; the inner
//! service is never called. IPv4 and IPv6 both work; an IPv4 visitor that reached an IPv6
//! socket (`::ffff:192.0.2.7`) is matched as the IPv4 address it is.
//!
//! Each list is a linear scan over its blocks, without allocation: a few dozen blocks cost
//! nanoseconds. Blocks are written as [`Cidr`]s (`10.0.0.0/8`, `2001:db8::/32`, `192.0.2.7`).
//!
//! ```
//! use std::net::SocketAddr;
//!
//! use ferrotunnel::{TunnelBody, server::VisitorAddr};
//! use ferrotunnel_tower::{IpFilterLayer, ip_filter::Cidr};
//! use http::{Request, Response, StatusCode};
//! use tower::{ServiceBuilder, ServiceExt};
//!
//! /// A request from `visitor`, as the ingress hands it over.
//! fn from(visitor: [u8; 4]) -> Request<TunnelBody> {
//!     let mut request = Request::new(TunnelBody::default());
//!     let addr = SocketAddr::from((visitor, 40000));
//!     request.extensions_mut().insert(VisitorAddr(addr));
//!     request
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! let filter = IpFilterLayer::new()
//!     .allow("10.0.0.0/8".parse::<Cidr>()?)
//!     .deny("10.0.0.66".parse::<Cidr>()?);
//! let service = ServiceBuilder::new()
//!     .layer(filter)
//!     .service_fn(|_request: Request<TunnelBody>| async {
//!         Ok::<_, ferrotunnel::BoxError>(Response::new(TunnelBody::default()))
//!     });
//!
//! let response = service.clone().oneshot(from([10, 1, 2, 3])).await?;
//! assert_eq!(response.status(), StatusCode::OK);
//! let response = service.clone().oneshot(from([10, 0, 0, 66])).await?;
//! assert_eq!(response.status(), StatusCode::FORBIDDEN);
//! let response = service.oneshot(from([192, 0, 2, 7])).await?;
//! assert_eq!(response.status(), StatusCode::FORBIDDEN);
//! # Ok(())
//! # }
//! ```

mod cidr;
mod future;
mod layer;
mod service;
#[cfg(test)]
mod tests;

pub use cidr::Cidr;
pub use future::ResponseFuture;
pub use layer::IpFilterLayer;
pub use service::IpFilter;
