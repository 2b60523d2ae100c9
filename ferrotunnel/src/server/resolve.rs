//! The resolve-tunnel step of the ingress stack: which live tunnel a request is for (see
//! [`routing`](super::routing)).
//!
//! The tunnel's [`TunnelContext`] goes into the request extensions for the layers and the
//! [`TunnelService`](super::TunnelService) behind; a request routed by path also gets a
//! [`RoutedByPath`] for the prefix-strip step. A host or path that names no live tunnel is
//! refused here, without calling the inner service: 404 for an unknown tunnel, 503 for one whose
//! client is offline.

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use http::{Request, Response};
use pin_project::pin_project;

use super::{
    TunnelBody, TunnelContext,
    observe::{Resolution, ResolvedTunnel},
    path_prefix::RoutedByPath,
    registry::{Lookup, Registry},
    routing::{TunnelRoute, request_host},
};
use crate::{BoxError, Error};

/// Applies [`ResolveTunnel`].
#[derive(Debug, Clone)]
pub(crate) struct ResolveTunnelLayer {
    registry: Arc<Registry>,
}

impl ResolveTunnelLayer {
    /// Resolves tunnels in `registry`.
    pub(crate) fn new(registry: Arc<Registry>) -> Self {
        Self { registry }
    }
}

impl<S> tower::Layer<S> for ResolveTunnelLayer {
    type Service = ResolveTunnel<S>;

    fn layer(&self, inner: S) -> ResolveTunnel<S> {
        ResolveTunnel {
            inner,
            registry: self.registry.clone(),
        }
    }
}

/// Resolves the request's host (or path) to a live tunnel.
#[derive(Debug, Clone)]
pub(crate) struct ResolveTunnel<S> {
    inner: S,
    registry: Arc<Registry>,
}

impl<S> tower::Service<Request<TunnelBody>> for ResolveTunnel<S>
where
    S: tower::Service<Request<TunnelBody>, Response = Response<TunnelBody>, Error = BoxError>,
{
    type Response = Response<TunnelBody>;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<TunnelBody>) -> Self::Future {
        if let Some(RouteTo(name)) = request.extensions_mut().remove::<RouteTo>() {
            return match self.registry.lookup(&name) {
                Lookup::Live(tunnel) => {
                    record_live(&request, &tunnel);
                    request.extensions_mut().insert::<TunnelContext>(tunnel);
                    ResponseFuture::Inner(self.inner.call(request))
                }
                Lookup::Offline => {
                    record_offline(&request, &name);
                    ResponseFuture::Refused(Some(Error::TunnelOffline { name }))
                }
                Lookup::Unknown => ResponseFuture::Refused(Some(Error::UnknownTunnel {
                    host: request_host(&request).to_owned(),
                    name: Some(name),
                })),
            };
        }
        let host = request_host(&request);
        let Some(TunnelRoute { name, prefix_len }) =
            self.registry.routing().tunnel(host, request.uri().path())
        else {
            let host = host.to_owned();
            return ResponseFuture::Refused(Some(Error::UnknownTunnel { host, name: None }));
        };
        let tunnel = match self.registry.lookup(&name) {
            Lookup::Live(tunnel) => tunnel,
            Lookup::Offline => {
                record_offline(&request, &name);
                let name = name.into_owned();
                return ResponseFuture::Refused(Some(Error::TunnelOffline { name }));
            }
            Lookup::Unknown => {
                // A path names the tunnel it asked for; a host is its own name.
                let name = prefix_len.map(|_| name.into_owned());
                let host = host.to_owned();
                return ResponseFuture::Refused(Some(Error::UnknownTunnel { host, name }));
            }
        };
        record_live(&request, &tunnel);
        let extensions = request.extensions_mut();
        extensions.insert::<TunnelContext>(tunnel);
        if let Some(len) = prefix_len {
            extensions.insert(RoutedByPath { prefix_len: len });
        }
        ResponseFuture::Inner(self.inner.call(request))
    }
}

/// Tells the observers the request went to `tunnel` (sharing its name: no allocation).
fn record_live<B>(request: &Request<B>, tunnel: &TunnelContext) {
    ResolvedTunnel::record(request, || Resolution::Tunnel(tunnel.name_shared().clone()));
}

/// Tells the observers the request was for offline tunnel `name` (answered 503).
fn record_offline<B>(request: &Request<B>, name: &str) {
    ResolvedTunnel::record(request, || Resolution::Tunnel(name.into()));
}

/// The future of [`ResolveTunnel`]: the inner call, or the refusal.
/// Sends a request to the named tunnel, whatever its `Host` and path say, as it is (no path
/// prefix is stripped). Visitors cannot put extensions on their requests; code in the server's
/// process can: the dashboard's replay sends a captured request back to its tunnel this way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteTo(pub String);

#[pin_project(project = ResponseFutureProj)]
pub(crate) enum ResponseFuture<F> {
    Inner(#[pin] F),
    Refused(Option<Error>),
}

impl<F> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<TunnelBody>, BoxError>>,
{
    type Output = Result<Response<TunnelBody>, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            ResponseFutureProj::Inner(inner) => inner.poll(cx),
            ResponseFutureProj::Refused(err) => Poll::Ready(Err(err
                .take()
                .map_or_else(|| "polled after completion".into(), Into::into))),
        }
    }
}
