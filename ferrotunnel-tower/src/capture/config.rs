use http::HeaderName;

/// What a [`CaptureStore`](super::CaptureStore) keeps, and what its views hide.
///
/// The fields are public; the chained methods change one each:
///
/// ```
/// use ferrotunnel_tower::capture::{CaptureConfig, MaskedHeaders};
///
/// let config = CaptureConfig::default()
///     .max_exchanges(200)
///     .body_prefix(16 * 1024)
///     .mask(MaskedHeaders::default().add(http::HeaderName::from_static("x-customer")));
/// assert_eq!(config.max_bytes, 50 * 1024 * 1024);
/// ```
#[derive(Debug, Clone)]
pub struct CaptureConfig {
    /// At most this many exchanges are kept (default 1000); the oldest go first.
    pub max_exchanges: usize,
    /// At most this many bytes are kept (default 50 MiB): body prefixes, header names and
    /// values (plus 32 bytes a header, as HPACK counts them), the URI, and
    /// [`EXCHANGE_OVERHEAD`] per exchange. The oldest exchanges go first.
    pub max_bytes: usize,
    /// How many bytes of each body are copied (default 64 KiB); the rest is only counted.
    pub body_prefix: usize,
    /// Which headers' values viewers see as `***`. The store keeps them as they were.
    pub mask: MaskedHeaders,
    /// At most this many tunnels have statistics of their own (default 256). When a new tunnel
    /// comes and the table is full, the tunnel idle the longest with nothing in flight is
    /// forgotten; while none can be, the newcomer's requests count only in the
    /// [totals](super::CaptureStore::totals).
    pub max_tunnels: usize,
    /// How many events a subscriber may fall behind by before it misses some (default 1024);
    /// see [`subscribe`](super::CaptureStore::subscribe).
    pub event_capacity: usize,
}

/// What [`CaptureConfig::max_bytes`] counts for each exchange besides its headers and bodies:
/// the record itself and its bookkeeping, roughly.
pub const EXCHANGE_OVERHEAD: usize = 512;

impl CaptureConfig {
    /// The default bound on the number of exchanges kept.
    pub const DEFAULT_MAX_EXCHANGES: usize = 1000;
    /// The default bound on the bytes kept.
    pub const DEFAULT_MAX_BYTES: usize = 50 * 1024 * 1024;
    /// The default number of bytes copied from each body.
    pub const DEFAULT_BODY_PREFIX: usize = 64 * 1024;
    /// The default bound on tunnels with statistics of their own.
    pub const DEFAULT_MAX_TUNNELS: usize = 256;
    /// The default capacity of the event channel.
    pub const DEFAULT_EVENT_CAPACITY: usize = 1024;

    /// Keeps at most `max` exchanges.
    pub fn max_exchanges(mut self, max: usize) -> Self {
        self.max_exchanges = max;
        self
    }

    /// Keeps at most `max` bytes.
    pub fn max_bytes(mut self, max: usize) -> Self {
        self.max_bytes = max;
        self
    }

    /// Copies the first `bytes` bytes of each body.
    pub fn body_prefix(mut self, bytes: usize) -> Self {
        self.body_prefix = bytes;
        self
    }

    /// Masks these headers in views.
    pub fn mask(mut self, mask: MaskedHeaders) -> Self {
        self.mask = mask;
        self
    }

    /// Keeps statistics for at most `max` tunnels.
    pub fn max_tunnels(mut self, max: usize) -> Self {
        self.max_tunnels = max;
        self
    }

    /// Lets a subscriber fall behind by at most `events` events (at least 1).
    pub fn event_capacity(mut self, events: usize) -> Self {
        self.event_capacity = events;
        self
    }
}

impl Default for CaptureConfig {
    fn default() -> Self {
        Self {
            max_exchanges: Self::DEFAULT_MAX_EXCHANGES,
            max_bytes: Self::DEFAULT_MAX_BYTES,
            body_prefix: Self::DEFAULT_BODY_PREFIX,
            mask: MaskedHeaders::default(),
            max_tunnels: Self::DEFAULT_MAX_TUNNELS,
            event_capacity: Self::DEFAULT_EVENT_CAPACITY,
        }
    }
}

/// The headers whose values viewers see as `***`: credentials, cookies, keys.
///
/// The default masks `authorization`, `proxy-authorization`, `cookie`, `set-cookie`,
/// `x-api-key`, and every header whose name contains `token`, `secret`, `password`, `session`,
/// `api-key` or `apikey`.
///
/// ```
/// use ferrotunnel_tower::capture::MaskedHeaders;
/// use http::HeaderName;
///
/// let mask = MaskedHeaders::default();
/// assert!(mask.is_masked(&HeaderName::from_static("x-session-id")));
/// assert!(!mask.is_masked(&HeaderName::from_static("content-type")));
/// assert!(!MaskedHeaders::none().is_masked(&http::header::AUTHORIZATION));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaskedHeaders {
    names: Vec<HeaderName>,
    fragments: Vec<&'static str>,
}

impl MaskedHeaders {
    /// Masks nothing.
    pub fn none() -> Self {
        Self {
            names: Vec::new(),
            fragments: Vec::new(),
        }
    }

    /// Masks `name` too.
    // A builder step, as `CaptureConfig`'s are, not arithmetic: `Add` would read wrongly.
    #[allow(clippy::should_implement_trait)]
    pub fn add(mut self, name: HeaderName) -> Self {
        if !self.names.contains(&name) {
            self.names.push(name);
        }
        self
    }

    /// Whether viewers see `name`'s values as `***`.
    pub fn is_masked(&self, name: &HeaderName) -> bool {
        // Header names are lowercase, and so are the fragments.
        self.names.contains(name)
            || self
                .fragments
                .iter()
                .any(|fragment| name.as_str().contains(fragment))
    }
}

impl Default for MaskedHeaders {
    fn default() -> Self {
        use http::header::{AUTHORIZATION, COOKIE, PROXY_AUTHORIZATION, SET_COOKIE};
        Self {
            names: vec![
                AUTHORIZATION,
                PROXY_AUTHORIZATION,
                COOKIE,
                SET_COOKIE,
                HeaderName::from_static("x-api-key"),
            ],
            fragments: vec![
                "token", "secret", "password", "session", "api-key", "apikey",
            ],
        }
    }
}
