use std::{fmt, sync::Arc, time::Duration};

use super::{CircuitBreaker, CircuitBreakerSpec, breaker::Settings, registry::Breakers};
use crate::duration;

/// Stops sending requests to a failing tunnel for a while: see the [module docs](super).
///
/// Cheap to clone: the breakers are shared behind an `Arc` by the layer, its clones and every
/// service they make. The builder methods give a layer with new, empty breakers: set them up
/// before serving.
#[derive(Clone)]
pub struct CircuitBreakerLayer {
    breakers: Arc<Breakers>,
}

impl CircuitBreakerLayer {
    /// Failures in a row that open a breaker, by default.
    pub const DEFAULT_FAILURES: u32 = 5;
    /// How long an open breaker refuses requests, by default.
    pub const DEFAULT_COOL_DOWN: Duration = Duration::from_secs(30);
    /// How many tunnels get a breaker, by default.
    pub const DEFAULT_MAX_TUNNELS: usize = 10_000;

    /// A breaker per tunnel that opens after 5 failures in a row and stays open 30 s.
    pub fn new() -> Self {
        Self::with(
            Self::DEFAULT_FAILURES,
            Self::DEFAULT_COOL_DOWN,
            Self::DEFAULT_MAX_TUNNELS,
        )
    }

    /// Opens a breaker after `failures` failures in a row (0 counts as 1).
    pub fn failures(self, failures: u32) -> Self {
        Self::with(
            failures,
            self.settings().cool_down,
            self.breakers.max_tunnels(),
        )
    }

    /// Keeps an open breaker open this long before one request tests the tunnel again. A
    /// probe that has not answered within the cool-down is given up on, and the next request
    /// probes instead.
    pub fn cool_down(self, cool_down: Duration) -> Self {
        Self::with(
            self.settings().failures,
            cool_down,
            self.breakers.max_tunnels(),
        )
    }

    /// Keeps breakers for at most this many tunnels (default 10 000). When a new tunnel comes
    /// and the map is full, the breakers of healthy tunnels are forgotten first (a healthy
    /// breaker is the same as a new one), then those of tunnels with only a few failures; the
    /// breakers of failing tunnels are kept, and a new tunnel is not watched until one of
    /// them recovers.
    pub fn max_tunnels(self, max_tunnels: usize) -> Self {
        let settings = self.settings();
        Self::with(settings.failures, settings.cool_down, max_tunnels)
    }

    fn with(failures: u32, cool_down: Duration, max_tunnels: usize) -> Self {
        Self {
            breakers: Arc::new(Breakers::new(
                Settings::new(failures, cool_down),
                max_tunnels,
            )),
        }
    }

    fn settings(&self) -> Settings {
        *self.breakers.settings()
    }
}

impl Default for CircuitBreakerLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl From<CircuitBreakerSpec> for CircuitBreakerLayer {
    fn from(spec: CircuitBreakerSpec) -> Self {
        spec.layer()
    }
}

impl<S> tower::Layer<S> for CircuitBreakerLayer {
    type Service = CircuitBreaker<S>;

    fn layer(&self, inner: S) -> CircuitBreaker<S> {
        CircuitBreaker::from_breakers(inner, self.breakers.clone())
    }
}

impl fmt::Debug for CircuitBreakerLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreakerLayer")
            .field("failures", &self.settings().failures)
            .field("cool_down", &duration::format(self.settings().cool_down))
            .field("max_tunnels", &self.breakers.max_tunnels())
            .field("tunnels", &self.breakers.tunnels())
            .finish()
    }
}
