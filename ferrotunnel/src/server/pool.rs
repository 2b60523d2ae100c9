//! [`StreamPool`]: one session's HTTP/1.1 connections to its client, each over one stream.
//!
//! A request takes an idle connection of the same tunnel and visitor address, or opens a new
//! stream (see `connector`). The connection goes back to the pool when its response body has
//! ended, so a stream only ever carries one tunnel's traffic from one visitor address, and
//! under steady load no request opens a stream (nor the client a local connection).
//!
//! This replaces hyper-util's pooled client, which did the same job with what a general client
//! needs and a tunnel does not: a URI as the pool key (formatted and parsed for every request),
//! a task spawned per request to wait for the connection to become idle, boxed futures.
//!
//! A connection is a stream and the HTTP/1.1 of `h1`, with no task of its own: nothing reads
//! an idle one, so the pool looks (without waiting) whether the local side has closed it when
//! it takes it, and a sweep every [`SWEEP_PERIOD`] drops the closed and the expired.

use std::{
    collections::HashMap,
    net::IpAddr,
    pin::Pin,
    sync::{Arc, Mutex, MutexGuard, Weak},
    task::{Context, Poll, ready},
    time::{Duration, Instant},
};

use bytes::Bytes;
use http::{Method, Request, Response, Uri};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;

use super::{
    TunnelBody, connector,
    h1::{Answer, Connection, ResponseBody, SendError, Upgraded},
};
use crate::{BoxError, Error, session::SessionHandle};

/// How long an idle connection is kept.
const IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// How often idle connections are looked at, to close those the local side has closed (which
/// frees their streams on both sides) and those idle for too long.
const SWEEP_PERIOD: Duration = Duration::from_secs(5);

/// The bytes an exchange may move (request and response together) for its connection to go
/// back to the pool; a connection that moved more closes with its response.
///
/// yamux grows a stream's receive window while a bulk transfer keeps it busy, drawing on room
/// the whole session shares (`session::WINDOW_GROWTH`); it never shrinks a window, and gives
/// the growth back only when the stream closes. A pooled stream would keep what a download
/// grew for as long as it idles, and the next download, on another stream, could not grow:
/// after eight parallel downloads a single one ran at 700–840 MiB/s instead of 1 100
/// (`docs/benchmarks.md`, change 19). An exchange under this size grows a window to 2 MiB at
/// most. Closing costs the next request on that key a new stream (one round trip to the
/// client), which is small beside a transfer this large.
const BULK_EXCHANGE: u64 = 1 << 20;

/// One session's pool of HTTP/1.1 connections over its streams.
#[derive(Debug)]
pub(crate) struct StreamPool {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    session: SessionHandle,
    max_frame_size: usize,
    reply_timeout: Duration,
    /// The most idle connections kept per key.
    max_idle: usize,
    idle: Mutex<HashMap<PoolKey, Vec<Idle>>>,
}

/// Which requests may share a connection: those of one tunnel from one visitor address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct PoolKey {
    tunnel: Arc<str>,
    visitor: Option<IpAddr>,
}

#[derive(Debug)]
struct Idle {
    connection: Connection,
    since: Instant,
}

impl StreamPool {
    /// `max_idle` bounds the idle connections kept per tunnel and visitor address: the session
    /// bounds all its streams anyway, and a pool smaller than the visitors' concurrency would
    /// close and reopen streams (and the client's local connections) under steady load.
    pub(crate) fn new(
        session: SessionHandle,
        max_frame_size: usize,
        reply_timeout: Duration,
        max_idle: usize,
    ) -> Self {
        let shared = Arc::new(Shared {
            session,
            max_frame_size,
            reply_timeout,
            max_idle,
            idle: Mutex::new(HashMap::new()),
        });
        tokio::spawn(sweep(Arc::downgrade(&shared)));
        Self { shared }
    }

    /// Sends `request` to the client for `tunnel` and returns the response head; the body
    /// streams on. A `101` comes with the upgraded connection. Errors are this crate's
    /// [`Error`]s, boxed: a refused or failed stream as the connector reports it,
    /// [`Error::LocalReset`] when the connection fails mid-way, [`Error::LocalInvalid`] when
    /// what comes back is not HTTP/1.1.
    pub(crate) async fn send(
        &self,
        tunnel: Arc<str>,
        visitor: Option<IpAddr>,
        mut request: Request<TunnelBody>,
    ) -> Result<(Response<TunnelBody>, Option<Upgraded>), BoxError> {
        if request.method() != Method::CONNECT {
            to_origin_form(request.uri_mut());
        }
        let key = PoolKey { tunnel, visitor };
        let mut pooled = self.shared.check_out(&key);
        loop {
            let reused = pooled.is_some();
            let connection = match pooled.take() {
                Some(connection) => connection,
                None => self.connect(&key).await?,
            };
            match connection.send(request).await {
                Ok(Answer::Response(response)) => {
                    return Ok((self.shared.clone().track(key, response), None));
                }
                Ok(Answer::Upgrade(head, upgraded)) => {
                    return Ok((head.map(|()| TunnelBody::default()), Some(upgraded)));
                }
                // An idle connection that the other side closed before it took the request:
                // the request is untouched, so it goes on a new stream.
                Err(SendError::Unsent(unsent)) if reused => request = *unsent,
                Err(SendError::Unsent(_)) => {
                    let err = "the new stream closed before the request went out";
                    return Err(Error::LocalReset(err.into()).into());
                }
                Err(SendError::Failed(err)) => return Err(err),
            }
        }
    }

    async fn connect(&self, key: &PoolKey) -> Result<Connection, BoxError> {
        let shared = &self.shared;
        let stream = connector::open_stream(
            &shared.session,
            &key.tunnel,
            key.visitor,
            shared.max_frame_size,
            shared.reply_timeout,
        )
        .await?;
        Ok(Connection::new(stream))
    }
}

impl Shared {
    /// An idle connection for `key` that can take a request now, if there is one.
    fn check_out(&self, key: &PoolKey) -> Option<Connection> {
        let mut idle = self.lock();
        // An emptied list stays until the sweep: the connection usually comes back to it, and
        // removing it here would hash the key once more per request.
        take_newest_open(idle.get_mut(key)?, Instant::now())
    }

    fn check_in(&self, key: PoolKey, mut connection: Connection) {
        if connection.take_moved() > BULK_EXCHANGE {
            return;
        }
        let mut idle = self.lock();
        let list = idle.entry(key).or_default();
        if list.len() < self.max_idle {
            list.push(Idle {
                connection,
                since: Instant::now(),
            });
        }
    }

    /// The response, with its connection going back to the pool when the body ends.
    fn track(
        self: Arc<Self>,
        key: PoolKey,
        response: Response<ResponseBody>,
    ) -> Response<TunnelBody> {
        let mut ticket = Some(Ticket { pool: self, key });
        response.map(|mut inner| {
            if inner.is_end_stream() {
                Ticket::redeem(&mut ticket, &mut inner);
            }
            PooledBody { inner, ticket }.boxed_unsync()
        })
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<PoolKey, Vec<Idle>>> {
        // No code path panics while holding the lock, but never turn one panic into many.
        self.idle
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The most recently used connection of `list` that is still open: the likeliest to be alive
/// and warm. Under steady load the last one is, so a request looks at one connection, not at
/// every idle one (under 64 visitor connections that scan was 4 % of the server's
/// instructions). The closed and the expired met on the way are dropped; those further down
/// wait for the sweep.
fn take_newest_open(list: &mut Vec<Idle>, now: Instant) -> Option<Connection> {
    while let Some(mut candidate) = list.pop() {
        if now.duration_since(candidate.since) < IDLE_TIMEOUT && !candidate.connection.is_closed() {
            return Some(candidate.connection);
        }
    }
    None
}

/// Drops expired and closed connections now and then, until the pool is gone.
async fn sweep(pool: Weak<Shared>) {
    let mut ticks =
        tokio::time::interval_at(tokio::time::Instant::now() + SWEEP_PERIOD, SWEEP_PERIOD);
    loop {
        ticks.tick().await;
        let Some(pool) = pool.upgrade() else {
            return;
        };
        let now = Instant::now();
        pool.lock().retain(|_, list| {
            list.retain_mut(|i| {
                now.duration_since(i.since) < IDLE_TIMEOUT && !i.connection.is_closed()
            });
            !list.is_empty()
        });
    }
}

/// A connection on loan to one response.
struct Ticket {
    pool: Arc<Shared>,
    key: PoolKey,
}

impl Ticket {
    /// Gives the connection of `body`, which has ended, back to the pool if it can take
    /// another request; otherwise it closes with the body.
    fn redeem(ticket: &mut Option<Self>, body: &mut ResponseBody) {
        if let Some(Ticket { pool, key }) = ticket.take() {
            if let Some(connection) = body.take_idle_connection() {
                pool.check_in(key, connection);
            }
        }
    }
}

/// A response body that returns its connection to the pool once it has ended. A body dropped
/// before its end takes the connection with it, which closes the stream.
struct PooledBody {
    inner: ResponseBody,
    ticket: Option<Ticket>,
}

impl Body for PooledBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        let frame = ready!(Pin::new(&mut this.inner).poll_frame(cx));
        match &frame {
            // hyper's server stops polling a body that says it has ended, so look after
            // every frame rather than wait for a `None` that may never be asked for.
            Some(Ok(_)) if this.inner.is_end_stream() => {
                Ticket::redeem(&mut this.ticket, &mut this.inner);
            }
            Some(Ok(_)) => {}
            None => Ticket::redeem(&mut this.ticket, &mut this.inner),
            Some(Err(_)) => this.ticket = None,
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Puts `uri` in origin form (`/path?query`), which is what an HTTP/1.1 request to an origin
/// server carries, whatever form the visitor used.
fn to_origin_form(uri: &mut Uri) {
    if uri.scheme().is_none() && uri.authority().is_none() {
        return;
    }
    *uri = uri
        .path_and_query()
        .map_or_else(|| Uri::from_static("/"), |path| Uri::from(path.clone()));
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncWriteExt;

    use super::*;
    use crate::session::{self, SessionStream};

    /// An idle connection over a fresh stream, and the stream's far end.
    async fn connection(
        near: &SessionHandle,
        far: &mut session::Inbound,
        since: Instant,
    ) -> (Idle, SessionStream) {
        let mut stream = near.open_stream().await.unwrap();
        // A stream reaches the far side with its first frame.
        stream.write_all(b"x").await.unwrap();
        let connection = Connection::new(stream);
        (Idle { connection, since }, far.accept().await.unwrap())
    }

    #[tokio::test]
    async fn the_newest_open_connection_goes_first_and_the_dead_are_dropped() {
        let ((near, _), (_far_session, mut far)) = session::pair();
        // Late enough that every moment below comes after the start (`Instant` cannot go
        // before the clock's origin, which may be the machine's boot).
        let now = Instant::now() + IDLE_TIMEOUT + Duration::from_secs(10);
        let ago = |secs| now - Duration::from_secs(secs);
        let (oldest, _oldest_far) = connection(&near, &mut far, ago(4)).await;
        let (mut closed, closed_far) = connection(&near, &mut far, ago(2)).await;
        let (expired, _expired_far) = connection(&near, &mut far, now - IDLE_TIMEOUT).await;
        let (newest, _newest_far) = connection(&near, &mut far, now).await;

        // The far end goes away, and the near end sees it.
        drop(closed_far);
        closed.connection.closed().await;
        assert!(closed.connection.is_closed());

        let mut list = vec![oldest, closed, expired, newest];
        take_newest_open(&mut list, now).expect("the newest is open");
        let left: Vec<Instant> = list.iter().map(|i| i.since).collect();
        assert_eq!(
            left,
            [ago(4), ago(2), now - IDLE_TIMEOUT],
            "the newest went, and nothing else was looked at"
        );
        // Next come the expired and the closed, which go, then the oldest.
        take_newest_open(&mut list, now).expect("the oldest is open");
        assert!(list.is_empty());
        assert!(take_newest_open(&mut list, now).is_none());
    }

    #[test]
    fn requests_reach_the_local_service_in_origin_form() {
        for (visitor, local) in [
            ("/a/b?c=d", "/a/b?c=d"),
            ("http://app.localhost:8080/a/b?c=d", "/a/b?c=d"),
            ("https://app.localhost", "/"),
            ("*", "*"),
        ] {
            let mut uri: Uri = visitor.parse().unwrap();
            to_origin_form(&mut uri);
            assert_eq!(uri, local, "{visitor}");
        }
    }
}
