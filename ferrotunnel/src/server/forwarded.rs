//! The forwarded-headers step of the ingress stack, the header rules of a forwarding proxy:
//! hop-by-hop headers (RFC 9110 §7.6.1) stop here, both ways, except those of an upgrade; and
//! the local service learns who asked through `X-Forwarded-For`, `-Proto` and `-Host`.

use std::{
    future::Future,
    net::IpAddr,
    pin::Pin,
    task::{Context, Poll, ready},
};

use http::{
    HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode,
    header::{CONNECTION, HOST, TE, TRAILER, TRANSFER_ENCODING, UPGRADE},
};
use pin_project::pin_project;

use super::{
    VisitorAddr,
    visitor::{IngressScheme, push_ip},
};

static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
static KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
static PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");

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

/// Whether the message asks to switch protocols (`Connection: upgrade` with an `Upgrade`).
fn is_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(UPGRADE)
        && connection_tokens(headers).any(|t| t.eq_ignore_ascii_case("upgrade"))
}

/// Rewrites a visitor's request for the local service. The upgrade headers of a request that
/// asks to switch protocols are kept: after this, a request has an `Upgrade` header if and only
/// if it is an upgrade.
fn prepare_request<B>(request: &mut Request<B>, visitor: Option<IpAddr>) {
    let scheme = request
        .extensions()
        .get::<IngressScheme>()
        .map_or("http", |s| s.0);
    let upgrade = is_upgrade(request.headers())
        .then(|| request.headers().get(UPGRADE).cloned())
        .flatten();
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
    strip_hop_by_hop(headers);
    if let Some(upgrade) = upgrade {
        headers.insert(UPGRADE, upgrade);
        headers.insert(CONNECTION, HeaderValue::from_static("upgrade"));
    }

    if let Some(ip) = visitor {
        let mut chain = String::with_capacity(64);
        if let Some(earlier) = headers.get(&X_FORWARDED_FOR).and_then(|v| v.to_str().ok()) {
            chain.push_str(earlier);
            chain.push_str(", ");
        }
        push_ip(&mut chain, ip);
        if let Ok(value) = HeaderValue::from_str(&chain) {
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
    strip_hop_by_hop(response.headers_mut());
}

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // One pass over the names, which hashes nothing: most messages carry none of these, and a
    // lookup or removal hashes the name it looks for.
    let present: Vec<HeaderName> = headers
        .keys()
        .filter(|name| is_hop_by_hop(name))
        .cloned()
        .collect();
    if present.is_empty() {
        return;
    }
    // Only a `Connection` header lists more of them, and it is one of `present`.
    let listed: Vec<HeaderName> = connection_tokens(headers)
        .filter_map(|t| HeaderName::from_bytes(t.as_bytes()).ok())
        .collect();
    for name in listed.into_iter().chain(present) {
        headers.remove(name);
    }
}

fn is_hop_by_hop(name: &HeaderName) -> bool {
    [
        &CONNECTION,
        &KEEP_ALIVE,
        &PROXY_CONNECTION,
        &TE,
        &TRAILER,
        &TRANSFER_ENCODING,
        &UPGRADE,
    ]
    .contains(&name)
}

fn connection_tokens(headers: &HeaderMap) -> impl Iterator<Item = &str> {
    headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty())
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
    fn hop_by_hop_headers_stop_at_the_proxy() {
        let mut req = request(&[
            ("host", "app.localhost"),
            ("connection", "keep-alive, x-secret-hop"),
            ("keep-alive", "timeout=5"),
            ("x-secret-hop", "1"),
            ("te", "trailers"),
            ("x-end-to-end", "kept"),
        ]);
        prepare_request(&mut req, None);
        let h = req.headers();
        for gone in ["connection", "keep-alive", "x-secret-hop", "te"] {
            assert!(!h.contains_key(gone), "{gone} should be removed");
        }
        assert_eq!(h["x-end-to-end"], "kept");
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
    fn upgrades_keep_their_headers() {
        let mut req = request(&[
            ("host", "a"),
            ("connection", "Upgrade"),
            ("upgrade", "websocket"),
        ]);
        assert!(is_upgrade(req.headers()));
        prepare_request(&mut req, None);
        assert_eq!(req.headers()["upgrade"], "websocket");
        assert_eq!(req.headers()["connection"], "upgrade");
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
