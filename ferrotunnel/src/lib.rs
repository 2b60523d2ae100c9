//! FerroTunnel: a reverse tunnel built as a `tower` middleware stack.
//!
//! A [`Client`] on a private machine keeps one multiplexed connection (a *session*) to a public
//! [`Server`]. Every HTTP request that a *visitor* sends to the server's *ingress* runs through a
//! `tower` stack — resolve the tunnel from the `Host` header, then any plugin layers, then
//! [`TunnelService`] — which forwards it over a fresh or pooled `yamux` *stream* of that client's
//! session. The client connects each stream to its *local service* and copies bytes both ways.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use ferrotunnel::{Client, Server};
//!
//! // The public side: clients connect to one port, visitors to another (port 0 picks a free one).
//! let server = Server::builder()
//!     .control_addr("127.0.0.1:0".parse()?)
//!     .http_addr("127.0.0.1:0".parse()?)
//!     .domain("localhost")
//!     .token("secret")
//!     .build()?
//!     .start()
//!     .await?;
//!
//! // The private side: expose the local service on 127.0.0.1:3000 as tunnel `app`.
//! let client = Client::builder()
//!     .server_url(format!("tcp://{}", server.control_addr()))
//!     .token("secret")
//!     .local_address("127.0.0.1:3000")
//!     .subdomain("app")
//!     .build()?
//!     .start()
//!     .await?;
//! let port = server.http_addr().port();
//! assert_eq!(client.public_url(), format!("http://app.localhost:{port}"));
//!
//! // Visitors of http://app.localhost:<port>/ now reach 127.0.0.1:3000.
//! client.shutdown().await?; // frees the name on the server at once
//! server.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! # The allocator
//!
//! A tunnel allocates on one worker thread and frees on another all the time, and a large
//! download allocates and frees a few hundred KiB of frame buffers per stream in bursts; the
//! allocator shows in both. The `ferrotunnel` binary runs on jemalloc, and zeroes large blocks
//! itself, because jemalloc zeroes them by faulting pages in again; with glibc, set
//! `MALLOC_TRIM_THRESHOLD_=16777216`, or each burst's memory goes back to the kernel and is
//! faulted in again by the next. `docs/library.md` ("The allocator") has the details and
//! `docs/benchmarks.md` the measurements.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(feature = "axum")]
pub mod axum;
pub mod client;
mod control;
mod error;
pub mod metrics;
pub mod protocol;
pub mod server;
mod session;
mod splice;
pub mod transport;

pub use client::{Client, ClientBuilder, ClientHandle, ClientState};
pub use error::{BoxError, Error, LocalFailure, Result};
pub use server::{
    IngressService, Server, ServerBuilder, ServerHandle, TunnelBody, TunnelContext, TunnelService,
    TunnelStatus,
};
