//! The dashboard's own listener (`server --dashboard`, `client --inspect` and `quickstart`), and
//! the tunnel list of a client's inspector.

use std::{net::SocketAddr, time::SystemTime};

use anyhow::Context as _;
use ferrotunnel::ClientState;
use ferrotunnel_dashboard::{DashboardState, TunnelView};
use tokio::{net::TcpListener, sync::watch, task::JoinHandle};

use crate::{LOG_TARGET, config::DashboardAuth};

/// A dashboard being served.
#[derive(Debug)]
pub(crate) struct Dashboard {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Dashboard {
    /// Binds `addr` and serves `state` there, asking for `auth` if given.
    pub(crate) async fn start(
        addr: SocketAddr,
        state: DashboardState,
        auth: Option<&DashboardAuth>,
    ) -> anyhow::Result<Self> {
        let state = match auth {
            Some(auth) => state.basic_auth(&auth.user, auth.password.expose()),
            None => state,
        };
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot serve the dashboard on {addr}"))?;
        let addr = listener.local_addr().context("the dashboard's address")?;
        let task = tokio::spawn(async move {
            if let Err(err) = ferrotunnel_dashboard::serve(listener, state).await {
                tracing::error!(target: LOG_TARGET, error = %err, "the dashboard stopped");
            }
        });
        Ok(Self { addr, task })
    }

    /// Where to open it.
    pub(crate) fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// Stops serving. Its event streams never end by themselves, and a dashboard has no work
    /// in flight worth waiting for.
    pub(crate) fn stop(self) {
        self.task.abort();
    }
}

/// The tunnels of `client` as its inspector shows them, kept current from its state: the live
/// tunnels with their local services (`locals`, in the order of the client's tunnels), empty
/// while it is not connected. The watch ends with the client.
pub(crate) fn client_tunnels(
    mut state: watch::Receiver<ClientState>,
    locals: Vec<String>,
) -> watch::Receiver<Vec<TunnelView>> {
    let views = move |state: &ClientState, since: SystemTime| -> Vec<TunnelView> {
        let ClientState::Connected { tunnels, .. } = state else {
            return Vec::new();
        };
        tunnels
            .iter()
            .zip(locals.iter().map(Some).chain(std::iter::repeat(None)))
            .map(|(tunnel, local)| TunnelView {
                name: tunnel.name.clone(),
                public_url: tunnel.public_url.clone(),
                client_addr: None,
                transport: None,
                connected_since: Some(since),
                local_addr: local.cloned(),
            })
            .collect()
    };
    let connected = |state: &ClientState| matches!(state, ClientState::Connected { .. });
    let mut since = SystemTime::now();
    let mut was_connected = connected(&state.borrow());
    let (tell, watch) = watch::channel(views(&state.borrow_and_update(), since));
    tokio::spawn(async move {
        while state.changed().await.is_ok() {
            let current = state.borrow_and_update().clone();
            if connected(&current) && !was_connected {
                since = SystemTime::now();
            }
            was_connected = connected(&current);
            if tell.send(views(&current, since)).is_err() {
                break;
            }
        }
    });
    watch
}
