use std::{
    borrow::Cow,
    pin::Pin,
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
use metrics::{SharedString, counter, histogram};
use pin_project::{pin_project, pinned_drop};

use super::{BYTES, POLICY_REFUSALS, REQUEST_DURATION, REQUESTS};
use crate::body::LayerRefusal;

/// One request on its way: what its metrics need, recorded when this drops (after the
/// response body's end, or when the visitor left).
#[derive(Debug)]
pub(super) struct Exchange {
    resolved: ResolvedTunnel,
    method: &'static str,
    started: Instant,
    /// The status class; `error` until a response comes.
    status: &'static str,
    refusal: Option<(Cow<'static, str>, StatusCode)>,
    response_bytes: u64,
}

impl Exchange {
    pub(super) fn new(resolved: ResolvedTunnel, method: &'static str, started: Instant) -> Self {
        Self {
            resolved,
            method,
            started,
            status: "error",
            refusal: None,
            response_bytes: 0,
        }
    }

    pub(super) fn answered(&mut self, status: StatusCode, refusal: Option<&LayerRefusal>) {
        self.status = status_class(status);
        self.refusal = refusal.map(|refusal| (refusal.layer.clone(), status));
    }
}

impl Drop for Exchange {
    fn drop(&mut self) {
        let tunnel = match self.resolved.get() {
            Some(Resolution::ClientSession) => return,
            Some(Resolution::Tunnel(name)) => SharedString::from(name.clone()),
            None => SharedString::const_str(""),
        };
        counter!(REQUESTS, "tunnel" => tunnel.clone(), "method" => self.method, "status" => self.status)
            .increment(1);
        histogram!(REQUEST_DURATION, "tunnel" => tunnel.clone())
            .record(self.started.elapsed().as_secs_f64());
        if self.response_bytes > 0 {
            counter!(BYTES, "tunnel" => tunnel.clone(), "direction" => "response")
                .increment(self.response_bytes);
        }
        if let Some((layer, status)) = self.refusal.take() {
            let status = SharedString::from(status.as_str().to_owned());
            counter!(POLICY_REFUSALS, "tunnel" => tunnel, "layer" => layer, "status" => status)
                .increment(1);
        }
    }
}

fn status_class(status: StatusCode) -> &'static str {
    match status.as_u16() / 100 {
        1 => "1xx",
        2 => "2xx",
        3 => "3xx",
        4 => "4xx",
        _ => "5xx",
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
    resolved: ResolvedTunnel,
    bytes: u64,
}

impl MeteredRequestBody {
    pub(super) fn new(inner: TunnelBody, resolved: ResolvedTunnel) -> Self {
        Self {
            inner,
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
        let tunnel = match self.resolved.tunnel() {
            Some(name) => SharedString::from(name.clone()),
            None => SharedString::const_str(""),
        };
        counter!(BYTES, "tunnel" => tunnel, "direction" => "request").increment(self.bytes);
    }
}
