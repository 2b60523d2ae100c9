use std::{
    fmt,
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, ready},
};

use http::Response;
use pin_project::pin_project;

use super::{edit::Rules, values::Captured};

/// The future of [`Headers`](super::Headers): the inner service's response, with the response
/// rules applied.
#[pin_project]
pub struct ResponseFuture<F> {
    #[pin]
    inner: F,
    /// `None` when the layer has no response rules.
    response: Option<ResponseRules>,
}

/// What the response rules need: the rules, and the request's values they use.
pub(super) struct ResponseRules {
    pub(super) rules: Arc<Rules>,
    pub(super) captured: Captured,
}

impl<F> ResponseFuture<F> {
    pub(super) fn new(inner: F, response: Option<ResponseRules>) -> Self {
        Self { inner, response }
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        // Errors pass through untouched: the rescue layer above makes them responses.
        let mut response = ready!(this.inner.poll(cx))?;
        if let Some(ResponseRules { rules, captured }) = this.response.take() {
            for rule in &rules.response {
                let value = rule.value(&captured);
                rule.apply(response.headers_mut(), value);
            }
        }
        Poll::Ready(Ok(response))
    }
}

impl<F> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("response_rules", &self.response.is_some())
            .finish_non_exhaustive()
    }
}
