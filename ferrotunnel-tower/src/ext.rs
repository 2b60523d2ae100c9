//! Extension traits: built-in layers and plugins one method call away on tower's
//! [`ServiceBuilder`] and on FerroTunnel's [`ServerBuilder`].
//!
//! ```
//! use std::net::SocketAddr;
//!
//! use ferrotunnel::{BoxError, TunnelBody, server::VisitorAddr};
//! use ferrotunnel_tower::{ServiceBuilderExt, rate_limit::Rate};
//! use http::{Request, Response, StatusCode};
//! use tower::{ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), BoxError> {
//! let service = ServiceBuilder::new()
//!     .deny_ips(["192.0.2.0/24".parse()?])
//!     .limit_rate(Rate::per_second(10))
//!     .basic_auth("alice", "correct-horse")
//!     .service_fn(|_: Request<TunnelBody>| async {
//!         Ok::<_, BoxError>(Response::new(TunnelBody::default()))
//!     });
//! let from = |visitor: &str| -> Result<Request<TunnelBody>, BoxError> {
//!     let mut request = Request::new(TunnelBody::default());
//!     request.extensions_mut().insert(VisitorAddr(visitor.parse::<SocketAddr>()?));
//!     Ok(request)
//! };
//! // Refused before the service runs: a denied address, then missing credentials.
//! let response = service.clone().oneshot(from("192.0.2.7:40000")?).await?;
//! assert_eq!(response.status(), StatusCode::FORBIDDEN);
//! let response = service.oneshot(from("198.51.100.7:40000")?).await?;
//! assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
//! # Ok(())
//! # }
//! ```

use ferrotunnel::ServerBuilder;
use http::HeaderName;
use tower::{ServiceBuilder, layer::util::Stack};

use crate::{
    AuthLayer, CircuitBreakerLayer, HeadersLayer, IpFilterLayer, Plugin, PluginLayer,
    RateLimitLayer, ip_filter::Cidr, rate_limit::Rate,
};

/// The built-in layers as [`ServiceBuilder`] methods. Each adds one layer, like tower-http's
/// own extension trait; the layer's own builder has every setting.
pub trait ServiceBuilderExt<L>: Sized {
    /// Requires HTTP Basic credentials: `user` with `password` (see [`AuthLayer`] for several
    /// users, bearer tokens and API keys).
    fn basic_auth(self, user: &str, password: &str) -> ServiceBuilder<Stack<AuthLayer, L>>;

    /// Requires `Authorization: Bearer <token>`.
    fn bearer_auth(self, token: &str) -> ServiceBuilder<Stack<AuthLayer, L>>;

    /// Requires `key` in the header `header`.
    fn api_key_auth(self, header: HeaderName, key: &str) -> ServiceBuilder<Stack<AuthLayer, L>>;

    /// Limits each visitor address to `rate` (see [`RateLimitLayer`] for bursts and other
    /// keys). Named apart from tower's own `rate_limit`, which is one bucket per service clone.
    fn limit_rate(self, rate: Rate) -> ServiceBuilder<Stack<RateLimitLayer, L>>;

    /// Refuses visitors from these addresses with a 403.
    fn deny_ips(
        self,
        blocks: impl IntoIterator<Item = Cidr>,
    ) -> ServiceBuilder<Stack<IpFilterLayer, L>>;

    /// Lets only visitors from these addresses through; others get a 403.
    fn allow_ips(
        self,
        blocks: impl IntoIterator<Item = Cidr>,
    ) -> ServiceBuilder<Stack<IpFilterLayer, L>>;

    /// Adds, sets and removes headers as `headers` says.
    fn headers(self, headers: HeadersLayer) -> ServiceBuilder<Stack<HeadersLayer, L>>;

    /// Answers 503 at once for a while after consecutive failures (defaults: 5, 30 s).
    fn circuit_breaker(self) -> ServiceBuilder<Stack<CircuitBreakerLayer, L>>;

    /// Runs a [`Plugin`].
    fn plugin<P: Plugin>(self, plugin: P) -> ServiceBuilder<Stack<PluginLayer<P>, L>>;
}

impl<L> ServiceBuilderExt<L> for ServiceBuilder<L> {
    fn basic_auth(self, user: &str, password: &str) -> ServiceBuilder<Stack<AuthLayer, L>> {
        self.layer(AuthLayer::new().basic(user, password))
    }

    fn bearer_auth(self, token: &str) -> ServiceBuilder<Stack<AuthLayer, L>> {
        self.layer(AuthLayer::new().bearer(token))
    }

    fn api_key_auth(self, header: HeaderName, key: &str) -> ServiceBuilder<Stack<AuthLayer, L>> {
        self.layer(AuthLayer::new().api_key(header, key))
    }

    fn limit_rate(self, rate: Rate) -> ServiceBuilder<Stack<RateLimitLayer, L>> {
        self.layer(RateLimitLayer::new(rate))
    }

    fn deny_ips(
        self,
        blocks: impl IntoIterator<Item = Cidr>,
    ) -> ServiceBuilder<Stack<IpFilterLayer, L>> {
        self.layer(IpFilterLayer::new().deny_all(blocks))
    }

    fn allow_ips(
        self,
        blocks: impl IntoIterator<Item = Cidr>,
    ) -> ServiceBuilder<Stack<IpFilterLayer, L>> {
        self.layer(IpFilterLayer::new().allow_all(blocks))
    }

    fn headers(self, headers: HeadersLayer) -> ServiceBuilder<Stack<HeadersLayer, L>> {
        self.layer(headers)
    }

    fn circuit_breaker(self) -> ServiceBuilder<Stack<CircuitBreakerLayer, L>> {
        self.layer(CircuitBreakerLayer::new())
    }

    fn plugin<P: Plugin>(self, plugin: P) -> ServiceBuilder<Stack<PluginLayer<P>, L>> {
        self.layer(PluginLayer::new(plugin))
    }
}

/// [`Plugin`]s on a FerroTunnel server, with their lifecycle.
pub trait ServerBuilderExt: Sized {
    /// Runs `plugin` on every tunnel's requests (like [`ServerBuilder::layer`] with a
    /// [`PluginLayer`]), and its [`on_start`](Plugin::on_start) and
    /// [`on_stop`](Plugin::on_stop) hooks when the server starts and stops.
    fn plugin<P: Plugin>(self, plugin: P) -> Self;
}

impl ServerBuilderExt for ServerBuilder {
    fn plugin<P: Plugin>(self, plugin: P) -> Self {
        let layer = PluginLayer::new(plugin);
        let (starting, stopping) = (layer.clone(), layer.clone());
        self.layer(layer)
            .on_start(move || async move { starting.start().await })
            .on_stop(move || async move { stopping.stop().await })
    }
}
