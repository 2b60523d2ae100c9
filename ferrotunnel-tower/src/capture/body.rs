use std::{
    fmt,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, ready},
};

use bytes::{Bytes, BytesMut};
use http_body::{Body, Frame, SizeHint};
use pin_project::pin_project;

use super::{
    BodyRecord, Outcome,
    recorder::Recorder,
    stats::Tally,
    store::{Shared, Update},
};

/// The first bytes of a body, copied as they stream past, and the count of all of them.
#[derive(Debug, Default)]
pub(super) struct Prefix {
    buf: BytesMut,
    limit: usize,
    /// What the body said its size is at least (capped at `limit`): the first allocation's
    /// size, so that a body with a `content-length` is copied into one allocation.
    hint: usize,
    size: u64,
}

impl Prefix {
    pub(super) fn new(limit: usize, hint: &SizeHint) -> Self {
        Self {
            buf: BytesMut::new(),
            limit,
            hint: usize::try_from(hint.lower())
                .unwrap_or(usize::MAX)
                .min(limit),
            size: 0,
        }
    }

    pub(super) fn push(&mut self, data: &[u8]) {
        self.size += data.len() as u64;
        let take = self.limit.saturating_sub(self.buf.len()).min(data.len());
        if take == 0 {
            return;
        }
        let needed = self.buf.len() + take;
        if self.buf.capacity() < needed {
            // Grown by hand, not by `BytesMut`'s doubling: the buffer never exceeds the limit.
            let target = needed
                .max(self.hint)
                .max(self.buf.capacity() * 2)
                .min(self.limit);
            let mut grown = BytesMut::with_capacity(target);
            grown.extend_from_slice(&self.buf);
            self.buf = grown;
        }
        self.buf.extend_from_slice(&data[..take]);
    }

    /// The record so far; the prefix is moved out, so call it once.
    pub(super) fn record(&mut self, complete: bool) -> BodyRecord {
        let prefix = std::mem::take(&mut self.buf).freeze();
        BodyRecord {
            truncated: self.size > prefix.len() as u64,
            prefix,
            size: self.size,
            complete,
        }
    }
}

// === request bodies ===

/// A request body on its way to the inner service, its prefix copied as it is read.
#[pin_project]
pub(super) struct CaptureRequestBody<B> {
    #[pin]
    inner: B,
    capture: Option<RequestCapture>,
}

/// Reports the request body to the store when dropped: at its end (complete), or when its
/// reader dropped it or it failed (not complete).
pub(super) struct RequestCapture {
    pub(super) shared: Arc<Shared>,
    pub(super) id: u64,
    pub(super) tally: Tally,
    pub(super) prefix: Prefix,
    pub(super) complete: bool,
}

impl Drop for RequestCapture {
    fn drop(&mut self) {
        let update = Update {
            request_body: Some(self.prefix.record(self.complete)),
            ..Update::default()
        };
        self.shared.update(self.id, &self.tally, update);
    }
}

impl<B> CaptureRequestBody<B> {
    pub(super) fn new(inner: B, capture: RequestCapture) -> Self {
        Self {
            inner,
            capture: Some(capture),
        }
    }
}

impl<B: Body<Data = Bytes>> Body for CaptureRequestBody<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let mut this = self.project();
        let frame = ready!(this.inner.as_mut().poll_frame(cx));
        let ended = match (&frame, this.capture.as_mut()) {
            (_, None) => None,
            (Some(Ok(frame)), Some(capture)) => {
                if let Some(data) = frame.data_ref() {
                    capture.prefix.push(data);
                }
                // A reader that trusts `is_end_stream` polls no more after this frame.
                this.inner.is_end_stream().then_some(true)
            }
            (Some(Err(_)), Some(_)) => Some(false),
            (None, Some(_)) => Some(true),
        };
        if let Some(complete) = ended {
            if let Some(mut capture) = this.capture.take() {
                capture.complete = complete;
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

// === response bodies ===

/// The response body of [`Capture`](super::Capture): the inner service's, streaming through
/// untouched, its first bytes copied and all of them counted on the way. The exchange ends
/// when the body does (complete), fails (error) or is dropped first (visitor gone).
#[pin_project]
pub struct CaptureBody<B> {
    #[pin]
    inner: B,
    capture: Option<ResponseCapture>,
}

/// Ends the exchange as the visitor's leaving if dropped before the body's end.
pub(super) struct ResponseCapture {
    pub(super) recorder: Recorder,
    pub(super) prefix: Prefix,
}

impl ResponseCapture {
    fn finish(mut self, outcome: Outcome, complete: bool) {
        let body = self.prefix.record(complete);
        self.recorder.finish(outcome, Some(body));
    }
}

impl Drop for ResponseCapture {
    fn drop(&mut self) {
        if !self.recorder.is_finished() {
            let body = self.prefix.record(false);
            self.recorder.finish(Outcome::VisitorGone, Some(body));
        }
    }
}

impl<B> CaptureBody<B> {
    pub(super) fn new(inner: B, capture: Option<ResponseCapture>) -> Self {
        Self { inner, capture }
    }

    /// The inner body.
    pub fn get_ref(&self) -> &B {
        &self.inner
    }
}

impl<B> Body for CaptureBody<B>
where
    B: Body<Data = Bytes>,
    B::Error: fmt::Display,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let mut this = self.project();
        let frame = ready!(this.inner.as_mut().poll_frame(cx));
        let ended = match (&frame, this.capture.as_mut()) {
            (_, None) => None,
            (Some(Ok(frame)), Some(capture)) => {
                if let Some(data) = frame.data_ref() {
                    capture.prefix.push(data);
                }
                // hyper polls no more once the body says it has ended, and then drops it:
                // this is its end, not the visitor leaving.
                this.inner
                    .is_end_stream()
                    .then_some((Outcome::Complete, true))
            }
            (Some(Err(err)), Some(_)) => Some((Outcome::Error(err.to_string()), false)),
            (None, Some(_)) => Some((Outcome::Complete, true)),
        };
        if let Some((outcome, complete)) = ended {
            if let Some(capture) = this.capture.take() {
                capture.finish(outcome, complete);
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl<B> fmt::Debug for CaptureBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CaptureBody")
            .field("exchange", &self.capture.as_ref().map(|c| c.recorder.id()))
            .finish_non_exhaustive()
    }
}
