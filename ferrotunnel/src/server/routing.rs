//! Where a visitor's request goes, and where visitors find each tunnel.
//!
//! A request is for tunnel `app` when its host is `app.<domain>` (any port, any case), or —
//! for servers without wildcard DNS, such as one mounted in an axum app — when its path starts
//! with `<path prefix>/app/`; the prefix is removed before the request is forwarded and named in
//! `X-Forwarded-Prefix`. The host wins when both match. A request to the client-connect path on
//! a host that is not a tunnel's opens a client session over WebSocket.

use std::borrow::Cow;

/// The path at which clients open sessions over WebSocket (`ws://` and `wss://` server URLs).
pub const CONNECT_PATH: &str = "/_ferrotunnel/connect";

/// How public URLs are built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PublicUrls {
    /// `{scheme}://{name}.{domain}[:{port}]`
    Subdomain { scheme: &'static str, port: u16 },
    /// `{base}/{name}/`, for path routing.
    Base(String),
}

/// The routing rules of one server.
#[derive(Debug, Clone)]
pub(crate) struct Routing {
    domain: String,
    path_prefix: Option<String>,
    public: PublicUrls,
}

/// A request for a tunnel: its name, and how many leading bytes of the path named it (when it
/// was routed by path), which are removed before forwarding.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct TunnelRoute<'a> {
    /// Lowercase; borrowed from the request when it already was.
    pub(crate) name: Cow<'a, str>,
    pub(crate) prefix_len: Option<usize>,
}

impl Routing {
    pub(crate) fn new(domain: String, path_prefix: Option<String>, public: PublicUrls) -> Self {
        Self {
            domain,
            path_prefix,
            public,
        }
    }

    /// Where visitors reach tunnel `name`.
    pub(crate) fn public_url(&self, name: &str) -> String {
        match &self.public {
            PublicUrls::Subdomain {
                scheme: "http",
                port: 80,
            }
            | PublicUrls::Subdomain {
                scheme: "https",
                port: 443,
            } => {
                format!("{}://{name}.{}", self.scheme(), self.domain)
            }
            PublicUrls::Subdomain { port, .. } => {
                format!("{}://{name}.{}:{port}", self.scheme(), self.domain)
            }
            PublicUrls::Base(base) => format!("{}/{name}/", base.trim_end_matches('/')),
        }
    }

    fn scheme(&self) -> &'static str {
        match self.public {
            PublicUrls::Subdomain { scheme, .. } => scheme,
            PublicUrls::Base(_) => "http",
        }
    }

    /// Whether a request opens a client session: the connect path, on a host that is not a
    /// tunnel's. Cheap for every other request: one comparison of the path.
    pub(crate) fn is_connect(&self, host: &str, path: &str) -> bool {
        path == CONNECT_PATH && subdomain(host, &self.domain).is_none()
    }

    /// The tunnel a request is for, by its host, else by its path; `None` if neither names one.
    pub(crate) fn tunnel<'a>(&self, host: &'a str, path: &'a str) -> Option<TunnelRoute<'a>> {
        if let Some(name) = subdomain(host, &self.domain) {
            return Some(TunnelRoute {
                name,
                prefix_len: None,
            });
        }
        let prefix = self.path_prefix.as_deref()?;
        let rest = path.strip_prefix(prefix)?.strip_prefix('/')?;
        let name = rest.split('/').next().unwrap_or_default();
        (!name.is_empty()).then(|| TunnelRoute {
            name: lowercase(name),
            prefix_len: Some(prefix.len() + 1 + name.len()),
        })
    }
}

/// The host a request is for: its `Host` header, or the authority of its URI (HTTP/2).
pub(crate) fn request_host<B>(request: &http::Request<B>) -> &str {
    request
        .headers()
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| request.uri().host())
        .unwrap_or_default()
}

/// `app.localhost:8080` on domain `localhost` → `app`. Compares without a lowercase copy of
/// the host: this runs for every request.
fn subdomain<'a>(host: &'a str, domain: &str) -> Option<Cow<'a, str>> {
    let host = strip_port(host).trim_end_matches('.');
    let (name, suffix) = host.split_at_checked(host.len().checked_sub(domain.len())?)?;
    let name = name.strip_suffix('.')?;
    (suffix.eq_ignore_ascii_case(domain) && !name.is_empty() && !name.contains('.'))
        .then(|| lowercase(name))
}

/// `name` in lowercase, copied only when it was not.
fn lowercase(name: &str) -> Cow<'_, str> {
    if name.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(name.to_ascii_lowercase())
    } else {
        Cow::Borrowed(name)
    }
}

fn strip_port(host: &str) -> &str {
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn routing(prefix: Option<&str>) -> Routing {
        Routing::new(
            "localhost".into(),
            prefix.map(Into::into),
            PublicUrls::Subdomain {
                scheme: "http",
                port: 8080,
            },
        )
    }

    fn tunnel(name: &str, prefix_len: Option<usize>) -> Option<TunnelRoute<'_>> {
        Some(TunnelRoute {
            name: name.into(),
            prefix_len,
        })
    }

    #[test]
    fn hosts_route_to_tunnels() {
        let r = routing(None);
        for (host, expected) in [
            ("app.localhost:8080", tunnel("app", None)),
            ("App.LocalHost", tunnel("app", None)),
            ("app.localhost.", tunnel("app", None)),
            ("localhost:8080", None),
            ("a.b.localhost", None),
            ("app.example.com", None),
            ("applocalhost", None),
            ("ü.localhost", tunnel("ü", None)),
            // The domain's length from the end falls inside "é".
            ("éocalhost", None),
            ("", None),
        ] {
            assert_eq!(r.tunnel(host, "/x"), expected, "{host}");
        }
    }

    #[test]
    fn paths_route_to_tunnels_when_the_host_does_not() {
        let r = routing(Some("/t"));
        assert_eq!(r.tunnel("localhost", "/t/app/x/y"), tunnel("app", Some(6)));
        assert_eq!(r.tunnel("localhost", "/t/app"), tunnel("app", Some(6)));
        assert_eq!(
            r.tunnel("other.localhost", "/t/app/"),
            tunnel("other", None),
            "the host wins"
        );
        assert_eq!(r.tunnel("localhost", "/t/"), None);
        assert_eq!(r.tunnel("localhost", "/tt/app"), None);
        let root = routing(Some(""));
        assert_eq!(
            root.tunnel("127.0.0.1:3000", "/app/x"),
            tunnel("app", Some(4))
        );
    }

    #[test]
    fn the_connect_path_is_only_for_hosts_that_are_not_tunnels() {
        let r = routing(Some("/t"));
        assert!(r.is_connect("localhost:8080", CONNECT_PATH));
        assert!(!r.is_connect("app.localhost", CONNECT_PATH));
        assert!(!r.is_connect("localhost:8080", "/_ferrotunnel"));
        assert_eq!(r.tunnel("app.localhost", CONNECT_PATH), tunnel("app", None));
    }

    #[test]
    fn public_urls() {
        let url = |public| Routing::new("example.com".into(), None, public).public_url("app");
        assert_eq!(
            url(PublicUrls::Subdomain {
                scheme: "http",
                port: 80
            }),
            "http://app.example.com"
        );
        assert_eq!(
            url(PublicUrls::Subdomain {
                scheme: "https",
                port: 443
            }),
            "https://app.example.com"
        );
        assert_eq!(
            url(PublicUrls::Subdomain {
                scheme: "http",
                port: 8080
            }),
            "http://app.example.com:8080"
        );
        assert_eq!(
            url(PublicUrls::Base("https://my.app/t/".into())),
            "https://my.app/t/app/"
        );
    }
}
