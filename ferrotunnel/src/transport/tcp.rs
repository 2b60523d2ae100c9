//! Plain TCP.

use std::{
    io,
    pin::Pin,
    task::{Context, Poll, ready},
};

use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::TcpStream,
};

use super::{Acceptor, BoxFuture, BoxIo, Transport};
use crate::{Error, Result};

/// Accepts sessions over plain TCP.
#[derive(Debug, Clone, Copy, Default)]
pub struct TcpAcceptor;

impl Acceptor for TcpAcceptor {
    fn accept(&self, tcp: TcpStream) -> BoxFuture<Result<BoxIo>> {
        Box::pin(async move {
            // Control frames and small responses must not wait for Nagle's algorithm.
            tcp.set_nodelay(true)?;
            Ok(Box::new(tcp) as BoxIo)
        })
    }

    fn transport(&self) -> Transport {
        Transport::Tcp
    }
}

/// Connects to `host:port` with Nagle's algorithm off. The caller bounds the wait.
pub(super) async fn connect(host: &str, port: u16) -> Result<TcpStream> {
    let tcp = TcpStream::connect((host, port)).await.map_err(|err| {
        Error::Io(std::io::Error::new(
            err.kind(),
            format!("could not connect to the server at {host}:{port}: {err}"),
        ))
    })?;
    tcp.set_nodelay(true)?;
    Ok(tcp)
}

/// Connects a `tcp://` session. The caller bounds the wait.
pub(super) async fn connect_session(host: &str, port: u16) -> Result<BoxIo> {
    let tcp = connect(host, port).await?;
    Ok(Box::new(CheckedTcp {
        tcp,
        server: format!("{host}:{port}"),
        first_bytes: FirstBytes::Unread,
    }))
}

/// The client's end of a `tcp://` session, which checks the server's first bytes.
///
/// A FerroTunnel server's first bytes are a yamux frame, which starts with a zero. A TLS port
/// answers a plaintext client with a TLS alert, and an HTTP port with an HTTP error: yamux
/// would only report an undecodable frame, a closed connection or a broken pipe, so every
/// read and write after such an answer fails with an error that names the mistake.
struct CheckedTcp {
    tcp: TcpStream,
    server: String,
    first_bytes: FirstBytes,
}

enum FirstBytes {
    Unread,
    Yamux,
    /// Another protocol: what to tell the user.
    Foreign(String),
}

/// Names the protocol of a server that answered a `tcp://` client with `first`, when it is
/// not yamux but one a user may have pointed the client at by mistake.
fn foreign_protocol(server: &str, first: &[u8]) -> Option<String> {
    let (what, hint) = match first {
        // A TLS record: alert or handshake, protocol version 3.x.
        [0x15 | 0x16] | [0x15 | 0x16, 0x03, ..] => (
            "TLS",
            "it is a TLS port: connect with tls:// instead of tcp://",
        ),
        _ if first.starts_with(b"HTTP/") => (
            "HTTP",
            "it is an HTTP port: connect to the server's control port with tcp://, or to this \
             port with ws://",
        ),
        _ => return None,
    };
    Some(format!(
        "the server at {server} answered with {what}; {hint}"
    ))
}

impl FirstBytes {
    fn of(server: &str, first: &[u8]) -> Self {
        match foreign_protocol(server, first) {
            Some(reason) => FirstBytes::Foreign(reason),
            None => FirstBytes::Yamux,
        }
    }
}

impl CheckedTcp {
    fn foreign_error(&self) -> Option<io::Error> {
        match &self.first_bytes {
            FirstBytes::Foreign(reason) => {
                Some(io::Error::new(io::ErrorKind::InvalidData, reason.clone()))
            }
            FirstBytes::Unread | FirstBytes::Yamux => None,
        }
    }

    /// A write failed. If the server hung up before anything was read, its answer may be
    /// waiting in the receive buffer (a TLS port answers, then resets the connection on the
    /// rest of what the client sent), and says more than "broken pipe".
    fn explain_write_error(&mut self, err: io::Error) -> io::Error {
        if matches!(self.first_bytes, FirstBytes::Unread)
            && matches!(
                err.kind(),
                io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
            )
        {
            let mut first = [0; 16];
            if let Ok(n @ 1..) = self.tcp.try_read(&mut first) {
                self.first_bytes = FirstBytes::of(&self.server, &first[..n]);
            }
        }
        self.foreign_error().unwrap_or(err)
    }
}

impl AsyncRead for CheckedTcp {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(err) = this.foreign_error() {
            return Poll::Ready(Err(err));
        }
        let before = buf.filled().len();
        ready!(Pin::new(&mut this.tcp).poll_read(cx, buf))?;
        let read = &buf.filled()[before..];
        if matches!(this.first_bytes, FirstBytes::Unread) && !read.is_empty() {
            this.first_bytes = FirstBytes::of(&this.server, read);
            if let Some(err) = this.foreign_error() {
                return Poll::Ready(Err(err));
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for CheckedTcp {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        Pin::new(&mut this.tcp)
            .poll_write(cx, buf)
            .map_err(|err| this.explain_write_error(err))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        Pin::new(&mut this.tcp)
            .poll_write_vectored(cx, bufs)
            .map_err(|err| this.explain_write_error(err))
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_and_http_answers_are_named_and_yamux_passes() {
        let server = "example.com:7835";
        // What a rustls server sends a client that did not start a TLS handshake.
        let tls_alert = [0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x32];
        let reason = foreign_protocol(server, &tls_alert).expect("TLS is named");
        assert!(reason.contains("answered with TLS"), "{reason}");
        assert!(
            reason.contains("tls://") && reason.contains(server),
            "{reason}"
        );
        assert!(foreign_protocol(server, &[0x16]).is_some());

        let reason = foreign_protocol(server, b"HTTP/1.1 400 Bad Request\r\n").expect("HTTP");
        assert!(
            reason.contains("answered with HTTP") && reason.contains("ws://"),
            "{reason}"
        );

        // A yamux window update opening stream 1: version 0 first.
        let yamux = [0, 1, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0];
        assert!(foreign_protocol(server, &yamux).is_none());
    }
}
