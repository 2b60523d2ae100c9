//! [`SessionStream`]: one yamux stream as a tokio `AsyncRead + AsyncWrite`.
//!
//! yamux speaks `futures-io`, whose readers take an initialised `&mut [u8]`. The generic bridge
//! (`tokio_util::compat`) zeroes the *whole* free space of the caller's buffer on every read to
//! get one. hyper offers its whole spare read buffer, which grows to hundreds of KiB on a large
//! body, so a download spent a fifth of the server's CPU zeroing memory that the next read would
//! overwrite. This bridge zeroes at most [`MAX_READ`] bytes per read, and only bytes never
//! zeroed before: a buffer that is already initialised (such as `tokio::io::copy`'s) costs
//! nothing.

use std::{
    io,
    pin::Pin,
    task::{Context, Poll, ready},
};

use futures::{AsyncRead as _, AsyncWrite as _};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The most one read asks yamux for. yamux frames carry at most 64 KiB (see `SessionConfig`),
/// so a larger read would rarely be filled.
const MAX_READ: usize = 64 * 1024;

/// A stream of a session, as a tokio `AsyncRead + AsyncWrite`.
#[derive(Debug)]
pub(crate) struct SessionStream(yamux::Stream);

impl SessionStream {
    pub(super) fn new(stream: yamux::Stream) -> Self {
        Self(stream)
    }
}

impl AsyncRead for SessionStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let want = buf.remaining().min(MAX_READ);
        let n = ready!(Pin::new(&mut self.0).poll_read(cx, buf.initialize_unfilled_to(want)))?;
        buf.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for SessionStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_close(cx)
    }
}
