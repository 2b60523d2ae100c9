//! Exponential backoff with jitter, for reconnecting.

use std::time::Duration;

/// Doubles the wait after each failure up to a cap, and waits a random 50–100% of it so that
/// many clients cut off at once do not all come back at the same instant.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    initial: Duration,
    max: Duration,
    current: Duration,
}

impl Backoff {
    pub(crate) fn new(initial: Duration, max: Duration) -> Self {
        Self {
            initial,
            max,
            current: initial,
        }
    }

    /// The wait before the next attempt.
    pub(crate) fn next_delay(&mut self) -> Duration {
        let ceiling = self.current;
        self.current = (self.current * 2).min(self.max);
        let mut random = [0u8; 4];
        let _ = getrandom::fill(&mut random);
        let fraction = 0.5 + f64::from(u32::from_le_bytes(random)) / f64::from(u32::MAX) / 2.0;
        ceiling.mul_f64(fraction)
    }

    /// Back to the initial wait, after a successful connection.
    pub(crate) fn reset(&mut self) {
        self.current = self.initial;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_cap_with_jitter() {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        let mut ceiling = Duration::from_millis(100);
        for _ in 0..10 {
            let delay = backoff.next_delay();
            assert!(
                delay >= ceiling / 2 && delay <= ceiling,
                "{delay:?} outside {ceiling:?}"
            );
            ceiling = (ceiling * 2).min(Duration::from_secs(1));
        }
        backoff.reset();
        assert!(backoff.next_delay() <= Duration::from_millis(100));
    }
}
