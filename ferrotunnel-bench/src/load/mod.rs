//! The load generator: hyper HTTP/1.1 client connections (`hyper::client::conn::http1`), one
//! task per connection, no pool and no middleware, so that what is measured is the path under
//! test and not the client.
//!
//! - [`latency`]: open-loop, clock-scheduled requests at a fixed rate;
//! - [`rate`]: closed-loop, as many requests as a fixed set of keep-alive connections can do;
//! - [`download`]: large bodies, one stream or several in parallel;
//! - [`hold`]: many concurrent streams held open at once.
//!
//! Every wait has a bound ([`REQUEST_TIMEOUT`] per request) and every loop ends by a count or a
//! deadline.

use std::{net::SocketAddr, time::Duration};

use anyhow::{Context as _, bail};
use bytes::Bytes;
use http::{HeaderName, HeaderValue, Request, StatusCode, header};
use http_body_util::{BodyExt as _, Empty};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

pub(crate) mod download;
pub(crate) mod hold;
pub(crate) mod latency;
pub(crate) mod rate;

/// The longest any one request (head and whole body) may take, except downloads, which have
/// their own cap.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

/// Where requests go: a socket address, the `Host` header that selects the tunnel, and any
/// header a tunnel asks every visitor for (credentials of a policy, a peer's token).
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub(crate) addr: SocketAddr,
    pub(crate) host: HeaderValue,
    pub(crate) headers: Vec<(HeaderName, HeaderValue)>,
}

impl Target {
    pub(crate) fn new(addr: SocketAddr, host: &str) -> Self {
        Self {
            addr,
            host: HeaderValue::from_str(host).unwrap_or(HeaderValue::from_static("localhost")),
            headers: Vec::new(),
        }
    }

    /// The same target, with this header on every request.
    pub(crate) fn with_header(mut self, name: HeaderName, value: &'static str) -> Self {
        self.headers.push((name, HeaderValue::from_static(value)));
        self
    }

    /// A `GET path` request for this target.
    pub(crate) fn get(&self, path: &str) -> anyhow::Result<Request<Empty<Bytes>>> {
        let mut request = Request::get(path).header(header::HOST, self.host.clone());
        for (name, value) in &self.headers {
            request = request.header(name, value.clone());
        }
        request
            .body(Empty::new())
            .with_context(|| format!("cannot build a request for {path}"))
    }
}

/// One keep-alive HTTP/1.1 connection.
pub(crate) type Connection = SendRequest<Empty<Bytes>>;

/// Opens a connection to `target`; its I/O runs in a spawned task.
pub(crate) async fn connect(target: &Target) -> anyhow::Result<Connection> {
    let tcp = TcpStream::connect(target.addr)
        .await
        .with_context(|| format!("cannot connect to {}", target.addr))?;
    let _ = tcp.set_nodelay(true);
    let (send, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .context("HTTP/1.1 handshake failed")?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(send)
}

/// Sends `GET path` on `connection`, reads the whole body, and returns its length. Anything
/// but a 200 is an error.
pub(crate) async fn fetch(
    connection: &mut Connection,
    target: &Target,
    path: &str,
) -> anyhow::Result<u64> {
    let request = target.get(path)?;
    let exchange = async {
        connection.ready().await.context("the connection closed")?;
        let response = connection
            .send_request(request)
            .await
            .context("no response")?;
        let status = response.status();
        let mut body = response.into_body();
        let mut length = 0u64;
        while let Some(frame) = body.frame().await {
            let frame = frame.context("the response body failed")?;
            if let Some(data) = frame.data_ref() {
                length += data.len() as u64;
            }
        }
        if status != StatusCode::OK {
            bail!("{path} answered {status}");
        }
        Ok(length)
    };
    tokio::time::timeout(REQUEST_TIMEOUT, exchange)
        .await
        .with_context(|| format!("{path} took longer than {REQUEST_TIMEOUT:?}"))?
}

/// Opens a connection, sends `GET path`, and returns the whole body as text: for the small
/// control answers of the local service (`/held`, `/release`).
pub(crate) async fn text(target: &Target, path: &str) -> anyhow::Result<String> {
    let exchange = async {
        let mut connection = connect(target).await?;
        connection.ready().await.context("the connection closed")?;
        let response = connection.send_request(target.get(path)?).await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        if status != StatusCode::OK {
            bail!("{path} answered {status}");
        }
        Ok(String::from_utf8_lossy(&body).into_owned())
    };
    tokio::time::timeout(REQUEST_TIMEOUT, exchange)
        .await
        .with_context(|| format!("{path} took longer than {REQUEST_TIMEOUT:?}"))?
}
