//! The forwarded-headers step, last before the tunnel: the local service learns who asked
//! through `X-Forwarded-For`, `-Proto` and `-Host` (set here, after every policy, so that no
//! rule can forge them), and its responses lose their hop-by-hop headers (RFC 9110 §7.6.1) as
//! soon as they come back, before any policy adds headers of its own. The request's hop-by-hop
//! headers went at the top of the stack (see `hop_by_hop`).

use std::{
    future::Future,
    net::IpAddr,
    pin::Pin,
    task::{Context, Poll, ready},
};

use http::{HeaderName, HeaderValue, Request, Response, StatusCode, header::HOST};
use pin_project::pin_project;

use super::{
    VisitorAddr, hop_by_hop,
    visitor::{IP_TEXT_MAX, IngressScheme, ip_text},
};

static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// Applies [`ForwardedHeaders`].
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ForwardedHeadersLayer;

impl<S> tower::Layer<S> for ForwardedHeadersLayer {
    type Service = ForwardedHeaders<S>;

    fn layer(&self, inner: S) -> ForwardedHeaders<S> {
        ForwardedHeaders { inner }
    }
}

/// Rewrites requests for the local service and responses for the visitor; see the module docs.
#[derive(Debug, Clone)]
pub(crate) struct ForwardedHeaders<S> {
    inner: S,
}

impl<S, B, RB> tower::Service<Request<B>> for ForwardedHeaders<S>
where
    S: tower::Service<Request<B>, Response = Response<RB>>,
{
    type Response = Response<RB>;
    type Error = S::Error;
    type Future = ForwardedFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let visitor = request.extensions().get::<VisitorAddr>().map(|v| v.0.ip());
        prepare_request(&mut request, visitor);
        ForwardedFuture {
            inner: self.inner.call(request),
        }
    }
}

/// The future of [`ForwardedHeaders`]: rewrites the response head on the way back.
#[pin_project]
pub(crate) struct ForwardedFuture<F> {
    #[pin]
    inner: F,
}

impl<F, RB, E> Future for ForwardedFuture<F>
where
    F: Future<Output = Result<Response<RB>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let mut response = ready!(self.project().inner.poll(cx))?;
        prepare_response(&mut response);
        Poll::Ready(Ok(response))
    }
}

/// Tells the local service who asked, and names the host for an HTTP/2 visitor's request.
fn prepare_request<B>(request: &mut Request<B>, visitor: Option<IpAddr>) {
    let scheme = request
        .extensions()
        .get::<IngressScheme>()
        .map_or("http", |s| s.0);
    // HTTP/2 visitors name the host in the URI only; HTTP/1.1 needs the header.
    if !request.headers().contains_key(HOST) {
        if let Some(host) = request
            .uri()
            .authority()
            .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
        {
            request.headers_mut().insert(HOST, host);
        }
    }
    let headers = request.headers_mut();
    if let Some(ip) = visitor {
        let mut text = [0; IP_TEXT_MAX];
        let ip = ip_text(ip, &mut text);
        let chain = match headers.get(&X_FORWARDED_FOR).and_then(|v| v.to_str().ok()) {
            Some(earlier) => HeaderValue::from_str(&[earlier, ", ", ip].concat()),
            // Most requests: the value is the only allocation.
            None => HeaderValue::from_str(ip),
        };
        if let Ok(value) = chain {
            headers.insert(X_FORWARDED_FOR.clone(), value);
        }
    }
    headers.insert(X_FORWARDED_PROTO.clone(), HeaderValue::from_static(scheme));
    if let Some(host) = headers.get(HOST).cloned() {
        headers.insert(X_FORWARDED_HOST.clone(), host);
    }
}

/// Rewrites the local service's response for the visitor.
fn prepare_response<B>(response: &mut Response<B>) {
    if response.status() == StatusCode::SWITCHING_PROTOCOLS {
        // hyper needs these to complete the visitor's upgrade.
        return;
    }
    hop_by_hop::strip(response.headers_mut());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(headers: &[(&str, &str)]) -> Request<()> {
        let mut builder = Request::builder().uri("/path");
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(()).unwrap()
    }

    #[test]
    fn forwarded_headers_name_the_visitor() {
        let mut req = request(&[
            ("host", "app.localhost:8080"),
            ("x-forwarded-for", "10.0.0.1"),
        ]);
        prepare_request(&mut req, Some("192.0.2.7".parse().unwrap()));
        let h = req.headers();
        assert_eq!(h["x-forwarded-for"], "10.0.0.1, 192.0.2.7");
        assert_eq!(h["x-forwarded-proto"], "http");
        assert_eq!(h["x-forwarded-host"], "app.localhost:8080");
    }

    #[test]
    fn http2_requests_get_a_host_header() {
        let mut req = Request::builder()
            .uri("http://app.localhost:8080/x")
            .body(())
            .unwrap();
        prepare_request(&mut req, None);
        assert_eq!(req.headers()["host"], "app.localhost:8080");
    }
}
