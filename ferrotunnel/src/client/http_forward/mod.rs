//! HTTP-aware forwarding, for a client with HTTP layers (a local traffic inspector, say).
//!
//! By default a client splices bytes between each stream and its local service
//! ([`LocalForward`](super::LocalForward)) and never parses HTTP. Once
//! [`ClientBuilder::http_layer`](super::ClientBuilder::http_layer) adds a layer, each stream is
//! served as HTTP/1.1 instead, and every request the server sends over it takes this path:
//!
//! ```text
//! stream server     hyper HTTP/1.1 over the stream (keep-alive, upgrades, a header read
//!                   timeout); puts LocalTarget, VisitorAddr and ReceivedAt in the extensions
//! rescue            every error below becomes one clear response (502/504 for the local
//!                   service), as in the server's ingress (`server::rescue`)
//! http layers       ClientBuilder::http_layer(..), the first added outermost
//! local forwarder   hop-by-hop headers stop; a pooled HTTP/1.1 client to http://{local_addr}
//!                   (from the LocalTarget); a 101 splices both upgraded connections
//! ```
//!
//! Everything below the rescue step is a [`LocalHttpService`], which
//! [`ClientHandle::http_service`](super::ClientHandle::http_service) hands out: a caller can
//! send a request of its own (an inspector's replay) through the same layers to the local
//! service, by putting the [`LocalTarget`] of
//! [`ClientHandle::local_target`](super::ClientHandle::local_target) in its extensions.

use std::{sync::Arc, time::Duration};

use http::{Request, Response};
use tower::util::BoxCloneSyncService;

use crate::{BoxError, server::LayerStack};

mod local;
mod stream;

pub(crate) use stream::HttpStreamForward;

use local::LocalHttpForwarder;

/// The HTTP path of an inspected client as its layers see it, from the layers down to the local
/// service: boxed, so that any layer fits. The same type as the server's
/// [`HttpService`](crate::server::HttpService), so a layer written for one fits the other.
pub type LocalHttpService =
    BoxCloneSyncService<Request<crate::TunnelBody>, Response<crate::TunnelBody>, BoxError>;

/// Where a request on a client's HTTP path goes: a request extension.
///
/// Every request a stream carries has one (its tunnel, and that tunnel's local service), so that
/// layers know which tunnel they see; the innermost forwarder sends each request to
/// `http://{local_addr}`. A request of the caller's own, sent through
/// [`ClientHandle::http_service`](super::ClientHandle::http_service), needs one too: take it from
/// [`ClientHandle::local_target`](super::ClientHandle::local_target).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct LocalTarget {
    /// The tunnel's name on the server.
    pub tunnel: Arc<str>,
    /// The tunnel's local service here, e.g. `127.0.0.1:3000`.
    pub local_addr: Arc<str>,
}

impl LocalTarget {
    /// The target of tunnel `tunnel`, served by the local service at `local_addr`.
    pub fn new(tunnel: impl Into<Arc<str>>, local_addr: impl Into<Arc<str>>) -> Self {
        Self {
            tunnel: tunnel.into(),
            local_addr: local_addr.into(),
        }
    }
}

/// The client's HTTP path below the rescue step: `layers`, then the local forwarder. Built once
/// per client, so that every session, and every caller of `ClientHandle::http_service`, shares
/// the layers' state and the pool of local connections.
pub(crate) fn local_http_service(
    layers: &LayerStack,
    local_connect_timeout: Duration,
    max_idle_per_local_service: usize,
) -> LocalHttpService {
    let forwarder = LocalHttpForwarder::new(local_connect_timeout, max_idle_per_local_service);
    layers.wrap(LocalHttpService::new(forwarder))
}
