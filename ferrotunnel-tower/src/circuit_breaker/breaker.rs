//! One breaker's state machine, lock-free: a state word and a failure count.
//!
//! The state word holds the state in its low two bits and a time in the rest (milliseconds
//! since the layer's clock base): when the breaker opened, or when the probe was let through.
//! One word means a state and its time always change together, by one compare-and-swap, so
//! exactly one request wins the probe and no reader sees a new state with an old time.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU32, AtomicU64, Ordering},
    },
    time::Duration,
};

use tokio::time::Instant;

use crate::duration;

const CLOSED: u64 = 0;
const OPEN: u64 = 1;
const HALF_OPEN: u64 = 2;
const TAG: u64 = 0b11;
/// The latest time a state word can hold (some 146 million years after the clock base).
const MAX_MS: u64 = u64::MAX >> 2;

fn pack(ms: u64, tag: u64) -> u64 {
    (ms.min(MAX_MS) << 2) | tag
}

fn since(word: u64) -> u64 {
    word >> 2
}

/// The settings of every breaker of a layer.
#[derive(Debug, Clone, Copy)]
pub(super) struct Settings {
    /// Failures in a row that open a breaker, at least 1.
    pub(super) failures: u32,
    pub(super) cool_down: Duration,
    cool_down_ms: u64,
    /// Time zero of the state words. A `tokio` instant, so that tests run on a paused clock.
    base: Instant,
}

impl Settings {
    pub(super) fn new(failures: u32, cool_down: Duration) -> Self {
        Self {
            failures: failures.max(1),
            cool_down,
            cool_down_ms: u64::try_from(cool_down.as_millis()).unwrap_or(MAX_MS),
            base: Instant::now(),
        }
    }

    fn now_ms(&self) -> u64 {
        let ms = Instant::now()
            .saturating_duration_since(self.base)
            .as_millis();
        u64::try_from(ms).unwrap_or(MAX_MS).min(MAX_MS)
    }
}

/// The breaker of one tunnel (or of the requests without one).
#[derive(Debug)]
pub(super) struct Breaker {
    /// For logs and refusals; `None` for requests without a tunnel.
    tunnel: Option<Arc<str>>,
    settings: Settings,
    state: AtomicU64,
    /// Failures in a row.
    failures: AtomicU32,
}

/// What a breaker says about a request.
#[derive(Debug)]
pub(super) enum Admission {
    /// Closed: let it through, and report the outcome with [`Breaker::record`].
    Pass,
    /// The one request that tests a tunnel after its cool-down; report its outcome with
    /// [`Breaker::probe_done`], or [`Breaker::probe_cancelled`] if it never finishes.
    Probe(ProbeTicket),
    /// Open, or a probe is in flight: refuse, and tell the visitor when to retry.
    Refuse(Refusal),
}

/// Identifies one probe: the state word its admission wrote. A probe whose word was replaced
/// (by a probe that took over from it) has no say any more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct ProbeTicket(u64);

/// Why a request was refused.
#[derive(Debug, Clone, Copy)]
pub(super) struct Refusal {
    pub(super) failures: u32,
    /// Whole seconds until the visitor should retry, rounded up, at least 1.
    pub(super) retry_after: u64,
    /// A probe is in flight (rather than the cool-down running).
    pub(super) probing: bool,
}

impl Breaker {
    pub(super) fn new(tunnel: Option<Arc<str>>, settings: Settings) -> Self {
        Self {
            tunnel,
            settings,
            state: AtomicU64::new(CLOSED),
            failures: AtomicU32::new(0),
        }
    }

    pub(super) fn tunnel(&self) -> Option<&str> {
        self.tunnel.as_deref()
    }

    pub(super) fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Closed, with no failure counted: the same as a new breaker.
    pub(super) fn is_healthy(&self) -> bool {
        self.state.load(Ordering::Acquire) == CLOSED && self.failures.load(Ordering::Relaxed) == 0
    }

    pub(super) fn is_closed(&self) -> bool {
        self.state.load(Ordering::Acquire) & TAG == CLOSED
    }

    /// Decides whether a request may pass.
    pub(super) fn admit(&self) -> Admission {
        let cool_down = self.settings.cool_down_ms;
        loop {
            let word = self.state.load(Ordering::Acquire);
            let (tag, since) = (word & TAG, since(word));
            // The closed, healthy path reads one word and no clock.
            if tag == CLOSED {
                return Admission::Pass;
            }
            let now = self.settings.now_ms();
            let until = since.saturating_add(cool_down);
            if now < until {
                return Admission::Refuse(if tag == OPEN {
                    self.refusal((until - now).div_ceil(1000), false)
                } else {
                    // A probe is in flight: it answers soon, or is given up on at `until`.
                    self.refusal(1, true)
                });
            }
            // Open with the cool-down over, or a probe that has not answered within a
            // cool-down (given up on, so that a hung probe cannot keep the breaker half-open):
            // this request probes, if no other request got there first.
            let probe = pack(now, HALF_OPEN);
            if self
                .state
                .compare_exchange(word, probe, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                if tag == OPEN {
                    tracing::info!(
                        tunnel = self.label(),
                        "circuit breaker half-open: the cool-down is over, one request tests the tunnel"
                    );
                } else {
                    tracing::warn!(
                        tunnel = self.label(),
                        cool_down = %duration::format(self.settings.cool_down),
                        "circuit breaker: the probe request has not answered within the \
                         cool-down; another request tests the tunnel"
                    );
                }
                return Admission::Probe(ProbeTicket(probe));
            }
        }
    }

    /// The outcome of a request let through while closed.
    pub(super) fn record(&self, success: bool) {
        if success {
            // A write only when there is something to reset: the healthy path stays read-only.
            if self.failures.load(Ordering::Relaxed) != 0 && self.is_closed() {
                self.failures.store(0, Ordering::Relaxed);
            }
            return;
        }
        // An answer to a request sent before the breaker opened does not count again.
        if !self.is_closed() {
            return;
        }
        let failures = self
            .failures
            .fetch_add(1, Ordering::Relaxed)
            .saturating_add(1);
        if failures >= self.settings.failures {
            let open = pack(self.settings.now_ms(), OPEN);
            if self
                .state
                .compare_exchange(CLOSED, open, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                tracing::warn!(
                    tunnel = self.label(),
                    failures,
                    cool_down = %duration::format(self.settings.cool_down),
                    "circuit breaker open: the tunnel failed too often in a row; its requests \
                     are refused until the cool-down is over"
                );
            }
        }
    }

    /// The outcome of a probe: closes the breaker, or opens it for another cool-down.
    pub(super) fn probe_done(&self, ticket: ProbeTicket, success: bool) {
        let next = if success {
            // Reset before closing: a failure recorded between the two would otherwise see the
            // old count and open the breaker again after one failure. Outcomes are not
            // recorded while half-open, so an early reset loses nothing if another probe
            // decides instead.
            self.failures.store(0, Ordering::Relaxed);
            CLOSED
        } else {
            pack(self.settings.now_ms(), OPEN)
        };
        if self
            .state
            .compare_exchange(ticket.0, next, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return; // Another probe took over; it decides.
        }
        if success {
            tracing::info!(
                tunnel = self.label(),
                "circuit breaker closed: the probe request succeeded"
            );
        } else {
            let failures = self
                .failures
                .fetch_add(1, Ordering::Relaxed)
                .saturating_add(1);
            tracing::warn!(
                tunnel = self.label(),
                failures,
                cool_down = %duration::format(self.settings.cool_down),
                "circuit breaker open again: the probe request failed"
            );
        }
    }

    /// A probe that will never finish (the visitor went away): back to open with the
    /// cool-down over, so that the next request probes.
    pub(super) fn probe_cancelled(&self, ticket: ProbeTicket) {
        let reopened = pack(
            since(ticket.0).saturating_sub(self.settings.cool_down_ms),
            OPEN,
        );
        if self
            .state
            .compare_exchange(ticket.0, reopened, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            tracing::debug!(
                tunnel = self.label(),
                "circuit breaker: the probe request was cancelled; the next request tests the tunnel"
            );
        }
    }

    fn refusal(&self, retry_after: u64, probing: bool) -> Refusal {
        Refusal {
            failures: self.failures.load(Ordering::Relaxed),
            retry_after: retry_after.max(1),
            probing,
        }
    }

    fn label(&self) -> &str {
        self.tunnel.as_deref().unwrap_or("(none)")
    }
}

/// The refusal's text, for the visitor: `tunnel "app" is failing (5 failures in a row), so this
/// server stops sending it requests for 30 s; retry in 12 s`.
pub(super) fn refusal_message(
    tunnel: Option<&str>,
    cool_down: Duration,
    refusal: Refusal,
) -> String {
    let who = match tunnel {
        Some(name) => format!("tunnel {name:?}"),
        None => "the service".to_owned(),
    };
    let Refusal {
        failures,
        retry_after,
        probing,
    } = refusal;
    let plural = if failures == 1 { "" } else { "s" };
    if probing {
        format!(
            "{who} is failing ({failures} failure{plural} in a row), so this server is trying \
             it with one request before it sends it more; retry in {retry_after} s"
        )
    } else {
        format!(
            "{who} is failing ({failures} failure{plural} in a row), so this server stops \
             sending it requests for {}; retry in {retry_after} s",
            human(cool_down)
        )
    }
}

/// `30 s` for whole seconds, else the duration syntax (`1500ms`).
fn human(duration: Duration) -> String {
    if duration.subsec_nanos() == 0 {
        format!("{} s", duration.as_secs())
    } else {
        duration::format(duration)
    }
}
