//! The slot for plugin layers between tunnel resolution and the [`TunnelService`](super::TunnelService).

use std::{fmt, sync::Arc};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::BodyExt;
use tower::{ServiceExt, util::BoxCloneSyncService};

use super::TunnelBody;
use crate::BoxError;

/// A service inside the ingress stack, as plugin layers see it: boxed so that any layer fits.
pub type HttpService = BoxCloneSyncService<Request<TunnelBody>, Response<TunnelBody>, BoxError>;

type Wrap = Arc<dyn Fn(HttpService) -> HttpService + Send + Sync>;

/// The layers a user added, in the order added.
#[derive(Clone, Default)]
pub(crate) struct PluginStack {
    layers: Vec<Wrap>,
}

impl PluginStack {
    pub(crate) fn push<L, S, B, E>(&mut self, layer: L)
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
                .map_response(|response: Response<B>| {
                    response.map(|body| body.map_err(Into::into).boxed_unsync())
                })
                .map_err(Into::into);
            BoxCloneSyncService::new(service)
        }));
    }

    /// Wraps `inner` in every layer, the first added outermost.
    pub(crate) fn wrap(&self, inner: HttpService) -> HttpService {
        self.layers
            .iter()
            .rev()
            .fold(inner, |service, wrap| wrap(service))
    }
}

impl fmt::Debug for PluginStack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PluginStack")
            .field("layers", &self.layers.len())
            .finish()
    }
}
