//! The clients' side: accept connections on the control port, within the client limit.

use std::sync::Arc;

use tokio::{net::TcpListener, sync::Semaphore};
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tracing::Instrument;

use super::{ServerConfig, control, registry::Registry};
use crate::transport::Acceptor;

/// Connections over the client limit that are still told so, at once.
const MAX_PENDING_REFUSALS: usize = 16;

/// Accepts client connections until `stop` is cancelled, then waits for the sessions, which
/// end when `close_sessions` is cancelled.
pub(super) async fn serve(
    listener: TcpListener,
    acceptor: Arc<dyn Acceptor>,
    config: Arc<ServerConfig>,
    registry: Arc<Registry>,
    stop: CancellationToken,
    close_sessions: CancellationToken,
) {
    let slots = Arc::new(Semaphore::new(config.max_clients));
    let refusals = Arc::new(Semaphore::new(MAX_PENDING_REFUSALS));
    let sessions = TaskTracker::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = stop.cancelled() => break,
        };
        let (tcp, peer) = match accepted {
            Ok(pair) => pair,
            Err(err) => {
                tracing::warn!(error = %err, "cannot accept a client connection");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        // Past the client limit, a few connections are still let in to hear why they are
        // refused; the rest are dropped at once, so a flood cannot pile up handshakes.
        let slot = slots.clone().try_acquire_owned().ok();
        let overflow = match slot {
            Some(_) => None,
            None => match refusals.clone().try_acquire_owned() {
                Ok(permit) => Some(permit),
                Err(_) => {
                    tracing::warn!(%peer, "too many clients and refusals in progress; dropping the connection");
                    continue;
                }
            },
        };
        let (acceptor, config, registry, close) = (
            acceptor.clone(),
            config.clone(),
            registry.clone(),
            close_sessions.clone(),
        );
        let span = tracing::info_span!("client", %peer);
        sessions.spawn(
            async move {
                let io = match tokio::time::timeout(config.handshake_timeout, acceptor.accept(tcp))
                    .await
                {
                    Ok(Ok(io)) => io,
                    Ok(Err(err)) => return tracing::info!(error = %err, "client connection failed"),
                    Err(_) => {
                        return tracing::info!(
                            "client connection timed out before its session began"
                        );
                    }
                };
                control::serve(io, slot, config, registry, close).await;
                drop(overflow);
            }
            .instrument(span),
        );
    }
    drop(listener);
    sessions.close();
    sessions.wait().await;
}
