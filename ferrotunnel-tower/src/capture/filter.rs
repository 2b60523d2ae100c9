use std::{fmt, str::FromStr, time::Duration};

use http::{Method, StatusCode};

use super::Exchange;

/// Which exchanges [`CaptureStore::list`](super::CaptureStore::list) returns: those matching
/// every field that is set. The default matches all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExchangeFilter {
    /// Only this tunnel's.
    pub tunnel: Option<String>,
    /// Only those whose response status matches (so none in flight before its head, nor
    /// failed without a response).
    pub status: Option<StatusFilter>,
    /// Only this method.
    pub method: Option<Method>,
    /// Only those whose path and query contain this text.
    pub path: Option<String>,
    /// Only finished ones that took at least this long.
    pub min_duration: Option<Duration>,
}

impl ExchangeFilter {
    /// Whether `exchange` matches.
    pub fn matches(&self, exchange: &Exchange) -> bool {
        if let Some(tunnel) = &self.tunnel {
            if exchange.tunnel.as_deref() != Some(tunnel.as_str()) {
                return false;
            }
        }
        if let Some(status) = &self.status {
            if exchange.status().is_none_or(|got| !status.matches(got)) {
                return false;
            }
        }
        if let Some(method) = &self.method {
            if exchange.method != *method {
                return false;
            }
        }
        if let Some(path) = &self.path {
            let path_and_query = exchange
                .uri
                .path_and_query()
                .map_or("", |path_and_query| path_and_query.as_str());
            if !path_and_query.contains(path.as_str()) {
                return false;
            }
        }
        if let Some(min) = self.min_duration {
            if exchange.duration().is_none_or(|took| took < min) {
                return false;
            }
        }
        true
    }
}

/// A status code, a class or a range, as a filter reads them: `404`, `4xx`, `500-599`.
///
/// ```
/// use ferrotunnel_tower::capture::StatusFilter;
/// use http::StatusCode;
///
/// let filter: StatusFilter = "4xx".parse().unwrap();
/// assert!(filter.matches(StatusCode::NOT_FOUND));
/// assert_eq!(filter.to_string(), "4xx");
///
/// let err = "9xx".parse::<StatusFilter>().unwrap_err();
/// assert_eq!(err.to_string(), r#""9xx" is not a status filter: write 404, 4xx or 500-599"#);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusFilter {
    /// This status.
    Exact(u16),
    /// A class: `4` for `4xx`.
    Class(u8),
    /// From the first to the second, both included.
    Range(u16, u16),
}

impl StatusFilter {
    /// Whether `status` matches.
    pub fn matches(&self, status: StatusCode) -> bool {
        let status = status.as_u16();
        match *self {
            Self::Exact(code) => status == code,
            Self::Class(class) => status / 100 == u16::from(class),
            Self::Range(from, to) => (from..=to).contains(&status),
        }
    }
}

/// A text that is not a [`StatusFilter`]; its message quotes it and says what to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusFilterError {
    text: String,
}

impl fmt::Display for StatusFilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} is not a status filter: write 404, 4xx or 500-599",
            self.text
        )
    }
}

impl std::error::Error for StatusFilterError {}

/// The statuses HTTP defines: 100 to 599.
fn code(text: &str) -> Option<u16> {
    let digits = text.len() == 3 && text.bytes().all(|b| b.is_ascii_digit());
    digits
        .then(|| text.parse().ok())
        .flatten()
        .filter(|code| (100..=599).contains(code))
}

impl FromStr for StatusFilter {
    type Err = StatusFilterError;

    fn from_str(text: &str) -> Result<Self, StatusFilterError> {
        let trimmed = text.trim();
        let parsed = if let Some((from, to)) = trimmed.split_once('-') {
            match (code(from.trim()), code(to.trim())) {
                (Some(from), Some(to)) if from <= to => Some(Self::Range(from, to)),
                _ => None,
            }
        } else if let Some(class) = trimmed
            .strip_suffix("xx")
            .or_else(|| trimmed.strip_suffix("XX"))
        {
            match class.as_bytes() {
                [digit @ b'1'..=b'5'] => Some(Self::Class(digit - b'0')),
                _ => None,
            }
        } else {
            code(trimmed).map(Self::Exact)
        };
        parsed.ok_or_else(|| StatusFilterError {
            text: text.to_owned(),
        })
    }
}

impl fmt::Display for StatusFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Exact(code) => write!(f, "{code}"),
            Self::Class(class) => write!(f, "{class}xx"),
            Self::Range(from, to) => write!(f, "{from}-{to}"),
        }
    }
}
