//! The client's side of a data stream: hand it to the local service.
//!
//! [`LocalForward`] is a `tower::Service<IncomingStream>`, so that stream-level layers (limits,
//! logging) can wrap it, and the HTTP-aware forwarder (`http_forward`, when the client has HTTP
//! layers) replaces it without touching the session code.

use std::{
    future::Future,
    io,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use pin_project::pin_project;
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::TcpStream,
};

use super::metered::Metered;
use crate::{
    Error, LocalFailure, metrics,
    protocol::{self, StreamHeader, StreamRefusalCode, StreamReply},
    session::SessionStream,
};

/// A data stream the server opened, with its header read and its local service looked up.
#[derive(Debug)]
pub struct IncomingStream {
    /// What the server said about the stream.
    pub header: StreamHeader,
    /// The local service of the stream's tunnel, e.g. `127.0.0.1:3000`.
    pub local_addr: String,
    /// The stream itself. The first thing written to it must be a [`StreamReply`].
    pub stream: TunnelStream,
}

/// A data stream to the server.
#[pin_project]
#[derive(Debug)]
pub struct TunnelStream(#[pin] pub(crate) SessionStream);

impl TunnelStream {
    /// Tells the server whether the stream will be served.
    pub async fn reply(&mut self, reply: &StreamReply, max_frame_size: usize) -> crate::Result<()> {
        protocol::write_message(&mut self.0, reply, max_frame_size).await
    }
}

impl AsyncRead for TunnelStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.project().0.poll_read(cx, buf)
    }
}

impl AsyncWrite for TunnelStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.project().0.poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().0.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().0.poll_shutdown(cx)
    }
}

/// The forwarding service of a client as layers see it: boxed so that any layer fits.
pub type ForwardService = tower::util::BoxCloneSyncService<IncomingStream, (), Error>;

/// Layers a user put in front of [`LocalForward`], in the order added.
#[derive(Clone, Default)]
pub(crate) struct ForwardLayers {
    layers: Vec<std::sync::Arc<dyn Fn(ForwardService) -> ForwardService + Send + Sync>>,
}

impl ForwardLayers {
    pub(crate) fn push<L>(&mut self, layer: L)
    where
        L: tower::Layer<ForwardService> + Send + Sync + 'static,
        L::Service: tower::Service<IncomingStream, Response = (), Error = Error>
            + Clone
            + Send
            + Sync
            + 'static,
        <L::Service as tower::Service<IncomingStream>>::Future: Send + 'static,
    {
        self.layers.push(std::sync::Arc::new(move |inner| {
            ForwardService::new(layer.layer(inner))
        }));
    }

    /// Wraps `forward` (the byte splice, or the HTTP forwarder) in every layer, the first added
    /// outermost.
    pub(crate) fn wrap(&self, forward: ForwardService) -> ForwardService {
        self.layers
            .iter()
            .rev()
            .fold(forward, |service, wrap| wrap(service))
    }
}

impl std::fmt::Debug for ForwardLayers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ForwardLayers")
            .field("layers", &self.layers.len())
            .finish()
    }
}

/// Connects each stream to its local service and copies bytes both ways until both sides
/// are done.
#[derive(Debug, Clone)]
pub struct LocalForward {
    connect_timeout: Duration,
    max_frame_size: usize,
}

impl LocalForward {
    /// A forwarder that gives the local service `connect_timeout` to accept a connection.
    pub fn new(connect_timeout: Duration, max_frame_size: usize) -> Self {
        Self {
            connect_timeout,
            max_frame_size,
        }
    }
}

impl tower::Service<IncomingStream> for LocalForward {
    type Response = ();
    type Error = Error;
    type Future = Pin<Box<dyn Future<Output = Result<(), Error>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, incoming: IncomingStream) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let IncomingStream {
                header,
                local_addr,
                mut stream,
            } = incoming;
            let local = match connect_local(&local_addr, this.connect_timeout).await {
                Ok(local) => local,
                Err(LocalFailure { kind, message }) => {
                    metrics::local_connect_failed(&header.tunnel);
                    let refusal = StreamReply::Refused {
                        code: kind,
                        message,
                    };
                    return stream.reply(&refusal, this.max_frame_size).await;
                }
            };
            stream
                .reply(&StreamReply::Accepted, this.max_frame_size)
                .await?;
            let mut local = Metered::local(local, &header.tunnel);
            crate::splice::splice(&mut stream, &mut local).await?;
            Ok(())
        })
    }
}

/// Connects to the local service at `local_addr` within `timeout`, or says what went wrong in
/// words that name the address: the byte splice sends them to the server in its
/// [`StreamReply`], the HTTP forwarder answers them as a 502 or 504 (see `server::rescue`).
pub(crate) async fn connect_local(
    local_addr: &str,
    timeout: Duration,
) -> Result<TcpStream, LocalFailure> {
    let failure = |kind, message| LocalFailure { kind, message };
    match tokio::time::timeout(timeout, TcpStream::connect(local_addr)).await {
        Ok(Ok(tcp)) => {
            let _ = tcp.set_nodelay(true);
            Ok(tcp)
        }
        Ok(Err(err)) if err.kind() == io::ErrorKind::ConnectionRefused => Err(failure(
            StreamRefusalCode::LocalRefused,
            format!("the local service at {local_addr} refused the connection; is it running?"),
        )),
        Ok(Err(err)) => Err(failure(
            StreamRefusalCode::LocalRefused,
            format!("the local service at {local_addr} cannot be reached: {err}"),
        )),
        Err(_) => Err(failure(
            StreamRefusalCode::LocalTimeout,
            format!(
                "the local service at {local_addr} did not accept a connection within {timeout:?}"
            ),
        )),
    }
}
