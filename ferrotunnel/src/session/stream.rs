//! [`SessionStream`]: one yamux stream as a tokio `AsyncRead + AsyncWrite`.
//!
//! yamux's `futures-io` reader copies into an initialised `&mut [u8]`, so a bridge that uses it
//! must zero the caller's buffer first (`tokio_util::compat` zeroes hyper's whole spare read
//! buffer on every read, a fifth of the server's CPU in a download). This bridge reads whole
//! frames instead, through yamux's `futures::Stream` of [`yamux::Packet`]s, and copies each
//! into the caller's buffer, initialised or not: nothing is zeroed, and a read touches only the
//! bytes it delivers (which also keeps a stream that waits for its body from making hyper's
//! read buffer resident). A frame larger than the caller's buffer is kept and read on.

use std::{
    io,
    pin::Pin,
    task::{Context, Poll, ready},
};

use bytes::BytesMut;
use futures::{AsyncWrite as _, Stream as _};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::metrics::{self, Active};

/// A stream of a session, as a tokio `AsyncRead + AsyncWrite`.
#[derive(Debug)]
pub(crate) struct SessionStream {
    stream: yamux::Stream,
    /// What is left of the last frame yamux handed over: the frame, and how much of it was read.
    unread: Option<(yamux::Packet, usize)>,
    _active: Active,
}

impl SessionStream {
    pub(super) fn new(stream: yamux::Stream) -> Self {
        Self {
            stream,
            unread: None,
            _active: Active::new(metrics::STREAMS_ACTIVE),
        }
    }
}

impl SessionStream {
    /// Appends what arrived next to `buf`: the rest of a frame partly read, or the next frame
    /// whole. `Ready(Ok(0))` is the end of the stream. Unlike `poll_read`, the caller needs no
    /// buffer while it waits: `buf` grows by what arrived, when it arrives.
    pub(crate) fn poll_read_into(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut BytesMut,
    ) -> Poll<io::Result<usize>> {
        let (packet, read) = loop {
            match self.unread.take() {
                Some(unread) => break unread,
                None => match ready!(Pin::new(&mut self.stream).poll_next(cx)) {
                    None => return Poll::Ready(Ok(0)),
                    Some(Err(err)) => return Poll::Ready(Err(err)),
                    Some(Ok(packet)) if packet.as_ref().is_empty() => {}
                    Some(Ok(packet)) => break (packet, 0),
                },
            }
        };
        let rest = &packet.as_ref()[read..];
        buf.extend_from_slice(rest);
        Poll::Ready(Ok(rest.len()))
    }
}

impl AsyncRead for SessionStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        let this = &mut *self;
        let (packet, read) = loop {
            match &mut this.unread {
                Some(unread) => break unread,
                None => match ready!(Pin::new(&mut this.stream).poll_next(cx)) {
                    // The end of the stream: a read of nothing.
                    None => return Poll::Ready(Ok(())),
                    Some(Err(err)) => return Poll::Ready(Err(err)),
                    // An empty frame would read as the end of the stream.
                    Some(Ok(packet)) if packet.as_ref().is_empty() => {}
                    Some(Ok(packet)) => this.unread = Some((packet, 0)),
                },
            }
        };
        let rest = &packet.as_ref()[*read..];
        let n = rest.len().min(buf.remaining());
        buf.put_slice(&rest[..n]);
        *read += n;
        if *read == packet.as_ref().len() {
            this.unread = None;
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
