use std::{
    borrow::Cow,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Instant,
};

use bytes::{Buf, Bytes};
use ferrotunnel::{
    TunnelBody,
    server::{Resolution, ResolvedTunnel},
};
use http::StatusCode;
use http_body::{Body, Frame, SizeHint};
use metrics::{SharedString, counter};
use pin_project::{pin_project, pinned_drop};

use super::{
    POLICY_REFUSALS,
    series::{MethodLabel, SeriesCache, StatusLabel},
};
use crate::body::LayerRefusal;

/// One request on its way: what its metrics need, recorded when this drops (after the
/// response body's end, or when the visitor left).
#[derive(Debug)]
pub(super) struct Exchange {
    series: Arc<SeriesCache>,
    resolved: ResolvedTunnel,
    method: MethodLabel,
    started: Instant,
    /// `error` until a response comes.
    status: StatusLabel,
    refusal: Option<(Cow<'static, str>, StatusCode)>,
    response_bytes: u64,
}

impl Exchange {
    pub(super) fn new(
        series: Arc<SeriesCache>,
        resolved: ResolvedTunnel,
        method: MethodLabel,
        started: Instant,
    ) -> Self {
        Self {
            series,
            resolved,
            method,
            started,
            status: StatusLabel::ERROR,
            refusal: None,
            response_bytes: 0,
        }
    }

    pub(super) fn answered(&mut self, status: StatusCode, refusal: Option<&LayerRefusal>) {
        self.status = StatusLabel::of(status);
        self.refusal = refusal.map(|refusal| (refusal.layer.clone(), status));
    }
}

impl Drop for Exchange {
    fn drop(&mut self) {
        if self.resolved.get() == Some(&Resolution::ClientSession) {
            return;
        }
        let series = self.series.of(&self.resolved);
        series.requests(self.method, self.status).increment(1);
        series
            .duration()
            .record(self.started.elapsed().as_secs_f64());
        if self.response_bytes > 0 {
            series.response_bytes().increment(self.response_bytes);
        }
        if let Some((layer, status)) = self.refusal.take() {
            let status = SharedString::from(status.as_str().to_owned());
            counter!(POLICY_REFUSALS, "tunnel" => series.tunnel(), "layer" => layer, "status" => status)
                .increment(1);
        }
    }
}

/// A response body whose end (or drop) records its request's metrics.
#[pin_project]
#[derive(Debug)]
pub struct MeteredBody<B> {
    #[pin]
    inner: B,
    exchange: Exchange,
}

impl<B> MeteredBody<B> {
    pub(super) fn new(inner: B, exchange: Exchange) -> Self {
        Self { inner, exchange }
    }
}

impl<B: Body<Data = Bytes>> Body for MeteredBody<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = self.project();
        let frame = this.inner.poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &frame {
            if let Some(data) = frame.data_ref() {
                this.exchange.response_bytes += data.remaining() as u64;
            }
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

/// A request body that counts its bytes into [`BYTES`] when it drops, for the tunnel its
/// request went to.
#[pin_project(PinnedDrop)]
#[derive(Debug)]
pub struct MeteredRequestBody {
    #[pin]
    inner: TunnelBody,
    series: Arc<SeriesCache>,
    resolved: ResolvedTunnel,
    bytes: u64,
}

impl MeteredRequestBody {
    pub(super) fn new(
        inner: TunnelBody,
        series: Arc<SeriesCache>,
        resolved: ResolvedTunnel,
    ) -> Self {
        Self {
            inner,
            series,
            resolved,
            bytes: 0,
        }
    }
}

impl Body for MeteredRequestBody {
    type Data = Bytes;
    type Error = ferrotunnel::BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.project();
        let frame = this.inner.poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &frame {
            if let Some(data) = frame.data_ref() {
                *this.bytes += data.remaining() as u64;
            }
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

#[pinned_drop]
impl PinnedDrop for MeteredRequestBody {
    fn drop(self: Pin<&mut Self>) {
        if self.bytes == 0 {
            return;
        }
        self.series
            .of(&self.resolved)
            .request_bytes()
            .increment(self.bytes);
    }
}
