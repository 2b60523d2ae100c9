use std::{
    collections::VecDeque,
    fmt,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::Duration,
};

use http::HeaderMap;
use tokio::sync::broadcast;

use super::{
    BodyRecord, CaptureConfig, CaptureEvent, CaptureLayer, Exchange, ExchangeFilter, MaskedHeaders,
    Outcome, ResponseRecord,
    stats::{Clock, End, SecondStats, StatsBook, Tally, TunnelStats, series_of},
};

/// The exchanges a [`CaptureLayer`] recorded, bounded, and the statistics of all it saw.
///
/// Cheap to clone: the clones share one store. Its locks are held for a few field updates at
/// a time, never across an await nor while bytes are copied; readers (the dashboard) hold them
/// while they pick exchanges and copy `Arc`s out.
#[derive(Clone)]
pub struct CaptureStore {
    shared: Arc<Shared>,
}

/// The state a store, its layers and every exchange in flight share.
pub(super) struct Shared {
    pub(super) config: CaptureConfig,
    pub(super) mask: Arc<MaskedHeaders>,
    pub(super) clock: Clock,
    events: broadcast::Sender<CaptureEvent>,
    state: Mutex<State>,
}

struct State {
    last_id: u64,
    /// By id, ascending (eviction may leave gaps).
    records: VecDeque<Slot>,
    /// The sum of the slots' costs.
    bytes_used: usize,
    stats: StatsBook,
}

struct Slot {
    id: u64,
    in_flight: bool,
    /// The exchange's overhead, URI and request headers, as [`CaptureConfig::max_bytes`]
    /// counts them.
    base_cost: usize,
    /// The response headers, the same way; 0 before the head.
    response_headers_cost: usize,
    /// What the slot adds to `bytes_used`.
    cost: usize,
    exchange: Arc<Exchange>,
}

/// What changed about an exchange in flight. One change, one lock.
#[derive(Debug, Default)]
pub(super) struct Update {
    /// The request body ended (or its reader dropped it).
    pub(super) request_body: Option<BodyRecord>,
    /// The response head came, after this long; with its headers' cost.
    pub(super) response: Option<(ResponseRecord, Duration, usize)>,
    /// The exchange ended.
    pub(super) finish: Option<Finish>,
}

/// How an exchange ended.
#[derive(Debug)]
pub(super) struct Finish {
    pub(super) outcome: Outcome,
    /// The response body as far as it went, if there was a response.
    pub(super) response_body: Option<BodyRecord>,
    pub(super) took: Duration,
    pub(super) end: End,
}

/// The cost of `headers` as [`CaptureConfig::max_bytes`] counts it: HPACK's (name, value and
/// 32 bytes each).
pub(super) fn headers_cost(headers: &HeaderMap) -> usize {
    headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 32)
        .sum()
}

// === impl CaptureStore ===

impl CaptureStore {
    /// An empty store.
    pub fn new(config: CaptureConfig) -> Self {
        let (events, _) = broadcast::channel(config.event_capacity.max(1));
        Self {
            shared: Arc::new(Shared {
                mask: Arc::new(config.mask.clone()),
                clock: Clock::new(),
                events,
                state: Mutex::new(State {
                    last_id: 0,
                    records: VecDeque::new(),
                    bytes_used: 0,
                    stats: StatsBook::new(config.max_tunnels),
                }),
                config,
            }),
        }
    }

    /// A layer recording into this store.
    pub fn layer(&self) -> CaptureLayer {
        CaptureLayer::new(self.clone())
    }

    pub(super) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Events from now on: [`Started`](CaptureEvent::Started) when a request's head is seen,
    /// [`Finished`](CaptureEvent::Finished) when its exchange ends.
    ///
    /// Traffic never waits for a receiver: one that falls more than
    /// [`event_capacity`](CaptureConfig::event_capacity) events behind gets
    /// [`RecvError::Lagged`](broadcast::error::RecvError::Lagged) with the number it missed, and
    /// should reload what it shows. An exchange evicted while in flight (only when the store
    /// holds nothing but exchanges in flight) ends without a `Finished` event; its
    /// [`get`](Self::get) is `None`, as is that of any exchange evicted before a receiver
    /// looked it up.
    pub fn subscribe(&self) -> broadcast::Receiver<CaptureEvent> {
        self.shared.events.subscribe()
    }

    /// The exchange `id`, if the store still has it.
    pub fn get(&self, id: u64) -> Option<Exchange> {
        let state = self.shared.lock();
        let exchange = state.slot(id).map(|slot| slot.exchange.clone());
        drop(state);
        exchange.map(Arc::unwrap_or_clone)
    }

    /// Shared snapshots of the exchanges `ids` that the store still has, in `ids`' order: what
    /// a receiver of [`subscribe`](Self::subscribe) events reads, a batch at a time, under one
    /// lock and with no copy of an exchange.
    pub fn snapshots(&self, ids: &[u64]) -> Vec<Arc<Exchange>> {
        let state = self.shared.lock();
        ids.iter()
            .filter_map(|&id| state.slot(id).map(|slot| slot.exchange.clone()))
            .collect()
    }

    /// The newest `limit` exchanges matching `filter` with an id below `before` (all, for
    /// `None`), newest first. For the next page, pass the last one's id as `before`.
    pub fn list(
        &self,
        filter: &ExchangeFilter,
        before: Option<u64>,
        limit: usize,
    ) -> Vec<Exchange> {
        let state = self.shared.lock();
        let end = before.map_or(state.records.len(), |before| {
            state.records.partition_point(|slot| slot.id < before)
        });
        let picked: Vec<Arc<Exchange>> = state
            .records
            .range(..end)
            .rev()
            .filter(|slot| filter.matches(&slot.exchange))
            .take(limit)
            .map(|slot| slot.exchange.clone())
            .collect();
        drop(state);
        picked.into_iter().map(Arc::unwrap_or_clone).collect()
    }

    /// Every exchange the store has, oldest first (for a HAR file).
    pub fn all(&self) -> Vec<Exchange> {
        let state = self.shared.lock();
        let all: Vec<Arc<Exchange>> = state
            .records
            .iter()
            .map(|slot| slot.exchange.clone())
            .collect();
        drop(state);
        all.into_iter().map(Arc::unwrap_or_clone).collect()
    }

    /// Forgets every exchange. The statistics are not reset, and ids go on from where they
    /// were; exchanges in flight go on streaming, unrecorded.
    pub fn clear(&self) {
        let mut state = self.shared.lock();
        state.records.clear();
        state.bytes_used = 0;
    }

    /// How many exchanges the store has.
    pub fn len(&self) -> usize {
        self.shared.lock().records.len()
    }

    /// Whether the store has no exchanges.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes the store's exchanges take, as [`CaptureConfig::max_bytes`] counts them;
    /// never above it.
    pub fn bytes_used(&self) -> usize {
        self.shared.lock().bytes_used
    }

    /// The store's settings.
    pub fn config(&self) -> &CaptureConfig {
        &self.shared.config
    }

    /// The statistics of the tunnel `name`, if it has had requests (and has not been forgotten
    /// to make room: see [`CaptureConfig::max_tunnels`]).
    pub fn tunnel_stats(&self, name: &str) -> Option<TunnelStats> {
        let state = self.shared.lock();
        let raw = state.stats.tunnel(name).map(|bucket| bucket.raw());
        drop(state);
        raw.map(|raw| raw.stats())
    }

    /// The statistics of every tunnel with some, by name.
    pub fn all_tunnel_stats(&self) -> Vec<(Arc<str>, TunnelStats)> {
        let state = self.shared.lock();
        let raw: Vec<_> = state
            .stats
            .tunnels()
            .map(|(name, bucket)| (name.clone(), bucket.raw()))
            .collect();
        drop(state);
        let mut all: Vec<_> = raw
            .into_iter()
            .map(|(name, raw)| (name, raw.stats()))
            .collect();
        all.sort_unstable_by(|(a, _), (b, _)| a.cmp(b));
        all
    }

    /// The statistics of all requests, in a tunnel or not.
    pub fn totals(&self) -> TunnelStats {
        let raw = self.shared.lock().stats.total().raw();
        raw.stats()
    }

    /// Requests and errors per second over the last 10 minutes, oldest first, one point a
    /// second up to the current one (600 points, zeros where nothing happened): the tunnel
    /// `name`'s, or all requests' for `None`.
    pub fn series(&self, tunnel: Option<&str>) -> Vec<SecondStats> {
        let now = self.shared.clock.second(Clock::now());
        let state = self.shared.lock();
        match tunnel {
            None => series_of(Some(state.stats.total()), now),
            Some(name) => series_of(state.stats.tunnel(name), now),
        }
    }

    /// How many exchanges are in flight.
    pub fn in_flight(&self) -> usize {
        self.shared.lock().stats.total().in_flight()
    }
}

impl fmt::Debug for CaptureStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.shared.lock();
        f.debug_struct("CaptureStore")
            .field("exchanges", &state.records.len())
            .field("bytes_used", &state.bytes_used)
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

// === impl Shared ===

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // The state stays consistent between statements: a panic elsewhere cannot leave it
        // half-updated, so a poisoned lock is still good.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records a new exchange (its id and tunnel are set here) that started in `second`;
    /// returns its id and where it counts.
    pub(super) fn begin(
        &self,
        mut exchange: Arc<Exchange>,
        tunnel: Option<&str>,
        second: u64,
        base_cost: usize,
    ) -> (u64, Tally) {
        let mut state = self.lock();
        state.last_id += 1;
        let id = state.last_id;
        let tally = state.stats.start(tunnel, second);
        // Not shared yet: no copy.
        let fresh = Arc::make_mut(&mut exchange);
        fresh.id = id;
        fresh.tunnel.clone_from(&tally.tunnel);
        let cost = base_cost + exchange.request_body.prefix.len();
        state.records.push_back(Slot {
            id,
            in_flight: true,
            base_cost,
            response_headers_cost: 0,
            cost,
            exchange,
        });
        state.bytes_used += cost;
        state.evict(&self.config);
        drop(state);
        // Fails only when no one listens.
        let _ = self.events.send(CaptureEvent::Started(id));
        (id, tally)
    }

    /// Applies `update` to the exchange `id` (if the store still has it) and to the
    /// statistics.
    pub(super) fn update(&self, id: u64, tally: &Tally, update: Update) {
        let Update {
            request_body,
            response,
            finish,
        } = update;
        let mut state = self.lock();
        if let Some(body) = &request_body {
            state.stats.bytes_in(tally, body.size);
        }
        if let Some(finish) = &finish {
            state.stats.finish(tally, &finish.end);
        }
        let mut finished = false;
        let mut costs = None;
        if let Some(slot) = state.slot_mut(id) {
            // A copy only if a reader or an event still holds the previous snapshot.
            let exchange = Arc::make_mut(&mut slot.exchange);
            if let Some(body) = request_body {
                exchange.request_body = body;
            }
            if let Some((record, took, headers_cost)) = response {
                exchange.response = Some(record);
                exchange.response_head = Some(took);
                slot.response_headers_cost = headers_cost;
            }
            if let Some(finish) = finish {
                if let (Some(response), Some(body)) =
                    (exchange.response.as_mut(), finish.response_body)
                {
                    response.body = body;
                }
                exchange.outcome = finish.outcome;
                exchange.body_end = Some(finish.took);
                slot.in_flight = false;
                finished = true;
            }
            let cost = slot.base_cost
                + slot.response_headers_cost
                + slot.exchange.request_body.prefix.len()
                + slot
                    .exchange
                    .response
                    .as_ref()
                    .map_or(0, |response| response.body.prefix.len());
            costs = Some((std::mem::replace(&mut slot.cost, cost), cost));
        }
        if let Some((old, new)) = costs {
            state.bytes_used = state.bytes_used.saturating_sub(old) + new;
            state.evict(&self.config);
        }
        drop(state);
        if finished {
            let _ = self.events.send(CaptureEvent::Finished(id));
        }
    }
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

// === impl State ===

impl State {
    fn slot(&self, id: u64) -> Option<&Slot> {
        let index = self
            .records
            .binary_search_by_key(&id, |slot| slot.id)
            .ok()?;
        self.records.get(index)
    }

    fn slot_mut(&mut self, id: u64) -> Option<&mut Slot> {
        let index = self
            .records
            .binary_search_by_key(&id, |slot| slot.id)
            .ok()?;
        self.records.get_mut(index)
    }

    /// Drops exchanges until both bounds hold: the oldest finished first, then, if only
    /// exchanges in flight are left, the oldest of those (they go on, unrecorded).
    fn evict(&mut self, config: &CaptureConfig) {
        while self.records.len() > config.max_exchanges || self.bytes_used > config.max_bytes {
            let index = self
                .records
                .iter()
                .position(|slot| !slot.in_flight)
                .unwrap_or(0);
            let Some(slot) = self.records.remove(index) else {
                break;
            };
            self.bytes_used = self.bytes_used.saturating_sub(slot.cost);
        }
    }
}
