//! The values a user writes: [`Rate`] (`100/min`), [`KeyBy`] and [`RateLimitSpec`]
//! (`10/s,burst=20,by=header:x-api-key`).

use std::{fmt, num::NonZeroU32, str::FromStr, time::Duration};

use http::HeaderName;

use super::RateLimitLayer;

const RATE_HINT: &str = "write N/s, N/min or N/h, like 100/min";
const SPEC_HINT: &str = "write N/s, N/min or N/h, then optionally ,burst=N and \
                         ,by=ip|tunnel|global|header:NAME, like 10/s,burst=20";

/// How many requests, per second, minute or hour: `Rate::per_minute(600)`, or `"600/min"`.
///
/// With a rate of N per unit, one request is let through every unit/N on average; see
/// [`RateLimitLayer::burst`] for how many may come at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rate {
    count: NonZeroU32,
    unit: Unit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Unit {
    Second,
    Minute,
    Hour,
}

impl Unit {
    const fn seconds(self) -> u64 {
        match self {
            Self::Second => 1,
            Self::Minute => 60,
            Self::Hour => 3_600,
        }
    }

    const fn short(self) -> &'static str {
        match self {
            Self::Second => "s",
            Self::Minute => "min",
            Self::Hour => "h",
        }
    }

    const fn word(self) -> &'static str {
        match self {
            Self::Second => "second",
            Self::Minute => "minute",
            Self::Hour => "hour",
        }
    }
}

impl Rate {
    const fn new(count: u32, unit: Unit) -> Self {
        match NonZeroU32::new(count) {
            Some(count) => Self { count, unit },
            None => panic!("a rate lets at least 1 request through per unit"),
        }
    }

    /// `count` requests per second.
    ///
    /// # Panics
    /// If `count` is 0: a rate that lets nothing through is no rate (leave the layer out
    /// instead, or use an IP filter).
    pub const fn per_second(count: u32) -> Self {
        Self::new(count, Unit::Second)
    }

    /// `count` requests per minute. Panics if `count` is 0, like [`per_second`](Self::per_second).
    pub const fn per_minute(count: u32) -> Self {
        Self::new(count, Unit::Minute)
    }

    /// `count` requests per hour. Panics if `count` is 0, like [`per_second`](Self::per_second).
    pub const fn per_hour(count: u32) -> Self {
        Self::new(count, Unit::Hour)
    }

    /// How many requests per [`per`](Self::per).
    pub const fn count(&self) -> u32 {
        self.count.get()
    }

    /// The unit of time: one second, minute or hour.
    pub const fn per(&self) -> Duration {
        Duration::from_secs(self.unit.seconds())
    }

    /// The count as a `NonZeroU32`, the default burst.
    pub(super) const fn count_nonzero(&self) -> NonZeroU32 {
        self.count
    }

    /// The time between two requests at this rate (at least 1 ns).
    pub(super) fn interval(&self) -> Duration {
        let nanos = self.unit.seconds() * 1_000_000_000 / u64::from(self.count.get());
        Duration::from_nanos(nanos.max(1))
    }

    /// The seconds in which `burst` requests are earned back at this rate, rounded up.
    pub(super) fn window_secs(&self, burst: NonZeroU32) -> u64 {
        let count = u64::from(self.count.get());
        (self.unit.seconds() * u64::from(burst.get())).div_ceil(count)
    }

    /// For people: "10 requests per second", "1 request per hour".
    pub(super) fn describe(&self) -> String {
        let noun = if self.count.get() == 1 {
            "request"
        } else {
            "requests"
        };
        format!("{} {noun} per {}", self.count, self.unit.word())
    }
}

impl fmt::Display for Rate {
    /// The short form [`FromStr`] reads back: `10/s`, `600/min`, `5/h`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.count, self.unit.short())
    }
}

impl FromStr for Rate {
    type Err = String;

    /// Reads `N/UNIT`, UNIT one of `s`, `sec`, `second`, `m`, `min`, `minute`, `h`, `hour`.
    fn from_str(text: &str) -> Result<Self, String> {
        let invalid = |why: &str| format!("{text:?} is not a rate{why}: {RATE_HINT}");
        let Some((count, unit)) = text.trim().split_once('/') else {
            return Err(invalid(""));
        };
        let unit = match unit.trim() {
            "s" | "sec" | "second" => Unit::Second,
            "m" | "min" | "minute" => Unit::Minute,
            "h" | "hour" => Unit::Hour,
            _ => return Err(invalid("")),
        };
        let count = count.trim();
        if !count.bytes().all(|b| b.is_ascii_digit()) || count.is_empty() {
            return Err(invalid(""));
        }
        let count: u32 = count
            .parse()
            .map_err(|_| invalid(" (the number is too large)"))?;
        if count == 0 {
            return Err(format!(
                "{text:?} lets no request through: write at least 1/h, \
                 or leave the rate limit out to turn it off"
            ));
        }
        Ok(Self::new(count, unit))
    }
}

/// What a rate limit counts requests by: each key gets its own bucket of requests.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum KeyBy {
    /// The visitor's IP address ([`visitor_ip`](crate::request::visitor_ip)): `by=ip`, the
    /// default.
    #[default]
    Ip,
    /// The tunnel the request is for ([`tunnel_name`](crate::request::tunnel_name)):
    /// `by=tunnel`.
    Tunnel,
    /// The value of a request header, like an API key: `by=header:x-api-key`.
    Header(HeaderName),
    /// Nothing: all requests share one bucket: `by=global`.
    Global,
}

impl fmt::Display for KeyBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ip => f.write_str("ip"),
            Self::Tunnel => f.write_str("tunnel"),
            Self::Header(name) => write!(f, "header:{name}"),
            Self::Global => f.write_str("global"),
        }
    }
}

impl FromStr for KeyBy {
    type Err = String;

    /// Reads `ip`, `tunnel`, `global` or `header:NAME`.
    fn from_str(text: &str) -> Result<Self, String> {
        match text.trim() {
            "ip" => Ok(Self::Ip),
            "tunnel" => Ok(Self::Tunnel),
            "global" => Ok(Self::Global),
            other => match other.strip_prefix("header:") {
                Some(name) => HeaderName::from_bytes(name.trim().as_bytes())
                    .map(Self::Header)
                    .map_err(|_| {
                        format!(
                            "{name:?} is not a header name: write letters, digits and dashes, \
                             like header:x-api-key"
                        )
                    }),
                None => Err(format!(
                    "{text:?} is not something to count requests by: \
                     write ip, tunnel, global or header:NAME"
                )),
            },
        }
    }
}

/// A rate limit as written on the command line or in a config file:
/// `N/UNIT[,burst=M][,by=ip|tunnel|global|header:NAME]`.
///
/// ```
/// use ferrotunnel_tower::rate_limit::{KeyBy, Rate, RateLimitSpec};
///
/// let spec: RateLimitSpec = "5/s,burst=10,by=header:x-api-key".parse()?;
/// assert_eq!(spec.rate, Rate::per_second(5));
/// assert_eq!(spec.burst.map(|b| b.get()), Some(10));
/// assert_eq!(spec.by, KeyBy::Header(http::HeaderName::from_static("x-api-key")));
/// assert_eq!(spec.to_string(), "5/s,burst=10,by=header:x-api-key");
///
/// let layer = spec.layer();
/// # Ok::<(), String>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitSpec {
    /// The rate.
    pub rate: Rate,
    /// How many requests may come at once; `None`: the rate's count.
    pub burst: Option<NonZeroU32>,
    /// What requests are counted by.
    pub by: KeyBy,
}

impl RateLimitSpec {
    /// A spec for `rate`, keyed by the visitor's IP, with the default burst.
    pub fn new(rate: Rate) -> Self {
        Self {
            rate,
            burst: None,
            by: KeyBy::Ip,
        }
    }

    /// The layer this spec describes.
    pub fn layer(&self) -> RateLimitLayer {
        RateLimitLayer::from(self.clone())
    }
}

impl From<RateLimitSpec> for RateLimitLayer {
    fn from(spec: RateLimitSpec) -> Self {
        let layer = RateLimitLayer::new(spec.rate).key_by(spec.by);
        match spec.burst {
            Some(burst) => layer.burst(burst.get()),
            None => layer,
        }
    }
}

impl fmt::Display for RateLimitSpec {
    /// The canonical form: `10/s`, `10/s,burst=20`, `100/min,by=tunnel` (`by=ip` is left out).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.rate)?;
        if let Some(burst) = self.burst {
            write!(f, ",burst={burst}")?;
        }
        if self.by != KeyBy::Ip {
            write!(f, ",by={}", self.by)?;
        }
        Ok(())
    }
}

/// The largest burst: a bucket's whole capacity is kept in nanoseconds (a burst of M requests
/// at one an hour is M hours), and a larger one could overflow it.
pub const MAX_BURST: u32 = 1_000_000;

impl FromStr for RateLimitSpec {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let mut parts = text.split(',');
        let rate = parts.next().unwrap_or_default();
        let mut spec = Self::new(rate.parse()?);
        let (mut seen_burst, mut seen_by) = (false, false);
        for option in parts {
            let (name, value) = option.split_once('=').unwrap_or((option, ""));
            let (name, value) = (name.trim(), value.trim());
            let twice = |seen: bool| {
                if seen {
                    Err(format!("{text:?} gives {name} twice: write it once"))
                } else {
                    Ok(true)
                }
            };
            match name {
                "burst" => {
                    seen_burst = twice(seen_burst)?;
                    let burst: u32 = value.parse().map_err(|_| {
                        format!("burst={value:?} in {text:?} is not a whole number: write burst=N, like burst=20")
                    })?;
                    let Some(burst) = NonZeroU32::new(burst) else {
                        return Err(format!(
                            "burst=0 in {text:?} lets no request through: write burst=1 or more"
                        ));
                    };
                    if burst.get() > MAX_BURST {
                        return Err(format!(
                            "burst={burst} in {text:?} is more than {MAX_BURST}: write a smaller burst"
                        ));
                    }
                    spec.burst = Some(burst);
                }
                "by" => {
                    seen_by = twice(seen_by)?;
                    spec.by = value.parse()?;
                }
                _ => {
                    return Err(format!(
                        "{text:?} has an unknown option {option:?}: {SPEC_HINT}"
                    ));
                }
            }
        }
        Ok(spec)
    }
}
