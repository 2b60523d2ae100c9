use std::{
    fmt,
    future::Future,
    pin::Pin,
    task::{Context, Poll, ready},
};

use http::Response;
use pin_project::pin_project;

use super::{CaptureBody, ExchangeId, Outcome, recorder::Recorder};

/// The future of [`Capture`](super::Capture): the inner call, its response's head recorded
/// and its body wrapped to be recorded as it streams.
#[pin_project]
pub struct ResponseFuture<F> {
    #[pin]
    inner: F,
    /// `None` once the future has returned.
    recorder: Option<Recorder>,
}

impl<F> ResponseFuture<F> {
    pub(super) fn new(inner: F, recorder: Recorder) -> Self {
        Self {
            inner,
            recorder: Some(recorder),
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: http_body::Body,
    E: fmt::Display,
{
    type Output = Result<Response<CaptureBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(cx));
        let Some(mut recorder) = this.recorder.take() else {
            // Polled again after it returned: the inner future's business; nothing to record.
            return Poll::Ready(result.map(|response| response.map(|b| CaptureBody::new(b, None))));
        };
        match result {
            Ok(mut response) => {
                response.extensions_mut().insert(ExchangeId(recorder.id()));
                let capture = recorder.response_head(&response);
                Poll::Ready(Ok(response.map(|body| CaptureBody::new(body, capture))))
            }
            Err(err) => {
                recorder.finish(Outcome::Error(err.to_string()), None);
                Poll::Ready(Err(err))
            }
        }
    }
}

impl<F> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("exchange", &self.recorder.as_ref().map(Recorder::id))
            .finish_non_exhaustive()
    }
}
