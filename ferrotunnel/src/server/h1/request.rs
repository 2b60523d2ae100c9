//! The request, written onto the stream: [`encode_head`] decides the body's framing and writes
//! the head; [`Upload`] writes the body after it, in that framing, as the visitor sends it.
//!
//! The framing follows what hyper's client did, so local services see the same requests: a
//! `Transfer-Encoding` the request carries is kept (ending in `chunked`), then a
//! `Content-Length` it carries, then the body's exact size; a body of unknown size is chunked,
//! except on `GET`, `HEAD` and `CONNECT`, which are sent without one.

use std::{
    io,
    pin::Pin,
    task::{Context, Poll, ready},
};

use bytes::{Buf, BufMut, BytesMut};
use http::{
    HeaderMap, HeaderValue, Method,
    header::{CONTENT_LENGTH, TRANSFER_ENCODING},
    request::Parts,
};
use http_body::Body;
use tokio::io::AsyncWrite;

use crate::{
    BoxError, Error,
    server::{TunnelBody, hop_by_hop::list_tokens},
    session::SessionStream,
};

/// How many encoded bytes are gathered before they are written: a request's head and its
/// first body frames go out as one frame of the session when they are ready together.
const BATCH: usize = 64 * 1024;

/// How the request body is delimited on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Framing {
    /// This many bytes are still to come (none: no body).
    Length(u64),
    Chunked,
}

/// Writes the head of the request made of `parts` (and a body like `body`) into a buffer,
/// setting the framing headers the body needs, and says how the body is framed.
pub(super) fn encode_head(parts: &mut Parts, body: &TunnelBody) -> (BytesMut, Framing) {
    let framing = set_framing(parts, body);
    let fields: usize = parts
        .headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    let mut head = BytesMut::with_capacity(32 + parts.uri.path().len() + 64 + fields);
    head.put_slice(parts.method.as_str().as_bytes());
    head.put_u8(b' ');
    match parts.uri.path_and_query() {
        Some(path) if parts.uri.authority().is_none() => head.put_slice(path.as_str().as_bytes()),
        // `CONNECT host:port`, or a form the pool did not rewrite.
        _ => head.put_slice(parts.uri.to_string().as_bytes()),
    }
    head.put_slice(b" HTTP/1.1\r\n");
    put_fields(&mut head, &parts.headers);
    (head, framing)
}

/// Writes `fields` and the blank line that ends them.
fn put_fields(out: &mut BytesMut, fields: &HeaderMap) {
    for (name, value) in fields {
        out.put_slice(name.as_str().as_bytes());
        out.put_slice(b": ");
        out.put_slice(value.as_bytes());
        out.put_slice(b"\r\n");
    }
    out.put_slice(b"\r\n");
}

fn set_framing(parts: &mut Parts, body: &TunnelBody) -> Framing {
    let headers = &mut parts.headers;
    if body.is_end_stream() {
        headers.remove(TRANSFER_ENCODING);
        return Framing::Length(0);
    }
    if headers.contains_key(TRANSFER_ENCODING) {
        let chunked_last = list_tokens(headers, TRANSFER_ENCODING)
            .last()
            .is_some_and(|last| last.eq_ignore_ascii_case("chunked"));
        if !chunked_last {
            // One more field line of a list is the same as one more item in it.
            headers.append(TRANSFER_ENCODING, HeaderValue::from_static("chunked"));
        }
        headers.remove(CONTENT_LENGTH);
        return Framing::Chunked;
    }
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if let Some(length) = declared {
        return Framing::Length(length);
    }
    headers.remove(CONTENT_LENGTH);
    if let Some(length) = body.size_hint().exact() {
        headers.insert(CONTENT_LENGTH, HeaderValue::from(length));
        return Framing::Length(length);
    }
    if matches!(parts.method, Method::GET | Method::HEAD | Method::CONNECT) {
        return Framing::Length(0);
    }
    headers.insert(TRANSFER_ENCODING, HeaderValue::from_static("chunked"));
    Framing::Chunked
}

/// The part of a request still to be written: encoded bytes, then the rest of the body.
pub(super) struct Upload {
    out: BytesMut,
    /// The body, until its end has been encoded.
    body: Option<TunnelBody>,
    framing: Framing,
    flushed: bool,
}

impl Upload {
    /// `head` is what is left of the encoded head; `body` is sent after it in `framing`.
    pub(super) fn new(head: BytesMut, body: TunnelBody, framing: Framing) -> Self {
        let body = (framing != Framing::Length(0)).then_some(body);
        Self {
            out: head,
            body,
            framing,
            flushed: false,
        }
    }

    pub(super) fn is_done(&self) -> bool {
        self.body.is_none() && self.out.is_empty() && self.flushed
    }

    /// Writes what the body has ready onto `stream`; ready when the whole request is written.
    /// Errors are the visitor's body's own, or [`Error::LocalReset`] when the stream fails.
    pub(super) fn poll(
        &mut self,
        cx: &mut Context<'_>,
        stream: &mut SessionStream,
    ) -> Poll<Result<(), BoxError>> {
        loop {
            while self.out.len() < BATCH {
                let Some(body) = self.body.as_mut() else {
                    break;
                };
                match Pin::new(body).poll_frame(cx) {
                    Poll::Pending => break,
                    Poll::Ready(frame) => self.encode(frame)?,
                }
            }
            if self.out.is_empty() {
                if !self.flushed {
                    ready!(Pin::new(&mut *stream).poll_flush(cx)).map_err(reset)?;
                    self.flushed = true;
                }
                // Waiting on the body, whose waker is registered, or done.
                return match self.body {
                    Some(_) => Poll::Pending,
                    None => Poll::Ready(Ok(())),
                };
            }
            let n = ready!(Pin::new(&mut *stream).poll_write(cx, &self.out)).map_err(reset)?;
            if n == 0 {
                return Poll::Ready(Err(reset(io::ErrorKind::WriteZero.into())));
            }
            self.out.advance(n);
            self.flushed = false;
        }
    }

    /// Encodes one frame of the body (or its end) into `out`.
    fn encode(
        &mut self,
        frame: Option<Result<http_body::Frame<bytes::Bytes>, BoxError>>,
    ) -> Result<(), BoxError> {
        let frame = match frame {
            Some(frame) => frame?,
            None => {
                self.body = None;
                return match self.framing {
                    Framing::Length(0) => Ok(()),
                    Framing::Length(left) => Err(format!(
                        "the request body ended {left} bytes short of its Content-Length"
                    )
                    .into()),
                    Framing::Chunked => {
                        self.out.put_slice(b"0\r\n\r\n");
                        Ok(())
                    }
                };
            }
        };
        match frame.into_data() {
            Ok(data) => match &mut self.framing {
                Framing::Length(left) => {
                    let n = data.len() as u64;
                    if n > *left {
                        return Err("the request body is longer than its Content-Length".into());
                    }
                    *left -= n;
                    self.out.put_slice(&data);
                }
                Framing::Chunked if data.is_empty() => {}
                Framing::Chunked => {
                    self.out
                        .put_slice(format!("{:x}\r\n", data.len()).as_bytes());
                    self.out.put_slice(&data);
                    self.out.put_slice(b"\r\n");
                }
            },
            Err(frame) => {
                let Ok(trailers) = frame.into_trailers() else {
                    return Ok(());
                };
                // Trailers end a chunked body; a body of known length has nowhere to put them.
                if self.framing == Framing::Chunked {
                    self.out.put_slice(b"0\r\n");
                    put_fields(&mut self.out, &trailers);
                    self.body = None;
                }
            }
        }
        Ok(())
    }
}

fn reset(err: io::Error) -> BoxError {
    Error::LocalReset(err.into()).into()
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use http::Request;
    use http_body_util::{BodyExt, Empty, Full, StreamBody};

    use super::*;

    fn head_of(request: Request<TunnelBody>) -> (String, Framing) {
        let (mut parts, body) = request.into_parts();
        let (head, framing) = encode_head(&mut parts, &body);
        (String::from_utf8(head.to_vec()).unwrap(), framing)
    }

    fn boxed<B>(body: B) -> TunnelBody
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        body.map_err(Into::into).boxed_unsync()
    }

    fn streaming() -> TunnelBody {
        let frames = futures::stream::iter([Ok::<_, BoxError>(http_body::Frame::data(
            Bytes::from_static(b"x"),
        ))]);
        boxed(StreamBody::new(frames))
    }

    #[test]
    fn heads_carry_the_framing_their_body_needs() {
        let get = Request::get("/a?b=c")
            .header("host", "app.localhost")
            .body(boxed(Empty::<Bytes>::new()))
            .unwrap();
        assert_eq!(
            head_of(get),
            (
                "GET /a?b=c HTTP/1.1\r\nhost: app.localhost\r\n\r\n".to_owned(),
                Framing::Length(0)
            )
        );
        let post = Request::post("/").body(boxed(Full::new(Bytes::from_static(b"hello"))));
        assert_eq!(
            head_of(post.unwrap()),
            (
                "POST / HTTP/1.1\r\ncontent-length: 5\r\n\r\n".to_owned(),
                Framing::Length(5)
            )
        );
        let unknown = Request::put("/").body(streaming()).unwrap();
        let (head, framing) = head_of(unknown);
        assert!(head.contains("transfer-encoding: chunked\r\n"), "{head}");
        assert_eq!(framing, Framing::Chunked);
        // GET with a body of unknown size: sent without it, as hyper's client did.
        let get_with_body = Request::get("/").body(streaming()).unwrap();
        assert_eq!(head_of(get_with_body).1, Framing::Length(0));
        // The visitor's own framing headers stand.
        let declared = Request::post("/")
            .header("content-length", "1")
            .body(streaming())
            .unwrap();
        assert_eq!(head_of(declared).1, Framing::Length(1));
        let gzip = Request::post("/")
            .header("transfer-encoding", "gzip")
            .header("content-length", "1")
            .body(streaming())
            .unwrap();
        let (head, framing) = head_of(gzip);
        assert!(
            head.contains("transfer-encoding: gzip\r\ntransfer-encoding: chunked\r\n"),
            "{head}"
        );
        assert!(!head.contains("content-length"), "{head}");
        assert_eq!(framing, Framing::Chunked);
    }
}
