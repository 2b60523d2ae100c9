//! Copying bytes both ways between two connections, with buffers sized by the traffic.
//!
//! Every stream the client serves, and every upgraded connection (WebSocket) the server passes
//! through, is such a copy, and most of them are idle most of the time: a held long poll, a quiet
//! WebSocket, a pooled stream between requests. `tokio::io::copy_bidirectional` keeps two
//! 8 KiB buffers per connection whatever it carries — 160 MiB for 10 000 held streams — and
//! bulk transfers want much larger ones. Here each direction starts with [`SMALL`] bytes and
//! grows to [`LARGE`] the first time a read fills its buffer, which only a bulk transfer does.

use std::{
    future::poll_fn,
    io,
    pin::Pin,
    task::{Context, Poll, ready},
};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A direction's buffer until it carries a bulk transfer: a request or response head fits.
const SMALL: usize = 4 * 1024;
/// A bulk transfer's buffer: few system calls and few yamux frames per MiB.
const LARGE: usize = 64 * 1024;

/// Copies `a` → `b` and `b` → `a` until both directions have reached end-of-file, shutting down
/// each writer once its reader is done. Returns the bytes copied each way.
pub(crate) async fn splice<A, B>(a: &mut A, b: &mut B) -> io::Result<(u64, u64)>
where
    A: AsyncRead + AsyncWrite + Unpin + ?Sized,
    B: AsyncRead + AsyncWrite + Unpin + ?Sized,
{
    let mut a_to_b = Direction::new();
    let mut b_to_a = Direction::new();
    poll_fn(|cx| {
        let a_to_b_done = a_to_b.poll(cx, &mut *a, &mut *b)?.is_ready();
        let b_to_a_done = b_to_a.poll(cx, &mut *b, &mut *a)?.is_ready();
        if a_to_b_done && b_to_a_done {
            Poll::Ready(Ok((a_to_b.copied, b_to_a.copied)))
        } else {
            Poll::Pending
        }
    })
    .await
}

/// One direction of a [`splice`].
struct Direction {
    buf: Vec<u8>,
    /// `buf[start..end]` is read but not yet written.
    start: usize,
    end: usize,
    state: State,
    copied: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Copying,
    /// The reader is done; everything read has been written; the writer is shutting down.
    ShuttingDown,
    Done,
}

impl Direction {
    fn new() -> Self {
        Self {
            buf: vec![0; SMALL],
            start: 0,
            end: 0,
            state: State::Copying,
            copied: 0,
        }
    }

    fn poll<R, W>(
        &mut self,
        cx: &mut Context<'_>,
        reader: &mut R,
        writer: &mut W,
    ) -> Poll<io::Result<()>>
    where
        R: AsyncRead + Unpin + ?Sized,
        W: AsyncWrite + Unpin + ?Sized,
    {
        loop {
            match self.state {
                State::Done => return Poll::Ready(Ok(())),
                State::ShuttingDown => {
                    ready!(Pin::new(&mut *writer).poll_shutdown(cx))?;
                    self.state = State::Done;
                }
                State::Copying => {
                    while self.start < self.end {
                        let n = ready!(
                            Pin::new(&mut *writer).poll_write(cx, &self.buf[self.start..self.end])
                        )?;
                        if n == 0 {
                            return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
                        }
                        self.start += n;
                        self.copied += n as u64;
                    }
                    let mut read = ReadBuf::new(&mut self.buf);
                    match Pin::new(&mut *reader).poll_read(cx, &mut read) {
                        Poll::Ready(Ok(())) => {}
                        Poll::Ready(Err(err)) => return Poll::Ready(Err(err)),
                        Poll::Pending => {
                            // Nothing more to read for now: push out what was written.
                            ready!(Pin::new(&mut *writer).poll_flush(cx))?;
                            return Poll::Pending;
                        }
                    }
                    let n = read.filled().len();
                    if n == 0 {
                        self.state = State::ShuttingDown;
                        continue;
                    }
                    (self.start, self.end) = (0, n);
                    if n == self.buf.len() && self.buf.len() < LARGE {
                        self.buf.resize(LARGE, 0);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt, duplex};

    use super::*;

    #[tokio::test]
    async fn copies_both_ways_and_shuts_down_each_writer() {
        let (mut a, mut a_far) = duplex(1 << 20);
        let (mut b, mut b_far) = duplex(1 << 20);
        let spliced = tokio::spawn(async move { splice(&mut a, &mut b).await });

        let big: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
        a_far.write_all(&big).await.unwrap();
        a_far.shutdown().await.unwrap();
        b_far.write_all(b"the other way").await.unwrap();
        b_far.shutdown().await.unwrap();

        let mut got = Vec::new();
        b_far.read_to_end(&mut got).await.unwrap();
        assert!(got == big, "a -> b differs");
        let mut back = Vec::new();
        a_far.read_to_end(&mut back).await.unwrap();
        assert_eq!(back, b"the other way");
        assert_eq!(spliced.await.unwrap().unwrap(), (1_000_000, 13));
    }

    #[test]
    fn buffers_grow_only_for_bulk_transfers() {
        let mut direction = Direction::new();
        let waker = futures::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        // A small message leaves the buffer small.
        let mut reader: &[u8] = b"GET / HTTP/1.1\r\n\r\n";
        let mut sink = Vec::new();
        assert!(direction.poll(&mut cx, &mut reader, &mut sink).is_ready());
        assert_eq!(direction.buf.len(), SMALL);
        // A read that fills the buffer makes it large.
        let mut direction = Direction::new();
        let bulk = vec![7; 3 * LARGE];
        let mut reader: &[u8] = &bulk;
        let mut sink = Vec::new();
        assert!(direction.poll(&mut cx, &mut reader, &mut sink).is_ready());
        assert_eq!(direction.buf.len(), LARGE);
        assert_eq!(sink, bulk);
    }
}
