//! The tunnel side of the server's HTTP/1.1: a request written onto a stream of the session, and
//! the local service's response read back off it.
//!
//! This replaces a hyper client connection per pooled stream. That one was correct and general,
//! and it cost every stream a task, a request channel (an 8.5 KiB block), and 8 KiB read and
//! write buffers for as long as the stream lived — about half of the server's memory per held
//! stream. Here a [`Connection`] is the stream and a buffer that exists only while bytes are in
//! it; the visitor's own connection task writes the request and reads the response, so a
//! request also crosses no task on its way to the session.
//!
//! What comes back is whatever the local service wrote (the client splices bytes), so the
//! reading is strict and bounded: heads by [`response::MAX_HEAD`], chunked framing by
//! [`chunked::MAX_FRAMING`], anything malformed an [`Error::LocalInvalid`] (a 502), never a
//! guess. Upgrades (`101`) hand the stream, and any bytes read past the head, to [`Upgraded`].

mod body;
mod chunked;
mod request;
mod response;
#[cfg(test)]
mod tests;
mod upgraded;

use std::{
    future::poll_fn,
    pin::Pin,
    task::{Context, Poll, Waker},
};

use bytes::BytesMut;
use http::{Request, Response, StatusCode, header::UPGRADE};
use tokio::io::AsyncWrite;

pub(crate) use body::ResponseBody;
pub(crate) use upgraded::Upgraded;

use crate::{BoxError, Error, server::TunnelBody, session::SessionStream};

/// One HTTP/1.1 connection to the local service, over one stream of the session.
#[derive(Debug)]
pub(crate) struct Connection {
    stream: SessionStream,
    /// Bytes read and not used yet; no allocation while empty.
    buffered: BytesMut,
}

/// What a request brought back.
pub(crate) enum Answer {
    Response(Response<ResponseBody>),
    /// `101 Switching Protocols`: the head for the visitor, and the connection, now a byte pipe.
    Upgrade(Response<()>, Upgraded),
}

/// Why a request did not bring a response back.
pub(crate) enum SendError {
    /// The stream failed before any of the request went out: it can be sent elsewhere.
    Unsent(Box<Request<TunnelBody>>),
    Failed(BoxError),
}

impl Connection {
    pub(crate) fn new(stream: SessionStream) -> Self {
        Self {
            stream,
            buffered: BytesMut::new(),
        }
    }

    /// Whether an idle connection can no longer take a request: the local side closed it, or
    /// sent bytes that no request asked for. Looks without waiting.
    pub(crate) fn is_closed(&mut self) -> bool {
        let mut cx = Context::from_waker(Waker::noop());
        let mut stray = BytesMut::new();
        self.stream.poll_read_into(&mut cx, &mut stray).is_ready()
    }

    /// Waits until the local side has closed the connection (or sent something).
    #[cfg(test)]
    pub(crate) async fn closed(&mut self) {
        let mut stray = BytesMut::new();
        let _ = poll_fn(|cx| self.stream.poll_read_into(cx, &mut stray)).await;
    }

    /// The bytes this connection received and sent since the last call (or since it opened):
    /// what its last exchange moved, when called once per exchange.
    pub(crate) fn take_moved(&mut self) -> u64 {
        self.stream.take_moved()
    }

    /// A connection going back to the pool holds no buffer.
    fn idle(mut self) -> Self {
        self.buffered = BytesMut::new();
        self
    }

    /// Writes `request` and reads the response head; the body streams on from the stream, and
    /// what is left of the request body goes out as it is read.
    pub(crate) async fn send(mut self, request: Request<TunnelBody>) -> Result<Answer, SendError> {
        let (mut parts, body) = request.into_parts();
        let (mut head, framing) = request::encode_head(&mut parts, &body);
        let written = poll_fn(|cx| Pin::new(&mut self.stream).poll_write(cx, &head)).await;
        match written {
            Ok(n) if n > 0 => bytes::Buf::advance(&mut head, n),
            // Nothing went out, so the request is whole.
            _ => {
                return Err(SendError::Unsent(Box::new(Request::from_parts(
                    parts, body,
                ))));
            }
        }
        let wants_upgrade = parts.headers.contains_key(UPGRADE);
        let method = parts.method;
        let mut upload = request::Upload::new(head, body, framing);
        let head = poll_fn(|cx| {
            if !upload.is_done() {
                if let Poll::Ready(Err(err)) = upload.poll(cx, &mut self.stream) {
                    return Poll::Ready(Err(err));
                }
            }
            self.poll_head(cx, &method)
        })
        .await
        .map_err(SendError::Failed)?;

        let upload = (!upload.is_done()).then_some(upload);
        if head.response.status() == StatusCode::SWITCHING_PROTOCOLS {
            let invalid = |why: &str| SendError::Failed(Error::LocalInvalid(why.into()).into());
            if !wants_upgrade {
                return Err(invalid("it switched protocols unasked"));
            }
            if upload.is_some() {
                return Err(invalid(
                    "it switched protocols before the request body was sent",
                ));
            }
            return Ok(Answer::Upgrade(
                head.response,
                Upgraded::new(self.stream, self.buffered),
            ));
        }
        let (parts, ()) = head.response.into_parts();
        let body = ResponseBody::new(self, upload, head.framing, head.keep_alive);
        Ok(Answer::Response(Response::from_parts(parts, body)))
    }

    /// Reads until a final response head (or a `101`) has arrived; other `1xx` heads are
    /// read past, as the visitor's side sends its own.
    fn poll_head(
        &mut self,
        cx: &mut Context<'_>,
        method: &http::Method,
    ) -> Poll<Result<response::Head, BoxError>> {
        loop {
            match response::parse(&mut self.buffered, method) {
                Err(why) => return Poll::Ready(Err(Error::LocalInvalid(why).into())),
                Ok(Some(head))
                    if head.response.status().is_informational()
                        && head.response.status() != StatusCode::SWITCHING_PROTOCOLS => {}
                Ok(Some(head)) => return Poll::Ready(Ok(head)),
                Ok(None) => {
                    match std::task::ready!(self.stream.poll_read_into(cx, &mut self.buffered)) {
                        Ok(0) => {
                            let err = "the stream ended before a response head".into();
                            return Poll::Ready(Err(Error::LocalReset(err).into()));
                        }
                        Ok(_) => {}
                        Err(err) => return Poll::Ready(Err(Error::LocalReset(err.into()).into())),
                    }
                }
            }
        }
    }
}
