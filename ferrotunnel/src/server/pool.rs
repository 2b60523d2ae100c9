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

use std::{
    collections::HashMap,
    net::IpAddr,
    pin::Pin,
    sync::{Arc, Mutex, MutexGuard, Weak},
    task::{Context, Poll, ready},
    time::{Duration, Instant},
};

use bytes::Bytes;
use futures::TryFutureExt;
use http::{Method, Request, Response, StatusCode, Uri};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use hyper::{body::Incoming, client::conn::http1};
use hyper_util::rt::TokioIo;

use super::{TunnelBody, connector};
use crate::{BoxError, Error, session::SessionHandle};

/// How long an idle connection is kept.
const IDLE_TIMEOUT: Duration = Duration::from_secs(90);

type Sender = http1::SendRequest<TunnelBody>;

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
    sender: Sender,
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
    /// streams on. Errors are this crate's [`Error`]s, boxed: a refused or failed stream as
    /// the connector reports it, and [`Error::LocalReset`] when the connection fails mid-way.
    pub(crate) async fn send(
        &self,
        tunnel: Arc<str>,
        visitor: Option<IpAddr>,
        mut request: Request<TunnelBody>,
    ) -> Result<Response<TunnelBody>, BoxError> {
        if request.method() != Method::CONNECT {
            to_origin_form(request.uri_mut());
        }
        let key = PoolKey { tunnel, visitor };
        let mut pooled = self.shared.check_out(&key);
        loop {
            let reused = pooled.is_some();
            let mut sender = match pooled.take() {
                Some(sender) => sender,
                None => self.connect(&key).await?,
            };
            match sender.try_send_request(request).await {
                Ok(response) => return Ok(self.shared.clone().track(key, sender, response)),
                Err(mut failed) => match failed.take_message() {
                    // An idle connection that the other side closed before it took the request:
                    // the request is untouched, so it goes on a new stream.
                    Some(unsent) if reused => request = unsent,
                    _ => return Err(Error::LocalReset(failed.into_error().into()).into()),
                },
            }
        }
    }

    async fn connect(&self, key: &PoolKey) -> Result<Sender, BoxError> {
        let shared = &self.shared;
        let stream = connector::open_stream(
            &shared.session,
            &key.tunnel,
            key.visitor,
            shared.max_frame_size,
            shared.reply_timeout,
        )
        .await?;
        let (sender, connection) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|err| Error::LocalReset(err.into()))?;
        let tunnel = key.tunnel.clone();
        // A combinator, not an `async` block, which would hold the connection twice over in
        // its size (before and after `with_upgrades`) for the stream's whole life.
        tokio::spawn(connection.with_upgrades().inspect_err(move |err| {
            tracing::debug!(%tunnel, error = %err, "tunnel stream connection failed");
        }));
        Ok(sender)
    }
}

impl Shared {
    /// An idle connection for `key` that can take a request now, if there is one.
    fn check_out(&self, key: &PoolKey) -> Option<Sender> {
        let mut idle = self.lock();
        // An emptied list stays until the sweep: the connection usually comes back to it, and
        // removing it here would hash the key once more per request.
        take_newest_ready(idle.get_mut(key)?, Instant::now())
    }

    fn check_in(&self, key: PoolKey, sender: Sender) {
        if sender.is_closed() {
            return;
        }
        let mut idle = self.lock();
        let list = idle.entry(key).or_default();
        if list.len() < self.max_idle {
            list.push(Idle {
                sender,
                since: Instant::now(),
            });
        }
    }

    /// The response, with its connection going back to the pool when the body ends. A `101`
    /// hands the connection to the upgrade, so it never comes back.
    fn track(
        self: Arc<Self>,
        key: PoolKey,
        sender: Sender,
        response: Response<Incoming>,
    ) -> Response<TunnelBody> {
        if response.status() == StatusCode::SWITCHING_PROTOCOLS {
            return response.map(|body| body.map_err(BoxError::from).boxed_unsync());
        }
        let mut ticket = Some(Ticket {
            pool: self,
            key,
            sender,
        });
        if response.body().is_end_stream() {
            Ticket::redeem(&mut ticket);
        }
        response.map(|inner| PooledBody { inner, ticket }.boxed_unsync())
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<PoolKey, Vec<Idle>>> {
        // No code path panics while holding the lock, but never turn one panic into many.
        self.idle
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The most recently used connection of `list` that can take a request now: the likeliest to
/// be alive and warm. Under steady load the last one is ready, so a request looks at one
/// connection, not at every idle one (under 64 visitor connections that scan was 4 % of the
/// server's instructions). The closed and the expired met on the way are dropped; those
/// further down wait for the sweep. One that is alive but not ready yet (its task has not seen
/// the last response end) stays.
fn take_newest_ready(list: &mut Vec<Idle>, now: Instant) -> Option<Sender> {
    let mut at = list.len();
    while at > 0 {
        at -= 1;
        let candidate = &list[at];
        if candidate.sender.is_closed() || now.duration_since(candidate.since) >= IDLE_TIMEOUT {
            list.remove(at);
        } else if candidate.sender.is_ready() {
            return Some(list.swap_remove(at).sender);
        }
    }
    None
}

/// Drops expired and closed connections now and then, until the pool is gone.
async fn sweep(pool: Weak<Shared>) {
    let period = IDLE_TIMEOUT / 3;
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    loop {
        ticks.tick().await;
        let Some(pool) = pool.upgrade() else {
            return;
        };
        let now = Instant::now();
        pool.lock().retain(|_, list| {
            list.retain(|i| !i.sender.is_closed() && now.duration_since(i.since) < IDLE_TIMEOUT);
            !list.is_empty()
        });
    }
}

/// A connection on loan to one response.
struct Ticket {
    pool: Arc<Shared>,
    key: PoolKey,
    sender: Sender,
}

impl Ticket {
    fn redeem(ticket: &mut Option<Self>) {
        if let Some(Ticket { pool, key, sender }) = ticket.take() {
            pool.check_in(key, sender);
        }
    }
}

/// A response body that returns its connection to the pool once it has ended. A body dropped
/// before its end takes the connection with it, which closes the stream.
struct PooledBody {
    inner: Incoming,
    ticket: Option<Ticket>,
}

impl Body for PooledBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let frame = ready!(Pin::new(&mut self.inner).poll_frame(cx));
        match &frame {
            // hyper's server stops polling a body that says it has ended, so look after
            // every frame rather than wait for a `None` that may never be asked for.
            Some(Ok(_)) if self.inner.is_end_stream() => Ticket::redeem(&mut self.ticket),
            Some(Ok(_)) => {}
            None => Ticket::redeem(&mut self.ticket),
            Some(Err(_)) => self.ticket = None,
        }
        Poll::Ready(frame.map(|f| f.map_err(BoxError::from)))
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
    use std::future::poll_fn;

    use http_body_util::Empty;
    use tokio::{io::DuplexStream, task::JoinHandle};

    use super::*;

    /// A client connection over an in-memory pipe, driven by a task of its own; the far end of
    /// the pipe, which never answers; and the task, which ends when the connection does.
    async fn connection() -> (Sender, DuplexStream, JoinHandle<()>) {
        let (near, far) = tokio::io::duplex(4096);
        let (mut sender, connection) = http1::handshake(TokioIo::new(near)).await.unwrap();
        let task = tokio::spawn(async move {
            let _ = connection.await;
        });
        poll_fn(|cx| sender.poll_ready(cx)).await.unwrap();
        (sender, far, task)
    }

    fn idle(sender: Sender, since: Instant) -> Idle {
        Idle { sender, since }
    }

    #[tokio::test]
    async fn the_newest_ready_connection_goes_first_and_the_dead_are_dropped() {
        // Late enough that every moment below comes after the start (`Instant` cannot go
        // before the clock's origin, which may be the machine's boot).
        let now = Instant::now() + IDLE_TIMEOUT + Duration::from_secs(10);
        let (oldest, _oldest_far, _) = connection().await;
        let (closed, closed_far, closed_task) = connection().await;
        let (expired, _expired_far, _) = connection().await;
        let (mut busy, _busy_far, _) = connection().await;
        let (newest, _newest_far, _) = connection().await;

        // The far end goes away: the connection sees end-of-file and ends.
        drop(closed_far);
        closed_task.await.unwrap();
        assert!(closed.is_closed());
        // A request in flight that is never answered: alive, but not ready.
        let request = Request::new(Empty::new().map_err(BoxError::from).boxed_unsync());
        let _in_flight = busy.send_request(request);
        assert!(!busy.is_ready() && !busy.is_closed());

        let ago = |secs| now - Duration::from_secs(secs);
        let mut list = vec![
            idle(oldest, ago(4)),
            idle(busy, ago(3)),
            idle(closed, ago(2)),
            idle(expired, now - IDLE_TIMEOUT),
            idle(newest, now),
        ];
        take_newest_ready(&mut list, now).expect("the newest is ready");
        let left: Vec<Instant> = list.iter().map(|i| i.since).collect();
        assert_eq!(
            left,
            [ago(4), ago(3), ago(2), now - IDLE_TIMEOUT],
            "the newest went, and nothing else was looked at"
        );

        // Next come the expired and the closed, which go, then the busy one, which stays.
        take_newest_ready(&mut list, now).expect("the oldest is ready");
        assert_eq!(list.len(), 1);
        assert!(!list[0].sender.is_ready() && !list[0].sender.is_closed());
        assert!(take_newest_ready(&mut list, now).is_none());
        assert_eq!(
            list.len(),
            1,
            "the busy connection stays for when it is done"
        );
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
