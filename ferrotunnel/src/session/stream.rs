//! [`SessionStream`]: one yamux stream as a tokio `AsyncRead + AsyncWrite`.
//!
//! yamux speaks `futures-io`, whose readers take an initialised `&mut [u8]`. The generic bridge
//! (`tokio_util::compat`) zeroes the *whole* free space of the caller's buffer on every read to
//! get one. hyper offers its whole spare read buffer, which grows to hundreds of KiB on a large
//! body, so a download spent a fifth of the server's CPU zeroing memory that the next read would
//! overwrite. This bridge zeroes only bytes never zeroed before (a buffer that is already
//! initialised costs nothing), and at most as many as the stream is likely to deliver: it starts
//! at [`MIN_READ`] and doubles, up to [`MAX_READ`], each time a read fills what it asked for.
//!
//! The start is small because zeroing is also what makes memory resident: a stream that waits
//! for its response body keeps hyper's 8 KiB read buffer, and a first read of a page made a page
//! of it resident for every held stream (40 MB of the server's 340 MB holding 10 000 streams).
//! A response head fits in the first read or two; a bulk body reaches 64 KiB reads within
//! eight reads.

use std::{
    io,
    pin::Pin,
    task::{Context, Poll, ready},
};

use futures::{AsyncRead as _, AsyncWrite as _};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// What a stream's first read asks yamux for: most response heads.
const MIN_READ: usize = 512;
/// The most one read asks yamux for. yamux frames carry at most 64 KiB (see `SessionConfig`),
/// so a larger read would rarely be filled.
const MAX_READ: usize = 64 * 1024;

/// A stream of a session, as a tokio `AsyncRead + AsyncWrite`.
#[derive(Debug)]
pub(crate) struct SessionStream {
    stream: yamux::Stream,
    /// How much the next read asks for.
    next_read: usize,
}

impl SessionStream {
    pub(super) fn new(stream: yamux::Stream) -> Self {
        Self {
            stream,
            next_read: MIN_READ,
        }
    }
}

impl AsyncRead for SessionStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let want = buf.remaining().min(self.next_read);
        let n = ready!(Pin::new(&mut self.stream).poll_read(cx, buf.initialize_unfilled_to(want)))?;
        buf.advance(n);
        if n == want && want == self.next_read {
            self.next_read = (self.next_read * 2).min(MAX_READ);
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for SessionStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_close(cx)
    }
}
