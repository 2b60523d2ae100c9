//! [`ResponseBody`]: the response body of every built-in layer, which is either the inner
//! service's body, untouched, or the short text of a refusal the layer made itself.
//!
//! Refusals read the same everywhere in FerroTunnel (`"<code> <reason phrase>: <message>\n"`,
//! `text/plain`), whether the core, a built-in layer or a [`Plugin`](crate::Plugin) refused.

use std::{
    borrow::Cow,
    fmt,
    future::Future,
    pin::Pin,
    task::{Context, Poll, ready},
};

use bytes::Bytes;
use ferrotunnel::{BoxError, TunnelBody};
use http::{HeaderValue, Response, StatusCode, header};
use http_body::{Body, Frame, SizeHint};
use http_body_util::Full;
use pin_project::pin_project;

/// The body of a built-in layer's response: the inner service's, or the layer's own refusal.
#[pin_project(project = ResponseBodyProj)]
pub enum ResponseBody<B> {
    /// The inner service answered; its body streams through untouched.
    Inner(#[pin] B),
    /// The layer refused the request and wrote this text.
    Refusal(#[pin] Full<Bytes>),
}

impl<B> ResponseBody<B> {
    /// A refusal body holding `text`.
    pub fn refusal(text: impl Into<Bytes>) -> Self {
        Self::Refusal(Full::new(text.into()))
    }
}

impl<B> ResponseBody<B>
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    /// This body as a [`TunnelBody`]. The inner service's body is passed on without a second
    /// box when it already is a `TunnelBody` (as it is inside the ingress stack).
    pub fn into_tunnel_body(self) -> TunnelBody {
        match self {
            Self::Inner(body) => ferrotunnel::server::into_tunnel_body(body),
            Self::Refusal(text) => ferrotunnel::server::into_tunnel_body(text),
        }
    }
}

impl<B> Body for ResponseBody<B>
where
    B: Body<Data = Bytes>,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        match self.project() {
            ResponseBodyProj::Inner(body) => body.poll_frame(cx),
            ResponseBodyProj::Refusal(text) => text
                .poll_frame(cx)
                .map(|frame| frame.map(|frame| frame.map_err(|never| match never {}))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Inner(body) => body.is_end_stream(),
            Self::Refusal(text) => text.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Inner(body) => body.size_hint(),
            Self::Refusal(text) => text.size_hint(),
        }
    }
}

impl<B> Default for ResponseBody<B> {
    fn default() -> Self {
        Self::Refusal(Full::default())
    }
}

impl<B> fmt::Debug for ResponseBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Inner(_) => f.write_str("ResponseBody::Inner(..)"),
            Self::Refusal(_) => f.write_str("ResponseBody::Refusal(..)"),
        }
    }
}

/// Put in the extensions of every response [`refusal`] makes: a layer's own answer, not the
/// tunnel's, and which layer gave it. A circuit breaker does not count a 503 that another layer
/// answered with (a concurrency limit, a client's own breaker) as the tunnel failing; the
/// metrics count refusals by layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerRefusal {
    /// The layer that refused: `auth`, `ip_filter`, `rate_limit`, `circuit_breaker`,
    /// `concurrency_limit`, or a [`Plugin`](crate::Plugin)'s name.
    pub layer: Cow<'static, str>,
}

/// `layer`'s refusal: `status` with a `text/plain` body `"<code> <reason phrase>: <message>\n"`,
/// e.g. `"429 Too Many Requests: at most 10 requests per second from 192.0.2.7\n"`. The
/// message is shown to the visitor: say what to do, and put no secrets in it. `layer` names
/// the layer in the metrics (see [`LayerRefusal`]): a short, fixed word.
pub fn refusal<B>(
    layer: impl Into<Cow<'static, str>>,
    status: StatusCode,
    message: impl fmt::Display,
) -> Response<ResponseBody<B>> {
    let phrase = status.canonical_reason().unwrap_or("Error");
    let text = format!("{} {phrase}: {message}\n", status.as_u16());
    let mut response = Response::new(ResponseBody::refusal(text));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response.extensions_mut().insert(LayerRefusal {
        layer: layer.into(),
    });
    response
}

/// The future of a layer that either calls its inner service or refuses at once: the inner
/// call's response, or the refusal. The auth and IP-filter layers' `ResponseFuture`.
#[pin_project]
pub struct RefusingFuture<F, B> {
    #[pin]
    kind: Kind<F, B>,
}

#[pin_project(project = KindProj)]
enum Kind<F, B> {
    /// Let through: the inner call.
    Inner(#[pin] F),
    /// Refused; the inner service was not called. Boxed: the futures of a stack nest, and a
    /// response held inline in each layer's future would be moved with every layer on every
    /// request.
    Refused(Option<Box<Response<ResponseBody<B>>>>),
}

impl<F, B> RefusingFuture<F, B> {
    /// The inner service's call.
    pub fn inner(future: F) -> Self {
        Self {
            kind: Kind::Inner(future),
        }
    }

    /// A refusal: `response` without calling the inner service.
    pub fn refused(response: Response<ResponseBody<B>>) -> Self {
        Self {
            kind: Kind::Refused(Some(Box::new(response))),
        }
    }
}

impl<F, B, E> Future for RefusingFuture<F, B>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<ResponseBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Inner(future) => {
                let response = ready!(future.poll(cx))?;
                Poll::Ready(Ok(response.map(ResponseBody::Inner)))
            }
            KindProj::Refused(response) => match response.take() {
                Some(response) => Poll::Ready(Ok(*response)),
                None => panic!("RefusingFuture polled after completion"),
            },
        }
    }
}

impl<F, B> fmt::Debug for RefusingFuture<F, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.kind {
            Kind::Inner(_) => "Inner",
            Kind::Refused(_) => "Refused",
        };
        f.debug_struct("RefusingFuture")
            .field("state", &state)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt;

    use super::*;

    #[tokio::test]
    async fn refusals_say_the_status_and_the_message() {
        let response =
            refusal::<TunnelBody>("ip_filter", StatusCode::FORBIDDEN, "not from 192.0.2.7");
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            response.extensions().get::<LayerRefusal>(),
            Some(&LayerRefusal {
                layer: "ip_filter".into()
            })
        );
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "text/plain; charset=utf-8"
        );
        let text = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        assert_eq!(&text[..], b"403 Forbidden: not from 192.0.2.7\n");
    }

    #[tokio::test]
    async fn the_inner_body_streams_through() {
        let inner: ResponseBody<Full<Bytes>> =
            ResponseBody::Inner(Full::new(Bytes::from_static(b"from the tunnel")));
        let text = inner
            .into_tunnel_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        assert_eq!(&text[..], b"from the tunnel");
    }
}
