//! Which tunnels are live: a server's registry, or the tunnels a client serves.

use std::time::SystemTime;

use ferrotunnel::TunnelStatus;
use tokio::sync::watch;

/// One live tunnel as the dashboard shows it, before its traffic figures are added.
///
/// The dashboard's own type rather than the core's [`TunnelStatus`], so that a client's
/// inspector (which knows its local address but not its own address as the server sees it) can
/// describe its tunnels too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunnelView {
    /// The tunnel's name (`app` for `app.localhost`).
    pub name: String,
    /// Where visitors reach it, e.g. `http://app.localhost:8080`.
    pub public_url: String,
    /// The address the client's session came from, on a server.
    pub client_addr: Option<String>,
    /// What carries the client's session: `tcp`, `tls`, `ws` or `wss`.
    pub transport: Option<String>,
    /// When the client's session began.
    pub connected_since: Option<SystemTime>,
    /// The local service the tunnel forwards to, on a client.
    pub local_addr: Option<String>,
}

impl From<&TunnelStatus> for TunnelView {
    fn from(status: &TunnelStatus) -> Self {
        Self {
            name: status.name.clone(),
            public_url: status.public_url.clone(),
            client_addr: Some(status.client_addr.to_string()),
            transport: Some(status.transport.to_string()),
            connected_since: Some(status.connected_since),
            local_addr: None,
        }
    }
}

/// Where the dashboard reads the live tunnels from.
#[derive(Debug, Clone)]
pub(crate) enum TunnelSource {
    /// A server's live tunnels ([`ServerHandle::watch_tunnels`](ferrotunnel::ServerHandle::watch_tunnels)).
    Server(watch::Receiver<Vec<TunnelStatus>>),
    /// Tunnels described by their owner, e.g. a client's.
    Views(watch::Receiver<Vec<TunnelView>>),
}

impl TunnelSource {
    /// The live tunnels now, sorted by name.
    pub(crate) fn snapshot(&self) -> Vec<TunnelView> {
        let mut views: Vec<TunnelView> = match self {
            TunnelSource::Server(watch) => watch.borrow().iter().map(TunnelView::from).collect(),
            TunnelSource::Views(watch) => watch.borrow().clone(),
        };
        views.sort_by(|a, b| a.name.cmp(&b.name));
        views
    }

    pub(crate) fn is_live(&self, name: &str) -> bool {
        match self {
            TunnelSource::Server(watch) => watch.borrow().iter().any(|t| t.name == name),
            TunnelSource::Views(watch) => watch.borrow().iter().any(|t| t.name == name),
        }
    }

    /// Waits for the next change; `false` once the owner is gone and no change can come.
    pub(crate) async fn changed(&mut self) -> bool {
        match self {
            TunnelSource::Server(watch) => watch.changed().await.is_ok(),
            TunnelSource::Views(watch) => watch.changed().await.is_ok(),
        }
    }

    /// Marks the current list as seen, so that [`changed`](Self::changed) waits for the next.
    pub(crate) fn mark_seen(&mut self) {
        match self {
            TunnelSource::Server(watch) => {
                watch.borrow_and_update();
            }
            TunnelSource::Views(watch) => {
                watch.borrow_and_update();
            }
        }
    }
}
