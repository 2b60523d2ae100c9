//! How a session's bytes travel between client and server.
//!
//! A transport turns an address into a [`BoxIo`] on the client side and an accepted TCP
//! connection into a [`BoxIo`] on the server side. Everything above (yamux, the protocol) only
//! sees a `BoxIo`, so new transports slot in here without touching the session code.

use std::{fmt, future::Future, pin::Pin, str::FromStr, time::Duration};

use tokio::{
    io::{AsyncRead, AsyncWrite},
    net::TcpStream,
};

use crate::{Error, Result};

mod tcp;

pub use tcp::TcpAcceptor;

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
}

/// Where a client finds its server: `tcp://host:port` (or plain `host:port`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerUrl {
    /// Plain TCP.
    Tcp {
        /// Host name or IP address.
        host: String,
        /// Port.
        port: u16,
    },
}

impl ServerUrl {
    /// Opens a connection to the server, giving up after `timeout`.
    pub async fn connect(&self, timeout: Duration) -> Result<BoxIo> {
        match self {
            ServerUrl::Tcp { host, port } => tcp::connect(host, *port, timeout).await,
        }
    }
}

impl FromStr for ServerUrl {
    type Err = Error;

    fn from_str(url: &str) -> Result<Self> {
        let (scheme, rest) = url.split_once("://").unwrap_or(("tcp", url));
        let rest = rest.trim_end_matches('/');
        match scheme {
            "tcp" => {
                let (host, port) = split_host_port(rest).ok_or_else(|| {
                    Error::Config(format!(
                        "server URL {url:?} must name a host and a port, like tcp://example.com:7835"
                    ))
                })?;
                Ok(ServerUrl::Tcp { host, port })
            }
            other => Err(Error::Config(format!(
                "server URL {url:?} uses the scheme {other:?}; this build supports tcp://"
            ))),
        }
    }
}

impl fmt::Display for ServerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerUrl::Tcp { host, port } if host.contains(':') => {
                write!(f, "tcp://[{host}]:{port}")
            }
            ServerUrl::Tcp { host, port } => write!(f, "tcp://{host}:{port}"),
        }
    }
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
    }

    #[test]
    fn bad_server_urls_say_what_is_wrong() {
        for (url, needle) in [
            ("tcp://example.com", "host and a port"),
            ("tcp://:80", "host and a port"),
            ("tcp://host:http", "host and a port"),
            ("gopher://host:70", "scheme \"gopher\""),
        ] {
            let err = url.parse::<ServerUrl>().unwrap_err().to_string();
            assert!(err.contains(needle), "{url}: {err}");
        }
    }
}
