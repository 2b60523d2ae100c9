//! FerroTunnel: a reverse tunnel built as a `tower` middleware stack.
//!
//! A [`Client`] on a private machine keeps one multiplexed connection (a *session*) to a public
//! [`Server`]. Every HTTP request that a *visitor* sends to the server's *ingress* runs through a
//! `tower` stack — resolve the tunnel from the `Host` header, then any plugin layers, then
//! [`TunnelService`] — which forwards it over a fresh or pooled `yamux` *stream* of that client's
//! session. The client connects each stream to its *local service* and copies bytes both ways.
//!
//! ```no_run
//! # async fn demo() -> ferrotunnel::Result<()> {
//! use ferrotunnel::{Client, Server};
//!
//! let server = Server::builder()
//!     .control_addr("127.0.0.1:7835".parse().unwrap())
//!     .http_addr("127.0.0.1:8080".parse().unwrap())
//!     .domain("localhost")
//!     .token("secret")
//!     .build()?
//!     .start()
//!     .await?;
//!
//! let client = Client::builder()
//!     .server_url("tcp://127.0.0.1:7835")
//!     .token("secret")
//!     .tunnel("app", "127.0.0.1:3000")
//!     .build()?
//!     .start()
//!     .await?;
//! println!("visit {}", client.public_urls()[0]);
//! # client.shutdown().await; server.shutdown().await;
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]

#[cfg(feature = "axum")]
pub mod axum;
pub mod client;
mod control;
mod error;
pub mod protocol;
pub mod server;
mod session;
pub mod transport;

pub use client::{Client, ClientBuilder, ClientHandle, ClientState};
pub use error::{BoxError, Error, LocalFailure, Result};
pub use server::{
    IngressService, Server, ServerBuilder, ServerHandle, TunnelBody, TunnelContext, TunnelService,
};
