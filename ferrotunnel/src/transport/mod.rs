//! How a session's bytes travel between client and server.
//!
//! A transport turns a [`ServerUrl`] into a [`BoxIo`] on the client side and an accepted TCP
//! connection into a [`BoxIo`] on the server side. Everything above (yamux, the protocol) only
//! sees a `BoxIo`, so new transports slot in here without touching the session code.
//!
//! | URL | client | server side |
//! |-----|--------|-------------|
//! | `tcp://host:port` (or `host:port`) | plain TCP | [`TcpAcceptor`] |
//! | `tls://host:port` | TCP + TLS 1.3, verified with [`ClientTls`] | [`ServerTls::tunnel_acceptor`] |
//! | `ws://host[:port][/path]` | TCP + WebSocket | the HTTP ingress upgrades, then [`accept_websocket`] |
//! | `wss://host[:port][/path]` | TCP + TLS 1.3 + WebSocket | HTTPS ingress ([`ServerTls::https_config`]) + [`accept_websocket`] |
//!
//! ```no_run
//! # async fn demo() -> ferrotunnel::Result<()> {
//! use ferrotunnel::transport::{ClientTls, ConnectOptions, ServerUrl};
//!
//! let url: ServerUrl = "wss://tunnel.example.com".parse()?;
//! let options = ConnectOptions {
//!     tls: ClientTls::from_ca_file("ca.pem")?,
//!     ..ConnectOptions::default()
//! };
//! let io = url.connect(&options).await?;
//! # drop(io); Ok(()) }
//! ```

use std::{fmt, future::Future, pin::Pin, str::FromStr, time::Duration};

use tokio::{
    io::{AsyncRead, AsyncWrite},
    net::TcpStream,
};

use crate::{Error, Result};

mod tcp;
mod tls;
pub(crate) mod ws;

pub use tcp::TcpAcceptor;
use tls::Purpose;
pub use tls::{ClientTls, ServerTls, TlsAcceptor};
pub use ws::{WebSocketIo, accept_websocket, websocket_accept_key};

/// A bidirectional byte stream a session can run over.
pub trait Io: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Io for T {}

/// A boxed [`Io`].
pub type BoxIo = Box<dyn Io>;

/// A boxed future, as returned by [`Acceptor::accept`].
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// The server side of a transport: turns an accepted TCP connection into a session's byte stream
/// (for example by running a TLS handshake on it).
pub trait Acceptor: fmt::Debug + Send + Sync + 'static {
    /// Prepares one accepted connection.
    fn accept(&self, tcp: TcpStream) -> BoxFuture<Result<BoxIo>>;

    /// What the connections it prepares run over, for the dashboard and logs.
    fn transport(&self) -> Transport;
}

/// What carries a client's session to the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// Plain TCP (`tcp://`).
    Tcp,
    /// TLS 1.3 over TCP (`tls://`).
    Tls,
    /// A WebSocket over plain TCP (`ws://`).
    Ws,
    /// A WebSocket over TLS 1.3 (`wss://`).
    Wss,
}

impl Transport {
    /// The URL scheme that names it: `tcp`, `tls`, `ws` or `wss`.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Tcp => "tcp",
            Transport::Tls => "tls",
            Transport::Ws => "ws",
            Transport::Wss => "wss",
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The path at which the server's HTTP ingress accepts client sessions over WebSocket; a
/// `ws://` or `wss://` URL whose path is empty or `/` uses it.
pub const WS_CONNECT_PATH: &str = "/_ferrotunnel/connect";

/// Where a client finds its server, and over which transport.
///
/// Parsed from `tcp://host:port` (or a bare `host:port`), `tls://host:port`,
/// `ws://host[:port][/path]` or `wss://host[:port][/path]`. WebSocket URLs default to port 80
/// (`ws`) or 443 (`wss`) and to the path [`WS_CONNECT_PATH`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerUrl {
    /// Plain TCP.
    Tcp {
        /// Host name or IP address.
        host: String,
        /// Port.
        port: u16,
    },
    /// TLS 1.3 over TCP; the server's certificate is checked against [`ConnectOptions::tls`]
    /// for `host`.
    Tls {
        /// Host name or IP address; also the name the server's certificate must carry.
        host: String,
        /// Port.
        port: u16,
    },
    /// A WebSocket over plain TCP, for servers reached through HTTP proxies or on port 80.
    Ws {
        /// The full `ws://` URL, with its path filled in.
        url: http::Uri,
    },
    /// A WebSocket over TLS 1.3, for servers that share port 443 with an HTTPS site.
    Wss {
        /// The full `wss://` URL, with its path filled in.
        url: http::Uri,
    },
}

/// How [`ServerUrl::connect`] connects.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// Bound on the whole connect: TCP, then TLS and WebSocket handshakes where the URL has them.
    pub timeout: Duration,
    /// Which certificate authorities `tls://` and `wss://` trust.
    pub tls: ClientTls,
}

impl Default for ConnectOptions {
    /// A 10 second timeout and the platform's trust store ([`ClientTls::platform`]).
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(10),
            tls: ClientTls::platform(),
        }
    }
}

impl ServerUrl {
    /// Opens a connection to the server, giving up after `options.timeout`.
    ///
    /// Certificate problems, refused WebSocket upgrades and servers that speak another protocol
    /// are reported as errors that say what went wrong, never as a hang.
    pub async fn connect(&self, options: &ConnectOptions) -> Result<BoxIo> {
        let what = match self {
            ServerUrl::Tcp { .. } => "the TCP connection to the server",
            ServerUrl::Tls { .. } => {
                "the TLS connection to the server (TCP connect and TLS handshake)"
            }
            ServerUrl::Ws { .. } => {
                "the WebSocket connection to the server (TCP connect and WebSocket handshake)"
            }
            ServerUrl::Wss { .. } => {
                "the WebSocket connection to the server (TCP connect, TLS and WebSocket handshakes)"
            }
        };
        tokio::time::timeout(options.timeout, self.connect_unbounded(&options.tls))
            .await
            .map_err(|_| Error::Timeout {
                what,
                after: options.timeout,
            })?
    }

    async fn connect_unbounded(&self, client_tls: &ClientTls) -> Result<BoxIo> {
        match self {
            ServerUrl::Tcp { host, port } => tcp::connect_session(host, *port).await,
            ServerUrl::Tls { host, port } => {
                let tcp = tcp::connect(host, *port).await?;
                let tls = tls::connect(tcp, host, *port, client_tls, Purpose::Tunnel).await?;
                Ok(Box::new(tls))
            }
            ServerUrl::Ws { url } => {
                let (host, port) = ws::host_port(url, 80)?;
                let tcp = tcp::connect(&host, port).await?;
                ws::connect(tcp, url).await
            }
            ServerUrl::Wss { url } => {
                let (host, port) = ws::host_port(url, 443)?;
                let tcp = tcp::connect(&host, port).await?;
                let tls = tls::connect(tcp, &host, port, client_tls, Purpose::WebSocket).await?;
                ws::connect(tls, url).await
            }
        }
    }
}

impl FromStr for ServerUrl {
    type Err = Error;

    fn from_str(url: &str) -> Result<Self> {
        let (scheme, rest) = url.split_once("://").unwrap_or(("tcp", url));
        match scheme {
            "tcp" | "tls" => {
                let (host, port) = split_host_port(rest.trim_end_matches('/')).ok_or_else(|| {
                    Error::Config(format!(
                        "server URL {url:?} must name a host and a port, like {scheme}://example.com:7835"
                    ))
                })?;
                Ok(if scheme == "tcp" {
                    ServerUrl::Tcp { host, port }
                } else {
                    ServerUrl::Tls { host, port }
                })
            }
            "ws" => Ok(ServerUrl::Ws {
                url: parse_websocket_url(url)?,
            }),
            "wss" => Ok(ServerUrl::Wss {
                url: parse_websocket_url(url)?,
            }),
            other => Err(Error::Config(format!(
                "server URL {url:?} uses the scheme {other:?}; use tcp://, tls://, ws:// or wss://"
            ))),
        }
    }
}

impl fmt::Display for ServerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (scheme, host, port) = match self {
            ServerUrl::Tcp { host, port } => ("tcp", host, port),
            ServerUrl::Tls { host, port } => ("tls", host, port),
            ServerUrl::Ws { url } | ServerUrl::Wss { url } => return write!(f, "{url}"),
        };
        if host.contains(':') {
            write!(f, "{scheme}://[{host}]:{port}")
        } else {
            write!(f, "{scheme}://{host}:{port}")
        }
    }
}

/// Checks a `ws://` or `wss://` URL and fills in the default path.
fn parse_websocket_url(url: &str) -> Result<http::Uri> {
    let bad = |what: &str| {
        Error::Config(format!(
            "server URL {url:?} {what}; expected something like wss://example.com or ws://example.com:8080/path"
        ))
    };
    let uri: http::Uri = url
        .parse()
        .map_err(|err| bad(&format!("is not a valid URL ({err})")))?;
    let authority = uri.authority().ok_or_else(|| bad("does not name a host"))?;
    if authority.as_str().contains('@') {
        return Err(bad(
            "carries credentials; pass the token separately instead of in the URL",
        ));
    }
    let host = authority.host();
    if host.is_empty() || host == "[]" {
        return Err(bad("does not name a host"));
    }
    // Without credentials, the authority is the host and then, optionally, ":port".
    let port = authority.as_str().get(host.len()..).unwrap_or_default();
    if !port.is_empty()
        && port
            .strip_prefix(':')
            .and_then(|p| p.parse::<u16>().ok())
            .is_none()
    {
        return Err(bad("has an invalid port; expected a number up to 65535"));
    }
    let path_and_query = match uri.path_and_query() {
        Some(pq) if pq.path() != "/" && !pq.path().is_empty() => pq.as_str().to_owned(),
        Some(pq) => match pq.query() {
            Some(query) => format!("{WS_CONNECT_PATH}?{query}"),
            None => WS_CONNECT_PATH.to_owned(),
        },
        None => WS_CONNECT_PATH.to_owned(),
    };
    http::Uri::builder()
        .scheme(uri.scheme_str().unwrap_or("ws"))
        .authority(authority.as_str())
        .path_and_query(path_and_query)
        .build()
        .map_err(|err| bad(&format!("is not a valid URL ({err})")))
}

fn split_host_port(authority: &str) -> Option<(String, u16)> {
    let (host, port) = authority.rsplit_once(':')?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() || authority.contains('/') {
        return None;
    }
    Some((host.to_owned(), port.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_server_urls() {
        let tcp = |host: &str, port| ServerUrl::Tcp {
            host: host.into(),
            port,
        };
        assert_eq!(
            "tcp://example.com:7835".parse::<ServerUrl>().unwrap(),
            tcp("example.com", 7835)
        );
        assert_eq!(
            "127.0.0.1:1".parse::<ServerUrl>().unwrap(),
            tcp("127.0.0.1", 1)
        );
        assert_eq!(
            "tcp://[::1]:9/".parse::<ServerUrl>().unwrap(),
            tcp("::1", 9)
        );
        assert_eq!(tcp("::1", 9).to_string(), "tcp://[::1]:9");
        assert_eq!(
            "tls://example.com:7835".parse::<ServerUrl>().unwrap(),
            ServerUrl::Tls {
                host: "example.com".into(),
                port: 7835
            }
        );
    }

    #[test]
    fn tls_and_websocket_urls_round_trip_through_display() {
        for (url, shown) in [
            ("tls://example.com:7835", "tls://example.com:7835"),
            ("tls://[::1]:7835/", "tls://[::1]:7835"),
            ("ws://example.com", "ws://example.com/_ferrotunnel/connect"),
            ("ws://example.com/", "ws://example.com/_ferrotunnel/connect"),
            (
                "ws://example.com:8080/tunnel",
                "ws://example.com:8080/tunnel",
            ),
            (
                "wss://example.com",
                "wss://example.com/_ferrotunnel/connect",
            ),
            (
                "wss://example.com/?region=eu",
                "wss://example.com/_ferrotunnel/connect?region=eu",
            ),
            ("ws://[::1]:8080", "ws://[::1]:8080/_ferrotunnel/connect"),
        ] {
            let parsed: ServerUrl = url.parse().unwrap();
            assert_eq!(parsed.to_string(), shown, "{url}");
            assert_eq!(shown.parse::<ServerUrl>().unwrap(), parsed, "{shown}");
        }
    }

    #[test]
    fn websocket_urls_default_their_port_and_keep_the_host_header() {
        let dial = |url: &str| match url.parse::<ServerUrl>().unwrap() {
            ServerUrl::Ws { url } => ws::host_port(&url, 80).unwrap(),
            ServerUrl::Wss { url } => ws::host_port(&url, 443).unwrap(),
            other => panic!("{other:?} is not a WebSocket URL"),
        };
        assert_eq!(dial("ws://example.com"), ("example.com".into(), 80));
        assert_eq!(dial("wss://example.com"), ("example.com".into(), 443));
        assert_eq!(
            dial("wss://example.com:8443/x"),
            ("example.com".into(), 8443)
        );
        assert_eq!(dial("ws://[::1]:8080"), ("::1".into(), 8080));
        // The WebSocket request's Host header is the URL's authority, as the user wrote it.
        let ServerUrl::Wss { url } = "wss://example.com".parse::<ServerUrl>().unwrap() else {
            panic!("not wss");
        };
        assert_eq!(url.authority().unwrap().as_str(), "example.com");
        assert_eq!(url.path(), WS_CONNECT_PATH);
    }

    #[test]
    fn bad_server_urls_say_what_is_wrong() {
        for (url, needle) in [
            ("tcp://example.com", "host and a port"),
            ("tcp://:80", "host and a port"),
            ("tcp://host:http", "host and a port"),
            ("tls://example.com", "like tls://example.com:7835"),
            ("tls://example.com:99999", "host and a port"),
            ("gopher://host:70", "scheme \"gopher\""),
            ("https://example.com", "use tcp://, tls://, ws:// or wss://"),
            ("ws://", "ws://"),
            ("ws:///path", "ws:///path"),
            ("ws://user:secret@example.com", "credentials"),
            ("wss://example.com:http", "wss://example.com:http"),
            ("wss://example.com:99999", "wss://example.com:99999"),
            ("wss://example.com:", "invalid port"),
        ] {
            let err = url.parse::<ServerUrl>().unwrap_err().to_string();
            assert!(err.contains(needle), "{url}: {err}");
            assert!(
                err.contains(&format!("{url:?}")),
                "{url}: {err} must name the URL"
            );
        }
    }
}
