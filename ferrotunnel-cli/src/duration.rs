//! Durations as people write them: `30s`, `500ms`, `2m`, `1h`, `1m30s`.
//!
//! Flags and config files share this one parser, so `--grace-period 5s` and
//! `grace_period = "5s"` can never disagree. A bare number is refused on purpose: "30" could
//! mean seconds or milliseconds, and guessing wrong turns a timeout into a hang.

use std::{fmt, time::Duration};

use serde::{Deserializer, de};

const HINT: &str = "write it like 30s, 500ms, 2m, 1h or 1m30s";

/// Parses a duration: one or more `<whole number><unit>` parts, units `ms`, `s`, `m`, `h`.
pub(crate) fn parse(text: &str) -> Result<Duration, String> {
    let invalid = |why: String| format!("invalid duration {text:?}: {why}; {HINT}");
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(invalid("it is empty".into()));
    }
    let mut total_ms: u64 = 0;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(invalid(format!("expected a whole number at {rest:?}")));
        }
        let number: u64 = rest[..digits]
            .parse()
            .map_err(|_| invalid("the number is too large".into()))?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit_ms = match rest[..unit_len].trim() {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "" => return Err(invalid(format!("{number} has no unit"))),
            other => return Err(invalid(format!("unknown unit {other:?}"))),
        };
        rest = &rest[unit_len..];
        total_ms = number
            .checked_mul(unit_ms)
            .and_then(|ms| total_ms.checked_add(ms))
            .ok_or_else(|| invalid("it is too long".into()))?;
    }
    Ok(Duration::from_millis(total_ms))
}

/// `deserialize_with` for an optional duration in a config file (use with `#[serde(default)]`).
pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Duration>, D::Error> {
    deserializer.deserialize_str(DurationVisitor).map(Some)
}

struct DurationVisitor;

impl de::Visitor<'_> for DurationVisitor {
    type Value = Duration;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Shown when someone writes `grace_period = 5`: say what to write instead.
        f.write_str("a duration string like \"30s\", \"500ms\" or \"2m\"")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Duration, E> {
        parse(text).map_err(E::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_units_and_combinations() {
        for (text, ms) in [
            ("500ms", 500),
            ("30s", 30_000),
            ("2m", 120_000),
            ("1h", 3_600_000),
            ("1m30s", 90_000),
            ("1h 2m 3s 4ms", 3_723_004),
            (" 0s ", 0),
            ("10 s", 10_000),
        ] {
            assert_eq!(parse(text), Ok(Duration::from_millis(ms)), "{text}");
        }
    }

    #[test]
    fn refuses_what_it_cannot_read_and_says_why() {
        for (text, needle) in [
            ("", "it is empty"),
            ("30", "30 has no unit"),
            ("5x", "unknown unit \"x\""),
            ("1.5s", "unknown unit \".\""),
            ("s", "expected a whole number at \"s\""),
            ("-1s", "expected a whole number"),
            ("99999999999999999999s", "too large"),
            ("9999999999999999h", "too long"),
        ] {
            let err = parse(text).expect_err(text);
            assert!(err.contains(needle), "{text}: {err}");
            assert!(err.contains("like 30s"), "{text}: {err}");
        }
    }
}
