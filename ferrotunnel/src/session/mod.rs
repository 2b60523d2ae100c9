//! A yamux session: one connection between a client and the server, multiplexed into streams.
//!
//! yamux only moves bytes while its `Connection` is polled, so one driver task owns it and polls
//! it continuously (see STACK-NOTES). Other tasks open streams by asking the driver over a
//! channel, and receive inbound streams from a bounded queue that the driver fills without ever
//! waiting: when the queue is full the stream is dropped (the peer sees a reset), so a slow
//! consumer can never stall the session.
//!
//! Under the connection sits [`batch`]: frames are read from a buffer and collected for writing,
//! and the driver writes them out once per wake-up, when yamux has nothing more to do. Each
//! stream reaches the rest of the crate as a [`SessionStream`], a tokio reader and writer.

use std::{
    future::poll_fn,
    sync::{
        Arc, OnceLock,
        atomic::{AtomicU64, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use futures::FutureExt;
use tokio::sync::{mpsc, oneshot};
use tokio_util::{
    compat::{Compat, TokioAsyncReadCompatExt},
    sync::CancellationToken,
};

use crate::{Error, Result, transport::BoxIo};

mod batch;
mod idle;
mod stream;

use batch::{BatchedIo, Flusher};
use idle::IdleTurn;
pub(crate) use stream::SessionStream;

pub(crate) use yamux::Mode;

type OpenRequest = oneshot::Sender<Result<yamux::Stream, yamux::ConnectionError>>;

/// The largest data frame a session sends.
const FRAME_SIZE: usize = 64 * 1024;

/// How far past 256 KiB per stream a session's streams may grow their receive windows, all
/// together.
///
/// yamux starts every stream at 256 KiB and doubles a stream's window when its sender used half
/// of it within two round trips, drawing the growth from what the connection's receive window
/// allows beyond 256 KiB per stream. With no room there, a bulk transfer waits for a window
/// update every 128 KiB: on loopback that wait, not the copying, bounded a single download
/// (`docs/benchmarks.md`, change 16). The room is shared, goes to the streams that grow first
/// and comes back when they close (which is why the server's pool closes a stream after a bulk
/// exchange rather than keep it), and bounds what a peer can make a session buffer on top of
/// 256 KiB per stream.
const WINDOW_GROWTH: usize = 16 << 20;

/// How long closing a session may take to flush its last frames.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// Limits of one session.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SessionConfig {
    /// Streams open at once, both directions together.
    pub(crate) max_streams: usize,
    /// Inbound streams waiting to be picked up.
    pub(crate) accept_backlog: usize,
}

impl SessionConfig {
    fn yamux(&self) -> yamux::Config {
        let streams = self.max_streams.max(1);
        let mut config = yamux::Config::default();
        // Fewer, larger frames for bulk transfers (yamux's default is 16 KiB); a request or
        // response head is far smaller and is unaffected.
        config.set_split_send_size(FRAME_SIZE);
        // yamux asserts that the connection window covers 256 KiB per stream, checking each
        // setter against the other's current value: lift the window first, then set both.
        config.set_max_connection_receive_window(None);
        config.set_max_num_streams(streams);
        // That bound is also all a peer can make us buffer for this session.
        let window = streams
            .saturating_mul(256 * 1024)
            .saturating_add(WINDOW_GROWTH);
        config.set_max_connection_receive_window(Some(window));
        config
    }
}

/// A cheap, cloneable handle to a running session.
#[derive(Debug, Clone)]
pub(crate) struct SessionHandle {
    id: u64,
    opener: mpsc::Sender<OpenRequest>,
    /// Cancelled to ask the driver to close the session.
    close: CancellationToken,
    /// Cancelled by the driver when the session has ended, for whatever reason.
    ended: CancellationToken,
    /// Why the session failed, if it did; set before `ended` is cancelled.
    failure: Arc<OnceLock<String>>,
}

/// Inbound streams of a session.
#[derive(Debug)]
pub(crate) struct Inbound(mpsc::Receiver<SessionStream>);

impl Inbound {
    /// The next stream the peer opened, or `None` once the session has ended.
    pub(crate) async fn accept(&mut self) -> Option<SessionStream> {
        self.0.recv().await
    }
}

/// Starts a session over `io` and returns a handle and its inbound streams.
pub(crate) fn spawn(io: BoxIo, mode: Mode, config: SessionConfig) -> (SessionHandle, Inbound) {
    static NEXT_ID: AtomicU64 = AtomicU64::new(1);
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let (io, flusher) = batch::batched(io);
    let connection = yamux::Connection::new(io.compat(), config.yamux(), mode);
    let (opener, open_rx) = mpsc::channel(64);
    let (inbound_tx, inbound_rx) = mpsc::channel(config.accept_backlog.max(1));
    let handle = SessionHandle {
        id,
        opener,
        close: CancellationToken::new(),
        ended: CancellationToken::new(),
        failure: Arc::default(),
    };
    let driver = drive(
        connection,
        flusher,
        open_rx,
        inbound_tx,
        handle.close.clone(),
    );
    let (ended, failure) = (handle.ended.clone(), handle.failure.clone());
    tokio::spawn(async move {
        match driver.await {
            Ok(()) => tracing::debug!(session = id, "session ended"),
            Err(err) => {
                tracing::debug!(session = id, error = %err, "session failed");
                let _ = failure.set(match err {
                    Error::Session(reason) => reason,
                    other => other.to_string(),
                });
            }
        }
        ended.cancel();
    });
    (handle, Inbound(inbound_rx))
}

impl SessionHandle {
    /// A process-unique number for logs.
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// Opens a new stream to the peer. The peer sees it only once something is written to it.
    pub(crate) async fn open_stream(&self) -> Result<SessionStream> {
        let (tx, rx) = oneshot::channel();
        self.opener
            .send(tx)
            .await
            .map_err(|_| Error::SessionClosed)?;
        let stream = rx.await.map_err(|_| Error::SessionClosed)??;
        Ok(SessionStream::new(stream))
    }

    /// Asks the session to close; streams still open are reset.
    pub(crate) fn close(&self) {
        self.close.cancel();
    }

    /// Waits until the session has ended.
    pub(crate) async fn closed(&self) {
        self.ended.cancelled().await;
    }

    /// Waits until the session has ended, then says why if it failed (the connection broke,
    /// or the peer sent something that is not yamux).
    pub(crate) async fn failure(&self) -> Option<String> {
        self.closed().await;
        self.failure.get().cloned()
    }
}

async fn drive(
    mut connection: yamux::Connection<Compat<BatchedIo>>,
    flusher: Flusher,
    mut open_rx: mpsc::Receiver<OpenRequest>,
    inbound_tx: mpsc::Sender<SessionStream>,
    close: CancellationToken,
) -> Result<()> {
    let mut pending_open: Option<OpenRequest> = None;
    let mut openers_gone = false;
    let mut idle = IdleTurn::default();
    let run = poll_fn(|cx| {
        loop {
            // Serve one request to open a stream at a time, in order.
            if pending_open.is_none() && !openers_gone {
                match open_rx.poll_recv(cx) {
                    Poll::Ready(Some(request)) => pending_open = Some(request),
                    Poll::Ready(None) => openers_gone = true,
                    Poll::Pending => {}
                }
            }
            if pending_open.is_some() {
                if let Poll::Ready(result) = connection.poll_new_outbound(cx) {
                    if let Some(request) = pending_open.take() {
                        // The requester may have given up; then the stream is dropped (reset).
                        let _ = request.send(result);
                    }
                    continue;
                }
            }
            // Polling inbound is what moves every byte of every stream.
            return match connection.poll_next_inbound(cx) {
                Poll::Ready(Some(Ok(stream))) => {
                    if inbound_tx.try_send(SessionStream::new(stream)).is_err() {
                        tracing::warn!("inbound stream queue is full; resetting a new stream");
                    }
                    continue;
                }
                Poll::Ready(Some(Err(err))) => Poll::Ready(Err(Error::from(err))),
                Poll::Ready(None) => Poll::Ready(Ok(())),
                Poll::Pending => flush_when_idle(&flusher, &mut idle, cx),
            };
        }
    });
    tokio::select! {
        result = run => return result,
        () = close.cancelled() => {}
    }
    drop(pending_open);
    // Tell the peer we are going (a yamux GoAway), but do not wait forever for a dead socket.
    let closing = poll_fn(|cx| connection.poll_close(cx)).map(|r| r.map_err(Error::from));
    tokio::time::timeout(CLOSE_TIMEOUT, closing)
        .await
        .unwrap_or(Ok(()))
}

/// yamux has done all it can for now: what it wrote goes out in one go once the other ready
/// tasks (streams with frames to send) have run too. `Ready` only for a failed write.
fn flush_when_idle(
    flusher: &Flusher,
    idle: &mut IdleTurn,
    cx: &mut Context<'_>,
) -> Poll<Result<()>> {
    if !flusher.has_pending() || idle.poll_idle(cx).is_pending() {
        return Poll::Pending;
    }
    match flusher.poll_flush(cx) {
        Poll::Ready(Err(err)) => Poll::Ready(Err(err.into())),
        Poll::Ready(Ok(())) | Poll::Pending => Poll::Pending,
    }
}

/// Two sessions over an in-memory pipe, the first the opening side: for tests of what runs over
/// streams.
#[cfg(test)]
pub(crate) fn pair() -> ((SessionHandle, Inbound), (SessionHandle, Inbound)) {
    let (a, b) = tokio::io::duplex(64 * 1024);
    let config = SessionConfig {
        max_streams: 16,
        accept_backlog: 4,
    };
    (
        spawn(Box::new(a), Mode::Client, config),
        spawn(Box::new(b), Mode::Server, config),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn streams_carry_bytes_both_ways() {
        let ((client, _client_inbound), (_server, mut server_inbound)) = pair();
        let mut stream = client.open_stream().await.unwrap();
        stream.write_all(b"hello").await.unwrap();
        let mut accepted = server_inbound.accept().await.unwrap();
        let mut buf = [0; 5];
        accepted.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"hello");
        accepted.write_all(b"world").await.unwrap();
        stream.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"world");
    }

    #[tokio::test]
    async fn frames_larger_than_a_read_are_read_on_in_order() {
        let ((client, _client_inbound), (_server, mut server_inbound)) = pair();
        let sent: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let mut stream = client.open_stream().await.unwrap();
        let writer = {
            let sent = sent.clone();
            tokio::spawn(async move {
                stream.write_all(&sent).await.unwrap();
                stream.shutdown().await.unwrap();
            })
        };
        let mut accepted = server_inbound.accept().await.unwrap();
        let mut received = Vec::new();
        // Odd-sized reads, far smaller than yamux's 64 KiB frames.
        let mut buf = [0; 1000];
        loop {
            let n = accepted.read(&mut buf[..977]).await.unwrap();
            if n == 0 {
                break;
            }
            received.extend_from_slice(&buf[..n]);
        }
        writer.await.unwrap();
        assert_eq!(received.len(), sent.len());
        assert!(received == sent, "the bytes arrive in order");
    }

    #[test]
    fn any_stream_limit_makes_a_valid_yamux_config() {
        for max_streams in [0, 1, 16, 512, 513, 4096, 100_000] {
            SessionConfig {
                max_streams,
                accept_backlog: 1,
            }
            .yamux();
        }
    }

    #[tokio::test]
    async fn closing_one_side_ends_both() {
        let ((client, _ci), (server, mut server_inbound)) = pair();
        client.close();
        client.closed().await;
        server.closed().await;
        assert!(server_inbound.accept().await.is_none());
        assert!(matches!(
            server.open_stream().await,
            Err(Error::SessionClosed)
        ));
    }
}
