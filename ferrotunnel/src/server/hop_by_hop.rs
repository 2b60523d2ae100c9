//! The hop-by-hop step, first in the ingress stack: the headers that concern only the
//! visitor's connection to this server (RFC 9110 §7.6.1: `Connection`, the headers it lists,
//! `Keep-Alive`, `TE`, …) stop here, on receipt, before any step or policy adds headers of its
//! own. Later would let a visitor delete what a policy added by naming it in `Connection`. The
//! headers of an upgrade (`Connection: upgrade` with an `Upgrade`) are kept, as one.
//!
//! After this step, a request has an `Upgrade` header if and only if it asks to switch
//! protocols. Responses lose theirs at the other end of the stack (see `forwarded`), as soon
//! as they come from the local service.

use std::task::{Context, Poll};

use http::{
    HeaderMap, HeaderName, HeaderValue, Request,
    header::{CONNECTION, TE, TRAILER, TRANSFER_ENCODING, UPGRADE},
};

static KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
static PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");

/// Applies [`HopByHop`].
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct HopByHopLayer;

impl<S> tower::Layer<S> for HopByHopLayer {
    type Service = HopByHop<S>;

    fn layer(&self, inner: S) -> HopByHop<S> {
        HopByHop { inner }
    }
}

/// Removes a visitor's hop-by-hop headers; see the module docs.
#[derive(Debug, Clone)]
pub(crate) struct HopByHop<S> {
    inner: S,
}

impl<S, B> tower::Service<Request<B>> for HopByHop<S>
where
    S: tower::Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> S::Future {
        strip_request(request.headers_mut());
        self.inner.call(request)
    }
}

/// A visitor's hop-by-hop headers go, an upgrade's stay.
pub(crate) fn strip_request(headers: &mut HeaderMap) {
    let upgrade = is_upgrade(headers)
        .then(|| headers.get(UPGRADE).cloned())
        .flatten();
    strip(headers);
    if let Some(upgrade) = upgrade {
        headers.insert(UPGRADE, upgrade);
        headers.insert(CONNECTION, HeaderValue::from_static("upgrade"));
    }
}

/// Whether the message asks to switch protocols (`Connection: upgrade` with an `Upgrade`).
fn is_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(UPGRADE)
        && connection_tokens(headers).any(|t| t.eq_ignore_ascii_case("upgrade"))
}

/// Removes every hop-by-hop header, and those `Connection` lists.
pub(crate) fn strip(headers: &mut HeaderMap) {
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
    list_tokens(headers, CONNECTION)
}

/// The comma-separated tokens of every `name` field in `headers`, trimmed, empty ones skipped.
pub(crate) fn list_tokens(headers: &HeaderMap, name: HeaderName) -> impl Iterator<Item = &str> {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut request = Request::builder().uri("/path");
        for (name, value) in pairs {
            request = request.header(*name, *value);
        }
        request.body(()).unwrap().headers().clone()
    }

    #[test]
    fn hop_by_hop_headers_stop_at_the_proxy() {
        let mut h = headers(&[
            ("host", "app.localhost"),
            ("connection", "keep-alive, x-secret-hop"),
            ("keep-alive", "timeout=5"),
            ("x-secret-hop", "1"),
            ("te", "trailers"),
            ("upgrade", "h2c"),
            ("x-end-to-end", "kept"),
        ]);
        strip_request(&mut h);
        for gone in ["connection", "keep-alive", "x-secret-hop", "te", "upgrade"] {
            assert!(!h.contains_key(gone), "{gone} should be removed");
        }
        assert_eq!(h["x-end-to-end"], "kept");
    }

    #[test]
    fn upgrades_keep_their_headers_and_nothing_else_listed() {
        let mut h = headers(&[
            ("host", "a"),
            ("connection", "Upgrade, x-real-ip"),
            ("upgrade", "websocket"),
            ("x-real-ip", "203.0.113.9"),
        ]);
        assert!(is_upgrade(&h));
        strip_request(&mut h);
        assert_eq!(h["upgrade"], "websocket");
        assert_eq!(h["connection"], "upgrade");
        assert!(!h.contains_key("x-real-ip"));
    }
}
