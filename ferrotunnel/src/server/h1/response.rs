//! The local service's response head: parsed from the front of the read buffer, and what it
//! says about the body that follows (RFC 9112 §6.3) and about the connection after it.

use bytes::BytesMut;

use crate::server::hop_by_hop::list_tokens;
use http::{
    HeaderMap, HeaderName, HeaderValue, Method, Response, StatusCode, Version,
    header::{CONNECTION, CONTENT_LENGTH, TRANSFER_ENCODING},
};

/// The largest response head read: what hyper's client accepted before this module.
pub(super) const MAX_HEAD: usize = 8192 + 4096 * 100;
/// The most header fields one response head may carry (hyper's limit too).
const MAX_FIELDS: usize = 100;
/// Room in a response's header map beyond its own fields, so that the `x-request-id` the
/// ingress adds to every response does not grow it (two allocations). No more: a held response
/// keeps its map, and five fields of room cost 10 MiB over 10 000 held streams.
const HEADER_ROOM: usize = 1;

/// How the body after a head is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Framing {
    /// No body: `HEAD`, `204`, `304`, a `1xx`, a `2xx` to `CONNECT`.
    Empty,
    /// `Content-Length` bytes.
    Length(u64),
    /// Chunked coding.
    Chunked,
    /// Everything up to the end of the stream, which then cannot carry another request.
    UntilClose,
}

/// A parsed response head.
#[derive(Debug)]
pub(super) struct Head {
    pub(super) response: Response<()>,
    pub(super) framing: Framing,
    /// Whether the connection may carry another request once this exchange is over.
    pub(super) keep_alive: bool,
}

/// Parses a response head from the front of `buf`, taking its bytes; `Ok(None)` when the head
/// is not complete yet. `method` is the request's, which decides whether a body follows.
pub(super) fn parse(buf: &mut BytesMut, method: &Method) -> Result<Option<Head>, String> {
    // Where each field's name and value lie in the head, so that the values can share the
    // head's bytes rather than be copied one allocation each.
    let mut spans = [(0u32, 0u32, 0u32, 0u32); MAX_FIELDS];
    let (len, code, reason, minor, fields) = {
        let mut fields = [httparse::EMPTY_HEADER; MAX_FIELDS];
        let mut parsed = httparse::Response::new(&mut fields);
        let len = match parsed.parse(buf) {
            Ok(httparse::Status::Complete(len)) => len,
            Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD => {
                return Err(format!("its head is larger than {MAX_HEAD} bytes"));
            }
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(httparse::Error::TooManyHeaders) => {
                return Err(format!("its head has more than {MAX_FIELDS} fields"));
            }
            Err(err) => return Err(format!("its head is malformed ({err})")),
        };
        let start = buf.as_ptr() as usize;
        let offset = |s: &[u8]| (s.as_ptr() as usize - start) as u32;
        let mut count = 0;
        for (span, field) in spans.iter_mut().zip(parsed.headers.iter()) {
            let name = field.name.as_bytes();
            *span = (
                offset(name),
                name.len() as u32,
                offset(field.value),
                field.value.len() as u32,
            );
            count += 1;
        }
        let reason = parsed
            .reason
            .map(|r| (offset(r.as_bytes()), r.len() as u32));
        (len, parsed.code, reason, parsed.version, count)
    };
    let head = buf.split_to(len).freeze();
    let slice = |at: u32, len: u32| head.slice(at as usize..(at + len) as usize);

    let code = code.unwrap_or_default();
    let status = StatusCode::from_u16(code).map_err(|_| format!("its status {code} is invalid"))?;
    let mut response = Response::new(());
    *response.status_mut() = status;
    *response.version_mut() = if minor == Some(0) {
        Version::HTTP_10
    } else {
        Version::HTTP_11
    };
    let mut headers = HeaderMap::with_capacity(fields + HEADER_ROOM);
    for &(name_at, name_len, value_at, value_len) in &spans[..fields] {
        let name = HeaderName::from_bytes(&head[name_at as usize..(name_at + name_len) as usize])
            .map_err(|_| "a header name is invalid".to_owned())?;
        let value = HeaderValue::from_maybe_shared(slice(value_at, value_len))
            .map_err(|_| format!("the value of {name} is invalid"))?;
        headers.append(name, value);
    }
    *response.headers_mut() = headers;
    if let Some((at, len)) = reason {
        let reason = slice(at, len);
        if status.canonical_reason().map(str::as_bytes) != Some(&reason[..]) && !reason.is_empty() {
            if let Ok(phrase) = hyper::ext::ReasonPhrase::try_from(reason) {
                response.extensions_mut().insert(phrase);
            }
        }
    }

    let framing = framing(&response, method)?;
    // A `2xx` to `CONNECT` turns the connection into a tunnel of the local service's own.
    let tunnels = method == Method::CONNECT && response.status().is_success();
    let keep_alive = framing != Framing::UntilClose && !tunnels && keeps_alive(&response);
    Ok(Some(Head {
        response,
        framing,
        keep_alive,
    }))
}

/// How the body of `response` to a `method` request is delimited (RFC 9112 §6.3).
fn framing(response: &Response<()>, method: &Method) -> Result<Framing, String> {
    let status = response.status();
    if method == Method::HEAD
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
        || (method == Method::CONNECT && status.is_success())
    {
        return Ok(Framing::Empty);
    }
    let headers = response.headers();
    if headers.contains_key(TRANSFER_ENCODING) {
        // Chunked only when it is the last coding; otherwise the body runs to the close.
        let last = list_tokens(headers, TRANSFER_ENCODING).last();
        return Ok(match last {
            Some(coding) if coding.eq_ignore_ascii_case("chunked") => Framing::Chunked,
            _ => Framing::UntilClose,
        });
    }
    let mut length = None;
    for value in headers.get_all(CONTENT_LENGTH) {
        for part in value.as_bytes().split(|&b| b == b',') {
            let part = part.trim_ascii();
            let parsed = (!part.is_empty() && part.iter().all(u8::is_ascii_digit))
                .then(|| std::str::from_utf8(part).ok()?.parse::<u64>().ok())
                .flatten()
                .ok_or_else(|| "its Content-Length is not a number".to_owned())?;
            if length.is_some_and(|l| l != parsed) {
                return Err("it has several different Content-Lengths".to_owned());
            }
            length = Some(parsed);
        }
    }
    Ok(match length {
        Some(0) => Framing::Empty,
        Some(n) => Framing::Length(n),
        None => Framing::UntilClose,
    })
}

/// Whether the local service will read another request on this connection.
fn keeps_alive(response: &Response<()>) -> bool {
    let has = |token: &str| {
        list_tokens(response.headers(), CONNECTION).any(|t| t.eq_ignore_ascii_case(token))
    };
    match response.version() {
        Version::HTTP_11 => !has("close"),
        _ => has("keep-alive") && !has("close"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(head: &[u8], method: &Method) -> Result<Option<Head>, String> {
        parse(&mut BytesMut::from(head), method)
    }

    fn framing_of(head: &str, method: Method) -> Result<(Framing, bool), String> {
        parse_all(head.as_bytes(), &method).map(|h| {
            let h = h.expect("complete");
            (h.framing, h.keep_alive)
        })
    }

    #[test]
    fn heads_parse_and_leave_the_body_behind() {
        let mut buf = BytesMut::from(
            &b"HTTP/1.1 201 Made It\r\nContent-Length: 5\r\nX-Two: a\r\nx-two: b\r\n\r\nhello"[..],
        );
        assert!(
            parse(&mut BytesMut::from(&buf[..20]), &Method::GET)
                .unwrap()
                .is_none()
        );
        let head = parse(&mut buf, &Method::GET).unwrap().unwrap();
        assert_eq!(&buf[..], b"hello");
        let response = head.response;
        assert_eq!(response.status(), StatusCode::CREATED);
        assert_eq!(response.version(), Version::HTTP_11);
        let twos: Vec<_> = response.headers().get_all("x-two").iter().collect();
        assert_eq!(twos, ["a", "b"]);
        let phrase = response.extensions().get::<hyper::ext::ReasonPhrase>();
        assert_eq!(phrase.map(|p| p.as_bytes()), Some(&b"Made It"[..]));
        assert_eq!((head.framing, head.keep_alive), (Framing::Length(5), true));
    }

    #[test]
    fn framing_follows_rfc_9112() {
        use Framing::*;
        let get = || Method::GET;
        for (head, method, framing) in [
            (
                "HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\n",
                get(),
                (Length(3), true),
            ),
            (
                "HTTP/1.1 200 OK\r\ncontent-length: 3, 3\r\n\r\n",
                get(),
                (Length(3), true),
            ),
            (
                "HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n",
                get(),
                (Empty, true),
            ),
            (
                "HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\n",
                Method::HEAD,
                (Empty, true),
            ),
            ("HTTP/1.1 204 No Content\r\n\r\n", get(), (Empty, true)),
            ("HTTP/1.1 200 OK\r\n\r\n", Method::CONNECT, (Empty, false)),
            (
                "HTTP/1.1 304 Not Modified\r\ncontent-length: 9\r\n\r\n",
                get(),
                (Empty, true),
            ),
            (
                "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n",
                get(),
                (Chunked, true),
            ),
            (
                "HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, Chunked\r\ncontent-length: 9\r\n\r\n",
                get(),
                (Chunked, true),
            ),
            (
                "HTTP/1.1 200 OK\r\ntransfer-encoding: gzip\r\n\r\n",
                get(),
                (UntilClose, false),
            ),
            ("HTTP/1.1 200 OK\r\n\r\n", get(), (UntilClose, false)),
            (
                "HTTP/1.1 200 OK\r\ncontent-length: 1\r\nconnection: Close\r\n\r\n",
                get(),
                (Length(1), false),
            ),
            (
                "HTTP/1.0 200 OK\r\ncontent-length: 1\r\n\r\n",
                get(),
                (Length(1), false),
            ),
            (
                "HTTP/1.0 200 OK\r\ncontent-length: 1\r\nconnection: keep-alive\r\n\r\n",
                get(),
                (Length(1), true),
            ),
        ] {
            assert_eq!(framing_of(head, method).unwrap(), framing, "{head:?}");
        }
    }

    #[test]
    fn invalid_heads_are_errors() {
        for head in [
            "HTTP/1.1 200 OK\r\ncontent-length: 3, 4\r\n\r\n",
            "HTTP/1.1 200 OK\r\ncontent-length: -1\r\n\r\n",
            "HTTP/1.1 200 OK\r\ncontent-length: 99999999999999999999999\r\n\r\n",
            "HTTP/1.1 200 OK\r\ncontent-length: 3\r\ncontent-length: 4\r\n\r\n",
            "HTTP/1.1 99 Odd\r\n\r\n",
            "HTTP/1.1 abc OK\r\n\r\n",
            "HTTP/1.1 200 OK\r\nbad header\r\n\r\n",
            "SSH-2.0-OpenSSH\r\n\r\n",
        ] {
            assert!(framing_of(head, Method::GET).is_err(), "{head:?}");
        }
        let many: String = (0..=MAX_FIELDS).map(|i| format!("x-{i}: v\r\n")).collect();
        let err = framing_of(&format!("HTTP/1.1 200 OK\r\n{many}\r\n"), Method::GET).unwrap_err();
        assert!(err.contains("fields"), "{err}");
        let huge = format!("HTTP/1.1 200 OK\r\nx: {}", "a".repeat(MAX_HEAD));
        let err = parse_all(huge.as_bytes(), &Method::GET).unwrap_err();
        assert!(err.contains("larger"), "{err}");
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_heads_never_panic(
            wire in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512),
        ) {
            let mut prefixed = b"HTTP/1.1 200 OK\r\n".to_vec();
            prefixed.extend_from_slice(&wire);
            for bytes in [&wire[..], &prefixed[..]] {
                let mut buf = BytesMut::from(bytes);
                if let Ok(Some(_)) = parse(&mut buf, &Method::GET) {
                    proptest::prop_assert!(buf.len() < bytes.len(), "a head takes its bytes");
                }
            }
        }
    }
}
