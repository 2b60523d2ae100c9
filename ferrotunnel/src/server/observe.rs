//! The observe step of the ingress stack: layers that see every visitor's request and its final
//! response (a 404 for an unknown tunnel and a 502 from a dead local service included), added
//! with [`ServerBuilder::observe_layer`](super::ServerBuilder::observe_layer). Metrics and
//! traces go here.
//!
//! They run first, on the request as the visitor sent it (before the hop-by-hop step and the
//! request id, which the response carries back) and before the tunnel is resolved, so a
//! request's [`TunnelContext`] is not theirs to read; an observer that wants the tunnel takes
//! the request's [`ResolvedTunnel`] slot, and the resolve step fills it in.
//!
//! [`TunnelContext`]: super::TunnelContext

use std::{
    convert::Infallible,
    fmt,
    sync::{Arc, OnceLock},
};

use bytes::Bytes;
use http::{Request, Response};
use tower::{ServiceExt, util::BoxCloneSyncService};

use super::{IngressService, TunnelBody, into_tunnel_body};
use crate::BoxError;

/// Where the ingress sent a request, for the observe layers, which run before that is known.
///
/// An observer takes the request's slot with [`of`](Self::of) and keeps it; once the response
/// is back, [`get`](Self::get) says what became of the request. Empty means no tunnel: the host or
/// path named none (the response is a 404) or the request was refused before.
///
/// ```
/// use ferrotunnel::server::{Resolution, ResolvedTunnel};
///
/// let slot = ResolvedTunnel::new();
/// assert_eq!(slot.get(), None);
/// assert_eq!(slot.tunnel(), None);
/// ```
#[derive(Debug, Clone, Default)]
pub struct ResolvedTunnel(Arc<OnceLock<Resolution>>);

/// What the ingress made of a request (see [`ResolvedTunnel`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// For this tunnel, live or offline (an offline tunnel's requests get a 503).
    Tunnel(Arc<str>),
    /// A client opening its session over WebSocket, not a visitor.
    ClientSession,
}

impl ResolvedTunnel {
    /// An empty slot.
    pub fn new() -> Self {
        Self::default()
    }

    /// The request's slot: the one an earlier observer left in its extensions, or a new one
    /// put there. Observers share one slot, so each learns the tunnel, whatever their order.
    ///
    /// ```
    /// use ferrotunnel::server::ResolvedTunnel;
    ///
    /// let mut request = http::Request::new(());
    /// let first = ResolvedTunnel::of(&mut request);
    /// let second = ResolvedTunnel::of(&mut request);
    /// assert!(first.same_slot(&second));
    /// ```
    pub fn of<B>(request: &mut Request<B>) -> Self {
        request
            .extensions_mut()
            .get_or_insert_with(Self::new)
            .clone()
    }

    /// Whether `self` and `other` are clones of one slot.
    pub fn same_slot(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    /// What the ingress made of the request, once it has.
    pub fn get(&self) -> Option<&Resolution> {
        self.0.get()
    }

    /// The tunnel's name, if the request was for one.
    pub fn tunnel(&self) -> Option<&Arc<str>> {
        match self.get() {
            Some(Resolution::Tunnel(name)) => Some(name),
            _ => None,
        }
    }

    /// Records what became of the request in its slot, if an observer left one.
    pub(crate) fn record<B>(request: &Request<B>, resolution: impl FnOnce() -> Resolution) {
        if let Some(slot) = request.extensions().get::<Self>() {
            // Only the first word counts: a request is resolved once.
            let _ = slot.0.set(resolution());
        }
    }
}

type Wrap = Arc<dyn Fn(IngressService) -> IngressService + Send + Sync>;

/// The observe layers, in the order added, the first outermost.
#[derive(Clone, Default)]
pub(crate) struct ObserveStack {
    layers: Vec<Wrap>,
}

impl ObserveStack {
    /// Adds `layer` inside the layers already added. Its service sees the ingress's final
    /// responses and cannot fail (its error type is [`Infallible`]): what it observes must not
    /// change what the visitor gets.
    pub(crate) fn push<L, S, B>(&mut self, layer: L)
    where
        L: tower::Layer<IngressService, Service = S> + Send + Sync + 'static,
        S: tower::Service<Request<TunnelBody>, Response = Response<B>, Error = Infallible>,
        S: Clone + Send + Sync + 'static,
        S::Future: Send + 'static,
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        self.layers.push(Arc::new(move |inner| {
            let service = layer
                .layer(inner)
                .map_response(|response: Response<B>| response.map(into_tunnel_body));
            BoxCloneSyncService::new(service)
        }));
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.layers.is_empty()
    }

    /// Wraps `inner` in every layer, the first added outermost.
    pub(crate) fn wrap(&self, inner: IngressService) -> IngressService {
        self.layers
            .iter()
            .rev()
            .fold(inner, |service, wrap| wrap(service))
    }
}

impl fmt::Debug for ObserveStack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObserveStack")
            .field("layers", &self.layers.len())
            .finish()
    }
}
