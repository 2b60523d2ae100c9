//! Where a template's placeholders get their values: the request, or what was [`Captured`]
//! from it for the response.

use std::net::{IpAddr, SocketAddr};

use http::{Request, header::HOST};

use super::template::{Placeholder, Uses};
use crate::request;

/// The values for the placeholders of one message's rules.
pub(super) trait Values {
    fn visitor_addr(&self) -> Option<SocketAddr>;

    fn visitor_ip(&self) -> Option<IpAddr> {
        self.visitor_addr().map(|addr| addr.ip().to_canonical())
    }

    fn tunnel(&self) -> Option<&str>;

    fn request_id(&self) -> Option<&str>;

    fn host(&self) -> Option<&str>;
}

impl<B> Values for Request<B> {
    fn visitor_addr(&self) -> Option<SocketAddr> {
        request::visitor_addr(self)
    }

    fn visitor_ip(&self) -> Option<IpAddr> {
        request::visitor_ip(self)
    }

    fn tunnel(&self) -> Option<&str> {
        request::tunnel_name(self)
    }

    fn request_id(&self) -> Option<&str> {
        request::request_id(self)
    }

    fn host(&self) -> Option<&str> {
        // HTTP/2 visitors name the host in the URI only.
        self.headers()
            .get(HOST)
            .and_then(|host| host.to_str().ok())
            .or_else(|| self.uri().authority().map(|a| a.as_str()))
    }
}

/// The values of a request that the response rules use, taken when the request passed, since
/// the response no longer carries them.
#[derive(Debug, Default)]
pub(super) struct Captured {
    visitor_addr: Option<SocketAddr>,
    tunnel: Option<Box<str>>,
    request_id: Option<Box<str>>,
    host: Option<Box<str>>,
}

impl Captured {
    /// Takes from `request` the values of the placeholders in `uses`, and only those.
    pub(super) fn of<B>(request: &Request<B>, uses: Uses) -> Self {
        let take = |placeholder, value: Option<&str>| {
            uses.contains(placeholder)
                .then(|| value.map(Box::from))
                .flatten()
        };
        Self {
            visitor_addr: (uses.contains(Placeholder::VisitorIp)
                || uses.contains(Placeholder::VisitorAddr))
            .then(|| request::visitor_addr(request))
            .flatten(),
            tunnel: take(Placeholder::Tunnel, request.tunnel()),
            request_id: take(Placeholder::RequestId, request.request_id()),
            host: take(Placeholder::Host, request.host()),
        }
    }
}

impl Values for Captured {
    fn visitor_addr(&self) -> Option<SocketAddr> {
        self.visitor_addr
    }

    fn tunnel(&self) -> Option<&str> {
        self.tunnel.as_deref()
    }

    fn request_id(&self) -> Option<&str> {
        self.request_id.as_deref()
    }

    fn host(&self) -> Option<&str> {
        self.host.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::headers::HeaderTemplate;

    #[test]
    fn only_the_used_values_are_captured() {
        let mut request = Request::builder()
            .header("x-request-id", "req-1")
            .header("host", "app.example.com")
            .body(())
            .expect("request");
        request
            .extensions_mut()
            .insert(SocketAddr::from(([192, 0, 2, 7], 1)));
        let template: HeaderTemplate = "${request_id}".parse().expect("template");
        let captured = Captured::of(&request, template.uses());
        assert_eq!(captured.request_id(), Some("req-1"));
        assert_eq!((captured.host(), captured.visitor_addr()), (None, None));
        let all: HeaderTemplate = "${visitor_ip}${host}".parse().expect("template");
        let captured = Captured::of(&request, all.uses());
        assert_eq!(captured.visitor_ip(), Some(IpAddr::from([192, 0, 2, 7])));
        assert_eq!(captured.host(), Some("app.example.com"));
    }
}
