use std::{
    fmt,
    future::Future,
    marker::PhantomData,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, ready},
};

use http::{HeaderValue, Response, StatusCode, header::RETRY_AFTER};
use pin_project::pin_project;

use super::breaker::{Breaker, ProbeTicket, Refusal, refusal_message};
use crate::{ResponseBody, body::LayerRefusal, refusal};

/// The future of [`CircuitBreaker`](super::CircuitBreaker): the inner call, watched by the
/// breaker, or a refusal made without calling the inner service.
#[pin_project]
pub struct ResponseFuture<F, B> {
    #[pin]
    kind: Kind<F, B>,
}

#[pin_project(project = KindProj)]
enum Kind<F, B> {
    /// Let through; `watch` reports the outcome (`None`: no breaker watches this tunnel).
    Inner {
        #[pin]
        future: F,
        watch: Option<Watch>,
    },
    /// The breaker is open: `503` with `Retry-After`.
    Refused {
        refused: Refused,
        _body: PhantomData<fn() -> B>,
    },
}

impl<F, B> ResponseFuture<F, B> {
    pub(super) fn watched(future: F, watch: Watch) -> Self {
        Self {
            kind: Kind::Inner {
                future,
                watch: Some(watch),
            },
        }
    }

    pub(super) fn unwatched(future: F) -> Self {
        Self {
            kind: Kind::Inner {
                future,
                watch: None,
            },
        }
    }

    pub(super) fn refused(refused: Refused) -> Self {
        Self {
            kind: Kind::Refused {
                refused,
                _body: PhantomData,
            },
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F, B>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<ResponseBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Inner { future, watch } => {
                let result = ready!(future.poll(cx));
                if let Some(watch) = watch {
                    // An error (inside FerroTunnel: a dead local service, a timeout, an offline
                    // tunnel) or a 5xx is a failure; anything else a success.
                    watch.finish(matches!(&result, Ok(response) if !counts_as_failure(response)));
                }
                Poll::Ready(result.map(|response| response.map(ResponseBody::Inner)))
            }
            KindProj::Refused { refused, .. } => Poll::Ready(Ok(refused.response())),
        }
    }
}

impl<F, B> fmt::Debug for ResponseFuture<F, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.kind {
            Kind::Inner { watch: None, .. } => "Unwatched",
            Kind::Inner {
                watch: Some(watch), ..
            } if watch.probe.is_some() => "Probe",
            Kind::Inner { .. } => "Inner",
            Kind::Refused { .. } => "Refused",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish_non_exhaustive()
    }
}

/// Reports a request's outcome to its breaker. Dropped before the outcome is known (the
/// visitor went away), a probe gives its turn back so that the next request probes: otherwise
/// the breaker would wait for an answer that never comes.
#[derive(Debug)]
pub(super) struct Watch {
    breaker: Arc<Breaker>,
    probe: Option<ProbeTicket>,
    finished: bool,
}

impl Watch {
    pub(super) fn request(breaker: Arc<Breaker>) -> Self {
        Self {
            breaker,
            probe: None,
            finished: false,
        }
    }

    pub(super) fn probe(breaker: Arc<Breaker>, ticket: ProbeTicket) -> Self {
        Self {
            breaker,
            probe: Some(ticket),
            finished: false,
        }
    }

    fn finish(&mut self, success: bool) {
        if std::mem::replace(&mut self.finished, true) {
            return;
        }
        match self.probe {
            Some(ticket) => self.breaker.probe_done(ticket, success),
            None => self.breaker.record(success),
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        if let (false, Some(ticket)) = (self.finished, self.probe) {
            self.breaker.probe_cancelled(ticket);
        }
    }
}

/// A refused request: what the refusal says. The response is made when the future is polled.
#[derive(Debug)]
pub(super) struct Refused {
    breaker: Arc<Breaker>,
    refusal: Refusal,
}

impl Refused {
    pub(super) fn new(breaker: Arc<Breaker>, refusal: Refusal) -> Self {
        Self { breaker, refusal }
    }

    fn response<B>(&self) -> Response<ResponseBody<B>> {
        let message = refusal_message(
            self.breaker.tunnel(),
            self.breaker.settings().cool_down,
            self.refusal,
        );
        let mut response = refusal("circuit_breaker", StatusCode::SERVICE_UNAVAILABLE, message);
        response
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(self.refusal.retry_after));
        response
    }
}

/// A 5xx from the tunnel is a failure; a 5xx another policy layer answered with itself (a
/// concurrency limit, another breaker) says nothing about the tunnel's health.
fn counts_as_failure<B>(response: &Response<B>) -> bool {
    response.status().is_server_error() && response.extensions().get::<LayerRefusal>().is_none()
}
