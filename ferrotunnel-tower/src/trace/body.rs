use std::{
    pin::Pin,
    task::{Context, Poll},
};

use http_body::{Body, Frame, SizeHint};
use pin_project::pin_project;
use tracing::Span;

use super::span::failed;

/// A response body that keeps its hop's span open until the body has ended, failed, or been
/// dropped (the visitor left), so that the span's duration is the whole exchange's.
#[pin_project]
#[derive(Debug)]
pub struct TracedBody<B> {
    #[pin]
    inner: B,
    span: Option<Span>,
}

impl<B> TracedBody<B> {
    pub(super) fn new(inner: B, span: Span) -> Self {
        Self {
            inner,
            span: Some(span),
        }
    }
}

impl<B> Body for TracedBody<B>
where
    B: Body,
    B::Error: std::fmt::Display,
{
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        let mut this = self.project();
        let frame = this.inner.as_mut().poll_frame(cx);
        match &frame {
            Poll::Ready(Some(Err(err))) => {
                if let Some(span) = this.span.take() {
                    failed(&span, err);
                }
            }
            // The span ends with the body: closing it is what exports it.
            Poll::Ready(None) => *this.span = None,
            Poll::Ready(Some(Ok(_))) if this.inner.is_end_stream() => *this.span = None,
            _ => {}
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
