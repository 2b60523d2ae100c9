//! [`SessionStream`]: one yamux stream as a tokio `AsyncRead + AsyncWrite`.
//!
//! yamux's `futures-io` reader copies into an initialised `&mut [u8]`, so a bridge that uses it
//! must zero the caller's buffer first (`tokio_util::compat` zeroes hyper's whole spare read
//! buffer on every read, a fifth of the server's CPU in a download). This bridge reads whole
//! frames instead, through yamux's `futures::Stream` of [`yamux::Packet`]s, and copies each
//! into the caller's buffer, initialised or not: nothing is zeroed, and a read touches only the
//! bytes it delivers (which also keeps a stream that waits for its body from making hyper's
//! read buffer resident). A frame larger than the caller's buffer is kept and read on. A body
//! being forwarded takes frames as they are, with no copy at all
//! ([`SessionStream::poll_next_bytes`]).

use std::{
    io,
    pin::Pin,
    task::{Context, Poll, ready},
};

use bytes::{Buf as _, Bytes, BytesMut};
use futures::{AsyncWrite as _, Stream as _};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::metrics::{self, Active};

/// A stream of a session, as a tokio `AsyncRead + AsyncWrite`.
#[derive(Debug)]
pub(crate) struct SessionStream {
    stream: yamux::Stream,
    /// What is left of the last frame yamux handed over: the frame, and how much of it was read.
    unread: Option<(yamux::Packet, usize)>,
    /// Bytes received and sent since [`SessionStream::take_moved`] last looked.
    moved: u64,
    _active: Active,
}

impl SessionStream {
    pub(super) fn new(stream: yamux::Stream) -> Self {
        Self {
            stream,
            unread: None,
            moved: 0,
            _active: Active::new(metrics::STREAMS_ACTIVE),
        }
    }

    /// The bytes received and sent since the last call (or since the stream opened).
    pub(crate) fn take_moved(&mut self) -> u64 {
        std::mem::take(&mut self.moved)
    }
}

impl SessionStream {
    /// What is left of the frame partly read, or the next frame; `None` at the end of the
    /// stream.
    fn poll_unread(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<Option<(yamux::Packet, usize)>>> {
        if let Some(unread) = self.unread.take() {
            return Poll::Ready(Ok(Some(unread)));
        }
        loop {
            match ready!(Pin::new(&mut self.stream).poll_next(cx)) {
                None => return Poll::Ready(Ok(None)),
                Some(Err(err)) => return Poll::Ready(Err(err)),
                // An empty frame would read as the end of the stream.
                Some(Ok(packet)) if packet.as_ref().is_empty() => {}
                Some(Ok(packet)) => {
                    self.moved += packet.as_ref().len() as u64;
                    return Poll::Ready(Ok(Some((packet, 0))));
                }
            }
        }
    }

    /// Appends what arrived next to `buf`: the rest of a frame partly read, or the next frame
    /// whole. `Ready(Ok(0))` is the end of the stream. Unlike `poll_read`, the caller needs no
    /// buffer while it waits: `buf` grows by what arrived, when it arrives.
    pub(crate) fn poll_read_into(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut BytesMut,
    ) -> Poll<io::Result<usize>> {
        let Some((packet, read)) = ready!(self.poll_unread(cx))? else {
            return Poll::Ready(Ok(0));
        };
        let rest = &packet.as_ref()[read..];
        buf.extend_from_slice(rest);
        Poll::Ready(Ok(rest.len()))
    }

    /// What arrived next, without a copy: the rest of a frame partly read, or the next frame
    /// whole, as `Bytes` that own yamux's frame buffer. `Ready(Ok(None))` is the end of the
    /// stream. For bulk data, where copying each frame costs more than the small allocation
    /// that shares it.
    pub(crate) fn poll_next_bytes(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<Option<Bytes>>> {
        let Some((packet, read)) = ready!(self.poll_unread(cx))? else {
            return Poll::Ready(Ok(None));
        };
        let mut bytes = Bytes::from_owner(packet);
        bytes.advance(read);
        Poll::Ready(Ok(Some(bytes)))
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
        let Some((packet, mut read)) = ready!(self.poll_unread(cx))? else {
            // The end of the stream: a read of nothing.
            return Poll::Ready(Ok(()));
        };
        let rest = &packet.as_ref()[read..];
        let n = rest.len().min(buf.remaining());
        buf.put_slice(&rest[..n]);
        read += n;
        if read < packet.as_ref().len() {
            self.unread = Some((packet, read));
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
        let written = ready!(Pin::new(&mut self.stream).poll_write(cx, buf))?;
        self.moved += written as u64;
        Poll::Ready(Ok(written))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_close(cx)
    }
}
