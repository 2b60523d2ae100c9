use std::{
    fmt,
    sync::Arc,
    task::{Context, Poll},
};

use bytes::Bytes;
use ferrotunnel::{BoxError, TunnelBody};
use http::{Request, Response};
use http_body::Body;

use super::{CaptureBody, CaptureStore, ResponseFuture, recorder::Recorder, store::Shared};

/// Records every exchange through an inner service into a [`CaptureStore`]; see the
/// [module docs](super).
///
/// The inner service gets the request with its body as a [`TunnelBody`] (the body boxed, with
/// its prefix copied as it is read) and an [`ExchangeId`](super::ExchangeId) extension.
#[derive(Clone)]
pub struct Capture<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> Capture<S> {
    /// Records the exchanges through `inner` into `store`: the same as
    /// `CaptureLayer::new(store.clone()).layer(inner)`.
    pub fn new(inner: S, store: &CaptureStore) -> Self {
        Self {
            inner,
            shared: store.shared().clone(),
        }
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

impl<S, B, ResB> tower::Service<Request<B>> for Capture<S>
where
    S: tower::Service<Request<TunnelBody>, Response = Response<ResB>>,
    S::Error: fmt::Display,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
    ResB: Body<Data = Bytes>,
{
    type Response = Response<CaptureBody<ResB>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let (recorder, request) = Recorder::start(&self.shared, request);
        ResponseFuture::new(self.inner.call(request), recorder)
    }
}

impl<S: fmt::Debug> fmt::Debug for Capture<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Capture")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}
