//! The private side: keeps a session to the server and forwards its streams to local services.
//!
//! ```no_run
//! # async fn demo() -> ferrotunnel::Result<()> {
//! let mut client = ferrotunnel::Client::builder()
//!     .server_url("tcp://tunnel.example.com:7835")
//!     .token("a-long-random-secret")
//!     .local_address("127.0.0.1:3000")
//!     .subdomain("app")
//!     .build()?
//!     .start()
//!     .await?;
//! println!("forwarding {} -> 127.0.0.1:3000", client.public_url());
//! client.wait().await?; // runs until refused for good, reconnecting as needed
//! # Ok(()) }
//! ```

use std::{sync::Arc, time::Duration};

use tokio::{sync::watch, task::JoinHandle};
use tokio_util::sync::CancellationToken;

use crate::{
    Error, Result,
    protocol::{
        ClientId, DEFAULT_MAX_FRAME_SIZE, Refusal, Secret, TunnelInfo, validate_tunnel_name,
    },
    transport::ServerUrl,
};

mod backoff;
mod connection;
mod forward;

pub use forward::{IncomingStream, LocalForward, TunnelStream};

/// What the client is doing, as seen through [`ClientHandle::state`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientState {
    /// Opening the first session.
    Connecting,
    /// Registered; these tunnels are live.
    Connected {
        /// The server's number for this session.
        session_id: u64,
        /// The live tunnels.
        tunnels: Vec<TunnelInfo>,
    },
    /// The session was lost; trying again.
    Reconnecting {
        /// Failed attempts since the session was lost.
        attempt: u32,
        /// Why the last session or attempt ended.
        error: String,
    },
    /// The server refused the client for good (bad token, name taken, …); the client stopped.
    Refused(Refusal),
    /// The client was shut down.
    Stopped,
}

/// One tunnel the client serves: a name on the server, a local service here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LocalTunnel {
    /// `None` until the server has picked a name.
    pub(crate) name: Option<String>,
    pub(crate) local_addr: String,
}

#[derive(Debug, Clone)]
pub(crate) struct ClientConfig {
    pub(crate) server_url: ServerUrl,
    pub(crate) token: Secret,
    pub(crate) tunnels: Vec<LocalTunnel>,
    pub(crate) connect_timeout: Duration,
    pub(crate) handshake_timeout: Duration,
    pub(crate) local_connect_timeout: Duration,
    pub(crate) reconnect_initial: Duration,
    pub(crate) reconnect_max: Duration,
    pub(crate) grace_period: Duration,
    pub(crate) max_streams: usize,
    pub(crate) max_frame_size: usize,
}

/// Builds a [`Client`]. [`build`](Self::build) checks every setting and names the wrong one.
#[derive(Debug)]
#[must_use]
pub struct ClientBuilder {
    server_url: Option<String>,
    token: String,
    tunnels: Vec<LocalTunnel>,
    subdomain: Option<String>,
    local_address: Option<String>,
    connect_timeout: Duration,
    handshake_timeout: Duration,
    local_connect_timeout: Duration,
    reconnect_initial: Duration,
    reconnect_max: Duration,
    grace_period: Duration,
    max_streams: usize,
    max_frame_size: usize,
}

impl Default for ClientBuilder {
    fn default() -> Self {
        Self {
            server_url: None,
            token: String::new(),
            tunnels: Vec::new(),
            subdomain: None,
            local_address: None,
            connect_timeout: Duration::from_secs(10),
            handshake_timeout: Duration::from_secs(10),
            local_connect_timeout: Duration::from_secs(10),
            reconnect_initial: Duration::from_millis(250),
            reconnect_max: Duration::from_secs(30),
            grace_period: Duration::from_secs(10),
            max_streams: 1024,
            max_frame_size: DEFAULT_MAX_FRAME_SIZE,
        }
    }
}

impl ClientBuilder {
    /// The server to connect to: `tcp://host:port`.
    pub fn server_url(mut self, url: impl Into<String>) -> Self {
        self.server_url = Some(url.into());
        self
    }

    /// The token the server expects.
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = token.into();
        self
    }

    /// The local service of the main tunnel, e.g. `127.0.0.1:3000`.
    pub fn local_address(mut self, addr: impl Into<String>) -> Self {
        self.local_address = Some(addr.into());
        self
    }

    /// The name of the main tunnel (`app` → `app.<domain>`); without it the server picks one.
    pub fn subdomain(mut self, name: impl Into<String>) -> Self {
        self.subdomain = Some(name.into());
        self
    }

    /// One more tunnel: `name` on the server forwards to `local_addr` here.
    pub fn tunnel(mut self, name: impl Into<String>, local_addr: impl Into<String>) -> Self {
        self.tunnels.push(LocalTunnel {
            name: Some(name.into()),
            local_addr: local_addr.into(),
        });
        self
    }

    /// How long connecting to the server may take (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long the server may take to answer the hello (default 10 s).
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// How long a local service may take to accept a connection (default 10 s); after that
    /// the visitor gets a 504.
    pub fn local_connect_timeout(mut self, timeout: Duration) -> Self {
        self.local_connect_timeout = timeout;
        self
    }

    /// The first and the longest wait between reconnection attempts (default 250 ms and 30 s).
    pub fn reconnect_backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.reconnect_initial = initial;
        self.reconnect_max = max;
        self
    }

    /// How long a graceful shutdown waits for streams in flight (default 10 s).
    pub fn grace_period(mut self, grace: Duration) -> Self {
        self.grace_period = grace;
        self
    }

    /// How many streams the session may hold at once (default 1024).
    pub fn max_streams(mut self, max: usize) -> Self {
        self.max_streams = max;
        self
    }

    /// Checks the settings.
    pub fn build(self) -> Result<Client> {
        let url = self
            .server_url
            .ok_or_else(|| Error::Config("the server URL is not set".into()))?;
        let server_url: ServerUrl = url.parse()?;
        let mut tunnels = self.tunnels;
        match (self.subdomain, self.local_address) {
            (name, Some(local_addr)) => tunnels.insert(0, LocalTunnel { name, local_addr }),
            (Some(name), None) => {
                return Err(Error::Config(format!(
                    "subdomain {name:?} has no local address to forward to"
                )));
            }
            (None, None) => {}
        }
        if tunnels.is_empty() {
            return Err(Error::Config(
                "no tunnel: set a local address (and a subdomain) to forward".into(),
            ));
        }
        for tunnel in &tunnels {
            if let Some(name) = &tunnel.name {
                validate_tunnel_name(name).map_err(Error::Config)?;
            }
            validate_local_addr(&tunnel.local_addr)?;
        }
        if self.reconnect_initial.is_zero() || self.reconnect_max < self.reconnect_initial {
            return Err(Error::Config(
                "the reconnect backoff must start above zero and not exceed its maximum".into(),
            ));
        }
        for (name, value) in [
            ("connect timeout", self.connect_timeout),
            ("handshake timeout", self.handshake_timeout),
            ("local connect timeout", self.local_connect_timeout),
        ] {
            if value.is_zero() {
                return Err(Error::Config(format!(
                    "the {name} must be longer than zero"
                )));
            }
        }
        if self.max_streams == 0 {
            return Err(Error::Config("max streams must be at least 1".into()));
        }
        Ok(Client {
            config: ClientConfig {
                server_url,
                token: Secret::new(self.token),
                tunnels,
                connect_timeout: self.connect_timeout,
                handshake_timeout: self.handshake_timeout,
                local_connect_timeout: self.local_connect_timeout,
                reconnect_initial: self.reconnect_initial,
                reconnect_max: self.reconnect_max,
                grace_period: self.grace_period,
                max_streams: self.max_streams,
                max_frame_size: self.max_frame_size,
            },
        })
    }
}

fn validate_local_addr(addr: &str) -> Result<()> {
    let valid = addr
        .rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p != 0));
    if valid {
        Ok(())
    } else {
        Err(Error::Config(format!(
            "local address {addr:?} must be host:port, like 127.0.0.1:3000"
        )))
    }
}

/// A FerroTunnel client, configured but not yet connected. Start it with [`Client::start`].
#[derive(Debug)]
pub struct Client {
    config: ClientConfig,
}

impl Client {
    /// A builder with default settings.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// Connects, registers the tunnels and returns once they are live. A first attempt that
    /// fails is an error (a wrong address should not retry silently); after that, a lost
    /// session is re-established with backoff in the background.
    pub async fn start(self) -> Result<ClientHandle> {
        let client_id = ClientId::random();
        let established = connection::establish(&self.config, client_id).await?;
        let tunnels = established.tunnels().to_vec();
        let (state_tx, state) = watch::channel(ClientState::Connected {
            session_id: established.session_id(),
            tunnels: tunnels.clone(),
        });
        let stop = CancellationToken::new();
        let task = tokio::spawn(connection::run(
            Arc::new(self.config),
            client_id,
            established,
            state_tx,
            stop.clone(),
        ));
        Ok(ClientHandle {
            tunnels,
            state,
            stop,
            task: Some(task),
        })
    }
}

/// A running client. Dropping it stops the client at once; [`shutdown`](Self::shutdown) stops
/// it gracefully.
#[derive(Debug)]
pub struct ClientHandle {
    tunnels: Vec<TunnelInfo>,
    state: watch::Receiver<ClientState>,
    stop: CancellationToken,
    task: Option<JoinHandle<Result<()>>>,
}

impl ClientHandle {
    /// The public URL of the first tunnel.
    pub fn public_url(&self) -> &str {
        self.tunnels.first().map_or("", |t| t.public_url.as_str())
    }

    /// The public URLs of all tunnels, in the order they were configured.
    pub fn public_urls(&self) -> Vec<String> {
        self.tunnels.iter().map(|t| t.public_url.clone()).collect()
    }

    /// The tunnels as first registered.
    pub fn tunnels(&self) -> &[TunnelInfo] {
        &self.tunnels
    }

    /// A watch of the client's state.
    pub fn state(&self) -> watch::Receiver<ClientState> {
        self.state.clone()
    }

    /// Waits until the client stops by itself: `Err` if the server refused it for good.
    pub async fn wait(&mut self) -> Result<()> {
        match self.task.as_mut() {
            Some(task) => {
                let result = task.await.unwrap_or(Err(Error::SessionClosed));
                self.task = None;
                result
            }
            None => Ok(()),
        }
    }

    /// Tells the server this client is leaving (its names are freed at once), lets streams in
    /// flight finish within the grace period, and closes the session.
    pub async fn shutdown(mut self) -> Result<()> {
        self.stop.cancel();
        self.wait().await
    }
}

impl Drop for ClientHandle {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(builder: ClientBuilder) -> String {
        builder.build().expect_err("should be refused").to_string()
    }

    #[test]
    fn build_names_the_wrong_setting() {
        let ok = || {
            Client::builder()
                .server_url("tcp://127.0.0.1:7835")
                .local_address("127.0.0.1:3000")
        };
        assert!(ok().build().is_ok());
        assert!(error(Client::builder().local_address("127.0.0.1:1")).contains("server URL"));
        assert!(error(ok().server_url("ftp://x:1")).contains("scheme"));
        assert!(error(ok().subdomain("Bad_Name")).contains("Bad_Name"));
        assert!(error(ok().local_address("3000")).contains("local address \"3000\""));
        assert!(error(Client::builder().server_url("tcp://a:1")).contains("no tunnel"));
        assert!(error(ok().connect_timeout(Duration::ZERO)).contains("connect timeout"));
    }
}
