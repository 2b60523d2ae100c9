//! Batched I/O under yamux: many frames per system call instead of two calls per frame.
//!
//! yamux reads each frame as a 12-byte header and then its body, and writes each frame the same
//! way, flushing after every frame. On a socket that is four system calls per small frame, and
//! a proxied request is several frames. [`batched`] puts a read buffer and a write buffer under
//! the connection: a read fills the buffer with whatever the socket has (often many frames), and
//! writes collect in memory until the driver task calls [`Flusher::poll_flush`], which it does
//! when yamux has nothing more to do and every other ready task has run (`idle.rs`). So one
//! write carries the frames of every stream that had something to send.
//!
//! Both halves share one buffer behind a mutex; only the driver task ever takes it (yamux is
//! polled by one owner), so the lock is never contended.

use std::{
    io,
    pin::Pin,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    task::{Context, Poll, ready},
};

use tokio::io::{AsyncRead, AsyncWrite, BufReader, ReadBuf};

use crate::transport::BoxIo;

/// How many bytes of frames a session collects before it must write them out: one full data
/// frame (see `FRAME_SIZE`) and then some.
const BUFFER_SIZE: usize = 64 * 1024;

/// How many bytes a session reads from its socket at once. Small frames (request heads, window
/// updates) arrive many to a read; a read for a large frame body bypasses the buffer. It is
/// allocated (and touched) for every session, so it stays small.
const READ_BUFFER_SIZE: usize = 16 * 1024;

/// Wraps a session's connection: the [`BatchedIo`] goes to yamux, the [`Flusher`] stays with the
/// task that drives it.
pub(super) fn batched(io: BoxIo) -> (BatchedIo, Flusher) {
    let shared = Arc::new(Mutex::new(Shared {
        io: BufReader::with_capacity(READ_BUFFER_SIZE, io),
        pending: Vec::with_capacity(BUFFER_SIZE),
        written: 0,
        unflushed: false,
    }));
    (
        BatchedIo {
            shared: shared.clone(),
        },
        Flusher { shared },
    )
}

struct Shared {
    io: BufReader<BoxIo>,
    /// Frames not yet written; `pending[..written]` already went out.
    pending: Vec<u8>,
    written: usize,
    /// yamux wrote since the last flush: bytes are collected, or went straight to the
    /// connection, where a TLS or WebSocket layer may hold them until it is flushed.
    unflushed: bool,
}

impl Shared {
    /// Writes pending bytes, then `next`, in vectored writes until every pending byte is out.
    /// Returns how many bytes of `next` went out too (possibly none).
    fn poll_write_out_with(
        &mut self,
        cx: &mut Context<'_>,
        next: &[u8],
    ) -> Poll<io::Result<usize>> {
        while self.written < self.pending.len() {
            let slices = [
                io::IoSlice::new(&self.pending[self.written..]),
                io::IoSlice::new(next),
            ];
            let n = ready!(Pin::new(&mut self.io).poll_write_vectored(cx, &slices))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            let from_pending = n.min(self.pending.len() - self.written);
            self.written += from_pending;
            if self.written == self.pending.len() {
                self.pending.clear();
                self.written = 0;
                return Poll::Ready(Ok(n - from_pending));
            }
        }
        Poll::Ready(Ok(0))
    }

    /// Writes pending bytes until none are left or the socket is full.
    fn poll_write_out(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.written < self.pending.len() {
            let n = ready!(Pin::new(&mut self.io).poll_write(cx, &self.pending[self.written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.written += n;
        }
        self.pending.clear();
        self.written = 0;
        Poll::Ready(Ok(()))
    }
}

fn lock(shared: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    // Nothing panics while holding the lock; if something did, the buffer is still sound.
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The connection as yamux sees it: reads are buffered, writes are collected, and a flush only
/// writes out what is collected when the buffer is full (see [`Flusher`]).
pub(super) struct BatchedIo {
    shared: Arc<Mutex<Shared>>,
}

impl AsyncRead for BatchedIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut lock(&self.shared).io).poll_read(cx, buf)
    }
}

impl AsyncWrite for BatchedIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let mut shared = lock(&self.shared);
        shared.unflushed = true;
        if shared.pending.len() + buf.len() > BUFFER_SIZE {
            // It does not fit: send what is collected and as much of `buf` as the socket takes,
            // in one call. A large frame body thus goes out with its header, uncopied.
            let sent = ready!(shared.poll_write_out_with(cx, buf))?;
            if sent > 0 {
                return Poll::Ready(Ok(sent));
            }
        }
        let n = buf.len().min(BUFFER_SIZE - shared.pending.len());
        shared.pending.extend_from_slice(&buf[..n]);
        Poll::Ready(Ok(n))
    }

    /// Collected bytes go out when the driver calls [`Flusher::poll_flush`], not here: yamux
    /// flushes after every frame, and the point is to write many frames at once.
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut shared = lock(&self.shared);
        ready!(shared.poll_write_out(cx))?;
        Pin::new(&mut shared.io).poll_shutdown(cx)
    }
}

/// Writes out what yamux has collected. The driver task calls it when yamux has nothing more to
/// do and the runtime has run every other ready task (see `idle.rs`), so nothing waits in the
/// buffer while the task sleeps.
pub(super) struct Flusher {
    shared: Arc<Mutex<Shared>>,
}

impl Flusher {
    /// Whether yamux wrote anything not yet sent and flushed.
    pub(super) fn has_pending(&self) -> bool {
        lock(&self.shared).unflushed
    }

    /// Writes every collected byte and flushes the socket; `Pending` while the socket is full
    /// (the driver is then woken when it can write again).
    pub(super) fn poll_flush(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut shared = lock(&self.shared);
        ready!(shared.poll_write_out(cx))?;
        ready!(Pin::new(&mut shared.io).poll_flush(cx))?;
        shared.unflushed = false;
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use std::future::poll_fn;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    #[tokio::test]
    async fn writes_wait_for_the_flusher_and_go_out_together() {
        let (near, mut far) = tokio::io::duplex(1 << 20);
        let (mut io, flusher) = batched(Box::new(near));
        io.write_all(b"header").await.unwrap();
        io.write_all(b"body").await.unwrap();
        io.flush().await.unwrap();
        let mut buf = [0; 16];
        assert!(
            futures::FutureExt::now_or_never(far.read(&mut buf)).is_none(),
            "nothing is written before the flusher runs"
        );
        poll_fn(|cx| flusher.poll_flush(cx)).await.unwrap();
        let n = far.read(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"headerbody");
    }

    #[tokio::test]
    async fn a_full_buffer_is_written_out_without_the_flusher() {
        let (near, mut far) = tokio::io::duplex(4 * BUFFER_SIZE);
        let (mut io, _flusher) = batched(Box::new(near));
        let data: Vec<u8> = (0..3 * BUFFER_SIZE).map(|i| (i % 251) as u8).collect();
        io.write_all(&data).await.unwrap();
        // All but the last buffer-full went out because the buffer filled up.
        let mut received = vec![0; 2 * BUFFER_SIZE];
        far.read_exact(&mut received).await.unwrap();
        assert_eq!(received, data[..2 * BUFFER_SIZE]);
    }

    #[tokio::test]
    async fn bytes_written_past_the_buffer_still_ask_for_a_flush() {
        // Under TLS or WebSocket a write is not sent until the layer is flushed, so the driver
        // must flush after a large frame went straight through, with nothing collected.
        let (near, _far) = tokio::io::duplex(4 * BUFFER_SIZE);
        let (mut io, flusher) = batched(Box::new(near));
        assert!(!flusher.has_pending());
        io.write_all(&vec![7; 2 * BUFFER_SIZE]).await.unwrap();
        assert!(flusher.has_pending());
        poll_fn(|cx| flusher.poll_flush(cx)).await.unwrap();
        assert!(!flusher.has_pending());
    }

    #[tokio::test]
    async fn shutdown_writes_what_is_left() {
        let (near, mut far) = tokio::io::duplex(1 << 20);
        let (mut io, _flusher) = batched(Box::new(near));
        io.write_all(b"last words").await.unwrap();
        io.shutdown().await.unwrap();
        let mut received = Vec::new();
        far.read_to_end(&mut received).await.unwrap();
        assert_eq!(received, b"last words");
    }

    #[tokio::test]
    async fn reads_pass_through_the_buffer() {
        let (near, mut far) = tokio::io::duplex(1 << 20);
        let (mut io, _flusher) = batched(Box::new(near));
        far.write_all(b"twelve bytes and a body").await.unwrap();
        let mut header = [0; 12];
        io.read_exact(&mut header).await.unwrap();
        assert_eq!(&header, b"twelve bytes");
        let mut body = [0; 11];
        io.read_exact(&mut body).await.unwrap();
        assert_eq!(&body, b" and a body");
    }
}
