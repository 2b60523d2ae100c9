use std::{
    fmt,
    net::SocketAddr,
    sync::Arc,
    time::{Duration, SystemTime},
};

use bytes::Bytes;
use ferrotunnel::server::REQUEST_ID;
use http::{HeaderMap, Method, StatusCode, Uri, Version, header};

use super::MaskedHeaders;

/// One HTTP exchange as the store saw it: a snapshot, cheap to clone (the headers and body
/// prefixes are shared, not copied).
///
/// The headers are the **original** ones, secrets included: replaying needs them. Show people
/// [`masked_request_headers`](Self::masked_request_headers) and
/// [`masked_response_headers`](Self::masked_response_headers) instead.
#[derive(Clone)]
pub struct Exchange {
    /// The store's number for it: 1, 2, 3, … in the order requests came.
    pub id: u64,
    /// The tunnel it went to, inside a FerroTunnel ingress.
    pub tunnel: Option<Arc<str>>,
    /// The visitor who sent it, if the server said.
    pub visitor: Option<SocketAddr>,
    /// The request method.
    pub method: Method,
    /// The URI as the layer's inner service got it (inside the ingress, usually the path and
    /// query only).
    pub uri: Uri,
    /// The request's HTTP version.
    pub version: Version,
    /// The request headers as they were, unmasked.
    pub request_headers: Arc<HeaderMap>,
    /// When the request came: the ingress's [`ReceivedAt`](ferrotunnel::server::ReceivedAt),
    /// else when the layer was called.
    pub started_at: SystemTime,
    /// The request body's prefix and size, as far as it has been read.
    pub request_body: BodyRecord,
    /// The response, once its head came.
    pub response: Option<ResponseRecord>,
    /// From the start to the response head.
    pub response_head: Option<Duration>,
    /// From the start to the end of the exchange: the end of the response body, the error, or
    /// the visitor leaving. `None` while in flight.
    pub body_end: Option<Duration>,
    /// How it ended, or that it has not.
    pub outcome: Outcome,
    /// The exchange this one replays (the [`ReplayOf`] extension of its request).
    pub replay_of: Option<u64>,
    pub(super) mask: Arc<MaskedHeaders>,
}

/// A body as far as the capture layer saw it: its first bytes and its size.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BodyRecord {
    /// The first [`body_prefix`](super::CaptureConfig::body_prefix) bytes.
    pub prefix: Bytes,
    /// Every data byte that went through, exactly.
    pub size: u64,
    /// The body came to its end (it was not cut off by an error or by its reader leaving).
    pub complete: bool,
    /// There was more than the prefix holds.
    pub truncated: bool,
}

/// The head of a response, and its body as far as the capture layer saw it.
#[derive(Debug, Clone)]
pub struct ResponseRecord {
    /// The status.
    pub status: StatusCode,
    /// The response's HTTP version.
    pub version: Version,
    /// The response headers as they were, unmasked.
    pub headers: Arc<HeaderMap>,
    /// The body's prefix and size.
    pub body: BodyRecord,
}

/// How an exchange ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Not ended yet.
    InFlight,
    /// The response body came to its end.
    Complete,
    /// The inner service or the response body failed; the error's text.
    Error(String),
    /// The visitor left first: the response (or its body) was dropped before its end.
    VisitorGone,
}

/// A request extension saying the request replays exchange `.0`; the store records it as the
/// new exchange's [`replay_of`](Exchange::replay_of).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReplayOf(pub u64);

/// The id of the exchange the capture layer recorded a request as: in the extensions of the
/// request it passes inward and of the response it returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ExchangeId(pub u64);

/// What [`CaptureStore::subscribe`](super::CaptureStore::subscribe) receivers get: which
/// exchange started or finished, by id. A receiver reads the exchanges themselves from the
/// store ([`get`](super::CaptureStore::get), [`snapshots`](super::CaptureStore::snapshots)),
/// so events waiting in the channel hold no exchange and the store's byte bound is the whole
/// story.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CaptureEvent {
    /// A request came (its head was seen).
    Started(u64),
    /// An exchange ended: its response body's end, an error, or its visitor leaving.
    Finished(u64),
}

// === impl Exchange ===

impl Exchange {
    /// The host the request was for: its `Host` header, else its URI's authority.
    pub fn host(&self) -> Option<&str> {
        self.request_headers
            .get(header::HOST)
            .and_then(|host| host.to_str().ok())
            .or_else(|| self.uri.authority().map(|authority| authority.as_str()))
    }

    /// The request's id (`x-request-id`), if it had a readable one when the layer saw it.
    pub fn request_id(&self) -> Option<&str> {
        self.request_headers
            .get(&REQUEST_ID)
            .and_then(|id| id.to_str().ok())
    }

    /// The response status, once the head came.
    pub fn status(&self) -> Option<StatusCode> {
        self.response.as_ref().map(|response| response.status)
    }

    /// The request's `content-type`, if readable.
    pub fn request_content_type(&self) -> Option<&str> {
        content_type(&self.request_headers)
    }

    /// The response's `content-type`, if readable.
    pub fn response_content_type(&self) -> Option<&str> {
        self.response
            .as_ref()
            .and_then(|response| content_type(&response.headers))
    }

    /// The request headers as viewers may see them: masked values are `***`, values that are
    /// not UTF-8 are read lossily. In the order they came, repeated names repeated.
    pub fn masked_request_headers(&self) -> Vec<(String, String)> {
        masked(&self.request_headers, &self.mask)
    }

    /// The response headers as viewers may see them (empty before the head came); see
    /// [`masked_request_headers`](Self::masked_request_headers).
    pub fn masked_response_headers(&self) -> Vec<(String, String)> {
        self.response
            .as_ref()
            .map(|response| masked(&response.headers, &self.mask))
            .unwrap_or_default()
    }

    /// The outcome is an error, or the status is 5xx: what the statistics count as errors.
    pub fn is_error(&self) -> bool {
        matches!(self.outcome, Outcome::Error(_))
            || self.status().is_some_and(|status| status.is_server_error())
    }

    /// From the start to the end of the exchange ([`body_end`](Self::body_end)); `None` while
    /// in flight.
    pub fn duration(&self) -> Option<Duration> {
        self.body_end
    }

    /// Whether it is still in flight.
    pub fn is_in_flight(&self) -> bool {
        self.outcome == Outcome::InFlight
    }
}

fn content_type(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
}

fn masked(headers: &HeaderMap, mask: &MaskedHeaders) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(name, value)| {
            let value = if mask.is_masked(name) {
                String::from("***")
            } else {
                String::from_utf8_lossy(value.as_bytes()).into_owned()
            };
            (name.as_str().to_owned(), value)
        })
        .collect()
}

impl fmt::Debug for Exchange {
    // Without the headers: a debug print must not leak credentials.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Exchange")
            .field("id", &self.id)
            .field("tunnel", &self.tunnel)
            .field("method", &self.method)
            .field("uri", &self.uri)
            .field("status", &self.status())
            .field("request_bytes", &self.request_body.size)
            .field(
                "response_bytes",
                &self.response.as_ref().map(|response| response.body.size),
            )
            .field("outcome", &self.outcome)
            .field("replay_of", &self.replay_of)
            .finish_non_exhaustive()
    }
}

// === impl Outcome ===

impl Outcome {
    /// Its name in the dashboard's JSON: `in_flight`, `complete`, `error` or `visitor_gone`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::InFlight => "in_flight",
            Self::Complete => "complete",
            Self::Error(_) => "error",
            Self::VisitorGone => "visitor_gone",
        }
    }

    /// The error's text, for [`Error`](Self::Error).
    pub fn error(&self) -> Option<&str> {
        match self {
            Self::Error(text) => Some(text),
            Self::InFlight | Self::Complete | Self::VisitorGone => None,
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

// === impl CaptureEvent ===

impl CaptureEvent {
    /// The id of the exchange the event is about.
    pub fn id(self) -> u64 {
        match self {
            Self::Started(id) | Self::Finished(id) => id,
        }
    }
}
