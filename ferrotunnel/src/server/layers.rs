//! Layers users put in the ingress stack: server-wide ([`ServerBuilder::layer`](super::ServerBuilder::layer))
//! and per tunnel ([`TunnelPolicy`]), kept as a [`LayerStack`] until the stack is built.

use std::{fmt, sync::Arc};

use bytes::Bytes;
use http::{Request, Response};
use tower::{ServiceExt, util::BoxCloneSyncService};

use super::{TunnelBody, into_tunnel_body};
use crate::{BoxError, protocol::PolicyRule};

/// A service inside the ingress stack, as layers see it: boxed so that any layer fits.
pub type HttpService = BoxCloneSyncService<Request<TunnelBody>, Response<TunnelBody>, BoxError>;

type Wrap = Arc<dyn Fn(HttpService) -> HttpService + Send + Sync>;

/// `tower` layers in the order added, the first outermost, to be put in front of a service of
/// the ingress stack. Cheap to clone: clones share the layers (and so any state they keep).
///
/// ```
/// use ferrotunnel::server::LayerStack;
/// use tower::util::MapRequestLayer;
///
/// let mut layers = LayerStack::new();
/// layers.push(MapRequestLayer::new(|request: http::Request<ferrotunnel::TunnelBody>| request));
/// assert_eq!(layers.len(), 1);
/// ```
#[derive(Clone, Default)]
pub struct LayerStack {
    layers: Vec<Wrap>,
}

impl LayerStack {
    /// No layers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `layer` inside the layers already added. Its service may answer any body with
    /// `Bytes` data and fail with any error; both are boxed to the stack's own types (a
    /// [`TunnelBody`] is passed on without a second box).
    pub fn push<L, S, B, E>(&mut self, layer: L)
    where
        L: tower::Layer<HttpService, Service = S> + Send + Sync + 'static,
        S: tower::Service<Request<TunnelBody>, Response = Response<B>, Error = E>,
        S: Clone + Send + Sync + 'static,
        S::Future: Send + 'static,
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
        E: Into<BoxError> + 'static,
    {
        self.layers.push(Arc::new(move |inner| {
            let service = layer
                .layer(inner)
                .map_response(|response: Response<B>| response.map(into_tunnel_body))
                .map_err(Into::into);
            BoxCloneSyncService::new(service)
        }));
    }

    /// Adds every layer of `other` inside the layers already added.
    pub fn extend(&mut self, other: LayerStack) {
        self.layers.extend(other.layers);
    }

    /// How many layers there are.
    pub fn len(&self) -> usize {
        self.layers.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.layers.is_empty()
    }

    /// Wraps `inner` in every layer, the first added outermost.
    pub fn wrap(&self, inner: HttpService) -> HttpService {
        self.layers
            .iter()
            .rev()
            .fold(inner, |service, wrap| wrap(service))
    }
}

impl fmt::Debug for LayerStack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LayerStack")
            .field("layers", &self.layers.len())
            .finish()
    }
}

/// Turns the policy a client asks for a tunnel into layers, once, when the tunnel registers
/// (see [`ServerBuilder::tunnel_policy`](super::ServerBuilder::tunnel_policy)).
///
/// The layers run for that tunnel only, after the server-wide layers and before the request is
/// forwarded. A refusal fails the registration with its message, which the client shows to its
/// user: name the rule and say what is wrong. `ferrotunnel_tower::policy` has the
/// implementation the `ferrotunnel` binary uses.
pub trait TunnelPolicy: Send + Sync + 'static {
    /// The layers of tunnel `tunnel`, whose client asked for `rules` (in the order they are to
    /// run; possibly none), or why they cannot be built.
    fn layers(&self, tunnel: &str, rules: &[PolicyRule]) -> Result<LayerStack, String>;
}

/// What a server without a [`TunnelPolicy`] does: no layers per tunnel, and a refusal for a
/// client that asks for any.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct NoTunnelPolicy;

impl TunnelPolicy for NoTunnelPolicy {
    fn layers(&self, _tunnel: &str, rules: &[PolicyRule]) -> Result<LayerStack, String> {
        match rules.first() {
            None => Ok(LayerStack::new()),
            Some(rule) => Err(format!(
                "this server enforces no policy that clients ask for, so it cannot apply `{}`; \
                 remove the policy from the client, or ask the server's operator to enable client policies",
                rule.name
            )),
        }
    }
}
