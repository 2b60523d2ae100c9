use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, ready},
    time::Instant,
};

use bytes::Bytes;
use ferrotunnel::{
    TunnelBody,
    server::{ReceivedAt, ResolvedTunnel, into_tunnel_body},
};
use http::{Request, Response};
use http_body::Body;
use pin_project::pin_project;

use super::{
    body::{Exchange, MeteredBody, MeteredRequestBody},
    series::{MethodLabel, SeriesCache},
};
use crate::body::LayerRefusal;

/// Records the metrics of every request through the services it wraps; see the
/// [module docs](super).
///
/// Its clones share one cache of series handles: a tunnel's series are looked up in the
/// recorder the first time the layer counts for the tunnel, in the recorder installed then.
#[derive(Debug, Clone, Default)]
pub struct MetricsLayer {
    series: Arc<SeriesCache>,
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
        Metrics {
            inner,
            series: self.series.clone(),
        }
    }
}

/// The service of [`MetricsLayer`].
#[derive(Debug, Clone)]
pub struct Metrics<S> {
    inner: S,
    series: Arc<SeriesCache>,
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
        // When the ingress received the head, if it says; this layer's own clock otherwise.
        let started = request
            .extensions()
            .get::<ReceivedAt>()
            .map_or_else(Instant::now, |ReceivedAt(at)| *at);
        let resolved = ResolvedTunnel::of(&mut request);
        let method = MethodLabel::of(request.method());
        // Most requests have no body: no wrapper, no box.
        if !request.body().is_end_stream() {
            let (series, counted) = (self.series.clone(), resolved.clone());
            request = request
                .map(|body| into_tunnel_body(MeteredRequestBody::new(body, series, counted)));
        }
        ResponseFuture {
            inner: self.inner.call(request),
            exchange: Some(Exchange::new(
                self.series.clone(),
                resolved,
                method,
                started,
            )),
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
