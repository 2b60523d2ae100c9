use std::{fmt, hash::Hash, num::NonZeroU32, sync::Arc};

use governor::clock::{Clock, DefaultClock};
use http::HeaderName;

use super::{
    KeyBy, MAX_BURST, Rate, RateLimit, RequestHead,
    key::Source,
    state::{Config, Shared},
};

/// The default bound on the number of keys a layer tracks at once.
pub const DEFAULT_MAX_KEYS: usize = 100_000;

/// Limits the rate of requests per visitor (or per tunnel, header value, …); see the
/// [module docs](super).
///
/// Cheap to clone, and every clone — and every [`RateLimit`] service made from any of them —
/// counts against the same buckets. Builder methods make a new, separate state: call them
/// before cloning.
///
/// `C` is the clock; tests use governor's
/// [`FakeRelativeClock`](governor::clock::FakeRelativeClock) through
/// [`with_clock`](Self::with_clock).
pub struct RateLimitLayer<C: Clock = DefaultClock> {
    shared: Arc<Shared<C>>,
}

impl RateLimitLayer {
    /// At most `rate` requests from each visitor IP address, with a burst of the rate's count
    /// (`Rate::per_second(10)`: 10 at once, then one every 100 ms).
    pub fn new(rate: Rate) -> Self {
        Self::with_clock(rate, DefaultClock::default())
    }
}

impl<C: Clock + Clone> RateLimitLayer<C> {
    /// Like [`new`](RateLimitLayer::new), reading the time from `clock`.
    pub fn with_clock(rate: Rate, clock: C) -> Self {
        Self::build(Config {
            rate,
            burst: rate.count_nonzero(),
            source: Source::Ip,
            max_keys: DEFAULT_MAX_KEYS,
            headers_on_success: false,
            clock,
        })
    }

    fn build(config: Config<C>) -> Self {
        Self {
            shared: Arc::new(Shared::new(config)),
        }
    }

    fn with(&self, change: impl FnOnce(&mut Config<C>)) -> Self {
        let mut config = self.shared.config.clone();
        change(&mut config);
        Self::build(config)
    }

    /// How many requests a key may send at once, after being idle; by default the rate's
    /// count. Over time the rate still holds: the burst is earned back at the rate.
    ///
    /// # Panics
    /// If `burst` is 0 (no request could ever pass).
    pub fn burst(self, burst: u32) -> Self {
        let Some(burst) = NonZeroU32::new(burst).filter(|b| b.get() <= MAX_BURST) else {
            panic!("a rate limit's burst is at least 1 and at most {MAX_BURST}");
        };
        self.with(|config| config.burst = burst)
    }

    /// Counts requests by `by`. The builder methods below are shorthands.
    pub fn key_by(self, by: KeyBy) -> Self {
        self.with(|config| config.source = Source::from(by))
    }

    /// Counts requests per visitor IP address (the default). A request whose visitor address is
    /// unknown (no [`VisitorAddr`](ferrotunnel::server::VisitorAddr) nor `SocketAddr`
    /// extension) counts under one shared key.
    pub fn by_ip(self) -> Self {
        self.key_by(KeyBy::Ip)
    }

    /// Counts requests per tunnel: all visitors of a tunnel share its limit. Requests outside a
    /// FerroTunnel ingress (no tunnel) count under one shared key.
    pub fn by_tunnel(self) -> Self {
        self.key_by(KeyBy::Tunnel)
    }

    /// Counts requests per value of the header `name`, like an API key. Requests without it
    /// count under one shared key. Values are kept only as keyed hashes, never in the clear.
    pub fn by_header(self, name: HeaderName) -> Self {
        self.key_by(KeyBy::Header(name))
    }

    /// Counts all requests together, in one bucket.
    pub fn global(self) -> Self {
        self.key_by(KeyBy::Global)
    }

    /// Counts requests by what `key` returns for them; `None` counts under one shared key.
    ///
    /// ```
    /// use ferrotunnel_tower::rate_limit::{Rate, RateLimitLayer, RequestHead};
    ///
    /// // Per path: each path's first segment has its own limit.
    /// let layer = RateLimitLayer::new(Rate::per_second(10)).by(|head: RequestHead<'_>| {
    ///     head.uri.path().split('/').nth(1).map(str::to_owned)
    /// });
    /// ```
    pub fn by<F, K>(self, key: F) -> Self
    where
        F: Fn(RequestHead<'_>) -> Option<K> + Send + Sync + 'static,
        K: Hash,
    {
        let source = Source::custom(key);
        self.with(|config| config.source = source)
    }

    /// At most `max_keys` keys get a bucket of their own (default [`DEFAULT_MAX_KEYS`]). Idle
    /// keys are evicted; while the map is still full, new keys share one overflow bucket (with
    /// 0, every key does).
    pub fn max_keys(self, max_keys: usize) -> Self {
        self.with(|config| config.max_keys = max_keys)
    }

    /// Sends `RateLimit-Policy` and `RateLimit` on the responses it lets through too, not only
    /// on its 429s. Off by default: it formats a header on every request.
    pub fn headers_on_success(self, on: bool) -> Self {
        self.with(|config| config.headers_on_success = on)
    }
}

impl<C: Clock> RateLimitLayer<C> {
    /// The rate.
    pub fn rate(&self) -> Rate {
        self.shared.config.rate
    }

    /// The number of keys with a bucket of their own right now (for metrics and tests). It
    /// walks the map's shards: do not call it per request.
    pub fn tracked_keys(&self) -> usize {
        self.shared.tracked_keys()
    }
}

impl<S, C: Clock> tower::Layer<S> for RateLimitLayer<C> {
    type Service = RateLimit<S, C>;

    fn layer(&self, inner: S) -> Self::Service {
        RateLimit::from_shared(inner, self.shared.clone())
    }
}

impl<C: Clock> Clone for RateLimitLayer<C> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
        }
    }
}

impl<C: Clock> fmt::Debug for RateLimitLayer<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RateLimitLayer").field(&self.shared).finish()
    }
}
