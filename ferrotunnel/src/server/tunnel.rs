//! A live tunnel as the ingress sees it ([`TunnelContext`]) and the client session that
//! carries it ([`SessionLink`]). A leaf module: the registry makes these, the stack's layers
//! read them, and neither needs the other's module.

use std::{
    fmt,
    net::SocketAddr,
    sync::Arc,
    time::{Duration, SystemTime},
};

use super::{layers::HttpService, pool::StreamPool, sessions::Peer};
use crate::{protocol::ClientId, session::SessionHandle, transport::Transport};

/// One connected client session, as the ingress sees it.
pub(crate) struct SessionLink {
    session: SessionHandle,
    client_id: ClientId,
    peer: Peer,
    pool: StreamPool,
}

impl SessionLink {
    /// `max_streams` bounds the idle streams kept per tunnel and visitor address (see
    /// [`StreamPool::new`]).
    pub(crate) fn new(
        session: SessionHandle,
        client_id: ClientId,
        peer: Peer,
        max_frame_size: usize,
        reply_timeout: Duration,
        max_streams: usize,
    ) -> Self {
        let pool = StreamPool::new(session.clone(), max_frame_size, reply_timeout, max_streams);
        Self {
            session,
            client_id,
            peer,
            pool,
        }
    }

    pub(crate) fn id(&self) -> u64 {
        self.session.id()
    }

    pub(crate) fn client_id(&self) -> ClientId {
        self.client_id
    }

    pub(crate) fn peer(&self) -> &Peer {
        &self.peer
    }

    pub(crate) fn pool(&self) -> &StreamPool {
        &self.pool
    }

    pub(crate) fn close(&self) {
        self.session.close();
    }
}

impl fmt::Debug for SessionLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionLink")
            .field("session", &self.session.id())
            .finish_non_exhaustive()
    }
}

/// The tunnel a request is for, put in the request extensions by the ingress stack's
/// resolve-tunnel step, which finds it from the `Host` header or the path. Layers read it to
/// act per tunnel.
#[derive(Debug, Clone)]
pub struct TunnelContext {
    inner: Arc<TunnelInner>,
}

struct TunnelInner {
    name: Arc<str>,
    public_url: String,
    session: Arc<SessionLink>,
    /// The tunnel's own policy stack (server-wide policy rules, then the client's), built once
    /// when the tunnel registered, ending in the forwarding steps; `None` without policy.
    policy: Option<HttpService>,
}

impl TunnelContext {
    pub(crate) fn new(
        name: String,
        public_url: String,
        session: Arc<SessionLink>,
        policy: Option<HttpService>,
    ) -> Self {
        Self {
            inner: Arc::new(TunnelInner {
                name: name.into(),
                public_url,
                session,
                policy,
            }),
        }
    }

    /// The tunnel's name, shared.
    pub(crate) fn name_shared(&self) -> &Arc<str> {
        &self.inner.name
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

    pub(crate) fn shared_name(&self) -> &Arc<str> {
        &self.inner.name
    }

    pub(crate) fn session(&self) -> &SessionLink {
        &self.inner.session
    }

    pub(crate) fn policy(&self) -> Option<&HttpService> {
        self.inner.policy.as_ref()
    }

    pub(crate) fn client_id(&self) -> ClientId {
        self.inner.session.client_id()
    }

    pub(crate) fn close_session(&self) {
        self.inner.session.close();
    }

    /// What a dashboard shows of the tunnel.
    pub fn status(&self) -> TunnelStatus {
        let peer = self.inner.session.peer();
        TunnelStatus {
            name: self.name().to_owned(),
            public_url: self.public_url().to_owned(),
            client_addr: peer.addr,
            transport: peer.transport,
            connected_since: peer.since,
            session_id: self.session_id(),
        }
    }
}

/// A live tunnel as the server's operator sees it: where visitors reach it, and which client
/// session serves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunnelStatus {
    /// The tunnel's name (`app` for `app.localhost`).
    pub name: String,
    /// Where visitors reach it, e.g. `http://app.localhost:8080`.
    pub public_url: String,
    /// The address the client's session came from (the proxy's, behind a proxy).
    pub client_addr: SocketAddr,
    /// What carries the client's session.
    pub transport: Transport,
    /// When the client's connection was accepted.
    pub connected_since: SystemTime,
    /// The server's number for the client session, as its log lines show it.
    pub session_id: u64,
}

impl fmt::Debug for TunnelInner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tunnel")
            .field("name", &self.name)
            .field("public_url", &self.public_url)
            .field("session", &self.session)
            .field("policy", &self.policy.is_some())
            .finish()
    }
}
