//! What a layer can learn about a request from its extensions, inside a FerroTunnel ingress or
//! in any other tower stack: who sent it, which tunnel it is for, its request id.
//!
//! The ingress puts a [`VisitorAddr`] and, once the tunnel is resolved, a [`TunnelContext`] in
//! every request's extensions. Other servers say who the peer is in other ways; a plain
//! [`SocketAddr`] extension (what `axum`'s `ConnectInfo` holds, and what a `hyper` server can
//! insert per connection) is understood too.

use std::net::{IpAddr, SocketAddr};

pub use ferrotunnel::server::REQUEST_ID;
use ferrotunnel::{TunnelContext, client::LocalTarget, server::VisitorAddr};
use http::{Method, Request};

/// The address of the visitor who sent `request`, if the server said.
pub fn visitor_addr<B>(request: &Request<B>) -> Option<SocketAddr> {
    let extensions = request.extensions();
    extensions
        .get::<VisitorAddr>()
        .map(|VisitorAddr(addr)| *addr)
        .or_else(|| extensions.get::<SocketAddr>().copied())
}

/// The IP address of the visitor who sent `request`. An IPv4 address that reached an IPv6
/// socket (`::ffff:192.0.2.7`) is given as the IPv4 address it is, so that IPv4 rules and
/// keys apply to it.
pub fn visitor_ip<B>(request: &Request<B>) -> Option<IpAddr> {
    visitor_addr(request).map(|addr| addr.ip().to_canonical())
}

/// The name of the tunnel `request` is for: inside a FerroTunnel ingress, or on a client that
/// runs HTTP layers in front of its local service (`ClientBuilder::http_layer`).
pub fn tunnel_name<B>(request: &Request<B>) -> Option<&str> {
    let extensions = request.extensions();
    extensions
        .get::<TunnelContext>()
        .map(TunnelContext::name)
        .or_else(|| {
            extensions
                .get::<LocalTarget>()
                .map(|target| &*target.tunnel)
        })
}

/// The request's id (`x-request-id`), if it has a readable one.
pub fn request_id<B>(request: &Request<B>) -> Option<&str> {
    request
        .headers()
        .get(&REQUEST_ID)
        .and_then(|id| id.to_str().ok())
}

/// The request's method if it is one of the nine standard ones (OpenTelemetry's closed set),
/// as a `&'static str`; else `None`. A label or an attribute made from it stays bounded.
pub fn standard_method(method: &Method) -> Option<&'static str> {
    Some(match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_visitor_comes_from_the_ingress_or_a_socket_address() {
        let mut request = Request::new(());
        assert_eq!(visitor_ip(&request), None);
        request
            .extensions_mut()
            .insert(SocketAddr::from(([192, 0, 2, 9], 1)));
        assert_eq!(visitor_ip(&request), Some(IpAddr::from([192, 0, 2, 9])));
        request
            .extensions_mut()
            .insert(VisitorAddr(SocketAddr::from(([192, 0, 2, 7], 1))));
        assert_eq!(
            visitor_ip(&request),
            Some(IpAddr::from([192, 0, 2, 7])),
            "the ingress's word wins"
        );
    }

    #[test]
    fn mapped_ipv4_addresses_count_as_ipv4() {
        let mut request = Request::new(());
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().expect("address");
        request
            .extensions_mut()
            .insert(VisitorAddr(SocketAddr::new(mapped, 1)));
        assert_eq!(visitor_ip(&request), Some(IpAddr::from([192, 0, 2, 7])));
    }
}
