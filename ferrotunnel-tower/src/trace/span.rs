//! The spans of each hop, in the OpenTelemetry HTTP semantic conventions.

use std::fmt::Display;

use ferrotunnel::{client::LocalTarget, server::IngressScheme};
use http::{HeaderMap, HeaderName, Request, Response, Version, header};
use tracing::{Span, field::Empty, info_span};

use super::SPAN_TARGET;
use crate::request::{REQUEST_ID, request_id, standard_method, tunnel_name, visitor_ip};

/// Which hop a layer traces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Hop {
    /// The visitor's request arriving at the server.
    Ingress,
    /// The server sending it over the tunnel to the client.
    Forward,
    /// The client sending it to the local service.
    Local,
}

impl Hop {
    /// A new span for `request` on this hop, with every attribute known before the response.
    /// A forward span is `parent`'s child; the others are roots until the caller sets their
    /// parent from the headers.
    pub(super) fn span<B>(self, request: &Request<B>, parent: Option<&Span>) -> Span {
        let method = standard_method(request.method());
        let path = request.uri().path();
        let request_id = request_id(request);
        match self {
            Self::Ingress => {
                // Every attribute known now is given now: each later `record` is a trip
                // through the subscriber, which costs as much as a dozen fields at creation.
                let scheme = request
                    .extensions()
                    .get::<IngressScheme>()
                    .map_or("http", |scheme| scheme.0);
                let original_method = method.is_none().then(|| request.method().as_str());
                info_span!(
                    target: SPAN_TARGET,
                    parent: None,
                    "request",
                    otel.name = method.unwrap_or("HTTP"),
                    otel.kind = "server",
                    otel.status_code = Empty,
                    otel.status_message = Empty,
                    http.request.method = method.unwrap_or("_OTHER"),
                    http.request.method_original = original_method,
                    url.path = path,
                    url.scheme = scheme,
                    server.address = host(request),
                    network.protocol.version = protocol_version(request.version()),
                    client.address = visitor_ip(request).map(tracing::field::display),
                    user_agent.original = header_str(request.headers(), &header::USER_AGENT),
                    http.response.status_code = Empty,
                    error.type = Empty,
                    ferrotunnel.tunnel = Empty,
                    ferrotunnel.request_id = request_id,
                )
            }
            Self::Forward => {
                let tunnel = tunnel_name(request);
                info_span!(
                    target: SPAN_TARGET,
                    parent: parent.and_then(Span::id),
                    "forward",
                    otel.kind = "client",
                    otel.status_code = Empty,
                    otel.status_message = Empty,
                    http.request.method = method.unwrap_or("_OTHER"),
                    url.path = path,
                    http.response.status_code = Empty,
                    error.type = Empty,
                    ferrotunnel.tunnel = tunnel,
                    ferrotunnel.request_id = request_id,
                )
            }
            Self::Local => {
                let target = request.extensions().get::<LocalTarget>();
                info_span!(
                    target: SPAN_TARGET,
                    parent: None,
                    "local",
                    otel.kind = "client",
                    otel.status_code = Empty,
                    otel.status_message = Empty,
                    http.request.method = method.unwrap_or("_OTHER"),
                    url.path = path,
                    server.address = target.map(|target| &*target.local_addr),
                    http.response.status_code = Empty,
                    error.type = Empty,
                    ferrotunnel.tunnel = target.map(|target| &*target.tunnel),
                    ferrotunnel.request_id = request_id,
                )
            }
        }
    }

    /// Records the response's status; a server span is an error on 5xx, a client span on 4xx
    /// too.
    /// The observe step runs before the ingress sets a request id, which the response carries.
    pub(super) fn answered<B>(self, span: &Span, response: &Response<B>) {
        let status = response.status();
        if self == Self::Ingress {
            if let Some(id) = header_str(response.headers(), &REQUEST_ID) {
                span.record("ferrotunnel.request_id", id);
            }
        }
        span.record("http.response.status_code", i64::from(status.as_u16()));
        let failed = match self {
            Self::Ingress => status.is_server_error(),
            Self::Forward | Self::Local => status.is_client_error() || status.is_server_error(),
        };
        if failed {
            span.record("error.type", status.as_str());
            span.record("otel.status_code", "ERROR");
        }
    }
}

/// Records that no response came, or that its body failed, with why.
pub(super) fn failed(span: &Span, err: &dyn Display) {
    span.record("error.type", "_OTHER");
    span.record("otel.status_code", "ERROR");
    span.record("otel.status_message", tracing::field::display(err));
}

fn protocol_version(version: Version) -> &'static str {
    match version {
        Version::HTTP_09 => "0.9",
        Version::HTTP_10 => "1.0",
        Version::HTTP_2 => "2",
        Version::HTTP_3 => "3",
        _ => "1.1",
    }
}

fn header_str<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<&'a str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

/// The host the visitor asked for, without its port.
fn host<B>(request: &Request<B>) -> Option<&str> {
    let host = request
        .uri()
        .host()
        .or_else(|| header_str(request.headers(), &header::HOST))?;
    if host.starts_with('[') {
        // An IPv6 literal: `[::1]:8080`.
        return Some(host.split_once(']').map_or(host, |(ip, _)| &ip[1..]));
    }
    Some(host.split_once(':').map_or(host, |(name, _)| name))
}
