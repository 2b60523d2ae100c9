use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll, ready},
    time::Instant,
};

use bytes::Bytes;
use ferrotunnel::{
    TunnelBody,
    server::{ResolvedTunnel, into_tunnel_body},
};
use http::{Method, Request, Response};
use http_body::Body;
use pin_project::pin_project;

use super::body::{Exchange, MeteredBody, MeteredRequestBody};
use crate::{body::LayerRefusal, request::standard_method};

/// Records the metrics of every request through the services it wraps; see the
/// [module docs](super).
#[derive(Debug, Clone, Copy, Default)]
pub struct MetricsLayer {
    _private: (),
}

impl MetricsLayer {
    /// The layer.
    pub fn new() -> Self {
        Self::default()
    }
}

impl<S> tower::Layer<S> for MetricsLayer {
    type Service = Metrics<S>;

    fn layer(&self, inner: S) -> Metrics<S> {
        Metrics { inner }
    }
}

/// The service of [`MetricsLayer`].
#[derive(Debug, Clone)]
pub struct Metrics<S> {
    inner: S,
}

impl<S, ResB> tower::Service<Request<TunnelBody>> for Metrics<S>
where
    S: tower::Service<Request<TunnelBody>, Response = Response<ResB>>,
    ResB: Body<Data = Bytes>,
{
    type Response = Response<MeteredBody<ResB>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<TunnelBody>) -> Self::Future {
        let started = Instant::now();
        let resolved = ResolvedTunnel::of(&mut request);
        let method = method_label(request.method());
        // Most requests have no body: no wrapper, no box.
        if !request.body().is_end_stream() {
            let counted = resolved.clone();
            request = request.map(|body| into_tunnel_body(MeteredRequestBody::new(body, counted)));
        }
        ResponseFuture {
            inner: self.inner.call(request),
            exchange: Some(Exchange::new(resolved, method, started)),
        }
    }
}

/// The future of [`Metrics`].
#[pin_project]
#[derive(Debug)]
pub struct ResponseFuture<F> {
    #[pin]
    inner: F,
    exchange: Option<Exchange>,
}

impl<F, ResB, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<ResB>, E>>,
    ResB: Body<Data = Bytes>,
{
    type Output = Result<Response<MeteredBody<ResB>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(cx));
        let Some(mut exchange) = this.exchange.take() else {
            return Poll::Ready(Err(polled_after_completion()));
        };
        Poll::Ready(match result {
            Ok(response) => {
                exchange.answered(
                    response.status(),
                    response.extensions().get::<LayerRefusal>(),
                );
                Ok(response.map(|body| MeteredBody::new(body, exchange)))
            }
            // An inner error becomes a response further out (in the observe step there are
            // none); it counts as `error` when `exchange` drops here.
            Err(err) => Err(err),
        })
    }
}

/// Like any future's, a poll after completion is its caller's bug.
fn polled_after_completion<E>() -> E {
    panic!("metrics::ResponseFuture polled after completion")
}

/// The `method` label: a standard method's name, else `_OTHER` (OpenTelemetry's word), so
/// that a visitor cannot make new series by inventing methods.
fn method_label(method: &Method) -> &'static str {
    standard_method(method).unwrap_or("_OTHER")
}
