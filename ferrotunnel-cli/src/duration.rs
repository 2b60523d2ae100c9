//! Durations in config files: the same parser as flags (`ferrotunnel_tower::duration`).

use std::{fmt, time::Duration};

use serde::{Deserializer, de};

pub(crate) use ferrotunnel_tower::duration::parse;

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
