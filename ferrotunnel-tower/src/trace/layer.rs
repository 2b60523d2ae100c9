use std::{
    fmt::Display,
    future::Future,
    pin::Pin,
    task::{Context, Poll, ready},
};

use ferrotunnel::server::ResolvedTunnel;
use http::{Request, Response};
use pin_project::pin_project;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use super::{
    body::TracedBody,
    propagation::{extract, inject},
    span::{Hop, failed},
};

/// Traces one hop of every request through the services it wraps; see the
/// [module docs](super).
#[derive(Debug, Clone, Copy)]
pub struct TraceLayer {
    hop: Hop,
}

impl TraceLayer {
    /// For the server's observe step: a span per visitor's request, continuing the visitor's
    /// trace when it sent a `traceparent`.
    pub fn ingress() -> Self {
        Self { hop: Hop::Ingress }
    }

    /// For the server's forward step: a child of the ingress span for the forward over the
    /// tunnel, whose context the request carries on as `traceparent`.
    pub fn forward() -> Self {
        Self { hop: Hop::Forward }
    }

    /// For the client's HTTP path: a span for the call to the local service, a child of the
    /// `traceparent` the server sent, whose context the request carries on.
    pub fn local() -> Self {
        Self { hop: Hop::Local }
    }
}

impl<S> tower::Layer<S> for TraceLayer {
    type Service = Trace<S>;

    fn layer(&self, inner: S) -> Trace<S> {
        Trace {
            inner,
            hop: self.hop,
        }
    }
}

/// The service of [`TraceLayer`].
#[derive(Debug, Clone)]
pub struct Trace<S> {
    inner: S,
    hop: Hop,
}

/// The ingress span, left in the request's extensions for the forward step below, which may
/// run outside the ingress span's scope (in a policy's buffer task, say).
#[derive(Debug, Clone)]
struct IngressSpan(Span);

impl<S, ReqB, ResB> tower::Service<Request<ReqB>> for Trace<S>
where
    S: tower::Service<Request<ReqB>, Response = Response<ResB>>,
    S::Error: Display,
{
    type Response = Response<TracedBody<ResB>>;
    type Error = S::Error;
    type Future = TraceFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqB>) -> Self::Future {
        let mut resolved = None;
        let span = match self.hop {
            Hop::Ingress => {
                let span = self.hop.span(&request, None);
                // Before anything reads the span's context, which starts it.
                let _ = span.set_parent(extract(request.headers()));
                request.extensions_mut().insert(IngressSpan(span.clone()));
                resolved = Some(ResolvedTunnel::of(&mut request));
                span
            }
            Hop::Forward => {
                let parent = request
                    .extensions_mut()
                    .remove::<IngressSpan>()
                    .map_or_else(Span::current, |IngressSpan(span)| span);
                let span = self.hop.span(&request, Some(&parent));
                inject(&span.context(), request.headers_mut());
                span
            }
            Hop::Local => {
                let span = self.hop.span(&request, None);
                let _ = span.set_parent(extract(request.headers()));
                inject(&span.context(), request.headers_mut());
                span
            }
        };
        let inner = span.in_scope(|| self.inner.call(request));
        TraceFuture {
            inner,
            hop: self.hop,
            span: Some(span),
            resolved,
        }
    }
}

/// The future of [`Trace`].
#[pin_project]
#[derive(Debug)]
pub struct TraceFuture<F> {
    #[pin]
    inner: F,
    hop: Hop,
    span: Option<Span>,
    /// The ingress's word on the tunnel, read once the response is back.
    resolved: Option<ResolvedTunnel>,
}

impl<F, ResB, E> Future for TraceFuture<F>
where
    F: Future<Output = Result<Response<ResB>, E>>,
    E: Display,
{
    type Output = Result<Response<TracedBody<ResB>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = {
            let _entered = this.span.as_ref().map(Span::enter);
            ready!(this.inner.poll(cx))
        };
        let Some(span) = this.span.take() else {
            panic!("trace::TraceFuture polled after completion");
        };
        if let Some(tunnel) = this.resolved.as_ref().and_then(ResolvedTunnel::tunnel) {
            span.record("ferrotunnel.tunnel", &**tunnel);
        }
        Poll::Ready(match result {
            Ok(response) => {
                this.hop.answered(&span, &response);
                Ok(response.map(|body| TracedBody::new(body, span)))
            }
            Err(err) => {
                failed(&span, &err);
                Err(err)
            }
        })
    }
}
