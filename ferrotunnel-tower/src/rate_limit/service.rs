use std::{
    fmt,
    sync::Arc,
    task::{Context, Poll},
};

use governor::clock::{Clock, DefaultClock};
use http::{Request, Response};

use super::{
    Rate, RateLimitLayer, ResponseFuture,
    state::{Decision, Shared},
};
use crate::body::ResponseBody;

/// Limits the rate of requests to an inner service; see the [module docs](super).
///
/// Clones share their state with each other and with the [`RateLimitLayer`] they came from.
pub struct RateLimit<S, C: Clock = DefaultClock> {
    inner: S,
    shared: Arc<Shared<C>>,
}

impl<S> RateLimit<S> {
    /// Limits `inner` to `rate` requests per visitor IP address: the same as
    /// `RateLimitLayer::new(rate).layer(inner)`. Use the layer to change the other settings.
    pub fn new(inner: S, rate: Rate) -> Self {
        tower::Layer::layer(&RateLimitLayer::new(rate), inner)
    }

    /// A layer limiting to `rate`: the same as [`RateLimitLayer::new`].
    pub fn layer(rate: Rate) -> RateLimitLayer {
        RateLimitLayer::new(rate)
    }
}

impl<S, C: Clock> RateLimit<S, C> {
    pub(super) fn from_shared(inner: S, shared: Arc<Shared<C>>) -> Self {
        Self { inner, shared }
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

impl<S, C, ReqBody, ResBody> tower::Service<Request<ReqBody>> for RateLimit<S, C>
where
    S: tower::Service<Request<ReqBody>, Response = Response<ResBody>>,
    C: Clock,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        match self.shared.decide(&request) {
            Decision::Allow(headers) => ResponseFuture::inner(self.inner.call(request), headers),
            Decision::Refuse(refusal) => ResponseFuture::refused(refusal),
        }
    }
}

impl<S: Clone, C: Clock> Clone for RateLimit<S, C> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            shared: self.shared.clone(),
        }
    }
}

impl<S: fmt::Debug, C: Clock> fmt::Debug for RateLimit<S, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimit")
            .field("inner", &self.inner)
            .field("limit", &self.shared)
            .finish()
    }
}
