//! Durations as people write them: `30s`, `500ms`, `2m`, `1h`, `1m30s`.
//!
//! Flags, config files and the policies a client sends share this one parser, so
//! `--grace-period 5s`, `grace_period = "5s"` and a circuit breaker's cool-down can never
//! disagree. A bare number is refused on purpose: "30" could mean seconds or milliseconds, and
//! guessing wrong turns a timeout into a hang.

use std::time::Duration;

const HINT: &str = "write it like 30s, 500ms, 2m, 1h or 1m30s";

/// Parses a duration: one or more `<whole number><unit>` parts, units `ms`, `s`, `m`, `h`.
///
/// ```
/// use std::time::Duration;
/// assert_eq!(ferrotunnel_tower::duration::parse("1m30s"), Ok(Duration::from_secs(90)));
/// assert!(ferrotunnel_tower::duration::parse("30").unwrap_err().contains("30 has no unit"));
/// ```
pub fn parse(text: &str) -> Result<Duration, String> {
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

/// Writes a duration the way [`parse`] reads it, in whole milliseconds: `1m30s`, `500ms`, `0s`.
pub fn format(duration: Duration) -> String {
    let mut ms = duration.as_millis();
    if ms == 0 {
        return "0s".into();
    }
    let mut text = String::new();
    for (unit, size) in [("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1)] {
        if ms >= size {
            text.push_str(&format!("{}{unit}", ms / size));
            ms %= size;
        }
    }
    text
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
    fn format_writes_what_parse_reads() {
        for ms in [0, 1, 500, 1_000, 30_000, 90_000, 3_723_004, 86_400_000] {
            let duration = Duration::from_millis(ms);
            assert_eq!(parse(&format(duration)), Ok(duration), "{ms} ms");
        }
        assert_eq!(format(Duration::from_secs(90)), "1m30s");
        assert_eq!(format(Duration::from_millis(500)), "500ms");
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
