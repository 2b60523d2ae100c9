//! The first layer of the ingress stack: find what a request is for (see [`routing`](super::routing)).
//!
//! A tunnel's [`TunnelContext`](super::TunnelContext) goes into the request extensions for the plugins and the
//! [`TunnelService`](super::TunnelService) behind; a client-connect request goes to the session
//! endpoint instead; a host that names no live tunnel is refused here, without calling the inner
//! service.

use std::{
    future::Future,
    net::SocketAddr,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use http::{HeaderValue, Request, Response, Uri, header::HOST, uri::PathAndQuery};
use pin_project::pin_project;

use super::{
    TunnelBody,
    connect::ConnectEndpoint,
    registry::{Lookup, Registry},
    routing::Route,
};
use crate::{BoxError, Error};

/// The visitor's address, put in the request extensions by the ingress for each connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VisitorAddr(pub SocketAddr);

/// Applies [`ResolveTunnel`].
#[derive(Debug, Clone)]
pub(crate) struct ResolveTunnelLayer {
    registry: Arc<Registry>,
    connect: ConnectEndpoint,
}

impl ResolveTunnelLayer {
    /// Resolves tunnels in `registry`; client-connect requests go to `connect`.
    pub(crate) fn new(registry: Arc<Registry>, connect: ConnectEndpoint) -> Self {
        Self { registry, connect }
    }
}

impl<S> tower::Layer<S> for ResolveTunnelLayer {
    type Service = ResolveTunnel<S>;

    fn layer(&self, inner: S) -> ResolveTunnel<S> {
        ResolveTunnel {
            inner,
            registry: self.registry.clone(),
            connect: self.connect.clone(),
        }
    }
}

/// Resolves the request's host (or path) to a live tunnel.
#[derive(Debug, Clone)]
pub(crate) struct ResolveTunnel<S> {
    inner: S,
    registry: Arc<Registry>,
    /// Not boxed like the inner service: the stack is cloned for every request, and a box
    /// would be one more allocation each time.
    connect: ConnectEndpoint,
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
        let host = request
            .headers()
            .get(HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| request.uri().host())
            .unwrap_or_default();
        let (name, prefix_len) = match self.registry.routing().route(host, request.uri().path()) {
            Route::Tunnel { name, prefix_len } => (name, prefix_len),
            // The connect endpoint is always ready: it only spawns the session.
            Route::Connect => return ResponseFuture::Connect(self.connect.call(request)),
            Route::Nowhere => {
                let host = host.to_owned();
                return ResponseFuture::Refused(Some(Error::UnknownTunnel { host, name: None }));
            }
        };
        let tunnel = match self.registry.lookup(&name) {
            Lookup::Live(tunnel) => tunnel,
            Lookup::Offline => return ResponseFuture::Refused(Some(Error::TunnelOffline { name })),
            Lookup::Unknown => {
                // A path names the tunnel it asked for; a host is its own name.
                let name = prefix_len.map(|_| name);
                let host = host.to_owned();
                return ResponseFuture::Refused(Some(Error::UnknownTunnel { host, name }));
            }
        };
        if let Some(len) = prefix_len {
            strip_path_prefix(&mut request, len);
        }
        request.extensions_mut().insert(tunnel);
        ResponseFuture::Inner(self.inner.call(request))
    }
}

/// Removes the first `len` bytes of the path (`/t/app`), which name the tunnel, and tells the
/// local service in `X-Forwarded-Prefix`.
fn strip_path_prefix<B>(request: &mut Request<B>, len: usize) {
    let uri = request.uri();
    let prefix = uri.path()[..len].to_owned();
    let rest = uri
        .path_and_query()
        .map_or("", |pq| pq.as_str())
        .get(len..)
        .unwrap_or_default();
    let rest = if rest.starts_with('/') {
        rest.to_owned()
    } else {
        format!("/{rest}")
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = PathAndQuery::try_from(rest).ok();
    if let Ok(uri) = Uri::from_parts(parts) {
        *request.uri_mut() = uri;
    }
    if let Ok(prefix) = HeaderValue::from_str(&prefix) {
        request.headers_mut().insert("x-forwarded-prefix", prefix);
    }
}

/// The future of [`ResolveTunnel`]: the inner call, the connect endpoint, or the refusal.
#[pin_project(project = ResponseFutureProj)]
pub(crate) enum ResponseFuture<F> {
    Inner(#[pin] F),
    Connect(#[pin] <ConnectEndpoint as tower::Service<Request<TunnelBody>>>::Future),
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
            ResponseFutureProj::Connect(connect) => connect.poll(cx),
            ResponseFutureProj::Refused(err) => Poll::Ready(Err(err
                .take()
                .map_or_else(|| "polled after completion".into(), Into::into))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_prefixes_are_stripped_and_named() {
        let mut request = Request::builder()
            .uri("http://localhost/t/app/x/y?q=1")
            .body(())
            .unwrap();
        strip_path_prefix(&mut request, "/t/app".len());
        assert_eq!(request.uri().path_and_query().unwrap().as_str(), "/x/y?q=1");
        assert_eq!(request.headers()["x-forwarded-prefix"], "/t/app");

        let mut bare = Request::builder().uri("/t/app?q").body(()).unwrap();
        strip_path_prefix(&mut bare, "/t/app".len());
        assert_eq!(bare.uri().path_and_query().unwrap().as_str(), "/?q");
    }
}
