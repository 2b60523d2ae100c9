//! Captured exchanges as the API shows them (see the crate docs for the JSON shapes). Masked
//! headers are masked here: nothing the API sends carries a secret.

use base64::Engine;
use ferrotunnel_tower::capture::{BodyRecord, Exchange};
use http::{HeaderMap, Version, header};
use serde::Serialize;

use std::{fmt, net::SocketAddr};

use crate::time::{Rfc3339Millis, millis};

mod json;

/// A list item, and the data of the `exchange_started` / `exchange_finished` events. It
/// borrows from its exchange: the event stream writes one per exchange event, so building it
/// allocates nothing.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ExchangeSummary<'a> {
    id: u64,
    tunnel: Option<&'a str>,
    visitor: Option<Visitor>,
    method: &'a str,
    uri: &'a str,
    host: Option<&'a str>,
    http_version: &'static str,
    status: Option<u16>,
    started_at: Rfc3339Millis,
    duration_ms: Option<f64>,
    response_head_ms: Option<f64>,
    request_bytes: u64,
    response_bytes: u64,
    outcome: &'static str,
    error: Option<&'a str>,
    replay_of: Option<u64>,
    request_content_type: Option<&'a str>,
    response_content_type: Option<&'a str>,
}

impl<'a> ExchangeSummary<'a> {
    pub(crate) fn new(exchange: &'a Exchange) -> Self {
        let response = exchange.response.as_ref();
        Self {
            id: exchange.id,
            tunnel: exchange.tunnel.as_deref(),
            visitor: exchange.visitor.map(Visitor),
            method: exchange.method.as_str(),
            uri: path_and_query_str(exchange),
            host: exchange.host(),
            http_version: version(exchange.version),
            status: response.map(|r| r.status.as_u16()),
            started_at: Rfc3339Millis(exchange.started_at),
            duration_ms: exchange.body_end.map(millis),
            response_head_ms: exchange.response_head.map(millis),
            request_bytes: exchange.request_body.size,
            response_bytes: response.map_or(0, |r| r.body.size),
            outcome: exchange.outcome.as_str(),
            error: exchange.outcome.error(),
            replay_of: exchange.replay_of,
            request_content_type: exchange.request_content_type(),
            response_content_type: exchange.response_content_type(),
        }
    }
}

/// A visitor's address as the API writes it: `IP:port`, or the IP alone when the port is
/// unknown (0: a client's inspector knows the visitor's IP only).
#[derive(Debug, Clone, Copy)]
struct Visitor(SocketAddr);

impl fmt::Display for Visitor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.port() == 0 {
            self.0.ip().fmt(f)
        } else {
            self.0.fmt(f)
        }
    }
}

impl Serialize for Visitor {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// `GET /api/requests/{id}`: everything captured.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ExchangeDetail<'a> {
    #[serde(flatten)]
    summary: ExchangeSummary<'a>,
    request: RequestView,
    response: Option<ResponseView>,
    timings: Timings,
    can_replay: bool,
    curl: String,
}

#[derive(Debug, Clone, Serialize)]
struct RequestView {
    headers: Vec<(String, String)>,
    body: BodyView,
}

#[derive(Debug, Clone, Serialize)]
struct ResponseView {
    status: u16,
    reason: &'static str,
    headers: Vec<(String, String)>,
    body: BodyView,
}

#[derive(Debug, Clone, Serialize)]
struct Timings {
    response_head_ms: Option<f64>,
    body_end_ms: Option<f64>,
}

/// A captured body: its prefix as text when it is UTF-8, else base64.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct BodyView {
    pub(crate) encoding: &'static str,
    pub(crate) data: String,
    pub(crate) size: u64,
    pub(crate) truncated: bool,
    pub(crate) content_type: Option<String>,
}

impl BodyView {
    pub(crate) fn new(body: &BodyRecord, headers: &HeaderMap) -> Self {
        let (encoding, data) = match std::str::from_utf8(&body.prefix) {
            Ok(text) => ("utf8", text.to_owned()),
            Err(_) => (
                "base64",
                base64::engine::general_purpose::STANDARD.encode(&body.prefix),
            ),
        };
        Self {
            encoding,
            data,
            size: body.size,
            truncated: body.truncated,
            content_type: content_type(headers),
        }
    }
}

impl<'a> ExchangeDetail<'a> {
    pub(crate) fn new(exchange: &'a Exchange) -> Self {
        let summary = ExchangeSummary::new(exchange);
        let response = exchange.response.as_ref().map(|r| ResponseView {
            status: r.status.as_u16(),
            reason: r.status.canonical_reason().unwrap_or(""),
            headers: exchange.masked_response_headers(),
            body: BodyView::new(&r.body, &r.headers),
        });
        Self {
            request: RequestView {
                headers: exchange.masked_request_headers(),
                body: BodyView::new(&exchange.request_body, &exchange.request_headers),
            },
            response,
            timings: Timings {
                response_head_ms: summary.response_head_ms,
                body_end_ms: summary.duration_ms,
            },
            can_replay: replayable(exchange).is_ok(),
            curl: curl(exchange),
            summary,
        }
    }
}

/// Whether the exchange can be replayed as it was: its whole request body must have been
/// captured. The error says why not.
pub(crate) fn replayable(exchange: &Exchange) -> Result<(), String> {
    let body = &exchange.request_body;
    if !body.complete {
        return Err(format!(
            "request #{} cannot be replayed as it was: its body had not ended when it was captured",
            exchange.id
        ));
    }
    if body.truncated {
        return Err(format!(
            "request #{} cannot be replayed as it was: only the first {} of its {} body bytes were captured; \
             replay it with a body of your own",
            exchange.id,
            body.prefix.len(),
            body.size
        ));
    }
    Ok(())
}

/// The path and query the local service got.
pub(crate) fn path_and_query(exchange: &Exchange) -> String {
    path_and_query_str(exchange).to_owned()
}

fn path_and_query_str(exchange: &Exchange) -> &str {
    exchange
        .uri
        .path_and_query()
        .map_or("/", |path| path.as_str())
}

/// The URL the visitor asked for, as best known: `http://<host><path>`.
pub(crate) fn url(exchange: &Exchange) -> String {
    let host = exchange.host().unwrap_or("localhost");
    let scheme = exchange.uri.scheme_str().unwrap_or("http");
    format!("{scheme}://{host}{}", path_and_query(exchange))
}

pub(crate) fn version(version: Version) -> &'static str {
    match version {
        Version::HTTP_09 => "HTTP/0.9",
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_2 => "HTTP/2",
        Version::HTTP_3 => "HTTP/3",
        _ => "HTTP/1.1",
    }
}

pub(crate) fn content_type(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::CONTENT_TYPE)
        .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
}

/// The request as a `curl` command line, masked headers masked, every value single-quoted for
/// a POSIX shell.
pub(crate) fn curl(exchange: &Exchange) -> String {
    let mut line = String::from("curl");
    if exchange.method != http::Method::GET {
        line.push_str(" -X ");
        line.push_str(exchange.method.as_str());
    }
    line.push(' ');
    line.push_str(&shell_quote(&url(exchange)));
    for (name, value) in exchange.masked_request_headers() {
        if name == "host" || name == "content-length" {
            continue;
        }
        line.push_str(" -H ");
        line.push_str(&shell_quote(&format!("{name}: {value}")));
    }
    let body = &exchange.request_body;
    if body.size > 0 {
        match std::str::from_utf8(&body.prefix) {
            Ok(text) => {
                line.push_str(" --data-raw ");
                line.push_str(&shell_quote(text));
            }
            Err(_) => line.push_str(" --data-binary @body.bin"),
        }
    }
    line
}

fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}
