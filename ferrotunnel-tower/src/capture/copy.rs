//! Copies of a message's head that own their bytes.
//!
//! hyper parses a head into slices of its connection's read buffer: a plain clone of the
//! headers or the URI would keep that whole buffer alive for as long as the store keeps the
//! exchange, so that hyper allocates a fresh buffer for the next request and the store frees
//! the old one, cold, when it evicts the exchange (measured: about a tenth of a captured
//! server's CPU). These copies put every value in one small buffer of their own.

use bytes::{BufMut, Bytes, BytesMut};
use http::{HeaderMap, HeaderValue, Uri};

/// `headers`, with every value copied into one buffer.
pub(super) fn owned_headers(headers: &HeaderMap) -> HeaderMap {
    let size = headers.values().map(HeaderValue::len).sum();
    let mut buffer = BytesMut::with_capacity(size);
    for value in headers.values() {
        buffer.put_slice(value.as_bytes());
    }
    let mut buffer = buffer.freeze();
    let mut owned = HeaderMap::with_capacity(headers.len());
    for (name, value) in headers {
        let bytes = buffer.split_to(value.len());
        // The bytes were a valid value a moment ago: this cannot fail.
        if let Ok(mut copy) = HeaderValue::from_maybe_shared(bytes) {
            copy.set_sensitive(value.is_sensitive());
            owned.append(name.clone(), copy);
        }
    }
    owned
}

/// `uri`, copied.
pub(super) fn owned_uri(uri: &Uri) -> Uri {
    let copy = match (uri.scheme(), uri.authority()) {
        // Origin form, what an ingress passes on: the path and query only.
        (None, None) => uri
            .path_and_query()
            .map(|path| Bytes::copy_from_slice(path.as_str().as_bytes())),
        _ => Some(Bytes::from(uri.to_string())),
    };
    copy.and_then(|bytes| Uri::from_maybe_shared(bytes).ok())
        .unwrap_or_else(|| uri.clone())
}

#[cfg(test)]
mod tests {
    use http::header;

    use super::*;

    #[test]
    fn headers_keep_their_order_repeats_and_sensitivity() {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static("app.localhost"));
        headers.append(header::SET_COOKIE, HeaderValue::from_static("a=1"));
        headers.append(header::SET_COOKIE, HeaderValue::from_static("b=2"));
        let mut secret = HeaderValue::from_static("Bearer t");
        secret.set_sensitive(true);
        headers.insert(header::AUTHORIZATION, secret);
        headers.insert("x-empty", HeaderValue::from_static(""));

        let copy = owned_headers(&headers);
        assert_eq!(copy, headers);
        let cookies: Vec<_> = copy.get_all(header::SET_COOKIE).iter().collect();
        assert_eq!(cookies, ["a=1", "b=2"]);
        assert!(copy[header::AUTHORIZATION].is_sensitive());
        assert!(!copy[header::HOST].is_sensitive());
    }

    #[test]
    fn uris_in_every_form() {
        for text in ["/", "/a/b?c=d&e", "http://example.com:8080/x?y", "*"] {
            let uri: Uri = text.parse().expect("a uri");
            assert_eq!(owned_uri(&uri), uri, "{text}");
        }
        let authority: Uri = "example.com:443".parse().expect("authority form");
        assert_eq!(owned_uri(&authority), authority);
    }
}
