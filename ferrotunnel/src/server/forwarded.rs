//! Header rules for a forwarding proxy: hop-by-hop headers (RFC 9110 §7.6.1) stop here, and the
//! local service learns who asked through `X-Forwarded-For`, `-Proto` and `-Host`.

use std::net::IpAddr;

use http::{
    HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode,
    header::{CONNECTION, HOST, TE, TRAILER, TRANSFER_ENCODING, UPGRADE},
};

static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
static KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
static PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");

/// The scheme the visitor used (`http` or `https`), put in the request extensions by the
/// ingress listener. Requests without it (a mounted ingress) count as `http`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IngressScheme(pub(crate) &'static str);

/// Whether the message asks to switch protocols (`Connection: upgrade` with an `Upgrade`).
pub(crate) fn is_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(UPGRADE)
        && connection_tokens(headers).any(|t| t.eq_ignore_ascii_case("upgrade"))
}

/// Rewrites a visitor's request for the local service; `true` when it asks to switch
/// protocols (the upgrade headers are then kept).
pub(crate) fn prepare_request<B>(request: &mut Request<B>, visitor: Option<IpAddr>) -> bool {
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
    let upgrading = upgrade.is_some();
    if let Some(upgrade) = upgrade {
        headers.insert(UPGRADE, upgrade);
        headers.insert(CONNECTION, HeaderValue::from_static("upgrade"));
    }

    if let Some(ip) = visitor {
        let visitor = address_text(ip);
        let chain = match headers.get(&X_FORWARDED_FOR).and_then(|v| v.to_str().ok()) {
            Some(earlier) => format!("{earlier}, {visitor}"),
            None => visitor,
        };
        if let Ok(value) = HeaderValue::from_str(&chain) {
            headers.insert(X_FORWARDED_FOR.clone(), value);
        }
    }
    headers.insert(X_FORWARDED_PROTO.clone(), HeaderValue::from_static(scheme));
    if let Some(host) = headers.get(HOST).cloned() {
        headers.insert(X_FORWARDED_HOST.clone(), host);
    }
    upgrading
}

/// `ip` as text. IPv4 addresses, nearly every visitor's, are written digit by digit: `Display`
/// goes through the formatting machinery, which cost the server 3 % of its instructions per
/// request.
fn address_text(ip: IpAddr) -> String {
    let IpAddr::V4(ip) = ip else {
        return ip.to_string();
    };
    let mut text = String::with_capacity("255.255.255.255".len());
    for (i, octet) in ip.octets().into_iter().enumerate() {
        if i > 0 {
            text.push('.');
        }
        if octet >= 100 {
            text.push(char::from(b'0' + octet / 100));
        }
        if octet >= 10 {
            text.push(char::from(b'0' + octet / 10 % 10));
        }
        text.push(char::from(b'0' + octet % 10));
    }
    text
}

/// Rewrites the local service's response for the visitor.
pub(crate) fn prepare_response<B>(response: &mut Response<B>) {
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
        assert!(!prepare_request(&mut req, None), "not an upgrade");
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
    fn addresses_read_as_display_writes_them() {
        for text in [
            "0.0.0.0",
            "9.10.99.100",
            "127.0.0.1",
            "192.0.2.7",
            "255.255.255.255",
            "2001:db8::1",
            "::ffff:192.0.2.7",
        ] {
            let ip: IpAddr = text.parse().unwrap();
            assert_eq!(address_text(ip), ip.to_string());
        }
        for octet in 0..=u8::MAX {
            let ip = IpAddr::from([octet, octet / 3, 200 - octet % 200, 7]);
            assert_eq!(address_text(ip), ip.to_string());
        }
    }

    #[test]
    fn upgrades_keep_their_headers() {
        let mut req = request(&[
            ("host", "a"),
            ("connection", "Upgrade"),
            ("upgrade", "websocket"),
        ]);
        assert!(is_upgrade(req.headers()));
        assert!(prepare_request(&mut req, None), "an upgrade is reported");
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
