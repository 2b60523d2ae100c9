//! Each tunnel's series, resolved from the recorder once and kept. Asking the recorder for a
//! series builds its key (a label list on the heap), hashes it and finds it in the registry;
//! with the handles kept, a request costs a map lookup by tunnel name and a few atomic adds.

use std::{
    collections::HashMap,
    sync::{Arc, OnceLock, RwLock},
};

use ferrotunnel::server::ResolvedTunnel;
use http::StatusCode;
use metrics::{Counter, Histogram, SharedString, counter, histogram};

use super::{BYTES, REQUEST_DURATION, REQUESTS};
use crate::request::standard_method;

/// The `method` label's values: the standard methods, then everything else.
const METHODS: [&str; 10] = [
    "GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "CONNECT", "TRACE", "_OTHER",
];
/// The `status` label's values; `error` is a request that got no response.
const STATUSES: [&str; 6] = ["1xx", "2xx", "3xx", "4xx", "5xx", "error"];
/// Above this many tunnels the cache starts again (the recorder keeps the series): names come
/// and go as clients do, and the cache must not grow with every name ever seen.
const MAX_TUNNELS: usize = 4096;

/// A request's `method` label, as an index into the label values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct MethodLabel(u8);

impl MethodLabel {
    pub(super) fn of(method: &http::Method) -> Self {
        let name = standard_method(method).unwrap_or("_OTHER");
        let index = METHODS
            .iter()
            .position(|m| *m == name)
            .unwrap_or(METHODS.len() - 1);
        Self(u8::try_from(index).unwrap_or(u8::MAX))
    }
}

/// A request's `status` label, as an index into the label values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct StatusLabel(u8);

impl StatusLabel {
    /// No response (yet).
    pub(super) const ERROR: Self = Self(5);

    pub(super) fn of(status: StatusCode) -> Self {
        Self(match status.as_u16() / 100 {
            1 => 0,
            2 => 1,
            3 => 2,
            4 => 3,
            _ => 4,
        })
    }
}

/// The series of every tunnel seen, shared by a layer's clones.
#[derive(Debug, Default)]
pub(super) struct SeriesCache {
    tunnels: RwLock<HashMap<Arc<str>, Arc<TunnelSeries>>>,
}

impl SeriesCache {
    /// The series of the tunnel `resolved` names (the empty name for none).
    pub(super) fn of(&self, resolved: &ResolvedTunnel) -> Arc<TunnelSeries> {
        static UNRESOLVED: OnceLock<Arc<str>> = OnceLock::new();
        let name = resolved
            .tunnel()
            .unwrap_or_else(|| UNRESOLVED.get_or_init(|| Arc::from("")));
        if let Some(series) = self.read().get(name) {
            return series.clone();
        }
        let mut tunnels = self
            .tunnels
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if tunnels.len() >= MAX_TUNNELS && !tunnels.contains_key(name) {
            tunnels.clear();
        }
        tunnels
            .entry(name.clone())
            .or_insert_with(|| Arc::new(TunnelSeries::new(name)))
            .clone()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<Arc<str>, Arc<TunnelSeries>>> {
        self.tunnels
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// One tunnel's series, each resolved the first time it is needed (so that a series appears
/// once it has something to count, as it would without the cache).
#[derive(Debug)]
pub(super) struct TunnelSeries {
    tunnel: SharedString,
    requests: [[OnceLock<Counter>; STATUSES.len()]; METHODS.len()],
    duration: OnceLock<Histogram>,
    request_bytes: OnceLock<Counter>,
    response_bytes: OnceLock<Counter>,
}

impl TunnelSeries {
    fn new(tunnel: &Arc<str>) -> Self {
        Self {
            tunnel: SharedString::from(tunnel.clone()),
            requests: Default::default(),
            duration: OnceLock::new(),
            request_bytes: OnceLock::new(),
            response_bytes: OnceLock::new(),
        }
    }

    pub(super) fn tunnel(&self) -> SharedString {
        self.tunnel.clone()
    }

    pub(super) fn requests(&self, method: MethodLabel, status: StatusLabel) -> &Counter {
        let (m, s) = (usize::from(method.0), usize::from(status.0));
        self.requests[m][s].get_or_init(|| {
            counter!(REQUESTS, "tunnel" => self.tunnel(), "method" => METHODS[m], "status" => STATUSES[s])
        })
    }

    pub(super) fn duration(&self) -> &Histogram {
        self.duration
            .get_or_init(|| histogram!(REQUEST_DURATION, "tunnel" => self.tunnel()))
    }

    pub(super) fn request_bytes(&self) -> &Counter {
        self.request_bytes
            .get_or_init(|| counter!(BYTES, "tunnel" => self.tunnel(), "direction" => "request"))
    }

    pub(super) fn response_bytes(&self) -> &Counter {
        self.response_bytes
            .get_or_init(|| counter!(BYTES, "tunnel" => self.tunnel(), "direction" => "response"))
    }
}
