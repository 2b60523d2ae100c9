//! Counters per tunnel and in all, kept apart from the exchanges: evicting or clearing
//! exchanges does not change them.

use std::{
    collections::{HashMap, VecDeque},
    sync::Arc,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

/// How many one-second points a series has: the last 10 minutes.
pub const SERIES_SECONDS: usize = 600;

/// How many finished exchanges the latency percentiles are taken over.
pub const LATENCY_WINDOW: usize = 1024;

/// A tunnel's counters (or all tunnels', from [`totals`](super::CaptureStore::totals)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TunnelStats {
    /// Requests started.
    pub requests: u64,
    /// Exchanges finished with an error outcome or a 5xx status.
    pub errors: u64,
    /// Request body bytes, counted when each request body ends (or is dropped).
    pub bytes_in: u64,
    /// Response body bytes, counted when each exchange ends.
    pub bytes_out: u64,
    /// Exchanges in flight now.
    pub in_flight: usize,
    /// The median duration of the last 1024 finished exchanges (those whose visitor left
    /// early, often long-lived streams, do not count); `None` before the first.
    pub p50: Option<Duration>,
    /// The 99th percentile of the same.
    pub p99: Option<Duration>,
}

/// One point of a series: what happened in one second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SecondStats {
    /// The start of the second (a whole second since the Unix epoch).
    pub at: SystemTime,
    /// Requests that started in it.
    pub requests: u64,
    /// Exchanges that ended in it as errors.
    pub errors: u64,
}

/// The store's time: monotonic, so that tokio's paused clock drives it in tests and a change
/// of the system clock does not make a series jump. Wall-clock times are the store's creation
/// time plus the monotonic time elapsed since.
#[derive(Debug, Clone, Copy)]
pub(super) struct Clock {
    wall: SystemTime,
    instant: Instant,
}

impl Clock {
    pub(super) fn new() -> Self {
        Self {
            wall: SystemTime::now(),
            instant: Self::now(),
        }
    }

    /// Now, as tokio's clock says (the system's, unless a test paused it).
    pub(super) fn now() -> Instant {
        tokio::time::Instant::now().into_std()
    }

    pub(super) fn wall(&self, at: Instant) -> SystemTime {
        match at.checked_duration_since(self.instant) {
            Some(after) => self.wall + after,
            None => self.wall - self.instant.duration_since(at),
        }
    }

    /// The Unix second `at` falls in.
    pub(super) fn second(&self, at: Instant) -> u64 {
        self.wall(at)
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_secs())
    }
}

/// The counters of every tracked tunnel, and of all exchanges.
#[derive(Debug)]
pub(super) struct StatsBook {
    total: Bucket,
    tunnels: HashMap<Arc<str>, Bucket>,
    max_tunnels: usize,
}

/// Which buckets an exchange counts in, kept by the exchange from its start to its end.
#[derive(Debug, Clone, Default)]
pub(super) struct Tally {
    /// The tunnel's name (shared with its bucket's key).
    pub(super) tunnel: Option<Arc<str>>,
    /// Whether the tunnel has a bucket holding this exchange in flight (and so kept).
    pub(super) tracked: bool,
}

impl StatsBook {
    pub(super) fn new(max_tunnels: usize) -> Self {
        Self {
            total: Bucket::default(),
            tunnels: HashMap::new(),
            max_tunnels,
        }
    }

    /// Counts a request to `tunnel` that started in `second`.
    pub(super) fn start(&mut self, tunnel: Option<&str>, second: u64) -> Tally {
        self.total.start(second);
        let Some(name) = tunnel else {
            return Tally::default();
        };
        if let Some(bucket) = self.tunnels.get_mut(name) {
            bucket.start(second);
            return Tally {
                tunnel: bucket.name.clone(),
                tracked: true,
            };
        }
        let name: Arc<str> = Arc::from(name);
        if self.tunnels.len() >= self.max_tunnels && !self.forget_one() {
            return Tally {
                tunnel: Some(name),
                tracked: false,
            };
        }
        let mut bucket = Bucket {
            name: Some(name.clone()),
            ..Bucket::default()
        };
        bucket.start(second);
        self.tunnels.insert(name.clone(), bucket);
        Tally {
            tunnel: Some(name),
            tracked: true,
        }
    }

    /// Forgets the tunnel idle the longest with nothing in flight; false if there is none.
    fn forget_one(&mut self) -> bool {
        let idlest = self
            .tunnels
            .iter()
            .filter(|(_, bucket)| bucket.in_flight == 0)
            .min_by_key(|(_, bucket)| bucket.last_second)
            .map(|(name, _)| name.clone());
        idlest.is_some_and(|name| self.tunnels.remove(&name).is_some())
    }

    fn tracked(&mut self, tally: &Tally) -> Option<&mut Bucket> {
        match &tally.tunnel {
            Some(name) if tally.tracked => self.tunnels.get_mut(name),
            _ => None,
        }
    }

    /// Counts a request body's bytes.
    pub(super) fn bytes_in(&mut self, tally: &Tally, bytes: u64) {
        self.total.bytes_in += bytes;
        // An untracked tunnel, or one forgotten since (its requests all ended), counts in the
        // totals only.
        if let Some(bucket) = self.tunnel_mut(tally) {
            bucket.bytes_in += bytes;
        }
    }

    /// Counts the end of an exchange, in `second`.
    pub(super) fn finish(&mut self, tally: &Tally, end: &End) {
        self.total.finish(end);
        if let Some(bucket) = self.tracked(tally) {
            bucket.finish(end);
        }
    }

    fn tunnel_mut(&mut self, tally: &Tally) -> Option<&mut Bucket> {
        tally
            .tunnel
            .as_ref()
            .and_then(|name| self.tunnels.get_mut(name))
    }

    pub(super) fn total(&self) -> &Bucket {
        &self.total
    }

    pub(super) fn tunnel(&self, name: &str) -> Option<&Bucket> {
        self.tunnels.get(name)
    }

    pub(super) fn tunnels(&self) -> impl Iterator<Item = (&Arc<str>, &Bucket)> {
        self.tunnels.iter()
    }
}

/// How an exchange ended, for the counters.
#[derive(Debug, Clone, Copy)]
pub(super) struct End {
    pub(super) second: u64,
    pub(super) error: bool,
    /// `None` when it does not count for the percentiles.
    pub(super) latency: Option<Duration>,
    pub(super) bytes_out: u64,
}

/// One tunnel's counters (or all tunnels').
#[derive(Debug, Default)]
pub(super) struct Bucket {
    /// The tunnel's name, shared with the map's key and each exchange's; `None` for the totals.
    name: Option<Arc<str>>,
    requests: u64,
    errors: u64,
    bytes_in: u64,
    bytes_out: u64,
    in_flight: usize,
    /// The durations of the last [`LATENCY_WINDOW`] finished exchanges, oldest first.
    latencies: VecDeque<Duration>,
    /// One slot per second, by Unix second modulo [`SERIES_SECONDS`]; allocated at the first
    /// request.
    series: Vec<Second>,
    last_second: u64,
}

#[derive(Debug, Clone, Copy, Default)]
struct Second {
    /// Which Unix second the counts are for; a slot holding an older one counts as zeros.
    second: u64,
    requests: u32,
    errors: u32,
}

impl Bucket {
    fn start(&mut self, second: u64) {
        self.requests += 1;
        self.in_flight += 1;
        self.last_second = self.last_second.max(second);
        if let Some(slot) = self.slot(second) {
            slot.requests = slot.requests.saturating_add(1);
        }
    }

    fn finish(&mut self, end: &End) {
        self.in_flight = self.in_flight.saturating_sub(1);
        self.bytes_out += end.bytes_out;
        self.last_second = self.last_second.max(end.second);
        if end.error {
            self.errors += 1;
            if let Some(slot) = self.slot(end.second) {
                slot.errors = slot.errors.saturating_add(1);
            }
        }
        if let Some(latency) = end.latency {
            if self.latencies.len() == LATENCY_WINDOW {
                self.latencies.pop_front();
            }
            self.latencies.push_back(latency);
        }
    }

    /// The slot for `second`, emptied if it held an older second; `None` if `second` is
    /// older than the slot's (more than [`SERIES_SECONDS`] in the past).
    fn slot(&mut self, second: u64) -> Option<&mut Second> {
        if self.series.is_empty() {
            self.series = vec![Second::default(); SERIES_SECONDS];
        }
        let slot = &mut self.series[ring_index(second)];
        if slot.second < second {
            *slot = Second {
                second,
                ..Second::default()
            };
        }
        (slot.second == second).then_some(slot)
    }

    pub(super) fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// The counters and a copy of the latency window, taken under the store's lock; the
    /// percentiles are computed from them after it, by [`RawStats::stats`].
    pub(super) fn raw(&self) -> RawStats {
        RawStats {
            counters: TunnelStats {
                requests: self.requests,
                errors: self.errors,
                bytes_in: self.bytes_in,
                bytes_out: self.bytes_out,
                in_flight: self.in_flight,
                p50: None,
                p99: None,
            },
            latencies: self.latencies.iter().copied().collect(),
        }
    }

    #[cfg(test)]
    fn stats(&self) -> TunnelStats {
        self.raw().stats()
    }

    #[cfg(test)]
    fn series(&self, now: u64) -> Vec<SecondStats> {
        series_of(Some(self), now)
    }
}

/// A bucket's counters, and its latency window to sort.
#[derive(Debug)]
pub(super) struct RawStats {
    counters: TunnelStats,
    latencies: Vec<Duration>,
}

impl RawStats {
    /// The statistics, percentiles and all: viewers pay for the sort, not requests.
    pub(super) fn stats(mut self) -> TunnelStats {
        self.latencies.sort_unstable();
        TunnelStats {
            p50: percentile(&self.latencies, 50),
            p99: percentile(&self.latencies, 99),
            ..self.counters
        }
    }
}

fn ring_index(second: u64) -> usize {
    // The remainder is below SERIES_SECONDS, so it fits.
    (second % SERIES_SECONDS as u64) as usize
}

/// The series of `bucket` (all zeros for none) for the seconds up to `now`.
pub(super) fn series_of(bucket: Option<&Bucket>, now: u64) -> Vec<SecondStats> {
    let first = now.saturating_sub(SERIES_SECONDS as u64 - 1);
    (first..=now)
        .map(|second| {
            let counted = bucket
                .and_then(|bucket| bucket.series.get(ring_index(second)))
                .filter(|slot| slot.second == second)
                .copied()
                .unwrap_or_default();
            SecondStats {
                at: UNIX_EPOCH + Duration::from_secs(second),
                requests: u64::from(counted.requests),
                errors: u64::from(counted.errors),
            }
        })
        .collect()
}

/// The nearest-rank `pct`th percentile of `sorted`.
fn percentile(sorted: &[Duration], pct: usize) -> Option<Duration> {
    let rank = (sorted.len() * pct).div_ceil(100);
    sorted.get(rank.saturating_sub(1)).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn end(second: u64, error: bool, millis: u64) -> End {
        End {
            second,
            error,
            latency: Some(Duration::from_millis(millis)),
            bytes_out: 10,
        }
    }

    // A TunnelContext cannot be built outside the core crate, so the layer cannot be given a
    // request for a named tunnel here: per-tunnel counting is tested on the book directly, the
    // layer's use of it through the totals (tests.rs) and end to end.
    #[test]
    fn each_tunnel_counts_on_its_own_and_in_the_totals() {
        // A Unix second of this century.
        const T: u64 = 1_800_000_000;
        let mut book = StatsBook::new(8);
        let app = book.start(Some("app"), T);
        let api = book.start(Some("api"), T);
        let api2 = book.start(Some("api"), T + 1);
        let none = book.start(None, T + 1);
        assert!(app.tracked && api.tracked && !none.tracked);
        assert!(Arc::ptr_eq(
            api.tunnel.as_ref().unwrap(),
            api2.tunnel.as_ref().unwrap()
        ));
        book.bytes_in(&api, 7);
        book.finish(&app, &end(T, false, 5));
        book.finish(&api, &end(T + 1, true, 9));
        let app_stats = book.tunnel("app").unwrap().stats();
        let api_stats = book.tunnel("api").unwrap().stats();
        assert_eq!(
            (app_stats.requests, app_stats.errors, app_stats.in_flight),
            (1, 0, 0)
        );
        assert_eq!(
            (api_stats.requests, api_stats.errors, api_stats.in_flight),
            (2, 1, 1)
        );
        assert_eq!((api_stats.bytes_in, api_stats.bytes_out), (7, 10));
        assert_eq!(app_stats.p50, Some(Duration::from_millis(5)));
        let total = book.total().stats();
        assert_eq!((total.requests, total.errors, total.in_flight), (4, 1, 2));

        let series = book.tunnel("api").unwrap().series(T + 1);
        assert_eq!(series.len(), SERIES_SECONDS);
        let last = series[SERIES_SECONDS - 1];
        let before = series[SERIES_SECONDS - 2];
        assert_eq!(last.at, UNIX_EPOCH + Duration::from_secs(T + 1));
        assert_eq!((before.requests, before.errors), (1, 0));
        assert_eq!((last.requests, last.errors), (1, 1));
        let app_series = book.tunnel("app").unwrap().series(T + 1);
        assert_eq!(app_series[SERIES_SECONDS - 1].requests, 0);
        assert_eq!(app_series[SERIES_SECONDS - 2].requests, 1);
    }

    #[test]
    fn the_tunnel_table_is_bounded_and_keeps_tunnels_with_requests_in_flight() {
        let mut book = StatsBook::new(2);
        let busy = book.start(Some("busy"), 1);
        let idle = book.start(Some("idle"), 2);
        book.finish(&idle, &end(3, false, 1));
        // Full: "idle" (nothing in flight) makes room.
        let new = book.start(Some("new"), 4);
        assert!(new.tracked);
        assert!(book.tunnel("idle").is_none());
        assert!(book.tunnel("busy").is_some());
        // Full, and both in flight: the newcomer counts in the totals only.
        let extra = book.start(Some("extra"), 5);
        assert!(!extra.tracked);
        assert!(book.tunnel("extra").is_none());
        book.finish(&extra, &end(5, true, 1));
        book.finish(&busy, &end(5, false, 1));
        assert_eq!(book.tunnel("busy").unwrap().stats().in_flight, 0);
        assert_eq!(book.tunnel("new").unwrap().stats().in_flight, 1);
        assert_eq!(book.total().stats().errors, 1);
        assert_eq!(book.tunnels().count(), 2);
    }

    #[test]
    fn a_series_forgets_seconds_older_than_ten_minutes() {
        let mut bucket = Bucket::default();
        bucket.start(1000);
        bucket.start(1000);
        assert_eq!(bucket.series(1000)[SERIES_SECONDS - 1].requests, 2);
        assert_eq!(
            bucket.series(1599)[0].requests,
            2,
            "599 s later: the first point"
        );
        assert!(bucket.series(1600).iter().all(|point| point.requests == 0));
        // The same slot, 600 s on: a fresh count.
        bucket.start(1600);
        assert_eq!(bucket.series(1600)[SERIES_SECONDS - 1].requests, 1);
        // A late count for a second the slot has moved past is dropped.
        bucket.finish(&end(1000, true, 1));
        assert_eq!(bucket.series(1600)[SERIES_SECONDS - 1].errors, 0);
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let sorted: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&sorted, 50), Some(Duration::from_millis(50)));
        assert_eq!(percentile(&sorted, 99), Some(Duration::from_millis(99)));
        assert_eq!(percentile(&sorted[..1], 99), Some(Duration::from_millis(1)));
        assert_eq!(percentile(&[], 50), None);
    }
}
