use std::{fmt, str::FromStr, time::Duration};

use super::CircuitBreakerLayer;
use crate::duration;

/// A circuit breaker as written on the command line: `FAILURES[,COOLDOWN]`, like `5` (the
/// default cool-down, 30 s), `5,30s` or `3,1m`. The default is `5,30s`.
///
/// ```
/// use std::time::Duration;
/// use ferrotunnel_tower::circuit_breaker::CircuitBreakerSpec;
///
/// let spec: CircuitBreakerSpec = "3,1m".parse().unwrap();
/// assert_eq!((spec.failures(), spec.cool_down()), (3, Duration::from_secs(60)));
/// assert_eq!(spec.to_string(), "3,1m");
/// let layer = spec.layer();
///
/// let err = "0".parse::<CircuitBreakerSpec>().unwrap_err();
/// assert!(err.contains("at least 1 failure"), "{err}");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CircuitBreakerSpec {
    failures: u32,
    cool_down: Duration,
}

impl CircuitBreakerSpec {
    /// Failures in a row that open a breaker.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// How long an open breaker refuses requests.
    pub fn cool_down(&self) -> Duration {
        self.cool_down
    }

    /// The layer these settings describe.
    pub fn layer(&self) -> CircuitBreakerLayer {
        CircuitBreakerLayer::new()
            .failures(self.failures)
            .cool_down(self.cool_down)
    }
}

impl Default for CircuitBreakerSpec {
    fn default() -> Self {
        Self {
            failures: CircuitBreakerLayer::DEFAULT_FAILURES,
            cool_down: CircuitBreakerLayer::DEFAULT_COOL_DOWN,
        }
    }
}

const HINT: &str = "write FAILURES[,COOLDOWN], like 5 or 5,30s";

impl FromStr for CircuitBreakerSpec {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let invalid = |why: String| format!("{text:?} is not a circuit breaker: {why}; {HINT}");
        let (failures, cool_down) = match text.split_once(',') {
            Some((failures, cool_down)) => (failures.trim(), Some(cool_down)),
            None => (text.trim(), None),
        };
        let failures: u32 = failures.parse().map_err(|_| {
            invalid(format!(
                "{failures:?} is not a whole number of failures in a row"
            ))
        })?;
        if failures == 0 {
            return Err(invalid(
                "a breaker opens after at least 1 failure in a row, not 0".into(),
            ));
        }
        let cool_down = match cool_down {
            None => CircuitBreakerLayer::DEFAULT_COOL_DOWN,
            Some(text) => {
                duration::parse(text).map_err(|why| invalid(format!("the cool-down: {why}")))?
            }
        };
        if cool_down.is_zero() {
            return Err(invalid(
                "a cool-down of 0s would never stop sending requests".into(),
            ));
        }
        Ok(Self {
            failures,
            cool_down,
        })
    }
}

impl fmt::Display for CircuitBreakerSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{},{}", self.failures, duration::format(self.cool_down))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_read_back_what_they_print() {
        for (text, failures, secs) in [
            ("5", 5, 30),
            ("5,30s", 5, 30),
            ("3,1m", 3, 60),
            (" 1 , 1h ", 1, 3600),
        ] {
            let spec: CircuitBreakerSpec = text.parse().expect(text);
            assert_eq!(
                (spec.failures(), spec.cool_down()),
                (failures, Duration::from_secs(secs))
            );
            assert_eq!(spec.to_string().parse(), Ok(spec), "{text}");
        }
        assert_eq!(CircuitBreakerSpec::default().to_string(), "5,30s");
        assert_eq!(
            "3,1m"
                .parse::<CircuitBreakerSpec>()
                .expect("spec")
                .to_string(),
            "3,1m"
        );
        let spec: CircuitBreakerSpec = "2,1500ms".parse().expect("spec");
        assert_eq!(spec.to_string(), "2,1s500ms");
    }

    #[test]
    fn specs_refuse_what_they_cannot_read_and_say_why() {
        for (text, needle) in [
            ("0", "at least 1 failure in a row"),
            ("0,30s", "at least 1 failure in a row"),
            ("five", "\"five\" is not a whole number of failures"),
            ("", "\"\" is not a whole number"),
            ("-1", "is not a whole number"),
            ("5,", "the cool-down: invalid duration \"\""),
            ("5,30", "30 has no unit"),
            ("5,0s", "a cool-down of 0s"),
            ("5,30s,1", "unknown unit"),
        ] {
            let err = text.parse::<CircuitBreakerSpec>().expect_err(text);
            assert!(
                err.starts_with(&format!("{text:?} is not a circuit breaker: ")),
                "{err}"
            );
            assert!(err.contains(needle), "{text}: {err}");
            assert!(
                err.ends_with("write FAILURES[,COOLDOWN], like 5 or 5,30s"),
                "{err}"
            );
        }
    }
}
