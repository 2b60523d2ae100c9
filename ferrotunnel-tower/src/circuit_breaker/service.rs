use std::{
    fmt,
    sync::Arc,
    task::{Context, Poll},
};

use http::{Request, Response};

use super::{
    CircuitBreakerLayer, ResponseFuture,
    breaker::Admission,
    future::{Refused, Watch},
    registry::Breakers,
};
use crate::{ResponseBody, request};

/// Refuses requests to a failing tunnel, around an inner service: see the
/// [module docs](super).
pub struct CircuitBreaker<S> {
    inner: S,
    breakers: Arc<Breakers>,
}

impl<S> CircuitBreaker<S> {
    pub(super) fn from_breakers(inner: S, breakers: Arc<Breakers>) -> Self {
        Self { inner, breakers }
    }

    /// A layer with the default settings: the same as [`CircuitBreakerLayer::new`].
    pub fn layer() -> CircuitBreakerLayer {
        CircuitBreakerLayer::new()
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

impl<S, ReqBody, ResBody> tower::Service<Request<ReqBody>> for CircuitBreaker<S>
where
    S: tower::Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        // Keyed by tunnel, so one failing tunnel does not stop the others. (Tunnels exist only
        // inside the core crate: the end-to-end tests show the per-tunnel separation.)
        let Some(breaker) = self.breakers.get(request::tunnel_name(&request)) else {
            return ResponseFuture::unwatched(self.inner.call(request));
        };
        match breaker.admit() {
            Admission::Pass => {
                ResponseFuture::watched(self.inner.call(request), Watch::request(breaker))
            }
            Admission::Probe(ticket) => {
                ResponseFuture::watched(self.inner.call(request), Watch::probe(breaker, ticket))
            }
            Admission::Refuse(refusal) => {
                tracing::debug!(
                    tunnel = breaker.tunnel(),
                    retry_after = refusal.retry_after,
                    "circuit breaker refused a request"
                );
                ResponseFuture::refused(Refused::new(breaker, refusal))
            }
        }
    }
}

impl<S: Clone> Clone for CircuitBreaker<S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            breakers: self.breakers.clone(),
        }
    }
}

impl<S: fmt::Debug> fmt::Debug for CircuitBreaker<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreaker")
            .field("inner", &self.inner)
            .field("tunnels", &self.breakers.tunnels())
            .finish_non_exhaustive()
    }
}
