//! Admission of client sessions, whatever carried them in (the control port, or a WebSocket on
//! the HTTP ingress): the client limit, and one place that closes them all.

use std::{future::Future, net::SocketAddr, sync::Arc, time::SystemTime};

use tokio::sync::Semaphore;
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tracing::Instrument;

use super::{ServerConfig, control, registry::Registry};
use crate::{
    Result,
    transport::{BoxIo, Transport},
};

/// Who a client session's connection came from, and over what.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Peer {
    pub(crate) addr: SocketAddr,
    pub(crate) transport: Transport,
    /// When its connection was accepted.
    pub(crate) since: SystemTime,
}

impl Peer {
    pub(crate) fn new(addr: SocketAddr, transport: Transport) -> Self {
        Self {
            addr,
            transport,
            since: SystemTime::now(),
        }
    }
}

/// Connections over the client limit that are still told so.
const MAX_PENDING_REFUSALS: usize = 16;

/// Runs client sessions.
#[derive(Debug)]
pub(crate) struct Sessions {
    config: Arc<ServerConfig>,
    registry: Arc<Registry>,
    slots: Arc<Semaphore>,
    refusals: Arc<Semaphore>,
    close: CancellationToken,
    tasks: TaskTracker,
}

impl Sessions {
    pub(crate) fn new(config: Arc<ServerConfig>, registry: Arc<Registry>) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(config.max_clients)),
            refusals: Arc::new(Semaphore::new(MAX_PENDING_REFUSALS)),
            config,
            registry,
            close: CancellationToken::new(),
            tasks: TaskTracker::new(),
        }
    }

    /// Starts a session for the connection `io` will yield (after a TLS or WebSocket
    /// handshake, bounded by the handshake timeout). Past the client limit, a few connections
    /// are still let in to hear why they are refused; the rest are dropped at once, so a flood
    /// cannot pile up handshakes.
    pub(crate) fn admit<F>(&self, peer: Peer, io: F)
    where
        F: Future<Output = Result<BoxIo>> + Send + 'static,
    {
        let slot = self.slots.clone().try_acquire_owned().ok();
        let overflow = match slot {
            Some(_) => None,
            None => match self.refusals.clone().try_acquire_owned() {
                Ok(permit) => Some(permit),
                Err(_) => {
                    return tracing::warn!(peer = %peer.addr, "too many clients and refusals in progress; dropping the connection");
                }
            },
        };
        let (config, registry, close) = (
            self.config.clone(),
            self.registry.clone(),
            self.close.clone(),
        );
        let span = tracing::info_span!("client", peer = %peer.addr, transport = %peer.transport);
        self.tasks.spawn(
            async move {
                let io = match tokio::time::timeout(config.handshake_timeout, io).await {
                    Ok(Ok(io)) => io,
                    Ok(Err(err)) => return tracing::info!(error = %err, "client connection failed"),
                    Err(_) => {
                        return tracing::info!(
                            "client connection timed out before its session began"
                        );
                    }
                };
                control::serve(io, peer, slot, config, registry, close).await;
                drop(overflow);
            }
            .instrument(span),
        );
    }

    /// Tells every client the server is going away and waits for the sessions to end.
    pub(crate) async fn close_all(&self) {
        self.close.cancel();
        self.tasks.close();
        self.tasks.wait().await;
    }
}
