//! What the dashboard reads and acts through: the capture store, the live tunnels, and a way to
//! send a replay.

use std::{fmt, future::Future, pin::Pin, sync::Arc};

use ferrotunnel::{
    BoxError, IngressService, TunnelBody, TunnelStatus,
    client::{LocalHttpService, LocalTarget},
    server::RouteTo,
};
use ferrotunnel_tower::{auth::AuthLayer, capture::CaptureStore};
use futures::TryFutureExt;
use http::{Request, Response};
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::sync::watch;
use tower::ServiceExt;

use crate::tunnels::{TunnelSource, TunnelView};

/// A boxed future, as [`Replay::send`] returns.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// Sends a replayed request the way the original went, so that it is captured again.
///
/// The dashboard builds the request from the captured exchange (with the user's changes) and
/// puts a [`ReplayOf`](ferrotunnel_tower::capture::ReplayOf) extension on it; the capture layer
/// on the way records it as a new exchange and names it in the response's
/// [`ExchangeId`](ferrotunnel_tower::capture::ExchangeId) extension.
pub trait Replay: Send + Sync + 'static {
    /// Sends `request`, which was first captured on `tunnel`.
    fn send(
        &self,
        tunnel: Option<&str>,
        request: Request<TunnelBody>,
    ) -> BoxFuture<Result<Response<TunnelBody>, BoxError>>;
}

/// Replays through a server's whole ingress stack, to the exchange's tunnel by name (whatever
/// the path prefix or `Host` would say): the visitor's way in, policies included.
#[derive(Debug, Clone)]
pub struct IngressReplay {
    ingress: IngressService,
}

impl IngressReplay {
    /// Replays through `ingress`, e.g. [`ServerHandle::ingress_service`](ferrotunnel::ServerHandle::ingress_service).
    pub fn new(ingress: IngressService) -> Self {
        Self { ingress }
    }
}

impl Replay for IngressReplay {
    fn send(
        &self,
        tunnel: Option<&str>,
        mut request: Request<TunnelBody>,
    ) -> BoxFuture<Result<Response<TunnelBody>, BoxError>> {
        if let Some(tunnel) = tunnel {
            request.extensions_mut().insert(RouteTo(tunnel.to_owned()));
        }
        Box::pin(
            self.ingress
                .clone()
                .oneshot(request)
                .map_err(|never| match never {}),
        )
    }
}

/// Replays straight to a client's local service, through the client's HTTP layers (its capture
/// layer among them): what `ferrotunnel client --inspect` does. The tunnel's local address comes
/// from the dashboard's tunnel list.
#[derive(Debug, Clone)]
pub struct LocalReplay {
    service: LocalHttpService,
    tunnels: watch::Receiver<Vec<TunnelView>>,
}

impl LocalReplay {
    /// Replays through `service`
    /// ([`ClientHandle::http_service`](ferrotunnel::ClientHandle::http_service)) to the local
    /// address that `tunnels` gives each tunnel.
    pub fn new(service: LocalHttpService, tunnels: watch::Receiver<Vec<TunnelView>>) -> Self {
        Self { service, tunnels }
    }
}

impl Replay for LocalReplay {
    fn send(
        &self,
        tunnel: Option<&str>,
        mut request: Request<TunnelBody>,
    ) -> BoxFuture<Result<Response<TunnelBody>, BoxError>> {
        let target = tunnel.and_then(|name| {
            self.tunnels
                .borrow()
                .iter()
                .find(|view| view.name == name)
                .and_then(|view| view.local_addr.clone())
                .map(|local| LocalTarget::new(name, local))
        });
        let Some(target) = target else {
            let message = format!(
                "no local service is known for tunnel {}",
                tunnel.unwrap_or("(none)")
            );
            return Box::pin(std::future::ready(Err(message.into())));
        };
        request.extensions_mut().insert(target);
        Box::pin(self.service.clone().oneshot(request))
    }
}

/// What the dashboard reads: the captured exchanges, the live tunnels, and how to replay.
///
/// Cheap to clone.
#[derive(Clone)]
pub struct DashboardState {
    pub(crate) capture: CaptureStore,
    pub(crate) tunnels: TunnelSource,
    pub(crate) replay: Option<Arc<dyn Replay>>,
    pub(crate) auth: Option<AuthLayer>,
    pub(crate) metrics: Option<PrometheusHandle>,
}

impl DashboardState {
    /// A dashboard of a server: the exchanges in `capture` (whose layer the server runs) and the
    /// server's live tunnels
    /// ([`ServerHandle::watch_tunnels`](ferrotunnel::ServerHandle::watch_tunnels)). Add
    /// [`replay_with`](Self::replay_with) to allow replays.
    pub fn new(capture: CaptureStore, tunnels: watch::Receiver<Vec<TunnelStatus>>) -> Self {
        Self {
            capture,
            tunnels: TunnelSource::Server(tunnels),
            replay: None,
            auth: None,
            metrics: None,
        }
    }

    /// A dashboard of tunnels described by their owner, e.g. a client's inspector, which keeps
    /// the watch current.
    pub fn with_views(capture: CaptureStore, tunnels: watch::Receiver<Vec<TunnelView>>) -> Self {
        Self {
            capture,
            tunnels: TunnelSource::Views(tunnels),
            replay: None,
            auth: None,
            metrics: None,
        }
    }

    /// Sends replays with `replay`; without one, replay requests are refused.
    pub fn replay_with(mut self, replay: impl Replay) -> Self {
        self.replay = Some(Arc::new(replay));
        self
    }

    /// Serves `handle`'s metrics at `/metrics`, in the Prometheus text format (without it,
    /// `/metrics` is a 404 saying so).
    pub fn metrics(mut self, handle: PrometheusHandle) -> Self {
        self.metrics = Some(handle);
        self
    }

    /// Asks every request for HTTP Basic credentials (`user`, `password`), as a dashboard bound
    /// to a non-loopback address must.
    pub fn basic_auth(mut self, user: impl Into<String>, password: impl AsRef<str>) -> Self {
        self.auth = Some(
            AuthLayer::new()
                .realm("ferrotunnel dashboard")
                .basic(user, password),
        );
        self
    }

    /// The capture store the dashboard reads.
    pub fn capture(&self) -> &CaptureStore {
        &self.capture
    }

    /// The live tunnels now, sorted by name.
    pub fn tunnels(&self) -> Vec<TunnelView> {
        self.tunnels.snapshot()
    }
}

impl fmt::Debug for DashboardState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DashboardState")
            .field("capture", &self.capture)
            .field("tunnels", &self.tunnels)
            .field("replay", &self.replay.is_some())
            .field("auth", &self.auth.is_some())
            .field("metrics", &self.metrics.is_some())
            .finish()
    }
}
