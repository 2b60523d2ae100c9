//! [`Metered`]: a local-service connection that counts the bytes it carries into the client's
//! metrics as they pass, so that a long-lived pooled stream shows its traffic while it lives.

use std::{
    io,
    pin::Pin,
    task::{Context, Poll},
};

use metrics::{Counter, counter};
use pin_project::pin_project;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::metrics::{CLIENT_BYTES, CLIENT_STREAMS};

/// A connection that counts the bytes of its tunnel both ways: towards the local service as
/// `request` bytes, back as `response` bytes.
#[pin_project]
#[derive(Debug)]
pub(crate) struct Metered<T> {
    #[pin]
    inner: T,
    /// What writes add to.
    written: Counter,
    /// What reads add to.
    read: Counter,
}

impl<T> Metered<T> {
    /// `inner`, a connection to the local service of `tunnel`, for one stream (counted now):
    /// what is written to it is the request.
    pub(crate) fn local(inner: T, tunnel: &str) -> Self {
        counter!(CLIENT_STREAMS, "tunnel" => tunnel.to_owned()).increment(1);
        let (request, response) = counters(tunnel);
        Self {
            inner,
            written: request,
            read: response,
        }
    }

    /// `inner`, a stream from the server for `tunnel` (counted now): what is read from it is
    /// the request.
    pub(crate) fn from_server(inner: T, tunnel: &str) -> Self {
        counter!(CLIENT_STREAMS, "tunnel" => tunnel.to_owned()).increment(1);
        let (request, response) = counters(tunnel);
        Self {
            inner,
            written: response,
            read: request,
        }
    }
}

/// The `request` and `response` byte counters of `tunnel`.
fn counters(tunnel: &str) -> (Counter, Counter) {
    (
        counter!(CLIENT_BYTES, "tunnel" => tunnel.to_owned(), "direction" => "request"),
        counter!(CLIENT_BYTES, "tunnel" => tunnel.to_owned(), "direction" => "response"),
    )
}

impl<T: AsyncRead> AsyncRead for Metered<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.project();
        let before = buf.filled().len();
        let polled = this.inner.poll_read(cx, buf);
        this.read.increment((buf.filled().len() - before) as u64);
        polled
    }
}

impl<T: AsyncWrite> AsyncWrite for Metered<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.project();
        let polled = this.inner.poll_write(cx, buf);
        if let Poll::Ready(Ok(written)) = &polled {
            this.written.increment(*written as u64);
        }
        polled
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.project();
        let polled = this.inner.poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(written)) = &polled {
            this.written.increment(*written as u64);
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().inner.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().inner.poll_shutdown(cx)
    }
}
