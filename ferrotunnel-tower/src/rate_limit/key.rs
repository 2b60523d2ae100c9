//! What a request is counted under: the [`Key`] of its bucket, and how to name it to a visitor.

use std::{
    fmt,
    hash::{BuildHasher, Hash, RandomState},
    net::{IpAddr, Ipv6Addr},
    sync::Arc,
};

use http::{Extensions, HeaderMap, HeaderName, Method, Request, Uri, Version};

use super::{KeyBy, store::Key};
use crate::request::{tunnel_name, visitor_ip};

/// The head of a request, borrowed, for a user's key function ([`RateLimitLayer::by`]).
///
/// A key function sees this rather than the `Request` so that it works whatever the request's
/// body type is. The visitor's address and the tunnel are in the extensions
/// ([`VisitorAddr`](ferrotunnel::server::VisitorAddr),
/// [`TunnelContext`](ferrotunnel::TunnelContext)).
///
/// [`RateLimitLayer::by`]: super::RateLimitLayer::by
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct RequestHead<'a> {
    /// The method.
    pub method: &'a Method,
    /// The URI.
    pub uri: &'a Uri,
    /// The HTTP version.
    pub version: Version,
    /// The headers.
    pub headers: &'a HeaderMap,
    /// The extensions.
    pub extensions: &'a Extensions,
}

impl<'a> RequestHead<'a> {
    /// The head of `request`.
    pub fn of<B>(request: &'a Request<B>) -> Self {
        Self {
            method: request.method(),
            uri: request.uri(),
            version: request.version(),
            headers: request.headers(),
            extensions: request.extensions(),
        }
    }
}

/// A user's key function, its key already hashed.
type KeyFn = dyn Fn(RequestHead<'_>, &RandomState) -> Option<u64> + Send + Sync;

/// Where the key comes from: a [`KeyBy`], or a user's function.
#[derive(Clone)]
pub(super) enum Source {
    Ip,
    Tunnel,
    Header(HeaderName),
    Global,
    Custom(Arc<KeyFn>),
}

impl Source {
    pub(super) fn custom<F, K>(key: F) -> Self
    where
        F: Fn(RequestHead<'_>) -> Option<K> + Send + Sync + 'static,
        K: Hash,
    {
        Self::Custom(Arc::new(move |head, hasher| {
            key(head).map(|key| hasher.hash_one(key))
        }))
    }

    /// The key of `request`; [`Key::Unkeyed`] when it has none.
    pub(super) fn key<B>(&self, request: &Request<B>, hasher: &RandomState) -> Key {
        let key = match self {
            Self::Ip => visitor_ip(request).map(|ip| Key::Ip(network_of(ip))),
            Self::Tunnel => tunnel_name(request).map(|name| Key::Hash(hasher.hash_one(name))),
            Self::Header(name) => request
                .headers()
                .get(name)
                .map(|value| Key::Hash(hasher.hash_one(value.as_bytes()))),
            Self::Global => None,
            Self::Custom(key) => key(RequestHead::of(request), hasher).map(Key::Hash),
        };
        key.unwrap_or(Key::Unkeyed)
    }

    /// Whom the limit applies to, for the visitor: "from 192.0.2.7", "for this x-api-key".
    /// Never says a header's value: it may be a secret.
    pub(super) fn whom<B>(&self, request: &Request<B>, key: Key) -> String {
        match (self, key) {
            (Self::Ip, Key::Ip(ip @ IpAddr::V4(_))) => format!("from {ip}"),
            (Self::Ip, Key::Ip(ip @ IpAddr::V6(_))) => format!("from {ip}/64"),
            (Self::Ip, _) => "from visitors whose address is unknown".into(),
            (Self::Tunnel, Key::Hash(_)) => match tunnel_name(request) {
                Some(name) => format!("to tunnel {name}"),
                None => "to this tunnel".into(),
            },
            (Self::Tunnel, _) => "outside a tunnel".into(),
            (Self::Header(name), Key::Hash(_)) => format!("for this {name}"),
            (Self::Header(name), _) => format!("without {name}"),
            (Self::Global, _) => "from all visitors together".into(),
            (Self::Custom(_), Key::Hash(_)) => "from this client".into(),
            (Self::Custom(_), _) => "from clients without a key".into(),
        }
    }
}

/// What a visitor's address counts as: an IPv4 address itself, an IPv6 address its /64. One
/// host is usually given a whole /64, and keying each of its addresses apart would let it step
/// around the limit (and fill the key map) by changing addresses.
fn network_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !u128::from(u64::MAX))),
    }
}

impl From<KeyBy> for Source {
    fn from(by: KeyBy) -> Self {
        match by {
            KeyBy::Ip => Self::Ip,
            KeyBy::Tunnel => Self::Tunnel,
            KeyBy::Header(name) => Self::Header(name),
            KeyBy::Global => Self::Global,
        }
    }
}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ip => f.write_str("ip"),
            Self::Tunnel => f.write_str("tunnel"),
            Self::Header(name) => write!(f, "header:{name}"),
            Self::Global => f.write_str("global"),
            Self::Custom(_) => f.write_str("fn"),
        }
    }
}
