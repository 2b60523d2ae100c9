//! `GET /api/events`: Server-Sent Events. Each subscriber reads the capture store's broadcast
//! on its own: a slow one misses events (and gets a `lagged` event saying how many) and never
//! holds up traffic.

use std::{collections::VecDeque, convert::Infallible, time::Duration};

use axum::{
    extract::State,
    response::sse::{Event, KeepAlive, Sse},
};
use ferrotunnel_tower::capture::CaptureEvent;
use futures::Stream;
use serde::Serialize;
use tokio::{
    sync::broadcast::{self, error::RecvError},
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
/// How often an idle stream sends a comment, so that proxies keep it open.
const KEEP_ALIVE_EVERY: Duration = Duration::from_secs(15);

/// `GET /api/events`.
pub(crate) async fn events(
    State(state): State<DashboardState>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    Sse::new(subscribe(state)).keep_alive(KeepAlive::new().interval(KEEP_ALIVE_EVERY))
}

/// One subscriber's events, for as long as it listens.
pub(crate) fn subscribe(state: DashboardState) -> impl Stream<Item = Result<Event, Infallible>> {
    let mut tunnels = state.tunnels.clone();
    tunnels.mark_seen();
    let mut stats = tokio::time::interval(STATS_EVERY);
    stats.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let subscriber = Subscriber {
        exchanges: state.capture.subscribe(),
        known: tunnels.snapshot(),
        tunnels: Some(tunnels),
        stats,
        pending: VecDeque::new(),
        state,
    };
    futures::stream::unfold(subscriber, |mut subscriber| async move {
        let event = subscriber.next().await;
        Some((Ok(event), subscriber))
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
    /// Events found but not sent yet (a tunnel change can make several).
    pending: VecDeque<Event>,
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
    async fn next(&mut self) -> Event {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return event;
            }
            tokio::select! {
                received = self.exchanges.recv() => match received {
                    Ok(CaptureEvent::Started(exchange)) => {
                        return event("exchange_started", &ExchangeSummary::new(&exchange));
                    }
                    Ok(CaptureEvent::Finished(exchange)) => {
                        return event("exchange_finished", &ExchangeSummary::new(&exchange));
                    }
                    Err(RecvError::Lagged(missed)) => return event("lagged", &Lagged { missed }),
                    // The store lives as long as the state that holds it: this cannot happen,
                    // but if it did, the stream would go on with stats and tunnels.
                    Err(RecvError::Closed) => {
                        self.exchanges = self.state.capture.subscribe();
                    }
                },
                changed = wait_changed(&mut self.tunnels) => {
                    if changed {
                        self.tunnels_changed();
                    } else {
                        self.tunnels = None;
                    }
                }
                _ = self.stats.tick() => return self.tick(),
            }
        }
    }

    fn tunnels_changed(&mut self) {
        let Some(source) = &mut self.tunnels else {
            return;
        };
        source.mark_seen();
        let now = source.snapshot();
        for gone in self
            .known
            .iter()
            .filter(|old| !now.iter().any(|new| new == *old))
        {
            self.pending
                .push_back(event("tunnel_down", &TunnelDown { name: &gone.name }));
        }
        for up in now
            .iter()
            .filter(|new| !self.known.iter().any(|old| old == *new))
        {
            let summary = TunnelSummary::new(up.clone(), &self.state.capture);
            self.pending.push_back(event("tunnel_up", &summary));
        }
        self.known = now;
    }

    fn tick(&self) -> Event {
        let series = self.state.capture.series(None);
        // The last point is the second still running: send the one before, which is whole.
        let second = series
            .iter()
            .rev()
            .nth(1)
            .or(series.last())
            .map(Point::from);
        let Some(second) = second else {
            return Event::default().comment("no stats yet");
        };
        event(
            "stats",
            &Tick {
                second,
                in_flight: self.state.capture.in_flight(),
                tunnels: self.known.len(),
            },
        )
    }
}

async fn wait_changed(tunnels: &mut Option<TunnelSource>) -> bool {
    match tunnels {
        Some(source) => source.changed().await,
        None => std::future::pending().await,
    }
}

fn event(name: &'static str, data: &impl Serialize) -> Event {
    let data = serde_json::to_string(data).unwrap_or_else(|_| "null".to_owned());
    Event::default().event(name).data(data)
}
