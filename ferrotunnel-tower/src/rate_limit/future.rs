use std::{
    fmt,
    future::Future,
    pin::Pin,
    task::{Context, Poll, ready},
};

use http::{HeaderValue, Response, StatusCode, header};
use pin_project::pin_project;

use super::state::{RATELIMIT, RATELIMIT_POLICY};
use crate::body::{ResponseBody, refusal};

/// A 429 the layer decided on, made into a response when the future is polled (its body type
/// is the inner service's, known only there).
#[derive(Debug)]
pub(super) struct Refusal {
    pub(super) message: String,
    pub(super) retry_after: HeaderValue,
    pub(super) policy: HeaderValue,
    pub(super) remaining: HeaderValue,
}

/// The future of [`RateLimit`](super::RateLimit): the inner call, or the layer's 429.
#[pin_project]
pub struct ResponseFuture<F> {
    #[pin]
    kind: Kind<F>,
}

#[pin_project(project = KindProj)]
enum Kind<F> {
    /// Within the limit: the inner service's response, with the `RateLimit` headers if the
    /// layer sends them on every response.
    Inner {
        #[pin]
        future: F,
        headers: Option<Box<[HeaderValue; 2]>>,
    },
    /// Beyond the limit; the inner service was not called.
    Refused { refusal: Option<Box<Refusal>> },
}

impl<F> ResponseFuture<F> {
    pub(super) fn inner(future: F, headers: Option<Box<[HeaderValue; 2]>>) -> Self {
        Self {
            kind: Kind::Inner { future, headers },
        }
    }

    pub(super) fn refused(refusal: Box<Refusal>) -> Self {
        Self {
            kind: Kind::Refused {
                refusal: Some(refusal),
            },
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<ResponseBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Inner { future, headers } => {
                let mut response = ready!(future.poll(cx))?;
                if let Some(pair) = headers.take() {
                    let [policy, remaining] = *pair;
                    // Appended, not replaced: a limiter further in may have its own policy,
                    // and both are items of the same structured-field lists.
                    let headers = response.headers_mut();
                    headers.append(RATELIMIT_POLICY.clone(), policy);
                    headers.append(RATELIMIT.clone(), remaining);
                }
                Poll::Ready(Ok(response.map(ResponseBody::Inner)))
            }
            KindProj::Refused { refusal: taken } => {
                let Some(refused) = taken.take() else {
                    panic!("ResponseFuture polled after completion");
                };
                let Refusal {
                    message,
                    retry_after,
                    policy,
                    remaining,
                } = *refused;
                let mut response = refusal("rate_limit", StatusCode::TOO_MANY_REQUESTS, message);
                let headers = response.headers_mut();
                headers.insert(header::RETRY_AFTER, retry_after);
                headers.insert(RATELIMIT_POLICY.clone(), policy);
                headers.insert(RATELIMIT.clone(), remaining);
                Poll::Ready(Ok(response))
            }
        }
    }
}

impl<F> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.kind {
            Kind::Inner { .. } => "Inner",
            Kind::Refused { .. } => "Refused",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish_non_exhaustive()
    }
}
