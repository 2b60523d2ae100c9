use std::net::SocketAddr;

use ferrotunnel::{BoxError, server::VisitorAddr};
use http::{HeaderMap, Request, Response, StatusCode};
use tower::{ServiceBuilder, ServiceExt};

use super::*;

fn name(text: &str) -> EditableHeader {
    text.parse().expect("header name")
}

fn value(text: &str) -> HeaderTemplate {
    text.parse().expect("template")
}

/// Values of `name` in `headers`, in order.
fn values(headers: &HeaderMap, name: &str) -> Vec<String> {
    headers
        .get_all(name)
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .collect()
}

/// A request from 192.0.2.7:50312 with these headers.
fn request(headers: &[(&str, &str)]) -> Request<String> {
    let mut builder = Request::builder().uri("/");
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let mut request = builder.body(String::new()).expect("request");
    request
        .extensions_mut()
        .insert(VisitorAddr(SocketAddr::from(([192, 0, 2, 7], 50312))));
    request
}

/// Runs `request` through `layer` to a local service that answers with the request headers it
/// saw and the `response` headers.
async fn run(
    layer: HeadersLayer,
    request: Request<String>,
    response: &[(&str, &str)],
) -> (HeaderMap, HeaderMap) {
    let response: Vec<(String, String)> = response
        .iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect();
    let (tx, rx) = std::sync::mpsc::channel();
    let answer = ServiceBuilder::new()
        .layer(layer)
        .service_fn(move |request: Request<String>| {
            let _ = tx.send(request.headers().clone());
            let mut builder = Response::builder();
            for (name, value) in &response {
                builder = builder.header(name, value);
            }
            let answer = builder.body(String::new()).map_err(BoxError::from);
            async move { answer }
        })
        .oneshot(request)
        .await
        .expect("response");
    (
        rx.recv().expect("the local service saw the request"),
        answer.headers().clone(),
    )
}

#[tokio::test]
async fn add_keeps_the_values_set_replaces_them_remove_removes_them_all() {
    let layer = HeadersLayer::new()
        .add_request(name("x-add"), value("new"))
        .set_request(name("x-set"), value("new"))
        .remove_request(name("x-remove"));
    let (seen, _) = run(
        layer,
        request(&[
            ("x-add", "a"),
            ("x-add", "b"),
            ("x-set", "a"),
            ("x-set", "b"),
            ("x-remove", "a"),
            ("x-remove", "b"),
            ("x-other", "kept"),
        ]),
        &[],
    )
    .await;
    assert_eq!(values(&seen, "x-add"), ["a", "b", "new"]);
    assert_eq!(values(&seen, "x-set"), ["new"]);
    assert!(values(&seen, "x-remove").is_empty());
    assert_eq!(values(&seen, "x-other"), ["kept"]);
}

#[tokio::test]
async fn rules_apply_in_the_order_they_were_added() {
    let layer = HeadersLayer::new()
        .add_request(name("x-a"), value("1"))
        .remove_request(name("x-a"))
        .add_request(name("x-a"), value("2"))
        .set_request(name("x-b"), value("1"))
        .add_request(name("x-b"), value("2"))
        .remove_response(name("x-c"))
        .add_response(name("x-c"), value("3"));
    let (seen, answered) = run(layer, request(&[]), &[("x-c", "from the service")]).await;
    assert_eq!(values(&seen, "x-a"), ["2"]);
    assert_eq!(values(&seen, "x-b"), ["1", "2"]);
    assert_eq!(values(&answered, "x-c"), ["3"]);
}

#[tokio::test]
async fn response_rules_change_the_responses() {
    let layer = HeadersLayer::new()
        .add_response(name("x-add"), value("new"))
        .set_response(name("x-set"), value("new"))
        .remove_response(name("server"));
    let (seen, answered) = run(
        layer,
        request(&[("x-set", "request")]),
        &[
            ("x-add", "a"),
            ("x-set", "a"),
            ("x-set", "b"),
            ("server", "local"),
        ],
    )
    .await;
    assert_eq!(values(&seen, "x-set"), ["request"], "requests untouched");
    assert_eq!(values(&answered, "x-add"), ["a", "new"]);
    assert_eq!(values(&answered, "x-set"), ["new"]);
    assert!(answered.get("server").is_none());
}

#[tokio::test]
async fn response_rules_apply_to_the_refusals_of_inner_layers() {
    // An inner layer's refusal is, to this layer, a response like any other.
    let service = ServiceBuilder::new()
        .layer(HeadersLayer::new().set_response(name("x-served-by"), value("ferrotunnel")))
        .layer(crate::CircuitBreakerLayer::new().failures(1))
        .service_fn(|_: Request<String>| async {
            Ok::<_, BoxError>(
                Response::builder()
                    .status(StatusCode::INTERNAL_SERVER_ERROR)
                    .body(String::new())?,
            )
        });
    let failed = service.clone().oneshot(request(&[])).await.expect("500");
    assert_eq!(failed.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(failed.headers()["x-served-by"], "ferrotunnel");
    let refused = service.oneshot(request(&[])).await.expect("503");
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(refused.headers()["x-served-by"], "ferrotunnel");
}

#[tokio::test]
async fn errors_pass_through_untouched() {
    let result = ServiceBuilder::new()
        .layer(HeadersLayer::new().set_response(name("x-a"), value("${visitor_ip}")))
        .service_fn(|_: Request<String>| async {
            Err::<Response<String>, BoxError>("the local service is down".into())
        })
        .oneshot(request(&[]))
        .await;
    let err = result.expect_err("the inner error comes back");
    assert_eq!(err.to_string(), "the local service is down");
}

#[tokio::test]
async fn placeholders_take_the_requests_values() {
    let layer = HeadersLayer::new().set_request(
        name("x-all"),
        value("ip=${visitor_ip} addr=${visitor_addr} id=${request_id} host=${host} $$5"),
    );
    let (seen, _) = run(
        layer,
        request(&[("x-request-id", "req-1"), ("host", "app.example.com")]),
        &[],
    )
    .await;
    assert_eq!(
        values(&seen, "x-all"),
        ["ip=192.0.2.7 addr=192.0.2.7:50312 id=req-1 host=app.example.com $5"]
    );
}

#[tokio::test]
async fn missing_values_are_empty_text() {
    // Outside FerroTunnel there is no tunnel; this request has no id and no address either.
    let layer = HeadersLayer::new().set_request(
        name("x-t"),
        value("[${tunnel}|${request_id}|${visitor_ip}|${host}]"),
    );
    let mut bare = Request::new(String::new());
    *bare.uri_mut() = "/".parse().expect("uri");
    let (seen, _) = run(layer, bare, &[]).await;
    assert_eq!(values(&seen, "x-t"), ["[|||]"]);
}

#[tokio::test]
async fn the_host_comes_from_the_uri_for_http2_visitors() {
    let layer = HeadersLayer::new().set_request(name("x-h"), value("${host}"));
    let mut h2 = request(&[]);
    *h2.uri_mut() = "https://app.example.com:8443/x".parse().expect("uri");
    let (seen, _) = run(layer, h2, &[]).await;
    assert_eq!(values(&seen, "x-h"), ["app.example.com:8443"]);
}

#[tokio::test]
async fn mapped_ipv4_visitors_are_written_as_ipv4() {
    let layer = HeadersLayer::new()
        .set_request(name("x-ip"), value("${visitor_ip}"))
        .set_request(name("x-addr"), value("${visitor_addr}"));
    let mut mapped = request(&[]);
    let ip: std::net::IpAddr = "::ffff:192.0.2.9".parse().expect("ip");
    mapped
        .extensions_mut()
        .insert(VisitorAddr(SocketAddr::new(ip, 7)));
    let (seen, _) = run(layer, mapped, &[]).await;
    assert_eq!(values(&seen, "x-ip"), ["192.0.2.9"]);
    assert_eq!(values(&seen, "x-addr"), ["192.0.2.9:7"]);
}

#[tokio::test]
async fn a_request_rule_sees_what_earlier_rules_did() {
    let layer = HeadersLayer::new()
        .set_request(name("x-request-id"), value("set-by-rule"))
        .set_request(name("x-copy"), value("${request_id}"));
    let (seen, _) = run(layer, request(&[("x-request-id", "original")]), &[]).await;
    assert_eq!(values(&seen, "x-copy"), ["set-by-rule"]);
}

#[tokio::test]
async fn response_values_come_from_the_request() {
    let layer = HeadersLayer::new().set_response(
        name("x-for"),
        value("${visitor_addr} asked ${host} (${request_id})"),
    );
    // The response carries its own x-request-id and host: the request's win.
    let (_, answered) = run(
        layer,
        request(&[("x-request-id", "req-7"), ("host", "app.example.com")]),
        &[("x-request-id", "other"), ("host", "elsewhere")],
    )
    .await;
    assert_eq!(
        values(&answered, "x-for"),
        ["192.0.2.7:50312 asked app.example.com (req-7)"]
    );
}

#[tokio::test]
async fn response_values_are_captured_when_the_request_passes() {
    // The request rules run first: the response sees the request as it was passed on.
    let layer = HeadersLayer::new()
        .set_request(name("x-request-id"), value("from-the-rule"))
        .set_response(name("x-id"), value("${request_id}"));
    let (_, answered) = run(layer, request(&[("x-request-id", "original")]), &[]).await;
    assert_eq!(values(&answered, "x-id"), ["from-the-rule"]);
}

#[test]
fn literal_values_are_made_once() {
    assert!(value("prod").is_literal());
    assert!(value("costs $$5").is_literal());
    assert!(value("").is_literal());
    assert!(!value("${tunnel}").is_literal());
}

#[test]
fn the_layer_shows_its_rules() {
    let layer = HeadersLayer::new()
        .add_request(name("X-Env"), value("prod"))
        .remove_request(name("x-debug"))
        .set_response(name("x-visitor"), value("${visitor_ip}"));
    assert_eq!(
        format!("{layer:?}"),
        "HeadersLayer { request: [add x-env: prod, remove x-debug], \
         response: [set x-visitor: ${visitor_ip}] }"
    );
    let service = tower::Layer::layer(&layer.clone(), "inner");
    assert!(format!("{service:?}").starts_with("Headers { inner: \"inner\""));
}

#[test]
fn the_layer_fits_a_ferrotunnel_server() {
    // `ServerBuilder::layer` needs a Clone + Send + Sync service with a Send future.
    fn assert_fits<L>(_: &L)
    where
        L: tower::Layer<ferrotunnel::server::HttpService>,
        L::Service:
            tower::Service<Request<ferrotunnel::TunnelBody>> + Clone + Send + Sync + 'static,
        <L::Service as tower::Service<Request<ferrotunnel::TunnelBody>>>::Future: Send + 'static,
    {
    }
    let layer = HeadersLayer::new().set_response(name("x-a"), value("${tunnel}"));
    assert_fits(&layer);
    let _ = ferrotunnel::Server::builder().layer(layer);
}
