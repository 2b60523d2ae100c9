//! OpenTelemetry traces end to end: real `ferrotunnel server` and `client` processes with
//! `--otlp-endpoint`, an OTLP/HTTP collector inside the test that decodes the real protobuf
//! payloads, and a local service that shows the `traceparent` it received.

mod support;

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    thread,
};

use axum::{Router, body::Bytes, extract::State, routing::post};
use hyper::StatusCode;
use opentelemetry_proto::tonic::{
    collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse},
    common::v1::{AnyValue, KeyValue, any_value::Value},
    trace::v1::span::SpanKind,
};
use prost::Message as _;
use support::{
    process::{Running, start_client, start_server_with_env},
    visitor::{get, local_service},
};

const VISITOR_TRACE: &str = "0af7651916cd43dd8448eb211c80319c";
const VISITOR_SPAN: &str = "b7ad6b7169203331";

/// One span as the collector received it, with its process's `service.name`.
#[derive(Debug, Clone)]
struct Received {
    service: String,
    name: String,
    kind: i32,
    trace_id: String,
    span_id: String,
    parent_span_id: String,
    attributes: Vec<KeyValue>,
}

impl Received {
    fn attribute(&self, key: &str) -> Option<&Value> {
        self.attributes
            .iter()
            .find(|kv| kv.key == key)
            .and_then(|kv| kv.value.as_ref())
            .and_then(|value: &AnyValue| value.value.as_ref())
    }

    fn text(&self, key: &str) -> Option<&str> {
        match self.attribute(key) {
            Some(Value::StringValue(text)) => Some(text),
            _ => None,
        }
    }
}

/// An OTLP/HTTP collector on a loopback port, on a thread and runtime of its own, so that a
/// test blocking on a child process's exit does not stop it from receiving the last spans.
struct Collector {
    addr: SocketAddr,
    spans: Arc<Mutex<Vec<Received>>>,
}

impl Collector {
    fn start() -> Self {
        let spans = Arc::new(Mutex::new(Vec::new()));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("non-blocking");
        let addr = listener.local_addr().expect("addr");
        let app = Router::new()
            .route("/v1/traces", post(export))
            .with_state(spans.clone());
        thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                axum::serve(listener, app).await
            })
        });
        Self { addr, spans }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn spans(&self) -> Vec<Received> {
        self.spans.lock().expect("spans").clone()
    }
}

/// Decodes an `ExportTraceServiceRequest` (the OTLP/HTTP protobuf encoding) and keeps its spans.
async fn export(
    State(spans): State<Arc<Mutex<Vec<Received>>>>,
    body: Bytes,
) -> (StatusCode, [(&'static str, &'static str); 1], Vec<u8>) {
    let request = ExportTraceServiceRequest::decode(body).expect("an OTLP protobuf payload");
    let mut kept = spans.lock().expect("spans");
    for resource_spans in request.resource_spans {
        let service = resource_spans
            .resource
            .iter()
            .flat_map(|resource| &resource.attributes)
            .find(|kv| kv.key == "service.name")
            .and_then(|kv| kv.value.as_ref()?.value.as_ref())
            .map(|value| match value {
                Value::StringValue(name) => name.clone(),
                other => format!("{other:?}"),
            })
            .unwrap_or_default();
        for scope in resource_spans.scope_spans {
            for span in scope.spans {
                kept.push(Received {
                    service: service.clone(),
                    name: span.name,
                    kind: span.kind,
                    trace_id: hex(&span.trace_id),
                    span_id: hex(&span.span_id),
                    parent_span_id: hex(&span.parent_span_id),
                    attributes: span.attributes,
                });
            }
        }
    }
    (
        StatusCode::OK,
        [("content-type", "application/x-protobuf")],
        ExportTraceServiceResponse::default().encode_to_vec(),
    )
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// The one span of `service` named `name` in `trace`.
fn span_of(spans: &[Received], service: &str, name: &str, trace: &str) -> Received {
    let mut matching = spans
        .iter()
        .filter(|span| span.service == service && span.name == name && span.trace_id == trace);
    let span = matching
        .next()
        .unwrap_or_else(|| panic!("no {service} span {name} in trace {trace}: {spans:#?}"));
    assert!(matching.next().is_none(), "one {name} span of {service}");
    span.clone()
}

/// The value of header `name` in the local service's `/headers` answer.
fn header_seen<'a>(body: &'a str, name: &str) -> Option<&'a str> {
    body.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(": "))
}

/// Stops the server, then the client, each gracefully (which exports their last spans). The
/// server first: a byte-splicing client told to stop first waits out its grace period for the
/// server's pooled streams.
fn stop(mut client: Running, mut server: Running) -> (Running, Running) {
    server.send_sigterm();
    assert!(server.wait_exit().success(), "{}", server.stderr());
    client.send_sigterm();
    assert!(client.wait_exit().success(), "{}", client.stderr());
    (client, server)
}

#[tokio::test]
async fn one_trace_runs_from_the_visitor_through_server_and_client_into_the_local_service() {
    let collector = Collector::start();
    let endpoint = collector.url();
    let local = local_service().await;
    // The server named by the standard variable; the client by its default name.
    let (server, server_url, ingress) = start_server_with_env(
        &["--otlp-endpoint", &endpoint],
        &[("OTEL_SERVICE_NAME", "edge-server")],
    );
    let client = start_client(&server_url, local, "app", &["--otlp-endpoint", &endpoint]);
    let host = format!("app.localhost:{}", ingress.port());

    let visitor_parent = format!("00-{VISITOR_TRACE}-{VISITOR_SPAN}-01");
    let continued = get(
        ingress,
        &host,
        "/headers",
        &[
            ("traceparent", &visitor_parent),
            ("tracestate", "vendor=v1"),
        ],
    )
    .await;
    let fresh = get(ingress, &host, "/headers", &[]).await;
    assert_eq!(continued.status, StatusCode::OK);
    assert_eq!(fresh.status, StatusCode::OK);
    stop(client, server);
    let spans = collector.spans();

    // The visitor's trace, continued: its span is the ingress span's parent.
    let ingress_span = span_of(&spans, "edge-server", "GET", VISITOR_TRACE);
    assert_eq!(ingress_span.parent_span_id, VISITOR_SPAN);
    assert_eq!(ingress_span.kind, SpanKind::Server as i32);
    assert_eq!(ingress_span.text("http.request.method"), Some("GET"));
    assert_eq!(ingress_span.text("url.path"), Some("/headers"));
    assert_eq!(ingress_span.text("url.scheme"), Some("http"));
    assert_eq!(ingress_span.text("server.address"), Some("app.localhost"));
    assert_eq!(ingress_span.text("client.address"), Some("127.0.0.1"));
    assert_eq!(ingress_span.text("ferrotunnel.tunnel"), Some("app"));
    assert_eq!(
        ingress_span.attribute("http.response.status_code"),
        Some(&Value::IntValue(200))
    );
    let forward = span_of(&spans, "edge-server", "forward", VISITOR_TRACE);
    assert_eq!(forward.parent_span_id, ingress_span.span_id);
    assert_eq!(forward.kind, SpanKind::Client as i32);
    assert_eq!(forward.text("ferrotunnel.tunnel"), Some("app"));
    let local_call = span_of(&spans, "ferrotunnel-client", "local", VISITOR_TRACE);
    assert_eq!(
        local_call.parent_span_id, forward.span_id,
        "the client's span is the server's child"
    );
    assert_eq!(local_call.kind, SpanKind::Client as i32);
    assert_eq!(local_call.text("ferrotunnel.tunnel"), Some("app"));
    assert_eq!(
        header_seen(&continued.body, "traceparent"),
        Some(format!("00-{VISITOR_TRACE}-{}-01", local_call.span_id).as_str()),
        "the local service's parent is the client's span: {}",
        continued.body
    );
    assert_eq!(
        header_seen(&continued.body, "tracestate"),
        Some("vendor=v1")
    );

    // No traceparent from the visitor: the trace starts at the ingress and still reaches the
    // local service.
    let fresh_parent = header_seen(&fresh.body, "traceparent").expect("a traceparent");
    let trace = fresh_parent.split('-').nth(1).expect("a trace id");
    assert_ne!(trace, VISITOR_TRACE);
    let root = span_of(&spans, "edge-server", "GET", trace);
    assert_eq!(root.parent_span_id, "", "a root span");
    assert_eq!(
        root.text("ferrotunnel.request_id"),
        fresh.headers["x-request-id"].to_str().ok(),
        "the id the ingress gave the request, as the dashboard shows it"
    );
    let forward = span_of(&spans, "edge-server", "forward", trace);
    assert_eq!(forward.parent_span_id, root.span_id);
    let local_call = span_of(&spans, "ferrotunnel-client", "local", trace);
    assert_eq!(local_call.parent_span_id, forward.span_id);
    assert_eq!(
        fresh_parent,
        format!("00-{trace}-{}-01", local_call.span_id)
    );
    assert_eq!(header_seen(&fresh.body, "tracestate"), None);
}

#[tokio::test]
async fn a_collector_that_is_down_or_a_wrong_url_costs_one_warning_and_no_request() {
    // A port nothing listens on: every export is refused.
    let down = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        format!("http://{}", listener.local_addr().expect("addr"))
    };
    let local = local_service().await;
    // Batches every 10 ms, so that the server tries (and fails) more than once.
    let (server, server_url, ingress) = start_server_with_env(
        &["--otlp-endpoint", &down],
        &[("OTEL_BSP_SCHEDULE_DELAY", "10")],
    );
    let client = start_client(
        &server_url,
        local,
        "app",
        &["--otlp-endpoint", "ftp://127.0.0.1:4318"],
    );
    let host = format!("app.localhost:{}", ingress.port());
    for round in 0..2 {
        for _ in 0..10 {
            let answer = get(ingress, &host, "/hello", &[]).await;
            assert_eq!(answer.status, StatusCode::OK, "round {round}: {answer:?}");
            assert_eq!(answer.body, "hello from the local service");
        }
        server.wait_for_stderr("cannot export traces");
    }
    let (client, server) = stop(client, server);

    let server_log = server.stderr();
    assert_eq!(
        server_log.matches("cannot export traces").count(),
        1,
        "one warning, however many batches failed: {server_log}"
    );
    assert!(server_log.contains(&down), "{server_log}");
    let client_log = client.stderr();
    assert_eq!(
        client_log.matches("traces are off").count(),
        1,
        "{client_log}"
    );
    assert!(client_log.contains("http:// or https://"), "{client_log}");
}
