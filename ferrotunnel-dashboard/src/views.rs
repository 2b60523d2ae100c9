//! Captured exchanges as the API shows them (see the crate docs for the JSON shapes). Masked
//! headers are masked here: nothing the API sends carries a secret.

use base64::Engine;
use ferrotunnel_tower::capture::{BodyRecord, Exchange};
use http::{HeaderMap, Version, header};
use serde::Serialize;

use crate::time::{millis, rfc3339_millis};

/// A list item, and the data of the `exchange_started` / `exchange_finished` events.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ExchangeSummary {
    id: u64,
    tunnel: Option<String>,
    visitor: Option<String>,
    method: String,
    uri: String,
    host: Option<String>,
    http_version: &'static str,
    status: Option<u16>,
    started_at: String,
    duration_ms: Option<f64>,
    response_head_ms: Option<f64>,
    request_bytes: u64,
    response_bytes: u64,
    outcome: &'static str,
    error: Option<String>,
    replay_of: Option<u64>,
    request_content_type: Option<String>,
    response_content_type: Option<String>,
}

impl ExchangeSummary {
    pub(crate) fn new(exchange: &Exchange) -> Self {
        let response = exchange.response.as_ref();
        Self {
            id: exchange.id,
            tunnel: exchange.tunnel.as_deref().map(str::to_owned),
            visitor: exchange.visitor.map(|addr| {
                // A client's inspector knows the visitor's IP only.
                if addr.port() == 0 {
                    addr.ip().to_string()
                } else {
                    addr.to_string()
                }
            }),
            method: exchange.method.to_string(),
            uri: path_and_query(exchange),
            host: exchange.host().map(str::to_owned),
            http_version: version(exchange.version),
            status: response.map(|r| r.status.as_u16()),
            started_at: rfc3339_millis(exchange.started_at),
            duration_ms: exchange.body_end.map(millis),
            response_head_ms: exchange.response_head.map(millis),
            request_bytes: exchange.request_body.size,
            response_bytes: response.map_or(0, |r| r.body.size),
            outcome: exchange.outcome.as_str(),
            error: exchange.outcome.error().map(str::to_owned),
            replay_of: exchange.replay_of,
            request_content_type: exchange.request_content_type().map(str::to_owned),
            response_content_type: exchange.response_content_type().map(str::to_owned),
        }
    }
}

/// `GET /api/requests/{id}`: everything captured.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ExchangeDetail {
    #[serde(flatten)]
    summary: ExchangeSummary,
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

impl ExchangeDetail {
    pub(crate) fn new(exchange: &Exchange) -> Self {
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
    exchange
        .uri
        .path_and_query()
        .map_or_else(|| "/".to_owned(), ToString::to_string)
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
