//! THE request path: every step a visitor's request takes through the ingress, in order, built
//! in one place.
//!
//! ```text
//! observe           ServerBuilder::observe_layer(..): metrics, traces; every request as the
//!                   visitor sent it and its final response, 404s for unknown tunnels included
//! hop-by-hop        the visitor's Connection and the headers it names stop here, on receipt
//! request id        x-request-id, set when the visitor sent none, and echoed on the response
//! rescue            every error below becomes one clear HTTP response, here and nowhere else
//! client connect    the connect path opens a client session over WebSocket instead
//! resolve tunnel    Host or path → TunnelContext, or 404 unknown / 503 offline
//! strip prefix      a request routed by path (/t/app/x) goes on as /x, with X-Forwarded-Prefix
//! server layers     Server::builder().layer(..), for every tunnel
//! tunnel policy     the tunnel's own stack, built when it registered (server-wide policy rules,
//!                   then the ones its client asked for), ending in the steps below
//! forward layers    ServerBuilder::forward_layer(..): traces of the forward, for every tunnel
//! response timeout  504 when the local service is too slow to send its response head
//! forwarded headers X-Forwarded-For, -Proto, -Host; the response's hop-by-hop headers stop
//! TunnelService     pooled HTTP/1.1 over a yamux stream of the client's session
//! ```
//!
//! The stack is built in two parts because the tunnel-policy step is one stack per tunnel:
//! [`forward`] is the bottom, shared by every tunnel's own stack and by tunnels without one,
//! and [`ingress`] puts the top on it.

use std::{convert::Infallible, sync::Arc, time::Duration};

use http::{Request, Response};

use tower::{ServiceBuilder, util::Either};
use tower_http::{propagate_header::PropagateHeaderLayer, set_header::SetRequestHeaderLayer};

use super::{
    HttpService, IngressService, LayerStack, TunnelBody, TunnelService,
    connect::ClientConnectLayer,
    forwarded::ForwardedHeadersLayer,
    hop_by_hop::HopByHopLayer,
    observe::ObserveStack,
    path_prefix::StripPathPrefixLayer,
    registry::Registry,
    request_id::{REQUEST_ID, RequestIds},
    rescue::RescueLayer,
    resolve::ResolveTunnelLayer,
    sessions::Sessions,
    tunnel_policy::RunTunnelPolicyLayer,
};
use crate::{BoxError, Error};

/// The whole ingress stack, from the visitor's request to `forward`.
pub(super) fn ingress(
    registry: Arc<Registry>,
    sessions: Arc<Sessions>,
    observers: &ObserveStack,
    server_layers: &LayerStack,
    forward: HttpService,
) -> IngressService {
    let tunnels = ServiceBuilder::new()
        .layer(RunTunnelPolicyLayer)
        .service(forward);
    // Without server layers, no box (one more allocation for the clone and for the future of
    // each request) goes between the top and the tunnels.
    let tunnels = if server_layers.is_empty() {
        Either::Right(tunnels)
    } else {
        Either::Left(server_layers.wrap(HttpService::new(tunnels)))
    };
    let answered = ServiceBuilder::new()
        // Every error below becomes a response here and nowhere else.
        .layer(RescueLayer)
        .layer(ClientConnectLayer::new(sessions, registry.clone()))
        // Before any user layer: they act per tunnel, and never see client sessions.
        .layer(ResolveTunnelLayer::new(registry))
        .layer(StripPathPrefixLayer)
        .service(tunnels);
    // The observers outermost: each is one box around the rest (a box per request for its
    // future, and an allocation per request when hyper's connection clones the service), so
    // none goes between the top steps and the rest.
    let service = top(answered);
    if observers.is_empty() {
        service
    } else {
        observers.wrap(service)
    }
}

/// The first steps, around `inner`.
fn top<S>(inner: S) -> IngressService
where
    S: tower::Service<Request<TunnelBody>, Response = Response<TunnelBody>, Error = Infallible>,
    S: Clone + Send + Sync + 'static,
    S::Future: Send + 'static,
{
    let service = ServiceBuilder::new()
        // First: a visitor must not be able to name, in `Connection`, a header that a later
        // step or policy adds, and have it removed.
        .layer(HopByHopLayer)
        // Outside the rescue step, so that its error responses carry the id too; neither
        // request-id layer can fail. The observers see the id on the response.
        .layer(SetRequestHeaderLayer::if_not_present(
            REQUEST_ID, RequestIds,
        ))
        .layer(PropagateHeaderLayer::new(REQUEST_ID))
        .service(inner);
    IngressService::new(service)
}

/// The forwarding steps at the bottom of every tunnel's stack, under `forward_layers`.
pub(super) fn forward(response_timeout: Duration, forward_layers: &LayerStack) -> HttpService {
    let forward = ServiceBuilder::new()
        // tower's timeout says only that time ran out; say whose time and how long.
        .map_err(move |err: BoxError| Error::from_elapsed(err, response_timeout))
        .timeout(response_timeout)
        .layer(ForwardedHeadersLayer)
        .service(TunnelService::new());
    forward_layers.wrap(HttpService::new(forward))
}
