//! The one place where errors become HTTP responses.
//!
//! Whatever fails inside the ingress stack — resolving the tunnel, a plugin, the stream to the
//! client, the local service — arrives here as an error. [`Rescue`] walks its `source()`
//! chain for a FerroTunnel [`Error`] and answers with the status that names the cause and a short
//! text body a person can act on. The local service's faults are 502/504, a missing or offline
//! tunnel 404/503. Any other error came from a plugin: a 500 whose details go to the log only
//! (a plugin that wants another status should respond, not fail).

use std::{
    convert::Infallible,
    error::Error as StdError,
    future::Future,
    pin::Pin,
    task::{Context, Poll, ready},
};

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use pin_project::pin_project;

use super::TunnelBody;
use crate::{BoxError, Error, protocol::StreamRefusalCode};

/// Wraps the ingress stack so that it never fails: see the module docs.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RescueLayer;

impl<S> tower::Layer<S> for RescueLayer {
    type Service = Rescue<S>;

    fn layer(&self, inner: S) -> Rescue<S> {
        Rescue {
            inner,
            not_ready: None,
        }
    }
}

/// Answers every error of the inner service with an error response.
#[derive(Debug)]
pub(crate) struct Rescue<S> {
    inner: S,
    /// A readiness failure, answered on the next call.
    not_ready: Option<BoxError>,
}

impl<S: Clone> Clone for Rescue<S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            not_ready: None,
        }
    }
}

impl<S, R> tower::Service<R> for Rescue<S>
where
    S: tower::Service<R, Response = Response<TunnelBody>, Error = BoxError>,
{
    type Response = Response<TunnelBody>;
    type Error = Infallible;
    type Future = RescueFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        if self.not_ready.is_none() {
            match ready!(self.inner.poll_ready(cx)) {
                Ok(()) => {}
                Err(err) => self.not_ready = Some(err),
            }
        }
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: R) -> Self::Future {
        match self.not_ready.take() {
            Some(err) => RescueFuture::NotReady(Some(err)),
            None => RescueFuture::Inner(self.inner.call(request)),
        }
    }
}

/// The future of [`Rescue`].
#[pin_project(project = RescueFutureProj)]
#[derive(Debug)]
pub(crate) enum RescueFuture<F> {
    Inner(#[pin] F),
    NotReady(Option<BoxError>),
}

impl<F> Future for RescueFuture<F>
where
    F: Future<Output = Result<Response<TunnelBody>, BoxError>>,
{
    type Output = Result<Response<TunnelBody>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let result = match self.project() {
            RescueFutureProj::Inner(inner) => ready!(inner.poll(cx)),
            RescueFutureProj::NotReady(err) => Err(err
                .take()
                .unwrap_or_else(|| "polled after completion".into())),
        };
        Poll::Ready(Ok(result.unwrap_or_else(|err| {
            let (status, message) = classify(err.as_ref());
            match status {
                StatusCode::NOT_FOUND | StatusCode::BAD_REQUEST => {
                    tracing::debug!(%status, %message, "request refused");
                }
                StatusCode::INTERNAL_SERVER_ERROR => {
                    tracing::error!(%status, error = %err, "a layer of the ingress stack failed");
                }
                _ => tracing::warn!(%status, %message, "request failed"),
            }
            error_response(status, &message)
        })))
    }
}

/// A plain-text error response.
pub(crate) fn error_response(status: StatusCode, message: &str) -> Response<TunnelBody> {
    let reason = status.canonical_reason().unwrap_or("Error");
    let body = format!("{} {reason}: {message}\n", status.as_u16());
    let mut response = Response::new(
        Full::new(Bytes::from(body))
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

fn classify(err: &(dyn StdError + 'static)) -> (StatusCode, String) {
    match find_tunnel_error(err) {
        Some(ours) => (status_of(ours), ours.to_string()),
        // Not the tunnel's: a plugin failed. Its error may hold internals; it goes to the log,
        // not to the visitor.
        None => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "a plugin of this server failed; the server log has the details".into(),
        ),
    }
}

/// The status that names the cause. No catch-all arm: a new error variant must decide whose
/// fault it is — the visitor's (4xx), the tunnel's or its client's (503), or the local
/// service's (502/504).
fn status_of(err: &Error) -> StatusCode {
    match err {
        // The visitor asked for something that is not here, or asked wrongly.
        Error::UnknownTunnel { .. } => StatusCode::NOT_FOUND,
        Error::BadConnectRequest(_) => StatusCode::BAD_REQUEST,
        // The tunnel's client is away, or its session broke under this request.
        Error::TunnelOffline { .. } | Error::SessionClosed | Error::Session(_) => {
            StatusCode::SERVICE_UNAVAILABLE
        }
        // The local service, as its client reported it.
        Error::Local(failure) => match failure.kind {
            StreamRefusalCode::LocalTimeout => StatusCode::GATEWAY_TIMEOUT,
            StreamRefusalCode::UnknownTunnel => StatusCode::SERVICE_UNAVAILABLE,
            StreamRefusalCode::LocalRefused => StatusCode::BAD_GATEWAY,
        },
        Error::ResponseTimeout(_) | Error::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
        // The stream to the local service broke, or carried something that is not HTTP.
        Error::LocalReset(_) | Error::LocalInvalid(_) | Error::Io(_) | Error::Protocol(_) => {
            StatusCode::BAD_GATEWAY
        }
        // Errors of a client's or server's setup, which no request should meet; if one does,
        // the forwarding failed.
        Error::Refused(_)
        | Error::Tls(_)
        | Error::WebSocket(_)
        | Error::Config(_)
        | Error::StartHook(_) => StatusCode::BAD_GATEWAY,
    }
}

/// The first FerroTunnel error in the chain. `io::Error` hides its payload from `source()`, so
/// look inside it too.
fn find_tunnel_error<'a>(err: &'a (dyn StdError + 'static)) -> Option<&'a Error> {
    let mut current = Some(err);
    while let Some(err) = current {
        if let Some(ours) = err.downcast_ref::<Error>() {
            return Some(ours);
        }
        if let Some(inner) = err
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            if let Some(ours) = find_tunnel_error(inner) {
                return Some(ours);
            }
        }
        current = err.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::LocalFailure;

    fn status(err: Error) -> StatusCode {
        classify(&err).0
    }

    #[test]
    fn each_cause_has_its_status() {
        assert_eq!(
            status(Error::UnknownTunnel {
                host: "x".into(),
                name: None
            }),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            status(Error::TunnelOffline { name: "x".into() }),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            status(Error::SessionClosed),
            StatusCode::SERVICE_UNAVAILABLE
        );
        let local = |kind| {
            Error::Local(LocalFailure {
                kind,
                message: String::new(),
            })
        };
        assert_eq!(
            status(local(StreamRefusalCode::LocalRefused)),
            StatusCode::BAD_GATEWAY
        );
        assert_eq!(
            status(local(StreamRefusalCode::LocalTimeout)),
            StatusCode::GATEWAY_TIMEOUT
        );
        assert_eq!(
            status(Error::ResponseTimeout(std::time::Duration::from_secs(1))),
            StatusCode::GATEWAY_TIMEOUT
        );
        assert_eq!(
            status(Error::LocalReset("eof".into())),
            StatusCode::BAD_GATEWAY
        );
        assert_eq!(
            status(Error::LocalInvalid("its head is malformed".into())),
            StatusCode::BAD_GATEWAY
        );
    }

    #[test]
    fn the_cause_is_found_deep_in_the_chain() {
        #[derive(Debug, thiserror::Error)]
        #[error("wrapper")]
        struct Wrapper(#[source] std::io::Error);
        let io = std::io::Error::other(Error::TunnelOffline { name: "app".into() });
        let (status, message) = classify(&Wrapper(io));
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(message.contains("\"app\" is offline"), "{message}");
    }

    #[test]
    fn plugin_errors_are_500s_that_keep_their_details_private() {
        let err: BoxError = "plugin exploded at 0xdeadbeef".into();
        let (status, message) = classify(err.as_ref());
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(
            message.contains("plugin of this server failed"),
            "{message}"
        );
        assert!(!message.contains("deadbeef"), "{message}");
    }
}
