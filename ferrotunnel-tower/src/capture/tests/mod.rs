//! The capture layer driven with `oneshot`, no sockets. Time-dependent tests run on tokio's
//! paused clock, which the store reads.

mod bounds;
mod events;
mod filters;
mod outcomes;
mod recording;
mod stats;

use std::{
    convert::Infallible,
    future::Future,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use bytes::Bytes;
use ferrotunnel::{BoxError, TunnelBody, server::into_tunnel_body};
use http::{Request, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use http_body_util::{BodyExt, Full};
use tokio::sync::mpsc;
use tower::{Layer, ServiceExt, service_fn, util::BoxCloneService};

use super::*;

/// A body of `len` bytes, `b"0123..."` repeating.
fn text(len: usize) -> Bytes {
    (0..len).map(|i| b'0' + (i % 10) as u8).collect()
}

fn full(bytes: impl Into<Bytes>) -> TunnelBody {
    into_tunnel_body(Full::new(bytes.into()))
}

/// A body of `len` bytes in chunks of `chunk`'s size, each a shared (not copied) `chunk`,
/// the last cut short.
struct Chunks {
    chunk: Bytes,
    left: u64,
}

impl Chunks {
    fn new(chunk: Bytes, len: u64) -> Self {
        Self { chunk, left: len }
    }
}

impl Body for Chunks {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.left == 0 {
            return Poll::Ready(None);
        }
        let len = self.left.min(self.chunk.len() as u64);
        self.left -= len;
        let data = self.chunk.slice(..len as usize);
        Poll::Ready(Some(Ok(Frame::data(data))))
    }

    fn is_end_stream(&self) -> bool {
        self.left == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.left)
    }
}

/// A body fed by a channel: each message is a chunk or an error; the body ends when the sender
/// is dropped.
struct Channel(mpsc::UnboundedReceiver<Result<Bytes, BoxError>>);

fn channel() -> (mpsc::UnboundedSender<Result<Bytes, BoxError>>, TunnelBody) {
    let (tx, rx) = mpsc::unbounded_channel();
    (tx, into_tunnel_body(Channel(rx)))
}

impl Body for Channel {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        self.0
            .poll_recv(cx)
            .map(|message| message.map(|chunk| chunk.map(Frame::data)))
    }
}

/// Reads `body` to its end frame by frame, without keeping it: its length, or its error.
async fn drain<B>(body: B) -> Result<u64, B::Error>
where
    B: Body<Data = Bytes> + Unpin,
{
    let mut body = body;
    let mut len = 0;
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame?.into_data() {
            len += data.len() as u64;
        }
    }
    Ok(len)
}

/// Polls `future` once; `None` if it is pending.
fn poll_once<F: Future + Unpin>(future: &mut F) -> Option<F::Output> {
    let waker = std::task::Waker::noop();
    match Pin::new(future).poll(&mut Context::from_waker(waker)) {
        Poll::Ready(output) => Some(output),
        Poll::Pending => None,
    }
}

type Answer = Result<Response<TunnelBody>, BoxError>;

type Svc = BoxCloneService<Request<TunnelBody>, Response<CaptureBody<TunnelBody>>, BoxError>;

/// The capture layer over `handler`, recording into `store`.
fn captured<F, Fut>(store: &CaptureStore, handler: F) -> Svc
where
    F: Fn(Request<TunnelBody>) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Answer> + Send + 'static,
{
    BoxCloneService::new(store.layer().layer(service_fn(handler)))
}

/// The capture layer over a local service that reads the request body, then answers 200 with
/// `body`.
fn answering(store: &CaptureStore, body: &'static [u8]) -> Svc {
    captured(store, move |request: Request<TunnelBody>| async move {
        request.into_body().collect().await?;
        Ok(Response::new(full(body)))
    })
}

/// A response with `status` and `body`.
fn respond(status: u16, body: impl Into<Bytes>) -> Response<TunnelBody> {
    let mut response = Response::new(full(body));
    *response.status_mut() = StatusCode::from_u16(status).expect("a status");
    response
}

/// Sends `request` through `service` and reads the response body to its end.
async fn send(service: &Svc, request: Request<TunnelBody>) -> (StatusCode, u64) {
    let response = service.clone().oneshot(request).await.expect("a response");
    let status = response.status();
    let len = drain(response.into_body()).await.expect("a whole body");
    (status, len)
}

fn get(uri: &str) -> Request<TunnelBody> {
    Request::get(uri)
        .body(TunnelBody::default())
        .expect("a request")
}

fn millis(ms: u64) -> Duration {
    Duration::from_millis(ms)
}
