//! The tunnel-policy step of the ingress stack: a request for a tunnel with a policy of its own
//! runs through that tunnel's stack, which was built once, when the tunnel registered, and ends
//! in the same forwarding steps as every other request (see `stack`). A tunnel without a policy
//! costs one look at its context.

use std::task::{Context, Poll};

use futures::future::Either;
use http::{Request, Response};
use tower::{ServiceExt, util::Oneshot};

use super::{HttpService, TunnelBody, TunnelContext};
use crate::BoxError;

/// Applies [`RunTunnelPolicy`].
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RunTunnelPolicyLayer;

impl<S> tower::Layer<S> for RunTunnelPolicyLayer {
    type Service = RunTunnelPolicy<S>;

    fn layer(&self, inner: S) -> RunTunnelPolicy<S> {
        RunTunnelPolicy { inner }
    }
}

/// Runs the tunnel's own stack when it has one, else the inner service (the forwarding steps,
/// which the tunnel's own stack ends in too).
#[derive(Debug, Clone)]
pub(crate) struct RunTunnelPolicy<S> {
    inner: S,
}

impl<S> tower::Service<Request<TunnelBody>> for RunTunnelPolicy<S>
where
    S: tower::Service<Request<TunnelBody>, Response = Response<TunnelBody>, Error = BoxError>,
{
    type Response = Response<TunnelBody>;
    type Error = BoxError;
    type Future = Either<Oneshot<HttpService, Request<TunnelBody>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        // The forwarding steps are always ready; a tunnel's own stack is driven to readiness
        // by `oneshot` once the request says which tunnel it is for.
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<TunnelBody>) -> Self::Future {
        let policy = request
            .extensions()
            .get::<TunnelContext>()
            .and_then(TunnelContext::policy)
            .cloned();
        match policy {
            Some(policy) => Either::Left(policy.oneshot(request)),
            None => Either::Right(self.inner.call(request)),
        }
    }
}
