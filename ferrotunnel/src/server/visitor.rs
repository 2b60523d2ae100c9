//! What the ingress knows about a visitor's request before any layer runs, put in the request
//! extensions by the listener that accepted it (or by the app a server is mounted in).

use std::{net::SocketAddr, time::Instant};

/// The visitor's address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VisitorAddr(pub SocketAddr);

/// When the ingress received the request's head: the start of its latency, for logs, metrics
/// and plugins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceivedAt(pub Instant);

/// The scheme the visitor used (`http` or `https`). Requests without it (a mounted ingress)
/// count as `http`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IngressScheme(pub(crate) &'static str);
