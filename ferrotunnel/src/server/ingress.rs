//! The visitors' side: the ingress stack and the HTTP server that runs it.

use std::{convert::Infallible, net::SocketAddr, sync::Arc, time::Duration};

use http::{Request, Response};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::{conn::auto, graceful::GracefulShutdown},
};
use tokio::{net::TcpListener, sync::Semaphore};
use tokio_util::sync::CancellationToken;
use tower::{
    ServiceBuilder, ServiceExt,
    util::{BoxCloneSyncService, Oneshot},
};

use crate::{BoxError, transport::Acceptor};

use super::{
    HttpService, IngressService, ServerConfig, TunnelBody, TunnelService,
    connect::ConnectEndpoint,
    forwarded::IngressScheme,
    plugins::PluginStack,
    registry::Registry,
    rescue,
    resolve::{ResolveTunnelLayer, VisitorAddr},
    sessions::Sessions,
};

/// Builds the ingress stack, outermost first.
pub(super) fn stack(
    registry: Arc<Registry>,
    sessions: Arc<Sessions>,
    response_timeout: Duration,
    plugins: &PluginStack,
) -> IngressService {
    let tunnel = HttpService::new(TunnelService::new(response_timeout));
    let connect = HttpService::new(ConnectEndpoint::new(sessions));
    let service = ServiceBuilder::new()
        // Outermost, so that every error below becomes a response here and nowhere else.
        .layer(rescue::RescueLayer)
        // Host or path → TunnelContext, or the client-connect endpoint. Before the plugins:
        // they act per tunnel, and never see client sessions.
        .layer(ResolveTunnelLayer::new(registry, connect))
        .service(plugins.wrap(tunnel));
    BoxCloneSyncService::new(service)
}

/// How visitors reach one listener of the ingress.
#[derive(Debug)]
pub(super) struct Listener {
    pub(super) tcp: TcpListener,
    /// Plain TCP for `http`, TLS for `https`.
    pub(super) acceptor: Arc<dyn Acceptor>,
    pub(super) scheme: &'static str,
}

/// Serves visitors until `stop` is cancelled, then lets requests in flight finish within the
/// grace period.
pub(super) async fn serve(
    listener: Listener,
    ingress: IngressService,
    config: Arc<ServerConfig>,
    stop: CancellationToken,
) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(config.header_read_timeout)
        .max_buf_size(config.max_header_size);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(config.max_header_size).unwrap_or(u32::MAX));
    let builder = Arc::new(builder);
    let graceful = GracefulShutdown::new();

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
        let _ = tcp.set_nodelay(true);
        let service = VisitorConnection {
            ingress: ingress.clone(),
            visitor,
            scheme: listener.scheme,
        };
        let (builder, watcher, acceptor) = (
            builder.clone(),
            graceful.watcher(),
            listener.acceptor.clone(),
        );
        let handshake_timeout = config.header_read_timeout;
        tokio::spawn(async move {
            let _slot = slot;
            let io = match tokio::time::timeout(handshake_timeout, acceptor.accept(tcp)).await {
                Ok(Ok(io)) => io,
                Ok(Err(err)) => {
                    return tracing::debug!(%visitor, error = %err, "visitor handshake failed");
                }
                Err(_) => return tracing::debug!(%visitor, "visitor handshake timed out"),
            };
            let connection = builder.serve_connection_with_upgrades(TokioIo::new(io), service);
            if let Err(err) = watcher.watch(connection).await {
                tracing::debug!(%visitor, error = %err, "visitor connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(config.grace_period, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(grace = ?config.grace_period, "requests still in flight after the grace period; dropping them");
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
        request.extensions_mut().insert(VisitorAddr(self.visitor));
        request.extensions_mut().insert(IngressScheme(self.scheme));
        self.ingress.clone().oneshot(request)
    }
}
