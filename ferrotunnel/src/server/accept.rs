//! The control port: accept client connections and hand them to [`Sessions`].

use std::{sync::Arc, time::Duration};

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::sessions::{Peer, Sessions};
use crate::transport::Acceptor;

/// Accepts client connections until `stop` is cancelled.
pub(super) async fn serve(
    listener: TcpListener,
    acceptor: Arc<dyn Acceptor>,
    sessions: Arc<Sessions>,
    stop: CancellationToken,
) {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = stop.cancelled() => break,
        };
        match accepted {
            Ok((tcp, peer)) => {
                sessions.admit(Peer::new(peer, acceptor.transport()), acceptor.accept(tcp));
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot accept a client connection");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}
