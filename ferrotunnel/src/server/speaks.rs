//! Which HTTP version a visitor's connection speaks, decided before hyper reads a byte.
//!
//! hyper-util's `auto::Builder` finds out by reading the first 24 bytes itself and handing
//! them back to hyper ahead of the socket. hyper's first read then returns just those bytes, a
//! partial request head, and the second read doubles its 8 KiB buffer to make room: every
//! HTTP/1 visitor connection held 16 KiB of read buffer for a 60-byte request, the largest
//! single cost of a held stream (see `docs/benchmarks.md`). Instead, a TLS visitor is decided
//! by ALPN, and a plain-TCP visitor by *peeking* at its first bytes, which leaves them in the
//! kernel for hyper to read whole. Only when the bytes peeked begin the HTTP/2 preface without
//! completing it (a preface split across packets) are they read here, and handed back in front
//! of the connection by [`Prefixed`].

use std::{
    io,
    pin::Pin,
    task::{Context, Poll},
};

use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf},
    net::TcpStream,
};

/// The HTTP/2 connection preface (RFC 9113, section 3.4).
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// What a visitor speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Speaks {
    Http1,
    Http2,
}

impl Speaks {
    /// Decides from the first bytes a plain-TCP visitor sent; `None` while they begin the
    /// HTTP/2 preface without completing it.
    fn from_first_bytes(bytes: &[u8]) -> Option<Self> {
        let n = bytes.len().min(PREFACE.len());
        if bytes[..n] != PREFACE[..n] {
            Some(Self::Http1)
        } else if n == PREFACE.len() {
            Some(Self::Http2)
        } else {
            None
        }
    }

    /// Decides from the ALPN protocol a TLS visitor agreed on. A client that speaks HTTP/2
    /// over TLS must say so with ALPN (RFC 9113, section 3.2), so anything else is HTTP/1.1.
    pub(super) fn from_alpn(protocol: Option<&[u8]>) -> Self {
        match protocol {
            Some(b"h2") => Self::Http2,
            _ => Self::Http1,
        }
    }

    /// Waits for a plain-TCP visitor's first bytes and decides from them, consuming none
    /// unless they are too few to tell; `None` if the visitor closed the connection first.
    /// The caller bounds the wait.
    pub(super) async fn of_visitor(tcp: TcpStream) -> io::Result<Option<(Self, Prefixed)>> {
        let mut first = [0; PREFACE.len()];
        let peeked = tcp.peek(&mut first).await?;
        if peeked == 0 {
            return Ok(None);
        }
        if let Some(speaks) = Self::from_first_bytes(&first[..peeked]) {
            return Ok(Some((speaks, Prefixed::new(Vec::new(), tcp))));
        }
        // Too few bytes to tell, and peeking again would return them at once: read them, up to
        // the whole preface, and put them back in front of the connection.
        let mut tcp = tcp;
        let mut read = 0;
        loop {
            let n = tcp.read(&mut first[read..]).await?;
            if n == 0 {
                return Ok(None);
            }
            read += n;
            if let Some(speaks) = Self::from_first_bytes(&first[..read]) {
                return Ok(Some((speaks, Prefixed::new(first[..read].to_vec(), tcp))));
            }
        }
    }
}

/// A visitor's connection with the bytes already read from it put back in front.
#[derive(Debug)]
pub(super) struct Prefixed {
    prefix: Vec<u8>,
    /// How much of `prefix` has been read.
    consumed: usize,
    tcp: TcpStream,
}

impl Prefixed {
    fn new(prefix: Vec<u8>, tcp: TcpStream) -> Self {
        Self {
            prefix,
            consumed: 0,
            tcp,
        }
    }
}

impl AsyncRead for Prefixed {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let rest = &this.prefix[this.consumed..];
        if rest.is_empty() {
            return Pin::new(&mut this.tcp).poll_read(cx, buf);
        }
        let n = rest.len().min(buf.remaining());
        buf.put_slice(&rest[..n]);
        this.consumed += n;
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Prefixed {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.tcp).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.tcp).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_http1_request_is_known_by_its_first_byte() {
        assert_eq!(
            Speaks::from_first_bytes(b"GET / HTTP/1.1\r\n"),
            Some(Speaks::Http1)
        );
        assert_eq!(Speaks::from_first_bytes(b"G"), Some(Speaks::Http1));
        // Methods that merely start like the preface.
        assert_eq!(Speaks::from_first_bytes(b"PROPFIND /"), Some(Speaks::Http1));
        assert_eq!(
            Speaks::from_first_bytes(b"PRIX / HTTP/1.1"),
            Some(Speaks::Http1)
        );
    }

    #[test]
    fn only_the_whole_preface_means_http2() {
        assert_eq!(Speaks::from_first_bytes(PREFACE), Some(Speaks::Http2));
        let with_settings = [PREFACE, &[0, 0, 0, 4, 0, 0, 0, 0, 0]].concat();
        assert_eq!(
            Speaks::from_first_bytes(&with_settings),
            Some(Speaks::Http2)
        );
        assert_eq!(Speaks::from_first_bytes(b"PRI * HTTP/2.0"), None);
        assert_eq!(Speaks::from_first_bytes(b"P"), None);
    }

    #[test]
    fn alpn_decides_for_tls_visitors() {
        assert_eq!(Speaks::from_alpn(Some(b"h2")), Speaks::Http2);
        assert_eq!(Speaks::from_alpn(Some(b"http/1.1")), Speaks::Http1);
        assert_eq!(Speaks::from_alpn(None), Speaks::Http1);
    }

    #[tokio::test]
    async fn bytes_read_to_decide_are_read_again_first() {
        use std::time::Duration;

        use tokio::io::AsyncWriteExt;

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut visitor = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (tcp, _) = listener.accept().await.unwrap();
        // "P" alone could begin the preface or a POST: the server must read on to tell.
        visitor.write_all(b"P").await.unwrap();
        let deciding = tokio::spawn(Speaks::of_visitor(tcp));
        // On this current-thread runtime, the spawned task now peeks and reads the "P", then
        // waits for more.
        tokio::task::yield_now().await;
        assert!(!deciding.is_finished());
        visitor.write_all(b"OST / HTTP/1.1\r\n\r\n").await.unwrap();
        let (speaks, mut prefixed) = deciding.await.unwrap().unwrap().unwrap();
        assert_eq!(speaks, Speaks::Http1);
        let mut head = [0; 19];
        let read = tokio::time::timeout(Duration::from_secs(10), prefixed.read_exact(&mut head));
        read.await.expect("the whole head, prefix first").unwrap();
        assert_eq!(&head, b"POST / HTTP/1.1\r\n\r\n");
    }
}
