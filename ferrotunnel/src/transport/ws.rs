//! WebSocket: a session's bytes as binary WebSocket messages, for servers reached through HTTP
//! proxies or sharing port 80/443 with a web site.
//!
//! The client upgrades at the URL's path ([`WS_CONNECT_PATH`](super::WS_CONNECT_PATH) by
//! default). The server side is the HTTP ingress: once hyper has answered the upgrade with
//! `101 Switching Protocols` (its `Sec-WebSocket-Accept` from [`websocket_accept_key`]), it hands
//! the upgraded connection to [`accept_websocket`].

use std::{
    fmt, io,
    pin::Pin,
    task::{Context, Poll, ready},
};

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_tungstenite::{
    WebSocketStream,
    tungstenite::{self, Message, protocol::Role, protocol::WebSocketConfig},
};

use super::BoxIo;
use crate::{Error, Result};

/// The largest WebSocket message (and frame) either side accepts. A read buffers at most one
/// message, so this bounds what a peer can make us hold.
const MAX_MESSAGE_SIZE: usize = 1 << 20;

/// The most bytes one write sends as one message; well under [`MAX_MESSAGE_SIZE`].
const MAX_WRITE: usize = 64 * 1024;

fn config() -> WebSocketConfig {
    WebSocketConfig::default()
        .max_message_size(Some(MAX_MESSAGE_SIZE))
        .max_frame_size(Some(MAX_MESSAGE_SIZE))
}

/// Wraps an already-upgraded connection (after the server's `101 Switching Protocols`) as the
/// server's end of a WebSocket session.
///
/// The HTTP ingress calls this with the upgraded visitor connection (for hyper,
/// `TokioIo::new(hyper::upgrade::on(request).await?)`) for requests at
/// [`WS_CONNECT_PATH`](super::WS_CONNECT_PATH).
pub async fn accept_websocket<S>(upgraded: S) -> BoxIo
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let ws = WebSocketStream::from_raw_socket(upgraded, Role::Server, Some(config())).await;
    Box::new(WebSocketIo::new(ws))
}

/// The `Sec-WebSocket-Accept` value that answers a request's `Sec-WebSocket-Key`, for the
/// server's `101 Switching Protocols` response.
pub fn websocket_accept_key(sec_websocket_key: &[u8]) -> String {
    tungstenite::handshake::derive_accept_key(sec_websocket_key)
}

/// Runs the client's WebSocket handshake for `url` on `io`.
pub(super) async fn connect<S>(io: S, url: &http::Uri) -> Result<BoxIo>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    // The request's Host header is the URL's authority: host[:port], as written.
    let (ws, _response) = tokio_tungstenite::client_async_with_config(url, io, Some(config()))
        .await
        .map_err(|err| handshake_error(err, url))?;
    Ok(Box::new(WebSocketIo::new(ws)))
}

fn handshake_error(err: tungstenite::Error, url: &http::Uri) -> Error {
    Error::WebSocket(match err {
        tungstenite::Error::Http(response) => {
            let status = response.status();
            let hint = match status.as_u16() {
                404 => "is the path right?",
                _ => "is this the WebSocket endpoint of a FerroTunnel server?",
            };
            format!("the server answered the WebSocket request for {url} with {status}; {hint}")
        }
        tungstenite::Error::Io(err)
            if matches!(
                err.kind(),
                io::ErrorKind::UnexpectedEof | io::ErrorKind::ConnectionReset
            ) =>
        {
            format!(
                "the server closed the connection during the WebSocket handshake for {url}; \
                 is this an HTTP port, and is the scheme (ws:// or wss://) right?"
            )
        }
        tungstenite::Error::Protocol(
            err @ tungstenite::error::ProtocolError::HandshakeIncomplete,
        ) => format!(
            "the WebSocket handshake for {url} failed: {err}; the server closed the connection \
             early: is this an HTTP port, and is the scheme (ws:// or wss://) right?"
        ),
        other => format!("the WebSocket handshake for {url} failed: {other}"),
    })
}

/// Host and port to dial for a WebSocket URL, with `default_port` when it has none.
pub(super) fn host_port(url: &http::Uri, default_port: u16) -> Result<(String, u16)> {
    let host = url
        .host()
        .map(|host| host.trim_start_matches('[').trim_end_matches(']'))
        .filter(|host| !host.is_empty())
        .ok_or_else(|| Error::Config(format!("server URL {url} does not name a host")))?;
    Ok((host.to_owned(), url.port_u16().unwrap_or(default_port)))
}

// === impl WebSocketIo ===

/// A [`WebSocketStream`] as a byte stream (`AsyncRead + AsyncWrite`).
///
/// Each write is sent as one binary message of at most 64 KiB; reads deliver the bytes of
/// binary messages in order. Pings are answered (by tungstenite, on the next read or write) and
/// pongs ignored; a close message or the end of the connection is end-of-file; a text message
/// is an error. Written bytes may sit in the WebSocket's write buffer until `poll_flush`.
pub struct WebSocketIo<S> {
    ws: WebSocketStream<S>,
    /// What is left of the last binary message read: at most one message.
    unread: Bytes,
}

impl<S> WebSocketIo<S> {
    /// Wraps a WebSocket whose handshake is done.
    pub fn new(ws: WebSocketStream<S>) -> Self {
        Self {
            ws,
            unread: Bytes::new(),
        }
    }
}

impl<S> fmt::Debug for WebSocketIo<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebSocketIo")
            .field("unread", &self.unread.len())
            .finish_non_exhaustive()
    }
}

impl<S> AsyncRead for WebSocketIo<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if !this.unread.is_empty() {
                let n = this.unread.len().min(buf.remaining());
                buf.put_slice(&this.unread.split_to(n));
                return Poll::Ready(Ok(()));
            }
            match ready!(this.ws.poll_next_unpin(cx)) {
                // An empty message is skipped: returning no bytes would read as end-of-file.
                Some(Ok(Message::Binary(data))) => this.unread = data,
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
                Some(Ok(Message::Text(_))) => {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "the peer sent a WebSocket text message; FerroTunnel sessions use \
                         binary messages only",
                    )));
                }
                Some(Ok(Message::Close(_))) | None => return Poll::Ready(Ok(())),
                Some(Err(err)) => return Poll::Ready(Err(to_io_error(err))),
            }
        }
    }
}

impl<S> AsyncWrite for WebSocketIo<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let this = self.get_mut();
        // Flushes what an earlier write could not, so the write buffer stays bounded.
        ready!(this.ws.poll_ready_unpin(cx)).map_err(to_io_error)?;
        let n = buf.len().min(MAX_WRITE);
        this.ws
            .start_send_unpin(Message::Binary(Bytes::copy_from_slice(&buf[..n])))
            .map_err(to_io_error)?;
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().ws.poll_flush_unpin(cx).map_err(to_io_error)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().ws.poll_close_unpin(cx).map_err(to_io_error)
    }
}

fn to_io_error(err: tungstenite::Error) -> io::Error {
    use tungstenite::{Error as E, error::ProtocolError};
    match err {
        E::Io(err) => err,
        E::ConnectionClosed | E::AlreadyClosed => io::Error::new(
            io::ErrorKind::BrokenPipe,
            "the WebSocket connection is closed",
        ),
        E::Protocol(ProtocolError::ResetWithoutClosingHandshake) => io::Error::new(
            io::ErrorKind::ConnectionReset,
            "the peer closed the WebSocket connection without a close message",
        ),
        E::Capacity(err) => io::Error::new(
            io::ErrorKind::InvalidData,
            format!("the peer sent a WebSocket message over the 1 MiB limit: {err}"),
        ),
        other => io::Error::new(
            io::ErrorKind::InvalidData,
            format!("WebSocket error: {other}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use futures::SinkExt;
    use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

    use super::*;
    use crate::session::{self, Mode, SessionConfig};

    /// A client and a server WebSocket joined by an in-memory pipe.
    async fn pair() -> (WebSocketStream<DuplexStream>, WebSocketStream<DuplexStream>) {
        let (a, b) = tokio::io::duplex(64 * 1024);
        let client = WebSocketStream::from_raw_socket(a, Role::Client, Some(config())).await;
        let server = WebSocketStream::from_raw_socket(b, Role::Server, Some(config())).await;
        (client, server)
    }

    #[tokio::test]
    async fn writes_are_binary_messages_and_reads_skip_control_messages() {
        let (client, mut server) = pair().await;
        let mut io = WebSocketIo::new(client);

        io.write_all(b"hello").await.unwrap();
        io.flush().await.unwrap();
        let got = server.next().await.unwrap().unwrap();
        assert_eq!(got, Message::binary(&b"hello"[..]));

        server
            .send(Message::Ping(Bytes::from_static(b"p")))
            .await
            .unwrap();
        server.send(Message::binary(Vec::new())).await.unwrap();
        server.send(Message::binary(&b"wor"[..])).await.unwrap();
        server.send(Message::binary(&b"ld"[..])).await.unwrap();
        let mut buf = [0; 5];
        io.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"world");
        // The ping was answered while reading.
        let pong = server.next().await.unwrap().unwrap();
        assert_eq!(pong, Message::Pong(Bytes::from_static(b"p")));

        server.send(Message::Close(None)).await.unwrap();
        assert_eq!(io.read(&mut buf).await.unwrap(), 0, "close is end-of-file");
    }

    #[tokio::test]
    async fn a_text_message_is_an_error() {
        let (client, mut server) = pair().await;
        let mut io = WebSocketIo::new(client);
        server.send(Message::text("hi")).await.unwrap();
        let err = io.read(&mut [0; 8]).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(err.to_string().contains("text message"), "{err}");
    }

    #[tokio::test]
    async fn a_large_write_is_split_into_bounded_messages() {
        let (client, mut server) = pair().await;
        let mut io = WebSocketIo::new(client);
        let written = io.write(&vec![7; 3 * MAX_WRITE]).await.unwrap();
        assert_eq!(written, MAX_WRITE);
        // One message is larger than the pipe, so the flush ends only while the server reads.
        let (flushed, received) = tokio::join!(io.flush(), server.next());
        flushed.unwrap();
        let Message::Binary(data) = received.unwrap().unwrap() else {
            panic!("not binary");
        };
        assert_eq!(data.len(), MAX_WRITE);
    }

    #[tokio::test]
    async fn an_oversized_message_is_refused() {
        let (client, mut server) = pair().await;
        let mut io = WebSocketIo::new(client);
        // The server's own limit is on what it reads, so it sends this without complaint.
        let sender = tokio::spawn(async move {
            let _ = server
                .send(Message::binary(vec![0; MAX_MESSAGE_SIZE + 1]))
                .await;
            server
        });
        let err = io.read(&mut [0; 8]).await.unwrap_err();
        assert!(err.to_string().contains("1 MiB"), "{err}");
        drop(sender);
    }

    #[tokio::test]
    async fn yamux_carries_large_bodies_both_ways_over_websocket() {
        let (client, server) = pair().await;
        let config = SessionConfig {
            max_streams: 8,
            accept_backlog: 8,
        };
        let (client, _client_inbound) =
            session::spawn(Box::new(WebSocketIo::new(client)), Mode::Client, config);
        let (_server, mut server_inbound) =
            session::spawn(Box::new(WebSocketIo::new(server)), Mode::Server, config);

        // The server echoes every stream.
        tokio::spawn(async move {
            while let Some(stream) = server_inbound.accept().await {
                tokio::spawn(async move {
                    let (mut read, mut write) = tokio::io::split(stream);
                    tokio::io::copy(&mut read, &mut write).await.unwrap();
                    write.shutdown().await.unwrap();
                });
            }
        });

        let body: Vec<u8> = (0..8 * 1024 * 1024).map(|i: u32| (i % 251) as u8).collect();
        let stream = client.open_stream().await.unwrap();
        let (mut read, mut write) = tokio::io::split(stream);
        let sent = body.clone();
        let writer = tokio::spawn(async move {
            write.write_all(&sent).await.unwrap();
            write.shutdown().await.unwrap();
        });
        let mut echoed = Vec::with_capacity(body.len());
        read.read_to_end(&mut echoed).await.unwrap();
        writer.await.unwrap();
        assert_eq!(echoed.len(), body.len());
        assert!(echoed == body, "the echo differs from what was sent");
    }
}
