//! The state every clone of a layer and its services shares: the limiter, its store, and the
//! sweep that evicts idle keys.

use std::{
    fmt,
    hash::RandomState,
    num::NonZeroU32,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use governor::{
    NotUntil, Quota, RateLimiter,
    clock::{Clock, Reference},
    middleware::{StateInformationMiddleware, StateSnapshot},
};
use http::{HeaderName, HeaderValue, Request};

use super::{
    Rate,
    future::Refusal,
    key::Source,
    store::{Key, Store, StoreHandle},
};

/// `RateLimit-Policy` (draft-ietf-httpapi-ratelimit-headers): the quota and its window.
pub(super) static RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
/// `RateLimit` (draft-ietf-httpapi-ratelimit-headers): what is left of the quota.
pub(super) static RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");

/// Idle keys are swept at most this often (or once per window, if that is longer): a sweep
/// walks the whole map.
const SWEEP_EVERY: Duration = Duration::from_secs(10);
/// While the map is full, a sweep may run this often, to make room for new keys.
const SWEEP_EVERY_WHEN_FULL: Duration = Duration::from_secs(1);

/// The layer's settings, kept to build the state again when a builder method changes one.
#[derive(Clone)]
pub(super) struct Config<C> {
    pub(super) rate: Rate,
    pub(super) burst: NonZeroU32,
    pub(super) source: Source,
    pub(super) max_keys: usize,
    pub(super) headers_on_success: bool,
    pub(super) clock: C,
}

type Limiter<C> = RateLimiter<Key, StoreHandle, C, StateInformationMiddleware>;

/// What to do with a request.
pub(super) enum Decision {
    /// Let it through, adding these headers (`RateLimit-Policy`, `RateLimit`) to the response.
    Allow(Option<Box<[HeaderValue; 2]>>),
    /// Answer 429.
    Refuse(Box<Refusal>),
}

pub(super) struct Shared<C: Clock> {
    pub(super) config: Config<C>,
    limiter: Limiter<C>,
    store: Arc<Store>,
    /// Keys tunnel names, header values and user keys; random per layer.
    hasher: RandomState,
    /// `RateLimit-Policy`, the same on every response.
    policy: HeaderValue,
    origin: C::Instant,
    /// When the last sweep started, in nanoseconds since `origin`.
    last_sweep: AtomicU64,
    sweep_every: u64,
}

impl<C: Clock + Clone> Shared<C> {
    pub(super) fn new(config: Config<C>) -> Self {
        let quota = Quota::with_period(config.rate.interval())
            .map_or(Quota::per_second(config.burst), |quota| {
                quota.allow_burst(config.burst)
            });
        let store = Arc::new(Store::new(config.max_keys));
        let limiter: Limiter<C> =
            RateLimiter::new(quota, StoreHandle(store.clone()), config.clock.clone());
        // A key is indistinguishable from a fresh one (and can be dropped) once its whole
        // burst is earned back, plus one interval.
        let idle_after = quota.burst_size_replenished_in() + quota.replenish_interval();
        let policy = header_value(format!(
            "\"ferrotunnel\";q={};w={}",
            config.burst,
            config.rate.window_secs(config.burst)
        ));
        Self {
            origin: config.clock.now(),
            config,
            limiter,
            store,
            hasher: RandomState::new(),
            policy,
            last_sweep: AtomicU64::new(0),
            sweep_every: nanos(idle_after.max(SWEEP_EVERY)),
        }
    }
}

impl<C: Clock> Shared<C> {
    /// Counts `request` against its key's bucket.
    pub(super) fn decide<B>(&self, request: &Request<B>) -> Decision {
        let key = self.config.source.key(request, &self.hasher);
        let now = self.limiter.clock().now();
        self.sweep_if_due(now);
        match self.limiter.check_key(&key) {
            Ok(state) => Decision::Allow(
                self.config
                    .headers_on_success
                    .then(|| Box::new([self.policy.clone(), self.remaining(&state)])),
            ),
            Err(not_until) => {
                Decision::Refuse(Box::new(self.refusal(request, key, &not_until, now)))
            }
        }
    }

    /// The number of keys with a bucket of their own.
    pub(super) fn tracked_keys(&self) -> usize {
        self.store.len()
    }

    /// Evicts idle keys, at most once per `sweep_every` (once a second while the map is full).
    /// Walking the map is O(keys), so only the request that wins the `last_sweep` exchange
    /// does it; the others go on at once.
    fn sweep_if_due(&self, now: C::Instant) {
        let elapsed = now.duration_since(self.origin).as_u64();
        let last = self.last_sweep.load(Ordering::Relaxed);
        let every = if self.store.is_full() {
            nanos(SWEEP_EVERY_WHEN_FULL)
        } else {
            self.sweep_every
        };
        if elapsed.saturating_sub(last) < every {
            return;
        }
        if self
            .last_sweep
            .compare_exchange(last, elapsed, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
        {
            self.limiter.retain_recent();
            self.limiter.shrink_to_fit();
        }
    }

    /// `RateLimit` after an allowed request: what is left, and when all of it is back.
    fn remaining(&self, state: &StateSnapshot) -> HeaderValue {
        let left = state.remaining_burst_capacity();
        let used = self.config.burst.get().saturating_sub(left);
        let reset = self.config.rate.interval() * used;
        header_value(format!("\"ferrotunnel\";r={left};t={}", ceil_secs(reset)))
    }

    fn refusal<B>(
        &self,
        request: &Request<B>,
        key: Key,
        not_until: &NotUntil<C::Instant>,
        now: C::Instant,
    ) -> Refusal {
        let wait = not_until.wait_time_from(now);
        let retry_after = ceil_secs(wait).max(1);
        // Full again once the next request is earned, and the rest of the burst after it.
        let full = wait + self.config.rate.interval() * (self.config.burst.get() - 1);
        let rate = self.config.rate.describe();
        let message = if self.store.contains(&key) {
            let whom = self.config.source.whom(request, key);
            format!("at most {rate} {whom}; retry in {retry_after} s")
        } else {
            format!(
                "too many visitors at once, and new ones share at most {rate}; \
                 retry in {retry_after} s"
            )
        };
        tracing::debug!(%message, "rate limit reached");
        Refusal {
            message,
            retry_after: HeaderValue::from(retry_after),
            policy: self.policy.clone(),
            remaining: header_value(format!("\"ferrotunnel\";r=0;t={}", ceil_secs(full))),
        }
    }
}

impl<C: Clock> fmt::Debug for Shared<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimit")
            .field("rate", &format_args!("{}", self.config.rate))
            .field("burst", &self.config.burst)
            .field("by", &self.config.source)
            .field("max_keys", &self.config.max_keys)
            .field("tracked_keys", &self.tracked_keys())
            .field("headers_on_success", &self.config.headers_on_success)
            .finish()
    }
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

/// Whole seconds, rounded up.
fn ceil_secs(duration: Duration) -> u64 {
    duration.as_secs() + u64::from(duration.subsec_nanos() > 0)
}

/// A header value from text made of digits, quotes and `;=` (always valid).
fn header_value(text: String) -> HeaderValue {
    HeaderValue::try_from(text).unwrap_or_else(|_| HeaderValue::from_static(""))
}
