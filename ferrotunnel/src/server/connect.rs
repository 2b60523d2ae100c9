//! The client-connect step of the ingress stack: a client whose server URL is `ws://` or
//! `wss://` opens its session as a WebSocket at [`CONNECT_PATH`](super::CONNECT_PATH), so one
//! port (443, say) serves visitors and clients alike, through any HTTP proxy. Every other
//! request goes on to the inner service.

use std::{
    future::{Ready, ready},
    net::SocketAddr,
    sync::Arc,
    task::{Context, Poll},
};

use futures::future::Either;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;

use super::{
    TunnelBody, VisitorAddr,
    observe::{Resolution, ResolvedTunnel},
    registry::Registry,
    routing::request_host,
    sessions::{Peer, Sessions},
    visitor::IngressScheme,
};
use crate::{
    BoxError, Error,
    transport::{Transport, accept_websocket, websocket_accept_key},
};

/// Applies [`ClientConnect`].
#[derive(Debug, Clone)]
pub(crate) struct ClientConnectLayer {
    endpoint: ConnectEndpoint,
    registry: Arc<Registry>,
}

impl ClientConnectLayer {
    /// Admits client sessions into `sessions`; `registry` says which hosts are tunnels'.
    pub(crate) fn new(sessions: Arc<Sessions>, registry: Arc<Registry>) -> Self {
        Self {
            endpoint: ConnectEndpoint { sessions },
            registry,
        }
    }
}

impl<S> tower::Layer<S> for ClientConnectLayer {
    type Service = ClientConnect<S>;

    fn layer(&self, inner: S) -> ClientConnect<S> {
        ClientConnect {
            inner,
            endpoint: self.endpoint.clone(),
            registry: self.registry.clone(),
        }
    }
}

/// Sends requests for the connect path (on hosts that are not a tunnel's) to the session
/// endpoint, and every other request to the inner service.
#[derive(Debug, Clone)]
pub(crate) struct ClientConnect<S> {
    inner: S,
    /// Not boxed like the inner service: the stack is cloned for every request, and a box
    /// would be one more allocation each time.
    endpoint: ConnectEndpoint,
    registry: Arc<Registry>,
}

impl<S> tower::Service<Request<TunnelBody>> for ClientConnect<S>
where
    S: tower::Service<Request<TunnelBody>, Response = Response<TunnelBody>, Error = BoxError>,
{
    type Response = Response<TunnelBody>;
    type Error = BoxError;
    type Future = Either<Ready<Result<Response<TunnelBody>, BoxError>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        // The endpoint is always ready: it only spawns the session.
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<TunnelBody>) -> Self::Future {
        let routing = self.registry.routing();
        if routing.is_connect(request_host(&request), request.uri().path()) {
            ResolvedTunnel::record(&request, || Resolution::ClientSession);
            Either::Left(self.endpoint.call(request))
        } else {
            Either::Right(self.inner.call(request))
        }
    }
}

/// Accepts client sessions over WebSocket.
#[derive(Debug, Clone)]
struct ConnectEndpoint {
    sessions: Arc<Sessions>,
}

impl ConnectEndpoint {
    /// Answers a valid WebSocket upgrade with `101` and starts the session once the upgrade is
    /// done; anything else is a `BadConnectRequest`.
    fn call(
        &self,
        mut request: Request<TunnelBody>,
    ) -> Ready<Result<Response<TunnelBody>, BoxError>> {
        let key = match websocket_key(request.method(), request.headers()) {
            Ok(key) => key,
            Err(err) => return ready(Err(err.into())),
        };
        let peer = request
            .extensions()
            .get::<VisitorAddr>()
            .map_or(SocketAddr::from(([0, 0, 0, 0], 0)), |v| v.0);
        let transport = match request.extensions().get::<IngressScheme>() {
            Some(IngressScheme("https")) => Transport::Wss,
            _ => Transport::Ws,
        };
        let upgrade = hyper::upgrade::on(&mut request);
        self.sessions.admit(Peer::new(peer, transport), async move {
            let upgraded = upgrade
                .await
                .map_err(|err| Error::Session(format!("the WebSocket upgrade failed: {err}")))?;
            Ok(accept_websocket(TokioIo::new(upgraded)).await)
        });
        let mut response =
            Response::new(Empty::new().map_err(|never| match never {}).boxed_unsync());
        *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let headers = response.headers_mut();
        headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        if let Ok(accept) = HeaderValue::from_str(&websocket_accept_key(key.as_bytes())) {
            headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
        }
        ready(Ok(response))
    }
}

/// The `Sec-WebSocket-Key` of a valid WebSocket upgrade request (RFC 6455 §4.2.1).
fn websocket_key(method: &Method, headers: &HeaderMap) -> Result<HeaderValue, Error> {
    let has_token = |name, token: &str| {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    };
    let is_upgrade = method == Method::GET
        && has_token(header::UPGRADE, "websocket")
        && has_token(header::CONNECTION, "upgrade")
        && headers
            .get(header::SEC_WEBSOCKET_VERSION)
            .is_some_and(|v| v == "13");
    match headers.get(header::SEC_WEBSOCKET_KEY) {
        Some(key) if is_upgrade => Ok(key.clone()),
        _ => Err(Error::BadConnectRequest(
            "this is the FerroTunnel client endpoint: it accepts WebSocket upgrades from `ferrotunnel client --server ws://…`".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_websocket_upgrades_are_accepted() {
        let mut headers = HeaderMap::new();
        headers.insert(header::UPGRADE, HeaderValue::from_static("WebSocket"));
        headers.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, Upgrade"),
        );
        headers.insert(
            header::SEC_WEBSOCKET_VERSION,
            HeaderValue::from_static("13"),
        );
        headers.insert(
            header::SEC_WEBSOCKET_KEY,
            HeaderValue::from_static("dGhlIHNhbXBsZSBub25jZQ=="),
        );
        assert!(websocket_key(&Method::GET, &headers).is_ok());
        assert!(websocket_key(&Method::POST, &headers).is_err());
        headers.remove(header::SEC_WEBSOCKET_KEY);
        assert!(websocket_key(&Method::GET, &headers).is_err());
        assert!(websocket_key(&Method::GET, &HeaderMap::new()).is_err());
    }
}
