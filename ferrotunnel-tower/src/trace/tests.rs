//! The layers alone, with an OpenTelemetry layer exporting into memory, subscribed for the
//! test's thread (the tests run on a current-thread runtime). The end-to-end test, with real
//! processes and an OTLP receiver, is `ferrotunnel-cli/tests/traces.rs`.

use std::{
    convert::Infallible,
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use bytes::Bytes;
use ferrotunnel::{
    TunnelBody,
    client::LocalTarget,
    server::{VisitorAddr, into_tunnel_body},
};
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use opentelemetry::{
    Value,
    trace::{SpanId, SpanKind, Status, TraceId, TracerProvider as _},
};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use tower::{Layer, ServiceBuilder, ServiceExt, service_fn, util::BoxCloneSyncService};
use tracing_subscriber::layer::SubscriberExt as _;

use super::TraceLayer;

const VISITOR_TRACE: &str = "0af7651916cd43dd8448eb211c80319c";
const VISITOR_SPAN: &str = "b7ad6b7169203331";

/// Spans exported into memory while the guard lives.
struct Exported {
    exporter: InMemorySpanExporter,
    provider: SdkTracerProvider,
    _guard: tracing::subscriber::DefaultGuard,
}

impl Exported {
    fn start() -> Self {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
        Self {
            exporter,
            provider,
            _guard: tracing::subscriber::set_default(subscriber),
        }
    }

    fn spans(&self) -> Vec<SpanData> {
        self.provider.force_flush().expect("flush");
        self.exporter.get_finished_spans().expect("spans")
    }

    fn named(&self, name: &str) -> SpanData {
        let spans = self.spans();
        let mut matching = spans.iter().filter(|span| span.name == name);
        let span = matching
            .next()
            .unwrap_or_else(|| panic!("no {name} span in {spans:?}"));
        assert!(matching.next().is_none(), "one {name} span");
        span.clone()
    }
}

fn attribute(span: &SpanData, key: &str) -> Option<Value> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.clone())
}

fn text(span: &SpanData, key: &str) -> Option<String> {
    attribute(span, key).map(|value| value.to_string())
}

/// The headers the local service received.
type Seen = Arc<Mutex<Option<HeaderMap>>>;

type LocalService = BoxCloneSyncService<Request<TunnelBody>, Response<TunnelBody>, Infallible>;

/// A local service that keeps the headers it received and answers `status`.
fn local_service(status: StatusCode) -> (Seen, LocalService) {
    let seen = Arc::new(Mutex::new(None));
    let keep = seen.clone();
    let service = service_fn(move |request: Request<TunnelBody>| {
        *keep.lock().expect("lock") = Some(request.headers().clone());
        let mut response = Response::new(into_tunnel_body(Full::new(Bytes::from_static(b"ok"))));
        *response.status_mut() = status;
        async move { Ok::<_, Infallible>(response) }
    });
    (seen, LocalService::new(service))
}

fn visitor_request(traceparent: Option<&str>) -> Request<TunnelBody> {
    let mut builder = Request::get("/orders/7?secret=1")
        .header("host", "app.example.com:8080")
        .header("user-agent", "curl/8.5")
        .header("x-request-id", "req-1");
    if let Some(traceparent) = traceparent {
        builder = builder
            .header("traceparent", traceparent)
            .header("tracestate", "vendor=v1");
    }
    let mut request = builder
        .body(into_tunnel_body(Full::new(Bytes::new())))
        .expect("request");
    request
        .extensions_mut()
        .insert(VisitorAddr(SocketAddr::from(([192, 0, 2, 7], 50_000))));
    request
}

async fn drain(response: Response<impl http_body::Body<Error = impl std::fmt::Debug>>) {
    response.into_body().collect().await.expect("body");
}

#[tokio::test]
async fn the_ingress_continues_the_visitors_trace_and_the_forward_sends_its_own_span_on() {
    let exported = Exported::start();
    let (seen, local) = local_service(StatusCode::OK);
    let server = ServiceBuilder::new()
        .layer(TraceLayer::ingress())
        .layer(TraceLayer::forward())
        .service(local);
    let visitor = format!("00-{VISITOR_TRACE}-{VISITOR_SPAN}-01");
    let response = server
        .oneshot(visitor_request(Some(&visitor)))
        .await
        .expect("infallible");
    assert_eq!(exported.spans().len(), 0, "no span ends before its body");
    drain(response).await;

    let ingress = exported.named("GET");
    let forward = exported.named("forward");
    let trace = TraceId::from_hex(VISITOR_TRACE).expect("trace id");
    assert_eq!(
        ingress.span_context.trace_id(),
        trace,
        "the visitor's trace"
    );
    assert_eq!(
        ingress.parent_span_id,
        SpanId::from_hex(VISITOR_SPAN).expect("span id")
    );
    assert_eq!(ingress.span_kind, SpanKind::Server);
    for (key, value) in [
        ("http.request.method", "GET"),
        ("url.path", "/orders/7"),
        ("url.scheme", "http"),
        ("server.address", "app.example.com"),
        ("client.address", "192.0.2.7"),
        ("user_agent.original", "curl/8.5"),
        ("network.protocol.version", "1.1"),
        ("ferrotunnel.request_id", "req-1"),
    ] {
        assert_eq!(text(&ingress, key).as_deref(), Some(value), "{key}");
    }
    assert_eq!(
        attribute(&ingress, "http.response.status_code"),
        Some(Value::I64(200))
    );
    assert!(
        !ingress
            .attributes
            .iter()
            .any(|kv| kv.value.to_string().contains("secret")),
        "no query string: {:?}",
        ingress.attributes
    );
    assert_eq!(ingress.status, Status::Unset);

    assert_eq!(forward.span_context.trace_id(), trace);
    assert_eq!(forward.parent_span_id, ingress.span_context.span_id());
    assert_eq!(forward.span_kind, SpanKind::Client);

    let headers = seen
        .lock()
        .expect("lock")
        .take()
        .expect("a request arrived");
    assert_eq!(
        headers["traceparent"],
        format!("00-{VISITOR_TRACE}-{}-01", forward.span_context.span_id()).as_str(),
        "the local service's parent is the forward span"
    );
    assert_eq!(
        headers["tracestate"], "vendor=v1",
        "the visitor's tracestate goes on"
    );
}

#[tokio::test]
async fn without_a_visitor_traceparent_a_trace_starts_here_and_5xx_is_an_error() {
    let exported = Exported::start();
    let (seen, local) = local_service(StatusCode::BAD_GATEWAY);
    let server = ServiceBuilder::new()
        .layer(TraceLayer::ingress())
        .layer(TraceLayer::forward())
        .service(local);
    let response = server
        .oneshot(visitor_request(None))
        .await
        .expect("infallible");
    drain(response).await;

    let ingress = exported.named("GET");
    let forward = exported.named("forward");
    assert_eq!(ingress.parent_span_id, SpanId::INVALID, "a root span");
    assert!(matches!(ingress.status, Status::Error { .. }));
    assert_eq!(text(&ingress, "error.type").as_deref(), Some("502"));
    assert!(matches!(forward.status, Status::Error { .. }));
    let headers = seen
        .lock()
        .expect("lock")
        .take()
        .expect("a request arrived");
    let traceparent = headers["traceparent"].to_str().expect("text");
    assert!(
        traceparent.starts_with(&format!("00-{}-", ingress.span_context.trace_id())),
        "{traceparent}"
    );
    assert!(headers.get("tracestate").is_none(), "no empty tracestate");
}

#[tokio::test]
async fn the_clients_span_is_a_child_of_the_servers_and_the_parent_of_the_local_services() {
    let exported = Exported::start();
    let (seen, local) = local_service(StatusCode::OK);
    let client = TraceLayer::local().layer(local);
    let server_forward = "5b8efff798038103d269b633813fc60c";
    let mut request = visitor_request(Some(&format!("00-{server_forward}-eee19b7ec3c1b174-01")));
    request
        .extensions_mut()
        .insert(LocalTarget::new("app", "127.0.0.1:3000"));
    drain(client.oneshot(request).await.expect("infallible")).await;

    let local_call = exported.named("local");
    assert_eq!(
        local_call.span_context.trace_id(),
        TraceId::from_hex(server_forward).expect("trace id")
    );
    assert_eq!(
        local_call.parent_span_id,
        SpanId::from_hex("eee19b7ec3c1b174").expect("span id")
    );
    assert_eq!(
        text(&local_call, "ferrotunnel.tunnel").as_deref(),
        Some("app")
    );
    assert_eq!(
        text(&local_call, "server.address").as_deref(),
        Some("127.0.0.1:3000")
    );
    let headers = seen
        .lock()
        .expect("lock")
        .take()
        .expect("a request arrived");
    assert_eq!(
        headers["traceparent"],
        format!(
            "00-{server_forward}-{}-01",
            local_call.span_context.span_id()
        )
        .as_str()
    );
}

#[tokio::test]
async fn without_opentelemetry_in_the_subscriber_headers_go_through_untouched() {
    let (seen, local) = local_service(StatusCode::OK);
    let server = ServiceBuilder::new()
        .layer(TraceLayer::ingress())
        .layer(TraceLayer::forward())
        .service(local);
    let visitor = format!("00-{VISITOR_TRACE}-{VISITOR_SPAN}-01");
    drain(
        server
            .oneshot(visitor_request(Some(&visitor)))
            .await
            .expect("infallible"),
    )
    .await;
    let headers = seen
        .lock()
        .expect("lock")
        .take()
        .expect("a request arrived");
    assert_eq!(headers["traceparent"], visitor.as_str());
    assert_eq!(headers["tracestate"], "vendor=v1");
}
