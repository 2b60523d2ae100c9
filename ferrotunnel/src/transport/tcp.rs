//! Plain TCP.

use tokio::net::TcpStream;

use super::{Acceptor, BoxFuture, BoxIo};
use crate::{Error, Result};

/// Accepts sessions over plain TCP.
#[derive(Debug, Clone, Copy, Default)]
pub struct TcpAcceptor;

impl Acceptor for TcpAcceptor {
    fn accept(&self, tcp: TcpStream) -> BoxFuture<Result<BoxIo>> {
        Box::pin(async move {
            // Control frames and small responses must not wait for Nagle's algorithm.
            tcp.set_nodelay(true)?;
            Ok(Box::new(tcp) as BoxIo)
        })
    }
}

/// Connects to `host:port` with Nagle's algorithm off. The caller bounds the wait.
pub(super) async fn connect(host: &str, port: u16) -> Result<TcpStream> {
    let tcp = TcpStream::connect((host, port)).await.map_err(|err| {
        Error::Io(std::io::Error::new(
            err.kind(),
            format!("could not connect to the server at {host}:{port}: {err}"),
        ))
    })?;
    tcp.set_nodelay(true)?;
    Ok(tcp)
}
