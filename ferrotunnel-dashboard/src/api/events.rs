//! `GET /api/events`: Server-Sent Events. Each subscriber reads the capture store's broadcast
//! on its own: a slow one misses events (and gets a `lagged` event saying how many) and never
//! holds up traffic.
//!
//! Events are written in batches: once an exchange event comes, the subscriber waits
//! [`BATCH_WINDOW`] for more and writes them all as one chunk, so that under load the stream
//! costs one wake-up and one write per window, not per exchange (measured: a subscriber reading
//! event by event cost the server 44 µs of CPU per request). The store's events are ids; a
//! batch writes each exchange once, as the store has it when the batch goes out, so one that
//! starts and ends within a batch is written once, as `exchange_finished`: a subscriber takes
//! a finish for an exchange it has not seen as a new one (that halves what a watched server
//! writes under load, and a person cannot see a 25 ms in-flight state anyway).

use std::{convert::Infallible, time::Duration};

use axum::{
    body::{Body, Bytes},
    extract::State,
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use ferrotunnel_tower::capture::{CaptureEvent, CaptureStore, Outcome};
use futures::Stream;
use serde::Serialize;
use tokio::{
    sync::broadcast::{
        self,
        error::{RecvError, TryRecvError},
    },
    time::{Interval, MissedTickBehavior},
};

use super::{stats::Point, tunnels::TunnelSummary};
use crate::{
    DashboardState,
    tunnels::{TunnelSource, TunnelView},
    views::ExchangeSummary,
};

/// How often the `stats` event comes.
const STATS_EVERY: Duration = Duration::from_secs(1);
/// How often a comment line is sent, so that proxies keep an idle stream open.
const KEEP_ALIVE_EVERY: Duration = Duration::from_secs(15);
/// A batch stops growing at this many exchange events; the rest go in the next one.
const MAX_BATCH: usize = 512;
/// How long a batch gathers exchange events after the first. Short against what a person can
/// see, and short enough that a window's events fit in the broadcast channel (1 024 events, 16
/// per millisecond at 8 000 requests a second).
const BATCH_WINDOW: Duration = Duration::from_millis(25);

/// `GET /api/events`.
pub(crate) async fn events(State(state): State<DashboardState>) -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/event-stream"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            // Proxies such as nginx would otherwise hold the stream back.
            (
                header::HeaderName::from_static("x-accel-buffering"),
                HeaderValue::from_static("no"),
            ),
        ],
        Body::from_stream(subscribe(state)),
    )
        .into_response()
}

/// One subscriber's events, for as long as it listens. Its first chunk comes at once (a
/// keep-alive comment), so that the response head reaches the browser without waiting for
/// traffic.
pub(crate) fn subscribe(state: DashboardState) -> impl Stream<Item = Result<Bytes, Infallible>> {
    let mut tunnels = state.tunnels.clone();
    tunnels.mark_seen();
    let every = |period| {
        let mut interval = tokio::time::interval(period);
        interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
        interval
    };
    let subscriber = Subscriber {
        exchanges: state.capture.subscribe(),
        known: tunnels.snapshot(),
        tunnels: Some(tunnels),
        stats: every(STATS_EVERY),
        keep_alive: every(KEEP_ALIVE_EVERY),
        state,
    };
    futures::stream::unfold(subscriber, |mut subscriber| async move {
        let batch = subscriber.next_batch().await;
        let bytes = batch.into_bytes(&subscriber.state.capture);
        Some((Ok(Bytes::from(bytes)), subscriber))
    })
}

struct Subscriber {
    state: DashboardState,
    exchanges: broadcast::Receiver<CaptureEvent>,
    /// `None` once the tunnels' owner is gone.
    tunnels: Option<TunnelSource>,
    /// The tunnels last told of, to tell what changed.
    known: Vec<TunnelView>,
    stats: Interval,
    keep_alive: Interval,
}

#[derive(Serialize)]
struct TunnelDown<'a> {
    name: &'a str,
}

#[derive(Serialize)]
struct Lagged {
    missed: u64,
}

#[derive(Serialize)]
struct Tick {
    #[serde(flatten)]
    second: Point,
    in_flight: usize,
    tunnels: usize,
}

impl Subscriber {
    /// Waits for something to tell, then adds whatever else is ready, without waiting.
    async fn next_batch(&mut self) -> Batch {
        let mut batch = Batch::default();
        while batch.is_empty() {
            tokio::select! {
                received = self.exchanges.recv() => match received {
                    Ok(event) => batch.exchanges.push(event.id()),
                    Err(RecvError::Lagged(missed)) => batch.lagged(&self.state.capture, missed),
                    // The store lives as long as the state that holds it: this cannot happen,
                    // but if it did, the stream would go on with stats and tunnels.
                    Err(RecvError::Closed) => self.exchanges = self.state.capture.subscribe(),
                },
                changed = wait_changed(&mut self.tunnels) => {
                    if changed {
                        self.tunnels_changed(&mut batch.text);
                    } else {
                        self.tunnels = None;
                    }
                }
                _ = self.stats.tick() => self.tick(&mut batch.text),
                _ = self.keep_alive.tick() => batch.text.extend_from_slice(b": keep-alive\n\n"),
            }
        }
        if !batch.exchanges.is_empty() {
            tokio::time::sleep(BATCH_WINDOW).await;
        }
        while batch.exchanges.len() < MAX_BATCH {
            match self.exchanges.try_recv() {
                Ok(event) => batch.exchanges.push(event.id()),
                Err(TryRecvError::Lagged(missed)) => batch.lagged(&self.state.capture, missed),
                Err(TryRecvError::Empty | TryRecvError::Closed) => break,
            }
        }
        batch
    }

    fn tunnels_changed(&mut self, batch: &mut Vec<u8>) {
        let Some(source) = &mut self.tunnels else {
            return;
        };
        source.mark_seen();
        let now = source.snapshot();
        for gone in self.known.iter().filter(|old| !now.contains(old)) {
            write_event(batch, "tunnel_down", &TunnelDown { name: &gone.name });
        }
        for up in now.iter().filter(|new| !self.known.contains(new)) {
            let summary = TunnelSummary::new(up.clone(), &self.state.capture);
            write_event(batch, "tunnel_up", &summary);
        }
        self.known = now;
    }

    fn tick(&self, batch: &mut Vec<u8>) {
        let series = self.state.capture.series(None);
        // The last point is the second still running: send the one before, which is whole.
        let Some(second) = series.iter().rev().nth(1).or(series.last()) else {
            return;
        };
        let tick = Tick {
            second: Point::from(second),
            in_flight: self.state.capture.in_flight(),
            tunnels: self.known.len(),
        };
        write_event(batch, "stats", &tick);
    }
}

/// What one write of the stream carries: events already written, then the exchanges that
/// started or finished since, by id, not yet written (so that each is written once, as it is
/// when the batch goes out).
#[derive(Default)]
struct Batch {
    text: Vec<u8>,
    exchanges: Vec<u64>,
}

impl Batch {
    fn is_empty(&self) -> bool {
        self.text.is_empty() && self.exchanges.is_empty()
    }

    /// Writes a `lagged` event, after the exchange events that came before it.
    fn lagged(&mut self, store: &CaptureStore, missed: u64) {
        self.write_exchanges(store);
        write_event(&mut self.text, "lagged", &Lagged { missed });
    }

    /// Writes each exchange once, oldest first, as the store has it now: `exchange_finished`
    /// if it has ended, else `exchange_started`. Those the store has evicted meanwhile are left
    /// out, as a reload would leave them out.
    fn write_exchanges(&mut self, store: &CaptureStore) {
        self.exchanges.sort_unstable();
        self.exchanges.dedup();
        for exchange in store.snapshots(&self.exchanges) {
            let name = if exchange.outcome == Outcome::InFlight {
                "exchange_started"
            } else {
                "exchange_finished"
            };
            let text = &mut self.text;
            text.extend_from_slice(b"event: ");
            text.extend_from_slice(name.as_bytes());
            text.extend_from_slice(b"\ndata: ");
            ExchangeSummary::new(&exchange).write_json(text);
            text.extend_from_slice(b"\n\n");
        }
        self.exchanges.clear();
    }

    fn into_bytes(mut self, store: &CaptureStore) -> Vec<u8> {
        self.write_exchanges(store);
        self.text
    }
}

async fn wait_changed(tunnels: &mut Option<TunnelSource>) -> bool {
    match tunnels {
        Some(source) => source.changed().await,
        None => std::future::pending().await,
    }
}

/// Appends one event, its JSON written straight into the batch. serde_json writes no line
/// breaks, so the data is one `data:` line.
fn write_event(batch: &mut Vec<u8>, name: &str, data: &impl Serialize) {
    let mark = batch.len();
    batch.extend_from_slice(b"event: ");
    batch.extend_from_slice(name.as_bytes());
    batch.extend_from_slice(b"\ndata: ");
    match serde_json::to_writer(&mut *batch, data) {
        Ok(()) => batch.extend_from_slice(b"\n\n"),
        Err(_) => batch.truncate(mark),
    }
}
