//! The control stream with its heartbeat, shared by both ends of a session.
//!
//! Each side sends a `Ping` every heartbeat interval and answers the peer's pings; a peer that
//! sends nothing at all for [`MISSED_HEARTBEATS`] intervals is declared dead.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use tokio::time::{Instant, Interval, MissedTickBehavior};
use tokio_util::codec::Framed;

use crate::{
    Error, Result,
    protocol::{Frame, FrameCodec},
    session::SessionStream,
};

/// How many silent heartbeat intervals make a peer dead.
pub(crate) const MISSED_HEARTBEATS: u32 = 3;

/// The framed control stream of a session.
#[derive(Debug)]
pub(crate) struct ControlChannel {
    framed: Framed<SessionStream, FrameCodec>,
    heartbeat: Interval,
    interval: Duration,
    last_heard: Instant,
    nonce: u64,
}

impl ControlChannel {
    pub(crate) fn new(stream: SessionStream, codec: FrameCodec, interval: Duration) -> Self {
        let interval = interval.max(Duration::from_millis(10));
        Self {
            framed: Framed::new(stream, codec),
            heartbeat: heartbeat_timer(interval),
            interval,
            last_heard: Instant::now(),
            nonce: 0,
        }
    }

    /// Changes the heartbeat interval (the client adopts the server's).
    pub(crate) fn set_heartbeat_interval(&mut self, interval: Duration) {
        self.interval = interval.max(Duration::from_millis(10));
        self.heartbeat = heartbeat_timer(self.interval);
    }

    /// Sends one frame and flushes it.
    pub(crate) async fn send(&mut self, frame: Frame) -> Result<()> {
        self.framed.send(frame).await.map_err(Error::from)
    }

    /// Closes our side of the control stream, flushing what was sent.
    pub(crate) async fn close(&mut self) -> Result<()> {
        self.framed.close().await.map_err(Error::from)
    }

    /// Waits until the peer closes its side of the control stream (any frames still in
    /// flight are read and dropped). Used to wait for the acknowledgement of a `Goodbye`.
    pub(crate) async fn closed_by_peer(&mut self) {
        while let Some(Ok(_)) = self.framed.next().await {}
    }

    /// The next frame, with no heartbeat handling; `None` when the peer closed the stream.
    pub(crate) async fn recv(&mut self) -> Result<Option<Frame>> {
        self.framed.next().await.transpose().map_err(Error::from)
    }

    /// The next frame that is not part of the heartbeat, answering pings and sending our own
    /// on schedule. `Ok(None)` when the peer closed the control stream; an error when the peer
    /// has been silent too long or sent bad frames.
    pub(crate) async fn next_event(&mut self) -> Result<Option<Frame>> {
        loop {
            tokio::select! {
                frame = self.framed.next() => {
                    self.last_heard = Instant::now();
                    match frame.transpose()? {
                        Some(Frame::Ping { nonce }) => self.send(Frame::Pong { nonce }).await?,
                        Some(Frame::Pong { .. }) => {}
                        other => return Ok(other),
                    }
                }
                _ = self.heartbeat.tick() => {
                    let silence = self.last_heard.elapsed();
                    let limit = self.interval * MISSED_HEARTBEATS;
                    if silence >= limit {
                        crate::metrics::heartbeat_timed_out();
                        return Err(Error::Timeout { what: "a heartbeat from the peer", after: limit });
                    }
                    self.nonce = self.nonce.wrapping_add(1);
                    self.send(Frame::Ping { nonce: self.nonce }).await?;
                }
            }
        }
    }
}

fn heartbeat_timer(interval: Duration) -> Interval {
    let mut timer = tokio::time::interval_at(Instant::now() + interval, interval);
    timer.set_missed_tick_behavior(MissedTickBehavior::Delay);
    timer
}
