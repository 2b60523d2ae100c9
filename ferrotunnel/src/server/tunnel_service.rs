//! [`TunnelService`]: the last service of the ingress stack, which forwards a request over a
//! stream of the tunnel's session.
//!
//! Each session has a pool of HTTP/1.1 connections, each a yamux stream to the client (see
//! `pool`). Pooled streams are keyed by tunnel and visitor IP address, so a stream only ever
//! carries one tunnel's traffic from one visitor address.

use std::{
    fmt,
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use http::{Request, Response, StatusCode, Version};
use hyper_util::rt::TokioIo;

use super::{TunnelBody, forwarded, pool::StreamPool, resolve::VisitorAddr};
use crate::{BoxError, Error, protocol::ClientId, session::SessionHandle};

/// One connected client session, as the ingress sees it.
pub(crate) struct SessionLink {
    session: SessionHandle,
    client_id: ClientId,
    pool: StreamPool,
}

impl SessionLink {
    /// `max_streams` bounds the idle streams kept per tunnel and visitor address (see
    /// [`StreamPool::new`]).
    pub(crate) fn new(
        session: SessionHandle,
        client_id: ClientId,
        max_frame_size: usize,
        reply_timeout: Duration,
        max_streams: usize,
    ) -> Self {
        let pool = StreamPool::new(session.clone(), max_frame_size, reply_timeout, max_streams);
        Self {
            session,
            client_id,
            pool,
        }
    }

    pub(crate) fn id(&self) -> u64 {
        self.session.id()
    }

    pub(crate) fn client_id(&self) -> ClientId {
        self.client_id
    }
}

impl fmt::Debug for SessionLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionLink")
            .field("session", &self.session.id())
            .finish_non_exhaustive()
    }
}

/// The tunnel a request is for, put in the request extensions by the ingress stack's first layer,
/// which resolves the tunnel from the `Host` header or the path.
/// Plugins read it to act per tunnel.
#[derive(Debug, Clone)]
pub struct TunnelContext {
    inner: Arc<TunnelInner>,
}

#[derive(Debug)]
struct TunnelInner {
    name: Arc<str>,
    public_url: String,
    session: Arc<SessionLink>,
}

impl TunnelContext {
    pub(crate) fn new(name: String, public_url: String, session: Arc<SessionLink>) -> Self {
        Self {
            inner: Arc::new(TunnelInner {
                name: name.into(),
                public_url,
                session,
            }),
        }
    }

    /// The tunnel's name (`app` for `app.localhost`).
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Where visitors reach the tunnel.
    pub fn public_url(&self) -> &str {
        &self.inner.public_url
    }

    /// The server's number for the client session that serves this tunnel.
    pub fn session_id(&self) -> u64 {
        self.inner.session.id()
    }

    pub(crate) fn client_id(&self) -> ClientId {
        self.inner.session.client_id
    }

    pub(crate) fn close_session(&self) {
        self.inner.session.session.close();
    }
}

/// Forwards each request to the client of the tunnel named by the [`TunnelContext`] in its
/// extensions, and streams the response back. HTTP upgrades (WebSocket) are passed through.
///
/// Errors are [`Error`]s (boxed); the ingress stack's rescue layer turns them into responses.
#[derive(Debug, Clone)]
pub struct TunnelService {
    response_timeout: Duration,
}

impl TunnelService {
    /// A service that gives the local service `response_timeout` to send its response head.
    pub fn new(response_timeout: Duration) -> Self {
        Self { response_timeout }
    }
}

impl tower::Service<Request<TunnelBody>> for TunnelService {
    type Response = Response<TunnelBody>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<TunnelBody>) -> Self::Future {
        Box::pin(forward(request, self.response_timeout))
    }
}

async fn forward(
    mut request: Request<TunnelBody>,
    timeout: Duration,
) -> Result<Response<TunnelBody>, BoxError> {
    let tunnel = request
        .extensions_mut()
        .remove::<TunnelContext>()
        .ok_or("TunnelService needs a TunnelContext: put ResolveTunnelLayer in front of it")?;
    let visitor = request.extensions().get::<VisitorAddr>().map(|v| v.0.ip());
    let visitor_upgrade =
        forwarded::prepare_request(&mut request, visitor).then(|| hyper::upgrade::on(&mut request));

    *request.version_mut() = Version::HTTP_11;

    let sent = tunnel
        .inner
        .session
        .pool
        .send(tunnel.inner.name.clone(), visitor, request);
    let mut response = tokio::time::timeout(timeout, sent)
        .await
        .map_err(|_| Error::ResponseTimeout(timeout))??;

    if response.status() == StatusCode::SWITCHING_PROTOCOLS {
        if let Some(visitor_upgrade) = visitor_upgrade {
            let local_upgrade = hyper::upgrade::on(&mut response);
            tokio::spawn(splice_upgrade(
                visitor_upgrade,
                local_upgrade,
                tunnel.name().to_owned(),
            ));
        }
    }
    forwarded::prepare_response(&mut response);
    Ok(response)
}

/// Copies bytes between the visitor's upgraded connection and the local service's.
async fn splice_upgrade(
    visitor: hyper::upgrade::OnUpgrade,
    local: hyper::upgrade::OnUpgrade,
    tunnel: String,
) {
    let (visitor, local) = match tokio::try_join!(visitor, local) {
        Ok(pair) => pair,
        Err(err) => {
            tracing::debug!(%tunnel, error = %err, "upgrade failed");
            return;
        }
    };
    let (mut visitor, mut local) = (TokioIo::new(visitor), TokioIo::new(local));
    if let Err(err) = crate::splice::splice(&mut visitor, &mut local).await {
        tracing::debug!(%tunnel, error = %err, "upgraded connection ended with an error");
    }
}
