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

use std::{
    path::PathBuf,
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::{sync::watch, task::JoinHandle};
use tokio_util::sync::CancellationToken;

use crate::{
    BoxError, Error, Result,
    protocol::{
        ClientId, DEFAULT_MAX_FRAME_SIZE, PolicyRule, Refusal, Secret, TunnelInfo,
        validate_tunnel_name,
    },
    server::LayerStack,
    transport::{ClientTls, ServerUrl},
};

mod backoff;
mod connection;
mod forward;
mod http_forward;
mod metered;

pub use forward::{ForwardService, IncomingStream, LocalForward, TunnelStream};
pub use http_forward::{LocalHttpService, LocalTarget};

use forward::ForwardLayers;

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
    /// What the client asks the server to enforce for this tunnel, in order.
    pub(crate) policy: Vec<PolicyRule>,
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
    pub(crate) layers: ForwardLayers,
    /// The HTTP path down to the local services, when the client has HTTP layers; else each
    /// stream is a byte splice.
    pub(crate) http: Option<LocalHttpService>,
    pub(crate) tls: ClientTls,
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
    /// Rules for every tunnel of the client, before each tunnel's own.
    policy: Vec<PolicyRule>,
    /// Rules for a tunnel not added yet (the main one, or a typo), matched up in `build`.
    tunnel_policies: Vec<(String, PolicyRule)>,
    connect_timeout: Duration,
    handshake_timeout: Duration,
    local_connect_timeout: Duration,
    reconnect_initial: Duration,
    reconnect_max: Duration,
    grace_period: Duration,
    max_streams: usize,
    max_frame_size: usize,
    layers: ForwardLayers,
    http_layers: LayerStack,
    ca: Option<CaSource>,
}

/// Where the CA that verifies the server comes from.
#[derive(Debug, Clone)]
enum CaSource {
    Pem(Vec<u8>),
    File(PathBuf),
}

impl Default for ClientBuilder {
    fn default() -> Self {
        Self {
            server_url: None,
            token: String::new(),
            tunnels: Vec::new(),
            subdomain: None,
            local_address: None,
            policy: Vec::new(),
            tunnel_policies: Vec::new(),
            connect_timeout: Duration::from_secs(10),
            handshake_timeout: Duration::from_secs(10),
            local_connect_timeout: Duration::from_secs(10),
            reconnect_initial: Duration::from_millis(250),
            reconnect_max: Duration::from_secs(30),
            grace_period: Duration::from_secs(10),
            max_streams: 1024,
            max_frame_size: DEFAULT_MAX_FRAME_SIZE,
            layers: ForwardLayers::default(),
            http_layers: LayerStack::new(),
            ca: None,
        }
    }
}

impl ClientBuilder {
    /// The server to connect to: `tcp://host:port`, `tls://host:port` (TLS 1.3),
    /// `ws://host[:port][/path]` or `wss://…` (a WebSocket, through HTTP proxies and port 443).
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
            policy: Vec::new(),
        });
        self
    }

    /// Asks the server to enforce `rule` on every tunnel of this client, after its own
    /// server-wide policy (which a client can only add to, never lift). Rules run in the order
    /// added. `ferrotunnel_tower::policy` makes rules from typed policies; a server that cannot
    /// enforce a rule refuses the tunnel with a message that names it.
    ///
    /// ```
    /// use ferrotunnel::protocol::PolicyRule;
    ///
    /// let client = ferrotunnel::Client::builder()
    ///     .server_url("tcp://tunnel.example.com:7835")
    ///     .local_address("127.0.0.1:3000")
    ///     .policy(PolicyRule::new("basic-auth", "alice:correct-horse"))
    ///     .policy(PolicyRule::new("rate-limit", "100/min"))
    ///     .build()?;
    /// # Ok::<(), ferrotunnel::Error>(())
    /// ```
    pub fn policy(mut self, rule: impl Into<PolicyRule>) -> Self {
        self.policy.push(rule.into());
        self
    }

    /// Asks the server to enforce `rule` on the tunnel named `name` only (one added with
    /// [`tunnel`](Self::tunnel), or the [`subdomain`](Self::subdomain)), after the client-wide
    /// rules.
    pub fn tunnel_policy(mut self, name: &str, rule: impl Into<PolicyRule>) -> Self {
        let rule = rule.into();
        match self
            .tunnels
            .iter_mut()
            .find(|t| t.name.as_deref() == Some(name))
        {
            Some(tunnel) => tunnel.policy.push(rule),
            None => self.tunnel_policies.push((name.to_owned(), rule)),
        }
        self
    }

    /// Verifies a `tls://` or `wss://` server against this CA certificate (PEM) only, instead of
    /// the platform's trust store: for servers with a private or self-signed certificate.
    pub fn ca_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.ca = Some(CaSource::Pem(pem.into()));
        self
    }

    /// Like [`ca_pem`](Self::ca_pem), reading the PEM file at `path` when the client is built.
    pub fn ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca = Some(CaSource::File(path.into()));
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

    /// The largest control frame, in bytes (default 64 KiB).
    pub fn max_frame_size(mut self, max: usize) -> Self {
        self.max_frame_size = max;
        self
    }

    /// How many streams the session may hold at once (default 1024).
    pub fn max_streams(mut self, max: usize) -> Self {
        self.max_streams = max;
        self
    }

    /// Puts a `tower` layer in front of the forwarding of each stream to its local service
    /// ([`LocalForward`]): a concurrency limit, logging, a replacement forwarder. Layers run in
    /// the order added, the first outermost.
    pub fn layer<L>(mut self, layer: L) -> Self
    where
        L: tower::Layer<ForwardService> + Send + Sync + 'static,
        L::Service: tower::Service<IncomingStream, Response = (), Error = Error>
            + Clone
            + Send
            + Sync
            + 'static,
        <L::Service as tower::Service<IncomingStream>>::Future: Send + 'static,
    {
        self.layers.push(layer);
        self
    }

    /// Puts a `tower` layer on the HTTP requests the client forwards to its local services: a
    /// traffic inspector's capture, logging, a header of its own. Layers run in the order added,
    /// the first outermost.
    ///
    /// With at least one HTTP layer, the client serves each stream as HTTP/1.1 (as the server
    /// speaks on it: keep-alive, upgrades such as WebSocket) and sends each request through the
    /// layers to a pooled HTTP/1.1 client of its local service; without any, it splices bytes
    /// and never parses HTTP, which costs less. Each request the layers see carries a
    /// [`LocalTarget`] (its tunnel and local service) and, when the server named the visitor,
    /// a [`VisitorAddr`](crate::server::VisitorAddr) of the visitor's IP address (port 0). A
    /// local service that cannot be reached is a `502` (a `504` after the
    /// [`local_connect_timeout`](Self::local_connect_timeout)) whose text names its address;
    /// the layers see it as an [`Error::Local`]. Stream layers ([`layer`](Self::layer)) still
    /// run first, once per stream. [`ClientHandle::http_service`] sends requests of the
    /// caller's own through the same layers.
    ///
    /// ```
    /// use tower::util::MapRequestLayer;
    ///
    /// let client = ferrotunnel::Client::builder()
    ///     .server_url("tcp://tunnel.example.com:7835")
    ///     .local_address("127.0.0.1:3000")
    ///     .http_layer(MapRequestLayer::new(|mut request: http::Request<ferrotunnel::TunnelBody>| {
    ///         request.headers_mut().insert("x-through", http::HeaderValue::from_static("inspector"));
    ///         request
    ///     }))
    ///     .build()?;
    /// # Ok::<(), ferrotunnel::Error>(())
    /// ```
    pub fn http_layer<L, S, B, E>(mut self, layer: L) -> Self
    where
        L: tower::Layer<LocalHttpService, Service = S> + Send + Sync + 'static,
        S: tower::Service<
                http::Request<crate::TunnelBody>,
                Response = http::Response<B>,
                Error = E,
            > + Clone
            + Send
            + Sync
            + 'static,
        S::Future: Send + 'static,
        B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
        E: Into<BoxError> + 'static,
    {
        self.http_layers.push(layer);
        self
    }

    /// Checks the settings; the error names the one that is wrong.
    ///
    /// ```
    /// let err = ferrotunnel::Client::builder()
    ///     .server_url("gopher://tunnel.example.com:70")
    ///     .local_address("127.0.0.1:3000")
    ///     .build()
    ///     .unwrap_err();
    /// assert!(matches!(err, ferrotunnel::Error::Config(_)));
    /// assert!(err.to_string().contains("use tcp://, tls://, ws:// or wss://"));
    /// ```
    pub fn build(self) -> Result<Client> {
        let url = self
            .server_url
            .ok_or_else(|| Error::Config("the server URL is not set".into()))?;
        let server_url: ServerUrl = url.parse()?;
        let mut tunnels = self.tunnels;
        match (self.subdomain, self.local_address) {
            (name, Some(local_addr)) => tunnels.insert(
                0,
                LocalTunnel {
                    name,
                    local_addr,
                    policy: Vec::new(),
                },
            ),
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
        for (name, rule) in self.tunnel_policies {
            let tunnel = tunnels
                .iter_mut()
                .find(|t| t.name.as_deref() == Some(name.as_str()))
                .ok_or_else(|| {
                    Error::Config(format!(
                        "policy `{}` is for tunnel {name:?}, which this client does not register",
                        rule.name
                    ))
                })?;
            tunnel.policy.push(rule);
        }
        for tunnel in &mut tunnels {
            let own = std::mem::take(&mut tunnel.policy);
            tunnel.policy = self.policy.iter().cloned().chain(own).collect();
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
        if self.max_frame_size < 1024 {
            return Err(Error::Config(
                "the max frame size must be at least 1024 bytes".into(),
            ));
        }
        // Built once, so that every session and every caller of `ClientHandle::http_service`
        // share the layers' state and the local connections.
        let http = (!self.http_layers.is_empty()).then(|| {
            http_forward::local_http_service(
                &self.http_layers,
                self.local_connect_timeout,
                self.max_streams,
            )
        });
        let tls = match self.ca {
            None => ClientTls::platform(),
            Some(CaSource::Pem(pem)) => ClientTls::from_ca_pem(&pem)?,
            Some(CaSource::File(path)) => ClientTls::from_ca_file(&path)?,
        };
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
                layers: self.layers,
                http,
                tls,
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
        let state = ClientState::Connected {
            session_id: established.session_id(),
            tunnels: established.tunnels().to_vec(),
        };
        let known = established.tunnels().to_vec();
        Ok(self.run(client_id, Some(established), known, state))
    }

    /// Starts connecting in the background and returns at once, in state
    /// [`ClientState::Connecting`]: for a daemon that may start before its server. Failed
    /// attempts are retried with backoff until the server accepts or refuses the client for
    /// good; watch [`ClientHandle::state`] to follow.
    pub fn spawn(self) -> ClientHandle {
        self.run(
            ClientId::random(),
            None,
            Vec::new(),
            ClientState::Connecting,
        )
    }

    fn run(
        self,
        client_id: ClientId,
        first: Option<connection::Established>,
        known: Vec<TunnelInfo>,
        initial: ClientState,
    ) -> ClientHandle {
        let (state_tx, state) = watch::channel(initial);
        tokio::spawn(crate::metrics::follow_client_state(state.clone()));
        let known = Arc::new(Mutex::new(known));
        let stop = CancellationToken::new();
        let http = self.config.http.clone();
        let local_addrs = self
            .config
            .tunnels
            .iter()
            .map(|t| (t.name.clone(), t.local_addr.clone()))
            .collect();
        let task = tokio::spawn(connection::run(
            Arc::new(self.config),
            client_id,
            first,
            known.clone(),
            state_tx,
            stop.clone(),
        ));
        ClientHandle {
            known,
            local_addrs,
            http,
            state,
            stop,
            task: Some(task),
        }
    }
}

/// A running client. Dropping it stops the client at once; [`shutdown`](Self::shutdown) stops
/// it gracefully.
#[derive(Debug)]
pub struct ClientHandle {
    /// The tunnels as last registered.
    known: Arc<Mutex<Vec<TunnelInfo>>>,
    /// Each tunnel's name as configured (if any) and local address, in the order configured,
    /// which is also the order of `known`.
    local_addrs: Vec<(Option<String>, String)>,
    http: Option<LocalHttpService>,
    state: watch::Receiver<ClientState>,
    stop: CancellationToken,
    task: Option<JoinHandle<Result<()>>>,
}

impl ClientHandle {
    /// The public URL of the first tunnel (empty until first registered).
    pub fn public_url(&self) -> String {
        self.tunnels()
            .first()
            .map(|t| t.public_url.clone())
            .unwrap_or_default()
    }

    /// The public URLs of all tunnels, in the order they were configured.
    pub fn public_urls(&self) -> Vec<String> {
        self.tunnels().into_iter().map(|t| t.public_url).collect()
    }

    /// The tunnels as last registered (empty until first registered).
    pub fn tunnels(&self) -> Vec<TunnelInfo> {
        self.known
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// The client's HTTP path — its [HTTP layers](ClientBuilder::http_layer), then the
    /// forwarder to the local services — to send requests of the caller's own through, such as
    /// an inspector's replay; `None` for a client without HTTP layers. Each request needs the
    /// [`LocalTarget`] of its tunnel in its extensions (see [`local_target`](Self::local_target)).
    /// Errors are errors here, not responses: an unreachable local service is an
    /// [`Error::Local`] (boxed), which the layers see too.
    ///
    /// ```no_run
    /// # async fn demo(client: ferrotunnel::ClientHandle) -> Result<(), ferrotunnel::BoxError> {
    /// use tower::ServiceExt;
    ///
    /// let service = client.http_service().ok_or("the client has no HTTP layers")?;
    /// let target = client.local_target("app").ok_or("no tunnel app here")?;
    /// let mut request = http::Request::get("/health").body(ferrotunnel::TunnelBody::default())?;
    /// request.extensions_mut().insert(target);
    /// let response = service.oneshot(request).await?;
    /// println!("the local service says {}", response.status());
    /// # Ok(()) }
    /// ```
    pub fn http_service(&self) -> Option<LocalHttpService> {
        self.http.clone()
    }

    /// Where requests for tunnel `tunnel` go: its local service, if this client serves that
    /// tunnel (a name the server picked counts once registered).
    pub fn local_target(&self, tunnel: &str) -> Option<LocalTarget> {
        let registered = self.tunnels();
        let local_addr = match registered.iter().position(|t| t.name == tunnel) {
            Some(at) => self.local_addrs.get(at).map(|(_, addr)| addr),
            None => self
                .local_addrs
                .iter()
                .find(|(name, _)| name.as_deref() == Some(tunnel))
                .map(|(_, addr)| addr),
        }?;
        Some(LocalTarget::new(tunnel, local_addr.as_str()))
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
