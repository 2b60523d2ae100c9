//! The public side: accepts client sessions and serves visitors through the ingress stack.
//!
//! ```no_run
//! # async fn demo() -> ferrotunnel::Result<()> {
//! let server = ferrotunnel::Server::builder()
//!     .control_addr("0.0.0.0:7835".parse().unwrap())
//!     .http_addr("0.0.0.0:8080".parse().unwrap())
//!     .domain("tunnel.example.com")
//!     .token("a-long-random-secret")
//!     .build()?
//!     .start()
//!     .await?;
//! println!("clients connect to {}", server.control_addr());
//! server.shutdown().await;
//! # Ok(()) }
//! ```

use std::{convert::Infallible, future::Future, net::SocketAddr, sync::Arc, time::Duration};

use bytes::Bytes;
use http::{Request, Response};
use tokio::{net::TcpListener, sync::watch, task::JoinHandle};
use tokio_util::sync::CancellationToken;
use tower::util::BoxCloneSyncService;

use crate::{
    BoxError, Error, Result,
    protocol::{DEFAULT_MAX_FRAME_SIZE, Secret, validate_tunnel_name},
    transport::{Acceptor, BoxFuture, ServerTls, TcpAcceptor},
};

mod accept;
mod body;
mod connect;
mod connector;
mod control;
mod forwarded;
mod h1;
pub(crate) mod hop_by_hop;
mod ingress;
mod layers;
mod observe;
mod path_prefix;
mod pool;
mod registry;
mod request_id;
pub(crate) mod rescue;
mod resolve;
mod routing;
mod sessions;
mod speaks;
mod stack;
mod tunnel;
mod tunnel_policy;
pub(crate) mod tunnel_service;
mod visitor;

pub use body::{TunnelBody, into_tunnel_body};
pub use layers::{HttpService, LayerStack, TunnelPolicy};
pub use observe::{Resolution, ResolvedTunnel};
pub use request_id::{REQUEST_ID, RequestIds};
pub use resolve::RouteTo;
pub use routing::CONNECT_PATH;
pub use tunnel::{TunnelContext, TunnelStatus};
pub use tunnel_service::TunnelService;
pub use visitor::{IngressScheme, ReceivedAt, VisitorAddr, push_ip};

use layers::NoTunnelPolicy;
use observe::ObserveStack;
use registry::Registry;
use routing::{PublicUrls, Routing};
use sessions::Sessions;

/// The whole ingress stack (see `stack.rs` for its steps) as one cloneable service that never
/// fails: errors are already HTTP responses. Mount it in your own HTTP server, or let
/// [`Server`] serve it.
pub type IngressService =
    BoxCloneSyncService<Request<TunnelBody>, Response<TunnelBody>, Infallible>;

/// Settings of a [`Server`]; every limit and wait has a default.
#[derive(Debug, Clone)]
pub(crate) struct ServerConfig {
    pub(crate) control_addr: SocketAddr,
    pub(crate) http_addr: SocketAddr,
    pub(crate) domain: String,
    pub(crate) tokens: Vec<Secret>,
    /// Overrides the port in public URLs (when a proxy in front listens elsewhere).
    pub(crate) public_port: Option<u16>,
    /// Public URLs are `<base>/<name>/` instead of subdomains.
    pub(crate) public_base_url: Option<String>,
    /// Tunnels are also reached at `<prefix>/<name>/` on hosts that are not a tunnel's.
    pub(crate) path_prefix: Option<String>,
    /// TLS on the control port.
    pub(crate) tls: Option<ServerTls>,
    /// An HTTPS ingress, with its certificate.
    pub(crate) https: Option<(SocketAddr, ServerTls)>,
    pub(crate) handshake_timeout: Duration,
    pub(crate) heartbeat_interval: Duration,
    pub(crate) response_timeout: Duration,
    pub(crate) header_read_timeout: Duration,
    pub(crate) grace_period: Duration,
    pub(crate) max_clients: usize,
    pub(crate) max_visitor_connections: usize,
    pub(crate) max_tunnels_per_client: usize,
    pub(crate) max_streams_per_session: usize,
    pub(crate) max_header_size: usize,
    pub(crate) max_frame_size: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            control_addr: SocketAddr::from(([0, 0, 0, 0], 7835)),
            http_addr: SocketAddr::from(([0, 0, 0, 0], 8080)),
            domain: "localhost".into(),
            tokens: Vec::new(),
            public_port: None,
            public_base_url: None,
            path_prefix: Some("/t".into()),
            tls: None,
            https: None,
            handshake_timeout: Duration::from_secs(10),
            heartbeat_interval: Duration::from_secs(30),
            response_timeout: Duration::from_secs(60),
            header_read_timeout: Duration::from_secs(30),
            grace_period: Duration::from_secs(10),
            max_clients: 1024,
            max_visitor_connections: 16 * 1024,
            max_tunnels_per_client: 16,
            max_streams_per_session: 1024,
            max_header_size: 64 * 1024,
            max_frame_size: DEFAULT_MAX_FRAME_SIZE,
        }
    }
}

impl ServerConfig {
    fn validate(&self) -> Result<()> {
        let domain = self.domain.trim_end_matches('.');
        if domain.is_empty()
            || domain
                .split('.')
                .any(|label| validate_tunnel_name(label).is_err())
        {
            return Err(Error::Config(format!(
                "domain {:?} is not a valid lowercase DNS name (like tunnel.example.com)",
                self.domain
            )));
        }
        if let Some(prefix) = &self.path_prefix {
            if !(prefix.is_empty() || prefix.starts_with('/') && !prefix.ends_with('/')) {
                return Err(Error::Config(format!(
                    "path prefix {prefix:?} must start with '/' and not end with one (like /t), or be empty"
                )));
            }
        }
        if let Some(base) = &self.public_base_url {
            if !(base.starts_with("http://") || base.starts_with("https://")) {
                return Err(Error::Config(format!(
                    "public base URL {base:?} must start with http:// or https://"
                )));
            }
        }
        if let Some(i) = self.tokens.iter().position(|t| t.expose().is_empty()) {
            return Err(Error::Config(format!("token #{} is empty", i + 1)));
        }
        for (name, value) in [
            ("handshake timeout", self.handshake_timeout),
            ("heartbeat interval", self.heartbeat_interval),
            ("response timeout", self.response_timeout),
            ("header read timeout", self.header_read_timeout),
        ] {
            if value.is_zero() {
                return Err(Error::Config(format!(
                    "the {name} must be longer than zero"
                )));
            }
        }
        for (name, value) in [
            ("max clients", self.max_clients),
            ("max visitor connections", self.max_visitor_connections),
            ("max tunnels per client", self.max_tunnels_per_client),
            ("max streams per session", self.max_streams_per_session),
            ("max frame size", self.max_frame_size),
        ] {
            if value == 0 {
                return Err(Error::Config(format!("{name} must be at least 1")));
            }
        }
        if self.max_header_size < 8192 {
            return Err(Error::Config(
                "the max header size must be at least 8192 bytes".into(),
            ));
        }
        Ok(())
    }
}

/// Builds a [`Server`]. Every setting has a default; [`build`](Self::build) checks them.
#[derive(Debug, Default)]
#[must_use]
pub struct ServerBuilder {
    config: ServerConfig,
    extensions: Extensions,
}

/// What users add to a server besides settings: layers, the tunnel policy, lifecycle hooks.
#[derive(Default)]
struct Extensions {
    observers: ObserveStack,
    layers: LayerStack,
    forward_layers: LayerStack,
    tunnel_policy: Option<Arc<dyn TunnelPolicy>>,
    on_start: Vec<StartHook>,
    on_stop: Vec<StopHook>,
}

type StartHook = Box<dyn FnOnce() -> BoxFuture<std::result::Result<(), BoxError>> + Send>;
type StopHook = Box<dyn FnOnce() -> BoxFuture<()> + Send>;

impl std::fmt::Debug for Extensions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Extensions")
            .field("observers", &self.observers)
            .field("layers", &self.layers)
            .field("forward_layers", &self.forward_layers)
            .field("tunnel_policy", &self.tunnel_policy.is_some())
            .field("on_start", &self.on_start.len())
            .field("on_stop", &self.on_stop.len())
            .finish()
    }
}

impl ServerBuilder {
    /// Where clients connect (default `0.0.0.0:7835`; port 0 picks a free port).
    pub fn control_addr(mut self, addr: SocketAddr) -> Self {
        self.config.control_addr = addr;
        self
    }

    /// Where visitors connect over HTTP (default `0.0.0.0:8080`; port 0 picks a free port).
    pub fn http_addr(mut self, addr: SocketAddr) -> Self {
        self.config.http_addr = addr;
        self
    }

    /// The domain under which tunnels are named: tunnel `app` is `app.<domain>` (default `localhost`).
    pub fn domain(mut self, domain: impl Into<String>) -> Self {
        self.config.domain = domain.into().to_ascii_lowercase();
        self
    }

    /// Accepts clients presenting this token. Call again to accept several tokens. A server
    /// with no token accepts every client.
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.config.tokens.push(Secret::new(token));
        self
    }

    /// The port shown in public URLs, when a proxy in front of the server listens on another
    /// port than [`http_addr`](Self::http_addr).
    pub fn public_port(mut self, port: u16) -> Self {
        self.config.public_port = Some(port);
        self
    }

    /// Serves tunnels at `<prefix>/<name>/` on hosts that are not a tunnel's own (default `/t`),
    /// for deployments without wildcard DNS; `None` turns path routing off. The prefix is
    /// removed before the request is forwarded and sent along as `X-Forwarded-Prefix`.
    pub fn path_prefix(mut self, prefix: Option<&str>) -> Self {
        self.config.path_prefix = prefix.map(str::to_owned);
        self
    }

    /// Makes public URLs `<base>/<name>/` (path routing) instead of `<name>.<domain>`, for a
    /// server mounted in an app that has no wildcard DNS, e.g. `https://example.com/t`.
    pub fn public_base_url(mut self, base: impl Into<String>) -> Self {
        self.config.public_base_url = Some(base.into());
        self
    }

    /// Requires TLS 1.3 on the control port, with this certificate. Clients then connect with
    /// `tls://`.
    pub fn tls(mut self, tls: ServerTls) -> Self {
        self.config.tls = Some(tls);
        self
    }

    /// Also serves visitors over HTTPS on `addr`, with this certificate. Public URLs then
    /// use `https://`.
    pub fn https(mut self, addr: SocketAddr, tls: ServerTls) -> Self {
        self.config.https = Some((addr, tls));
        self
    }

    /// How long a new client may take to open its session and say hello (default 10 s).
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.config.handshake_timeout = timeout;
        self
    }

    /// How often both ends send heartbeats (default 30 s). A client silent for three intervals
    /// is dropped and its tunnels removed.
    pub fn heartbeat_interval(mut self, interval: Duration) -> Self {
        self.config.heartbeat_interval = interval;
        self
    }

    /// How long the local service may take to send its response head (default 60 s); after
    /// that the visitor gets a 504.
    pub fn response_timeout(mut self, timeout: Duration) -> Self {
        self.config.response_timeout = timeout;
        self
    }

    /// How long a visitor may take to send a request head (default 30 s).
    pub fn header_read_timeout(mut self, timeout: Duration) -> Self {
        self.config.header_read_timeout = timeout;
        self
    }

    /// How long a graceful shutdown waits for requests in flight (default 10 s).
    pub fn grace_period(mut self, grace: Duration) -> Self {
        self.config.grace_period = grace;
        self
    }

    /// How many clients may be connected at once (default 1024).
    pub fn max_clients(mut self, max: usize) -> Self {
        self.config.max_clients = max;
        self
    }

    /// How many visitor connections may be open at once (default 16384); further visitors
    /// wait in the listen backlog until one closes.
    pub fn max_visitor_connections(mut self, max: usize) -> Self {
        self.config.max_visitor_connections = max;
        self
    }

    /// How many tunnels one client may register (default 16).
    pub fn max_tunnels_per_client(mut self, max: usize) -> Self {
        self.config.max_tunnels_per_client = max;
        self
    }

    /// How many streams (requests in flight plus pooled connections) one session may hold
    /// (default 1024).
    pub fn max_streams_per_session(mut self, max: usize) -> Self {
        self.config.max_streams_per_session = max;
        self
    }

    /// The largest request head a visitor may send, in bytes (default 64 KiB).
    pub fn max_header_size(mut self, max: usize) -> Self {
        self.config.max_header_size = max;
        self
    }

    /// The largest control frame, in bytes (default 64 KiB).
    pub fn max_frame_size(mut self, max: usize) -> Self {
        self.config.max_frame_size = max;
        self
    }

    /// Puts a `tower` layer in the observe step, the outermost: it sees every visitor's request
    /// as the visitor sent it (before the hop-by-hop step, the request id and the tunnel's
    /// resolution; the response carries the `x-request-id`), and the final response, errors
    /// already turned into responses (404 for an unknown tunnel, 502 for a dead local service,
    /// a layer's 429, …). For metrics and traces; its service cannot fail (`Error =
    /// Infallible`), so it cannot change what the visitor gets by failing. Take the request's
    /// [`ResolvedTunnel::of`] slot to learn which tunnel the request was for. Layers run in the
    /// order they are added, the first outermost.
    pub fn observe_layer<L, S, B>(mut self, layer: L) -> Self
    where
        L: tower::Layer<IngressService, Service = S> + Send + Sync + 'static,
        S: tower::Service<Request<TunnelBody>, Response = Response<B>, Error = Infallible>,
        S: Clone + Send + Sync + 'static,
        S::Future: Send + 'static,
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        self.extensions.observers.push(layer);
        self
    }

    /// Puts a `tower` layer (a plugin) in front of the [`TunnelService`], for every tunnel.
    /// Layers run in the order they are added, the first outermost, after the tunnel has been
    /// resolved (a layer finds the [`TunnelContext`] in the request extensions) and before the
    /// tunnel's own policy. One instance serves every tunnel: a layer that keeps state per
    /// tunnel keys it by the tunnel's name.
    pub fn layer<L, S, B, E>(mut self, layer: L) -> Self
    where
        L: tower::Layer<HttpService, Service = S> + Send + Sync + 'static,
        S: tower::Service<Request<TunnelBody>, Response = Response<B>, Error = E>,
        S: Clone + Send + Sync + 'static,
        S::Future: Send + 'static,
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
        E: Into<BoxError> + 'static,
    {
        self.extensions.layers.push(layer);
        self
    }

    /// Puts a `tower` layer in the forward step, around the forward over the tunnel: it sees
    /// each request as the client will receive it (after every policy, with the tunnel's
    /// [`TunnelContext`] in its extensions) and the local service's response, or the error
    /// that stood for it (the response timeout's included). For a span of the forward, or to
    /// time the client and its local service alone. Layers run in the order they are added,
    /// the first outermost.
    pub fn forward_layer<L, S, B, E>(mut self, layer: L) -> Self
    where
        L: tower::Layer<HttpService, Service = S> + Send + Sync + 'static,
        S: tower::Service<Request<TunnelBody>, Response = Response<B>, Error = E>,
        S: Clone + Send + Sync + 'static,
        S::Future: Send + 'static,
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
        E: Into<BoxError> + 'static,
    {
        self.extensions.forward_layers.push(layer);
        self
    }

    /// Builds each tunnel's own layers when the tunnel registers, from the policy its client
    /// asked for (see [`TunnelPolicy`]). Without one, the server refuses tunnels that ask for
    /// a policy.
    pub fn tunnel_policy(mut self, policy: impl TunnelPolicy) -> Self {
        self.extensions.tunnel_policy = Some(Arc::new(policy));
        self
    }

    /// Runs `hook` when the server starts, before it listens (for a plugin that connects to
    /// something or loads data); hooks run in the order added, and an error stops the start.
    /// An embedded server runs them in [`EmbeddedServer::start`].
    pub fn on_start<F, Fut>(mut self, hook: F) -> Self
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = std::result::Result<(), BoxError>> + Send + 'static,
    {
        self.extensions
            .on_start
            .push(Box::new(move || Box::pin(hook())));
        self
    }

    /// Runs `hook` once a graceful shutdown is done (requests finished, sessions closed); hooks
    /// run in the order added.
    pub fn on_stop<F, Fut>(mut self, hook: F) -> Self
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.extensions
            .on_stop
            .push(Box::new(move || Box::pin(hook())));
        self
    }

    /// Checks the settings and returns the server, not yet listening; the error names the
    /// setting that is wrong.
    ///
    /// ```
    /// let err = ferrotunnel::Server::builder()
    ///     .domain("tunnel example com")
    ///     .build()
    ///     .unwrap_err();
    /// assert!(matches!(err, ferrotunnel::Error::Config(_)));
    /// assert!(err.to_string().contains("\"tunnel example com\""));
    /// ```
    pub fn build(self) -> Result<Server> {
        self.config.validate()?;
        Ok(Server {
            config: self.config,
            extensions: self.extensions,
        })
    }
}

/// A FerroTunnel server, configured but not yet listening. Start it with [`Server::start`].
#[derive(Debug)]
pub struct Server {
    config: ServerConfig,
    extensions: Extensions,
}

impl Server {
    /// A builder with default settings.
    pub fn builder() -> ServerBuilder {
        ServerBuilder::default()
    }

    /// Runs the start hooks, binds the listeners and starts serving. Returns once all are
    /// listening.
    pub async fn start(mut self) -> Result<ServerHandle> {
        run_start_hooks(std::mem::take(&mut self.extensions.on_start)).await?;
        let control = bind(self.config.control_addr, "clients").await?;
        let http = bind(self.config.http_addr, "HTTP visitors").await?;
        let https = match &self.config.https {
            Some((addr, tls)) => Some((bind(*addr, "HTTPS visitors").await?, tls.clone())),
            None => None,
        };
        let control_addr = control.local_addr()?;
        let http_addr = http.local_addr()?;
        let https_addr = https.as_ref().map(|(l, _)| l.local_addr()).transpose()?;
        let public = match (&self.config.public_base_url, https_addr) {
            (Some(base), _) => PublicUrls::Base(base.clone()),
            (None, Some(addr)) => PublicUrls::Subdomain {
                scheme: "https",
                port: self.config.public_port.unwrap_or(addr.port()),
            },
            (None, None) => PublicUrls::Subdomain {
                scheme: "http",
                port: self.config.public_port.unwrap_or(http_addr.port()),
            },
        };
        let core = Core::new(self.config, public, self.extensions);
        let config = core.config.clone();

        let stop_accepting = CancellationToken::new();
        let acceptor: Arc<dyn Acceptor> = match &config.tls {
            Some(tls) => Arc::new(tls.tunnel_acceptor()),
            None => Arc::new(TcpAcceptor),
        };
        let clients = tokio::spawn(accept::serve(
            control,
            acceptor,
            core.sessions.clone(),
            stop_accepting.clone(),
        ));
        let mut listeners = vec![ingress::Listener {
            tcp: http,
            tls: None,
        }];
        if let Some((tcp, tls)) = https {
            listeners.push(ingress::Listener {
                tcp,
                tls: Some(tls.https_acceptor()),
            });
        }
        let visitors: Vec<_> = listeners
            .into_iter()
            .map(|l| {
                tokio::spawn(ingress::serve(
                    l,
                    core.ingress.clone(),
                    config.clone(),
                    stop_accepting.clone(),
                ))
            })
            .collect();
        tracing::info!(%control_addr, %http_addr, ?https_addr, domain = %config.domain, "server started");
        if config.tokens.is_empty() {
            tracing::warn!("no token configured: any client can register tunnels on this server");
        }
        let sessions = core.sessions.clone();
        let task = tokio::spawn(async move {
            // Visitors first: let requests in flight finish (within the grace period, which
            // `ingress::serve` enforces), and only then close the sessions that carry them.
            for visitors in visitors {
                let _ = visitors.await;
            }
            let _ = clients.await;
            sessions.close_all().await;
        });
        Ok(ServerHandle {
            control_addr,
            http_addr,
            https_addr,
            core,
            stop_accepting,
            task: Some(task),
        })
    }

    /// The server without listeners of its own, for mounting in another HTTP server (such as
    /// an axum app): its [`ingress_service`](EmbeddedServer::ingress_service) serves visitors
    /// and accepts client sessions over WebSocket at [`CONNECT_PATH`].
    ///
    /// Public URLs are `<public_base_url>/<name>/` when a base URL is set, else
    /// `http://<name>.<domain>[:<public_port>]`.
    pub fn into_embedded(self) -> EmbeddedServer {
        let public = match &self.config.public_base_url {
            Some(base) => PublicUrls::Base(base.clone()),
            None => PublicUrls::Subdomain {
                scheme: "http",
                port: self.config.public_port.unwrap_or(80),
            },
        };
        EmbeddedServer {
            core: Core::new(self.config, public, self.extensions),
        }
    }
}

/// What every server has, with or without listeners.
#[derive(Debug)]
struct Core {
    config: Arc<ServerConfig>,
    registry: Arc<Registry>,
    sessions: Arc<Sessions>,
    ingress: IngressService,
    hooks: Hooks,
}

/// Start and stop hooks, each run once.
#[derive(Default)]
struct Hooks {
    start: std::sync::Mutex<Vec<StartHook>>,
    stop: std::sync::Mutex<Vec<StopHook>>,
}

impl Hooks {
    fn take_start(&self) -> Vec<StartHook> {
        std::mem::take(&mut *self.start.lock().unwrap_or_else(|p| p.into_inner()))
    }

    fn take_stop(&self) -> Vec<StopHook> {
        std::mem::take(&mut *self.stop.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

impl std::fmt::Debug for Hooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hooks").finish_non_exhaustive()
    }
}

impl Core {
    fn new(config: ServerConfig, public: PublicUrls, extensions: Extensions) -> Self {
        let routing = Routing::new(config.domain.clone(), config.path_prefix.clone(), public);
        let forward = stack::forward(config.response_timeout, &extensions.forward_layers);
        let tunnel_policy = extensions
            .tunnel_policy
            .unwrap_or_else(|| Arc::new(NoTunnelPolicy));
        let registry = Arc::new(Registry::new(routing, tunnel_policy, forward.clone()));
        let config = Arc::new(config);
        let sessions = Arc::new(Sessions::new(config.clone(), registry.clone()));
        let ingress = stack::ingress(
            registry.clone(),
            sessions.clone(),
            &extensions.observers,
            &extensions.layers,
            forward,
        );
        Self {
            config,
            registry,
            sessions,
            ingress,
            hooks: Hooks {
                start: std::sync::Mutex::new(extensions.on_start),
                stop: std::sync::Mutex::new(extensions.on_stop),
            },
        }
    }

    async fn run_stop_hooks(&self) {
        for hook in self.hooks.take_stop() {
            hook().await;
        }
    }
}

async fn run_start_hooks(hooks: Vec<StartHook>) -> Result<()> {
    for hook in hooks {
        hook().await.map_err(Error::StartHook)?;
    }
    Ok(())
}

/// A server mounted in another HTTP server; see [`Server::into_embedded`].
#[derive(Debug)]
pub struct EmbeddedServer {
    core: Core,
}

impl EmbeddedServer {
    /// Runs the start hooks ([`ServerBuilder::on_start`]), if any: call it once, before
    /// serving. A server without hooks needs no call.
    pub async fn start(&self) -> Result<()> {
        run_start_hooks(self.core.hooks.take_start()).await
    }

    /// The ingress stack: serves visitors of every tunnel, by host or by path, and accepts client
    /// sessions over WebSocket at [`CONNECT_PATH`]. Mount it as a fallback, or on the path
    /// prefix and the connect path.
    pub fn ingress_service(&self) -> IngressService {
        self.core.ingress.clone()
    }

    /// The tunnels live right now.
    pub fn tunnels(&self) -> Vec<TunnelStatus> {
        self.core.registry.live().borrow().clone()
    }

    /// A watch of the live tunnels, updated on every registration and removal.
    pub fn watch_tunnels(&self) -> watch::Receiver<Vec<TunnelStatus>> {
        self.core.registry.live()
    }

    /// The path prefix under which tunnels are served (`/t` by default), if any.
    pub fn path_prefix(&self) -> Option<&str> {
        self.core.config.path_prefix.as_deref()
    }

    /// Tells every client the server is going away, waits for their sessions to end, then
    /// runs the stop hooks. Stop the HTTP server it is mounted in first, so that requests in
    /// flight can finish.
    pub async fn shutdown(self) {
        self.core.sessions.close_all().await;
        self.core.run_stop_hooks().await;
    }
}

async fn bind(addr: SocketAddr, what: &str) -> Result<TcpListener> {
    TcpListener::bind(addr).await.map_err(|err| {
        Error::Io(std::io::Error::new(
            err.kind(),
            format!("cannot listen for {what} on {addr}: {err}"),
        ))
    })
}

/// A running server. Dropping it stops the server; [`shutdown`](Self::shutdown) stops it
/// gracefully and waits.
#[derive(Debug)]
pub struct ServerHandle {
    control_addr: SocketAddr,
    http_addr: SocketAddr,
    https_addr: Option<SocketAddr>,
    core: Core,
    stop_accepting: CancellationToken,
    task: Option<JoinHandle<()>>,
}

impl ServerHandle {
    /// The address clients connect to.
    pub fn control_addr(&self) -> SocketAddr {
        self.control_addr
    }

    /// The address visitors connect to.
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// The address visitors connect to over HTTPS, if the server has an HTTPS ingress.
    pub fn https_addr(&self) -> Option<SocketAddr> {
        self.https_addr
    }

    /// The tunnels live right now.
    pub fn tunnels(&self) -> Vec<TunnelStatus> {
        self.core.registry.live().borrow().clone()
    }

    /// A watch of the live tunnels, updated on every registration and removal.
    pub fn watch_tunnels(&self) -> watch::Receiver<Vec<TunnelStatus>> {
        self.core.registry.live()
    }

    /// The ingress stack (see [`IngressService`]) as a service, for mounting in another HTTP
    /// server as well.
    pub fn ingress_service(&self) -> IngressService {
        self.core.ingress.clone()
    }

    /// Stops accepting, lets requests in flight finish within the grace period, tells every
    /// client the server is going away, waits for all of it, then runs the stop hooks.
    pub async fn shutdown(mut self) {
        self.stop_accepting.cancel();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        self.core.run_stop_hooks().await;
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.stop_accepting.cancel();
    }
}
