//! The first layer of the ingress stack: find the tunnel a request is for.
//!
//! `app.<domain>` (any port, any case) resolves to tunnel `app`; the tunnel's [`TunnelContext`]
//! goes into the request extensions for the plugins and [`TunnelService`](super::TunnelService)
//! behind. A host that names no live tunnel is refused here, without calling the inner service.

use std::{
    future::Future,
    net::SocketAddr,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use http::{Request, header::HOST};
use pin_project::pin_project;

use super::{
    registry::{Lookup, Registry},
    tunnel_service::TunnelContext,
};
use crate::{BoxError, Error};

/// The visitor's address, put in the request extensions by the ingress for each connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VisitorAddr(pub SocketAddr);

/// Applies [`ResolveTunnel`].
#[derive(Debug, Clone)]
pub(crate) struct ResolveTunnelLayer {
    registry: Arc<Registry>,
}

impl ResolveTunnelLayer {
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

/// Resolves the request's host to a live tunnel.
#[derive(Debug, Clone)]
pub(crate) struct ResolveTunnel<S> {
    inner: S,
    registry: Arc<Registry>,
}

impl<S, B> tower::Service<Request<B>> for ResolveTunnel<S>
where
    S: tower::Service<Request<B>, Error = BoxError>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        match self.resolve(&request) {
            Ok(tunnel) => {
                request.extensions_mut().insert(tunnel);
                ResponseFuture::Inner(self.inner.call(request))
            }
            Err(err) => ResponseFuture::Refused(Some(err)),
        }
    }
}

impl<S> ResolveTunnel<S> {
    fn resolve<B>(&self, request: &Request<B>) -> Result<TunnelContext, Error> {
        let host = request
            .headers()
            .get(HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| request.uri().host())
            .unwrap_or_default();
        let unknown = || Error::UnknownTunnel {
            host: host.to_owned(),
        };
        let name = tunnel_name(host, self.registry.domain()).ok_or_else(unknown)?;
        match self.registry.lookup(&name) {
            Lookup::Live(tunnel) => Ok(tunnel),
            Lookup::Offline => Err(Error::TunnelOffline { name }),
            Lookup::Unknown => Err(unknown()),
        }
    }
}

/// `app.localhost:8080` on domain `localhost` → `app`.
fn tunnel_name(host: &str, domain: &str) -> Option<String> {
    let host = strip_port(host).trim_end_matches('.').to_ascii_lowercase();
    let name = host.strip_suffix(domain)?.strip_suffix('.')?;
    (!name.is_empty() && !name.contains('.')).then(|| name.to_owned())
}

fn strip_port(host: &str) -> &str {
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

/// The future of [`ResolveTunnel`]: the inner call, or the refusal.
#[pin_project(project = ResponseFutureProj)]
#[derive(Debug)]
pub(crate) enum ResponseFuture<F> {
    Inner(#[pin] F),
    Refused(Option<Error>),
}

impl<F, T> Future for ResponseFuture<F>
where
    F: Future<Output = Result<T, BoxError>>,
{
    type Output = Result<T, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            ResponseFutureProj::Inner(inner) => inner.poll(cx),
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
    fn hosts_resolve_to_tunnel_names() {
        let cases = [
            ("app.localhost:8080", Some("app")),
            ("App.LocalHost", Some("app")),
            ("app.localhost.", Some("app")),
            ("localhost:8080", None),
            ("a.b.localhost", None),
            ("app.example.com", None),
            ("applocalhost", None),
            ("", None),
        ];
        for (host, expected) in cases {
            assert_eq!(
                tunnel_name(host, "localhost").as_deref(),
                expected,
                "{host}"
            );
        }
        assert_eq!(
            tunnel_name("x.t.example.com:443", "t.example.com").as_deref(),
            Some("x")
        );
    }
}
