use std::{
    fmt,
    sync::Arc,
    task::{Context, Poll},
};

use ferrotunnel::TunnelBody;
use http::{Request, Response};
use tower::Service;

use super::{Plugin, PluginLayer, ResponseFuture};

/// Runs a [`Plugin`] around an inner service; see the [module docs](super).
pub struct PluginService<S, P> {
    inner: S,
    plugin: Arc<P>,
}

impl<S, P: Plugin> PluginService<S, P> {
    /// Runs `plugin` on every request before `inner`.
    pub fn new(inner: S, plugin: P) -> Self {
        Self::from_arc(inner, Arc::new(plugin))
    }

    /// Like [`new`](Self::new), with a plugin already shared elsewhere.
    pub fn from_arc(inner: S, plugin: Arc<P>) -> Self {
        Self { inner, plugin }
    }

    /// A layer that runs `plugin`: the same as [`PluginLayer::new`].
    pub fn layer(plugin: P) -> PluginLayer<P> {
        PluginLayer::new(plugin)
    }

    /// The plugin.
    pub fn plugin(&self) -> &P {
        &self.plugin
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service, unwrapped.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, P> Service<Request<TunnelBody>> for PluginService<S, P>
where
    S: Service<Request<TunnelBody>, Response = Response<TunnelBody>> + Clone,
    P: Plugin,
{
    type Response = Response<TunnelBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S, P>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<TunnelBody>) -> Self::Future {
        // The service that was driven to readiness goes into the future, to be called if the
        // plugin lets the request through; a clone stays here for the next call.
        let fresh = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, fresh);
        ResponseFuture::new(request, inner, self.plugin.clone())
    }
}

impl<S: Clone, P> Clone for PluginService<S, P> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            plugin: self.plugin.clone(),
        }
    }
}

impl<S: fmt::Debug, P: Plugin> fmt::Debug for PluginService<S, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PluginService")
            .field("inner", &self.inner)
            .field("plugin", &self.plugin.name())
            .finish()
    }
}
