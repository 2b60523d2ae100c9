//! [`TunnelService`]: the last service of the ingress stack, which forwards a request over a
//! stream of the tunnel's session.
//!
//! Each session has a pool of HTTP/1.1 connections, each a yamux stream to the client (see
//! `pool`). Pooled streams are keyed by tunnel and visitor IP address, so a stream only ever
//! carries one tunnel's traffic from one visitor address.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

use http::{Request, Response, Version, header::UPGRADE};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};

use super::{TunnelBody, TunnelContext, VisitorAddr};
use crate::BoxError;

/// Forwards each request to the client of the tunnel named by the [`TunnelContext`] in its
/// extensions, and streams the response back. HTTP upgrades (WebSocket) are passed through.
///
/// It expects the request as the ingress stack's forwarded-headers step leaves it: hop-by-hop
/// headers gone, an `Upgrade` header only on a request that asks to switch protocols. Errors are
/// [`Error`](crate::Error)s (boxed); the ingress stack's rescue step turns them into responses.
#[derive(Debug, Clone, Copy, Default)]
pub struct TunnelService;

impl TunnelService {
    /// The service.
    pub fn new() -> Self {
        Self
    }
}

impl tower::Service<Request<TunnelBody>> for TunnelService {
    type Response = Response<TunnelBody>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<TunnelBody>) -> Self::Future {
        Box::pin(forward(request))
    }
}

async fn forward(mut request: Request<TunnelBody>) -> Result<Response<TunnelBody>, BoxError> {
    let tunnel = request
        .extensions_mut()
        .remove::<TunnelContext>()
        .ok_or("TunnelService needs a TunnelContext: put the resolve-tunnel step in front of it")?;
    let visitor = request.extensions().get::<VisitorAddr>().map(|v| v.0.ip());
    let visitor_upgrade = request
        .headers()
        .contains_key(UPGRADE)
        .then(|| hyper::upgrade::on(&mut request));

    *request.version_mut() = Version::HTTP_11;

    let (response, local_upgrade) = tunnel
        .session()
        .pool()
        .send(tunnel.shared_name().clone(), visitor, request)
        .await?;

    if let (Some(visitor_upgrade), Some(local_upgrade)) = (visitor_upgrade, local_upgrade) {
        tokio::spawn(splice_upgrade(
            visitor_upgrade,
            std::future::ready(Ok(local_upgrade)),
            tunnel.name().to_owned(),
        ));
    }
    Ok(response)
}

/// Copies bytes between the visitor's upgraded connection and the local service's, once both
/// upgrades are through.
pub(crate) async fn splice_upgrade<L>(
    visitor: hyper::upgrade::OnUpgrade,
    local: impl Future<Output = Result<L, hyper::Error>>,
    tunnel: String,
) where
    L: AsyncRead + AsyncWrite + Unpin,
{
    let (visitor, mut local) = match tokio::try_join!(visitor, local) {
        Ok(pair) => pair,
        Err(err) => {
            tracing::debug!(%tunnel, error = %err, "upgrade failed");
            return;
        }
    };
    let mut visitor = TokioIo::new(visitor);
    if let Err(err) = crate::splice::splice(&mut visitor, &mut local).await {
        tracing::debug!(%tunnel, error = %err, "upgraded connection ended with an error");
    }
}
