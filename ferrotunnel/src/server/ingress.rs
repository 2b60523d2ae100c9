//! The visitors' side: the HTTP server that runs the ingress stack (built in `stack`).

use std::{
    convert::Infallible,
    future::Future,
    net::SocketAddr,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::{Duration, Instant},
};

use futures::TryFutureExt;
use http::{Request, Response};
use http_body_util::BodyExt;
use hyper::{
    body::Incoming,
    server::conn::{http1, http2},
};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use pin_project::pin_project;
use tokio::{
    net::{TcpListener, TcpStream},
    sync::Semaphore,
};
use tokio_util::{
    sync::{CancellationToken, WaitForCancellationFutureOwned},
    task::TaskTracker,
};
use tower::{ServiceExt, util::Oneshot};

use crate::{
    BoxError,
    transport::{BoxFuture, BoxIo, TlsAcceptor},
};

use super::{
    IngressService, ReceivedAt, ServerConfig, TunnelBody, VisitorAddr, speaks::Speaks,
    visitor::IngressScheme,
};

/// How visitors reach one listener of the ingress.
#[derive(Debug)]
pub(super) struct Listener {
    pub(super) tcp: TcpListener,
    /// `None` for `http`, the HTTPS acceptor for `https`.
    pub(super) tls: Option<TlsAcceptor>,
}

impl Listener {
    fn scheme(&self) -> &'static str {
        if self.tls.is_some() { "https" } else { "http" }
    }
}

/// Serves visitors until `stop` is cancelled, then lets requests in flight finish within the
/// grace period.
pub(super) async fn serve(
    listener: Listener,
    ingress: IngressService,
    config: Arc<ServerConfig>,
    stop: CancellationToken,
) {
    let servers = Arc::new(HttpServers::new(&config));
    let connections = TaskTracker::new();
    let slots = Arc::new(Semaphore::new(config.max_visitor_connections));
    loop {
        // Take a slot before accepting: past the limit, visitors wait in the kernel's backlog.
        let accepted = tokio::select! {
            accepted = async {
                let slot = slots.clone().acquire_owned().await;
                (listener.tcp.accept().await, slot)
            } => accepted,
            () = stop.cancelled() => break,
        };
        let (accepted, Ok(slot)) = accepted else {
            break;
        };
        let (tcp, visitor) = match accepted {
            Ok(pair) => pair,
            Err(err) => {
                // Out of file descriptors and the like: wait a moment rather than spin.
                tracing::warn!(error = %err, "cannot accept a visitor connection");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let service = VisitorConnection {
            ingress: ingress.clone(),
            visitor,
            scheme: listener.scheme(),
        };
        let (servers, tls, stop) = (servers.clone(), listener.tls.clone(), stop.clone());
        let handshake_timeout = config.header_read_timeout;
        connections.spawn(async move {
            let _slot = slot;
            // Boxed, so that the handshake's state (over a KiB with TLS) is freed once it is
            // done instead of sized into this task for the connection's lifetime.
            let opening = tokio::time::timeout(handshake_timeout, Box::pin(open(tcp, tls)));
            let opened = tokio::select! {
                opened = opening => opened,
                // A visitor that has not sent a request yet has nothing in flight to wait for.
                () = stop.cancelled() => return,
            };
            let (io, speaks) = match opened {
                Ok(Ok(Some(opened))) => opened,
                Ok(Ok(None)) => {
                    return tracing::debug!(%visitor, "visitor left before sending a request");
                }
                Ok(Err(err)) => {
                    return tracing::debug!(%visitor, error = %err, "visitor handshake failed");
                }
                Err(_) => return tracing::debug!(%visitor, "visitor handshake timed out"),
            };
            if let Err(err) = servers.serve(io, speaks, service, stop).await {
                tracing::debug!(%visitor, error = %err, "visitor connection ended with an error");
            }
        });
    }
    drop(listener);
    connections.close();
    if tokio::time::timeout(config.grace_period, connections.wait())
        .await
        .is_err()
    {
        tracing::warn!(grace = ?config.grace_period, "requests still in flight after the grace period; dropping them");
    }
}

/// Runs the TLS handshake if there is one, and finds out which HTTP version the visitor speaks;
/// `None` if a plain-TCP visitor left without sending a byte.
async fn open(tcp: TcpStream, tls: Option<TlsAcceptor>) -> crate::Result<Option<(BoxIo, Speaks)>> {
    match tls {
        None => {
            tcp.set_nodelay(true)?;
            let Some((speaks, tcp)) = Speaks::of_visitor(tcp).await? else {
                return Ok(None);
            };
            Ok(Some((Box::new(tcp), speaks)))
        }
        Some(tls) => {
            let stream = tls.handshake(tcp).await?;
            let speaks = Speaks::from_alpn(stream.get_ref().1.alpn_protocol());
            Ok(Some((Box::new(stream), speaks)))
        }
    }
}

/// hyper's server for each HTTP version, configured once per listener.
struct HttpServers {
    http1: http1::Builder,
    http2: http2::Builder<TokioExecutor>,
}

impl HttpServers {
    fn new(config: &ServerConfig) -> Self {
        let mut http1 = http1::Builder::new();
        http1
            .timer(TokioTimer::new())
            .header_read_timeout(config.header_read_timeout)
            .max_buf_size(config.max_header_size);
        let mut http2 = http2::Builder::new(TokioExecutor::new());
        http2
            .timer(TokioTimer::new())
            .max_header_list_size(u32::try_from(config.max_header_size).unwrap_or(u32::MAX));
        Self { http1, http2 }
    }

    /// Serves one visitor connection until it ends; once `stop` is cancelled, the connection
    /// finishes the requests in flight and takes no more.
    fn serve(
        &self,
        io: BoxIo,
        speaks: Speaks,
        service: VisitorConnection,
        stop: CancellationToken,
    ) -> BoxFuture<Result<(), BoxError>> {
        let io = TokioIo::new(io);
        match speaks {
            Speaks::Http1 => {
                let connection = self.http1.serve_connection(io, service).with_upgrades();
                Box::pin(UntilStopped::new(connection, stop).err_into())
            }
            Speaks::Http2 => {
                let connection = self.http2.serve_connection(io, service);
                Box::pin(UntilStopped::new(connection, stop).err_into())
            }
        }
    }
}

/// Drives a connection; once `stop` is cancelled, asks it to shut down gracefully (finish the
/// requests in flight, take no more) and drives it to the end.
#[pin_project]
struct UntilStopped<C> {
    #[pin]
    connection: C,
    #[pin]
    stop: WaitForCancellationFutureOwned,
    stopping: bool,
}

impl<C> UntilStopped<C> {
    fn new(connection: C, stop: CancellationToken) -> Self {
        Self {
            connection,
            stop: stop.cancelled_owned(),
            stopping: false,
        }
    }
}

impl<C: GracefulShutdown> Future for UntilStopped<C> {
    type Output = C::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<C::Output> {
        let mut this = self.project();
        if !*this.stopping && this.stop.poll(cx).is_ready() {
            *this.stopping = true;
            this.connection.as_mut().shut_down();
        }
        this.connection.poll(cx)
    }
}

/// hyper's connections, which both have a `graceful_shutdown` of their own.
trait GracefulShutdown: Future {
    /// Finish the requests in flight, take no more.
    fn shut_down(self: Pin<&mut Self>);
}

type VisitorIo = TokioIo<BoxIo>;

impl GracefulShutdown for http1::UpgradeableConnection<VisitorIo, VisitorConnection> {
    fn shut_down(self: Pin<&mut Self>) {
        self.graceful_shutdown();
    }
}

impl GracefulShutdown for http2::Connection<VisitorIo, VisitorConnection, TokioExecutor> {
    fn shut_down(self: Pin<&mut Self>) {
        self.graceful_shutdown();
    }
}

/// The ingress stack as hyper sees it for one visitor connection.
#[derive(Debug, Clone)]
struct VisitorConnection {
    ingress: IngressService,
    visitor: SocketAddr,
    scheme: &'static str,
}

impl hyper::service::Service<Request<Incoming>> for VisitorConnection {
    type Response = Response<TunnelBody>;
    type Error = Infallible;
    type Future = Oneshot<IngressService, Request<TunnelBody>>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        let mut request = request.map(|body| body.map_err(BoxError::from).boxed_unsync());
        let extensions = request.extensions_mut();
        extensions.insert(VisitorAddr(self.visitor));
        extensions.insert(ReceivedAt(Instant::now()));
        // Plain HTTP is what a request without a scheme counts as: one insert less for most.
        if self.scheme != "http" {
            extensions.insert(IngressScheme(self.scheme));
        }
        self.ingress.clone().oneshot(request)
    }
}
