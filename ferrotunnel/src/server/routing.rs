//! Where a visitor's request goes, and where visitors find each tunnel.
//!
//! A request is for tunnel `app` when its host is `app.<domain>` (any port, any case), or —
//! for servers without wildcard DNS, such as one mounted in an axum app — when its path starts
//! with `<path prefix>/app/`; the prefix is removed before the request is forwarded and named in
//! `X-Forwarded-Prefix`. The host wins when both match. A request to the client-connect path on
//! a host that is not a tunnel's opens a client session over WebSocket.

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

/// What a request is for.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Route {
    /// A tunnel; `prefix_len` bytes of the path name it and are removed before forwarding.
    Tunnel {
        name: String,
        prefix_len: Option<usize>,
    },
    /// The client-connect endpoint.
    Connect,
    /// Nothing here.
    Nowhere,
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

    /// Routes a request by its host and path.
    pub(crate) fn route(&self, host: &str, path: &str) -> Route {
        if let Some(name) = subdomain(host, &self.domain) {
            return Route::Tunnel {
                name,
                prefix_len: None,
            };
        }
        if path == CONNECT_PATH {
            return Route::Connect;
        }
        if let Some(prefix) = &self.path_prefix {
            if let Some(rest) = path
                .strip_prefix(prefix.as_str())
                .and_then(|r| r.strip_prefix('/'))
            {
                let name = rest.split('/').next().unwrap_or_default();
                if !name.is_empty() {
                    return Route::Tunnel {
                        name: name.to_ascii_lowercase(),
                        prefix_len: Some(prefix.len() + 1 + name.len()),
                    };
                }
            }
        }
        Route::Nowhere
    }
}

/// `app.localhost:8080` on domain `localhost` → `app`. Compares without a lowercase copy of
/// the host: this runs for every request.
fn subdomain(host: &str, domain: &str) -> Option<String> {
    let host = strip_port(host).trim_end_matches('.');
    let (name, suffix) = host.split_at_checked(host.len().checked_sub(domain.len())?)?;
    let name = name.strip_suffix('.')?;
    (suffix.eq_ignore_ascii_case(domain) && !name.is_empty() && !name.contains('.'))
        .then(|| name.to_ascii_lowercase())
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

    fn tunnel(name: &str, prefix_len: Option<usize>) -> Route {
        Route::Tunnel {
            name: name.into(),
            prefix_len,
        }
    }

    #[test]
    fn hosts_route_to_tunnels() {
        let r = routing(None);
        for (host, expected) in [
            ("app.localhost:8080", tunnel("app", None)),
            ("App.LocalHost", tunnel("app", None)),
            ("app.localhost.", tunnel("app", None)),
            ("localhost:8080", Route::Nowhere),
            ("a.b.localhost", Route::Nowhere),
            ("app.example.com", Route::Nowhere),
            ("applocalhost", Route::Nowhere),
            ("ü.localhost", tunnel("ü", None)),
            // The domain's length from the end falls inside "é".
            ("éocalhost", Route::Nowhere),
            ("", Route::Nowhere),
        ] {
            assert_eq!(r.route(host, "/x"), expected, "{host}");
        }
    }

    #[test]
    fn paths_route_to_tunnels_when_the_host_does_not() {
        let r = routing(Some("/t"));
        assert_eq!(r.route("localhost", "/t/app/x/y"), tunnel("app", Some(6)));
        assert_eq!(r.route("localhost", "/t/app"), tunnel("app", Some(6)));
        assert_eq!(
            r.route("other.localhost", "/t/app/"),
            tunnel("other", None),
            "the host wins"
        );
        assert_eq!(r.route("localhost", "/t/"), Route::Nowhere);
        assert_eq!(r.route("localhost", "/tt/app"), Route::Nowhere);
        let root = routing(Some(""));
        assert_eq!(
            root.route("127.0.0.1:3000", "/app/x"),
            tunnel("app", Some(4))
        );
    }

    #[test]
    fn the_connect_path_is_only_for_hosts_that_are_not_tunnels() {
        let r = routing(Some("/t"));
        assert_eq!(r.route("localhost:8080", CONNECT_PATH), Route::Connect);
        assert_eq!(r.route("app.localhost", CONNECT_PATH), tunnel("app", None));
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
