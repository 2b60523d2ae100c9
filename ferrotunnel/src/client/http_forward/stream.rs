//! [`HttpStreamForward`]: serves each stream as HTTP/1.1, the way the server speaks on it, and
//! sends every request down the client's HTTP path.

use std::{
    convert::Infallible,
    future::Future,
    io,
    net::SocketAddr,
    pin::Pin,
    task::{Context, Poll},
    time::{Duration, Instant},
};

use http::{Request, Response};
use http_body_util::BodyExt;
use hyper::{body::Incoming, server::conn::http1};
use hyper_util::rt::{TokioIo, TokioTimer};
use tower::{Layer, ServiceExt, util::Oneshot};

use super::{LocalHttpService, LocalTarget};
use crate::{
    BoxError, Error, TunnelBody,
    client::{IncomingStream, metered::Metered},
    protocol::StreamReply,
    server::{
        ReceivedAt, VisitorAddr,
        rescue::{Rescue, RescueLayer},
    },
};

/// How long the server may take to send a request head on a stream, and so also how long a
/// stream may sit idle between requests (hyper times both alike). Above the 90 s for which the
/// server keeps an idle stream, so that the server, not this client, ends idle streams.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(120);

/// The forwarder of a client with HTTP layers: accepts each stream at once, then serves HTTP/1.1
/// on it (keep-alive and upgrades, as the server's stream pool speaks it). A local service that
/// is down is each request's 502, not the stream's refusal.
#[derive(Debug, Clone)]
pub(crate) struct HttpStreamForward {
    /// The HTTP path, whose errors become responses.
    path: Rescue<LocalHttpService>,
    http1: http1::Builder,
    max_frame_size: usize,
}

impl HttpStreamForward {
    pub(crate) fn new(path: LocalHttpService, max_frame_size: usize) -> Self {
        let mut http1 = http1::Builder::new();
        http1
            .timer(TokioTimer::new())
            .header_read_timeout(HEADER_READ_TIMEOUT);
        Self {
            path: RescueLayer.layer(path),
            http1,
            max_frame_size,
        }
    }
}

impl tower::Service<IncomingStream> for HttpStreamForward {
    type Response = ();
    type Error = Error;
    type Future = Pin<Box<dyn Future<Output = Result<(), Error>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, incoming: IncomingStream) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let IncomingStream {
                header,
                local_addr,
                mut stream,
            } = incoming;
            stream
                .reply(&StreamReply::Accepted, this.max_frame_size)
                .await?;
            let stream = Metered::from_server(stream, &header.tunnel);
            let requests = StreamRequests {
                path: this.path,
                target: LocalTarget::new(header.tunnel, local_addr),
                // The server names the visitor's address, not its port.
                visitor: header.visitor.map(|ip| VisitorAddr(SocketAddr::new(ip, 0))),
            };
            this.http1
                .serve_connection(TokioIo::new(stream), requests)
                .with_upgrades()
                .await
                .map_err(|err| Error::Io(io::Error::other(err)))
        })
    }
}

/// The HTTP path as hyper sees it for one stream.
#[derive(Debug, Clone)]
struct StreamRequests {
    path: Rescue<LocalHttpService>,
    target: LocalTarget,
    visitor: Option<VisitorAddr>,
}

impl hyper::service::Service<Request<Incoming>> for StreamRequests {
    type Response = Response<TunnelBody>;
    type Error = Infallible;
    type Future = Oneshot<Rescue<LocalHttpService>, Request<TunnelBody>>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        let mut request = request.map(|body| body.map_err(BoxError::from).boxed_unsync());
        let extensions = request.extensions_mut();
        extensions.insert(self.target.clone());
        if let Some(visitor) = self.visitor {
            extensions.insert(visitor);
        }
        extensions.insert(ReceivedAt(Instant::now()));
        self.path.clone().oneshot(request)
    }
}
