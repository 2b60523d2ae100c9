//! Opens a data stream to the client for the HTTP connection pool.
//!
//! Opening a stream means: write the [`StreamHeader`], then wait for the client's
//! [`StreamReply`], which says whether it reached the local service. A refusal becomes a typed
//! [`Error::Local`], so the visitor learns exactly what went wrong (502 or 504).

use std::{
    future::Future,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use http::Uri;
use hyper_util::{
    client::legacy::connect::{Connected, Connection},
    rt::TokioIo,
};
use pin_project::pin_project;

use crate::{
    BoxError, Error, LocalFailure,
    protocol::{self, StreamHeader, StreamReply, TunnelProtocol},
    session::{SessionHandle, SessionStream},
};

/// A `tower::Service<Uri>` that opens tunnel streams on one session.
#[derive(Debug, Clone)]
pub(crate) struct StreamConnector {
    session: SessionHandle,
    max_frame_size: usize,
    reply_timeout: Duration,
}

impl StreamConnector {
    pub(crate) fn new(
        session: SessionHandle,
        max_frame_size: usize,
        reply_timeout: Duration,
    ) -> Self {
        Self {
            session,
            max_frame_size,
            reply_timeout,
        }
    }

    /// The first label of a pool URI's host: the visitor's IP address in hex, or `x`.
    pub(crate) fn visitor_key(visitor: Option<IpAddr>) -> String {
        let octets: Vec<u8> = match visitor {
            None => return "x".into(),
            Some(IpAddr::V4(ip)) => ip.octets().to_vec(),
            Some(IpAddr::V6(ip)) => ip.octets().to_vec(),
        };
        octets.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn parse_pool_host(host: &str) -> Option<(Option<IpAddr>, String)> {
        let (key, tunnel) = host.split_once('.')?;
        let visitor = match key.len() {
            1 if key == "x" => None,
            8 => Some(IpAddr::V4(Ipv4Addr::from(
                u32::from_str_radix(key, 16).ok()?,
            ))),
            32 => Some(IpAddr::V6(Ipv6Addr::from(
                u128::from_str_radix(key, 16).ok()?,
            ))),
            _ => return None,
        };
        Some((visitor, tunnel.to_owned()))
    }
}

impl tower::Service<Uri> for StreamConnector {
    type Response = StreamIo;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<StreamIo, BoxError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let (visitor, tunnel) = uri
                .host()
                .and_then(Self::parse_pool_host)
                .ok_or_else(|| format!("not a tunnel pool URI: {uri}"))?;
            let mut stream = this.session.open_stream().await?;
            let header = StreamHeader {
                tunnel,
                visitor,
                protocol: TunnelProtocol::Http,
            };
            protocol::write_message(&mut stream, &header, this.max_frame_size).await?;
            let reply = tokio::time::timeout(
                this.reply_timeout,
                protocol::read_message::<StreamReply, _>(&mut stream, this.max_frame_size),
            )
            .await
            .map_err(|_| Error::Timeout {
                what: "the client to open a stream",
                after: this.reply_timeout,
            })?;
            match reply {
                Ok(StreamReply::Accepted) => Ok(StreamIo {
                    inner: TokioIo::new(stream),
                }),
                Ok(StreamReply::Refused { code, message }) => Err(Error::Local(LocalFailure {
                    kind: code,
                    message,
                })
                .into()),
                // A stream that ends before its reply means the session is going away.
                Err(Error::Protocol(protocol::ProtocolError::Truncated)) => {
                    Err(Error::SessionClosed.into())
                }
                Err(err) => Err(err.into()),
            }
        })
    }
}

/// A data stream as a hyper connection.
#[pin_project]
#[derive(Debug)]
pub(crate) struct StreamIo {
    #[pin]
    inner: TokioIo<SessionStream>,
}

impl Connection for StreamIo {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

impl hyper::rt::Read for StreamIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        self.project().inner.poll_read(cx, buf)
    }
}

impl hyper::rt::Write for StreamIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.project().inner.poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.project().inner.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.project().inner.poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        self.project().inner.poll_write_vectored(cx, bufs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_hosts_round_trip() {
        for visitor in [
            None,
            Some("127.0.0.1".parse().unwrap()),
            Some("2001:db8::1".parse().unwrap()),
        ] {
            let host = format!("{}.my-app", StreamConnector::visitor_key(visitor));
            assert_eq!(
                StreamConnector::parse_pool_host(&host),
                Some((visitor, "my-app".into()))
            );
        }
        assert_eq!(StreamConnector::parse_pool_host("nonsense"), None);
        assert_eq!(StreamConnector::parse_pool_host("zz.app"), None);
    }
}
