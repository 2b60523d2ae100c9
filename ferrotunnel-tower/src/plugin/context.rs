use std::{
    net::{IpAddr, SocketAddr},
    time::{Duration, Instant},
};

use ferrotunnel::{TunnelContext, server::ReceivedAt};
use http::{HeaderValue, Request};

use crate::request::{self, REQUEST_ID};

/// What a [`Plugin`](super::Plugin) knows about a request besides the request itself: the tunnel
/// it is for, who sent it, its id and when it arrived. Built from the request's extensions and
/// headers as the ingress leaves them.
#[derive(Debug, Clone)]
pub struct RequestContext {
    tunnel: Option<TunnelContext>,
    visitor: Option<SocketAddr>,
    request_id: Option<HeaderValue>,
    received_at: Instant,
}

impl RequestContext {
    /// The context of `request`. Outside a FerroTunnel ingress, what the request does not say
    /// is `None`, and the request counts as received now.
    pub fn from_request<B>(request: &Request<B>) -> Self {
        Self {
            tunnel: request.extensions().get::<TunnelContext>().cloned(),
            visitor: request::visitor_addr(request),
            request_id: request.headers().get(&REQUEST_ID).cloned(),
            received_at: request
                .extensions()
                .get::<ReceivedAt>()
                .map_or_else(Instant::now, |ReceivedAt(at)| *at),
        }
    }

    /// The tunnel the request is for (its name, public URL and session).
    pub fn tunnel(&self) -> Option<&TunnelContext> {
        self.tunnel.as_ref()
    }

    /// The name of the tunnel the request is for.
    pub fn tunnel_name(&self) -> Option<&str> {
        self.tunnel.as_ref().map(TunnelContext::name)
    }

    /// The visitor's address.
    pub fn visitor(&self) -> Option<SocketAddr> {
        self.visitor
    }

    /// The visitor's IP address (an IPv4-mapped IPv6 address as the IPv4 address it is).
    pub fn visitor_ip(&self) -> Option<IpAddr> {
        self.visitor.map(|addr| addr.ip().to_canonical())
    }

    /// The request's id (`x-request-id`), which the response carries back too.
    pub fn request_id(&self) -> Option<&str> {
        self.request_id.as_ref().and_then(|id| id.to_str().ok())
    }

    /// When the ingress received the request's head.
    pub fn received_at(&self) -> Instant {
        self.received_at
    }

    /// How long ago the ingress received the request's head.
    pub fn elapsed(&self) -> Duration {
        self.received_at.elapsed()
    }
}
