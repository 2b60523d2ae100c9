use std::{
    fmt,
    sync::Arc,
    task::{Context, Poll},
};

use http::{Request, Response};

use super::{HeadersLayer, ResponseFuture, edit::Rules, future::ResponseRules, values::Captured};

/// Adds, sets and removes headers around an inner service: see the [module docs](super).
pub struct Headers<S> {
    inner: S,
    rules: Arc<Rules>,
}

impl<S> Headers<S> {
    pub(super) fn from_rules(inner: S, rules: Arc<Rules>) -> Self {
        Self { inner, rules }
    }

    /// A layer with no rules yet: the same as [`HeadersLayer::new`].
    pub fn layer() -> HeadersLayer {
        HeadersLayer::new()
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

impl<S, ReqBody, ResBody> tower::Service<Request<ReqBody>> for Headers<S>
where
    S: tower::Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    // Never refuses: the inner body passes through, its type unchanged.
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        for rule in &self.rules.request {
            // A rule sees the request as the rules before it left it.
            let value = rule.value(&request);
            rule.apply(request.headers_mut(), value);
        }
        let response = (!self.rules.response.is_empty()).then(|| {
            let uses = self.rules.response_uses;
            ResponseRules {
                rules: self.rules.clone(),
                // Nothing to take (and no allocation) when no response value has placeholders.
                captured: if uses.is_empty() {
                    Captured::default()
                } else {
                    Captured::of(&request, uses)
                },
            }
        });
        ResponseFuture::new(self.inner.call(request), response)
    }
}

impl<S: Clone> Clone for Headers<S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            rules: self.rules.clone(),
        }
    }
}

impl<S: fmt::Debug> fmt::Debug for Headers<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Headers")
            .field("inner", &self.inner)
            .field("request", &self.rules.request)
            .field("response", &self.rules.response)
            .finish()
    }
}
