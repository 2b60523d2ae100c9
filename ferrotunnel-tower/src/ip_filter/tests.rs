use std::{
    net::{IpAddr, SocketAddr},
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
};

use ferrotunnel::{BoxError, TunnelBody, server::VisitorAddr};
use http::{Request, Response, StatusCode, header};
use http_body_util::BodyExt;
use tower::{ServiceBuilder, ServiceExt};

use super::*;
use crate::ResponseBody;

fn cidr(text: &str) -> Cidr {
    text.parse().unwrap_or_else(|err| panic!("{text}: {err}"))
}

fn from(visitor: &str) -> Request<TunnelBody> {
    let ip: IpAddr = visitor.parse().expect("visitor address");
    let mut request = Request::new(TunnelBody::default());
    request
        .extensions_mut()
        .insert(VisitorAddr(SocketAddr::new(ip, 40_000)));
    request
}

async fn text(response: Response<ResponseBody<TunnelBody>>) -> String {
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    String::from_utf8(bytes.to_vec()).expect("utf-8")
}

/// Sends `request` through `layer` in front of a handler that counts its calls.
async fn run(
    layer: IpFilterLayer,
    request: Request<TunnelBody>,
) -> (Response<ResponseBody<TunnelBody>>, usize) {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let response = ServiceBuilder::new()
        .layer(layer)
        .service_fn(move |_: Request<TunnelBody>| {
            counter.fetch_add(1, Ordering::SeqCst);
            async { Ok::<_, BoxError>(Response::new(TunnelBody::default())) }
        })
        .oneshot(request)
        .await
        .expect("the filter answers");
    (response, calls.load(Ordering::SeqCst))
}

/// The status and inner-call count for a visitor at `visitor`.
async fn verdict(layer: &IpFilterLayer, visitor: &str) -> (StatusCode, usize) {
    let (response, calls) = run(layer.clone(), from(visitor)).await;
    (response.status(), calls)
}

const PASSED: (StatusCode, usize) = (StatusCode::OK, 1);
const REFUSED: (StatusCode, usize) = (StatusCode::FORBIDDEN, 0);

#[tokio::test]
async fn without_rules_every_known_visitor_passes() {
    let layer = IpFilterLayer::new();
    assert_eq!(verdict(&layer, "192.0.2.7").await, PASSED);
    assert_eq!(verdict(&layer, "2001:db8::7").await, PASSED);
}

#[tokio::test]
async fn an_allow_list_lets_in_only_its_blocks() {
    let layer = IpFilterLayer::new()
        .allow(cidr("10.0.0.0/8"))
        .allow(cidr("192.0.2.7"));
    assert_eq!(verdict(&layer, "10.200.0.1").await, PASSED);
    assert_eq!(verdict(&layer, "192.0.2.7").await, PASSED);
    assert_eq!(verdict(&layer, "192.0.2.8").await, REFUSED);
    assert_eq!(verdict(&layer, "11.0.0.1").await, REFUSED);
    assert_eq!(verdict(&layer, "2001:db8::7").await, REFUSED);
}

#[tokio::test]
async fn deny_wins_over_allow() {
    let layer = IpFilterLayer::new()
        .allow(cidr("10.0.0.0/8"))
        .deny(cidr("10.0.0.0/24"));
    assert_eq!(verdict(&layer, "10.0.1.1").await, PASSED);
    assert_eq!(verdict(&layer, "10.0.0.9").await, REFUSED);
}

#[tokio::test]
async fn a_deny_list_alone_lets_in_everyone_else() {
    let layer = IpFilterLayer::new().deny_all([cidr("198.51.100.0/24"), cidr("2001:db8::/32")]);
    assert_eq!(verdict(&layer, "198.51.100.4").await, REFUSED);
    assert_eq!(verdict(&layer, "2001:db8:ff::1").await, REFUSED);
    assert_eq!(verdict(&layer, "198.51.101.4").await, PASSED);
    assert_eq!(verdict(&layer, "2001:db9::1").await, PASSED);
}

#[tokio::test]
async fn ipv6_blocks_match_ipv6_visitors() {
    let layer = IpFilterLayer::new().allow_all([cidr("2001:db8::/32"), cidr("::1")]);
    assert_eq!(verdict(&layer, "2001:db8:1:2::3").await, PASSED);
    assert_eq!(verdict(&layer, "::1").await, PASSED);
    assert_eq!(verdict(&layer, "2001:db9::1").await, REFUSED);
    assert_eq!(verdict(&layer, "127.0.0.1").await, REFUSED);
}

#[tokio::test]
async fn mapped_ipv4_visitors_count_as_ipv4() {
    let layer = IpFilterLayer::new()
        .allow(cidr("192.0.2.0/24"))
        .deny(cidr("192.0.2.66"));
    assert_eq!(verdict(&layer, "::ffff:192.0.2.7").await, PASSED);
    assert_eq!(verdict(&layer, "::ffff:192.0.2.66").await, REFUSED);
    assert_eq!(verdict(&layer, "::ffff:198.51.100.1").await, REFUSED);
    // A rule written in the mapped form is an IPv4 rule too.
    let layer = IpFilterLayer::new().allow(cidr("::ffff:192.0.2.0/120"));
    assert_eq!(verdict(&layer, "192.0.2.7").await, PASSED);
    // And `accepts` canonicalises what it is given.
    assert!(layer.accepts("::ffff:192.0.2.7".parse().expect("ip")));
}

#[tokio::test]
async fn a_refusal_names_the_visitor_and_skips_the_inner_service() {
    let layer = IpFilterLayer::new().allow(cidr("10.0.0.0/8"));
    let (response, calls) = run(layer, from("192.0.2.7")).await;
    assert_eq!(calls, 0, "the inner service must not be called");
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "text/plain; charset=utf-8"
    );
    let text = text(response).await;
    assert!(
        text.starts_with("403 Forbidden: this tunnel does not accept requests from 192.0.2.7;"),
        "{text}"
    );
    assert!(
        !text.contains("10.0.0.0"),
        "the rules are not shown: {text}"
    );
}

#[tokio::test]
async fn an_unknown_visitor_is_refused_even_without_rules() {
    for layer in [
        IpFilterLayer::new(),
        IpFilterLayer::new().deny(cidr("10.0.0.0/8")),
    ] {
        let (response, calls) = run(layer, Request::new(TunnelBody::default())).await;
        assert_eq!((response.status(), calls), REFUSED);
        let text = text(response).await;
        assert!(
            text.contains("could not tell where this one came from"),
            "{text}"
        );
    }
}

#[tokio::test]
async fn a_plain_socket_address_extension_works_outside_ferrotunnel() {
    let layer = IpFilterLayer::new().allow(cidr("192.0.2.0/24"));
    let mut request = Request::new(TunnelBody::default());
    request
        .extensions_mut()
        .insert(SocketAddr::from(([192, 0, 2, 9], 1)));
    let (response, calls) = run(layer, request).await;
    assert_eq!((response.status(), calls), PASSED);
}

#[tokio::test]
async fn inner_responses_and_errors_pass_through() {
    let service = ServiceBuilder::new()
        .layer(IpFilterLayer::new())
        .service_fn(|request: Request<TunnelBody>| async move {
            if request.uri().path() == "/fail" {
                return Err::<Response<TunnelBody>, BoxError>("local service refused".into());
            }
            let mut response = Response::new(TunnelBody::default());
            *response.status_mut() = StatusCode::IM_A_TEAPOT;
            Ok(response)
        });
    let response = service.clone().oneshot(from("192.0.2.7")).await;
    assert_eq!(
        response.expect("response").status(),
        StatusCode::IM_A_TEAPOT
    );
    let mut request = from("192.0.2.7");
    *request.uri_mut() = "/fail".parse().expect("uri");
    let err = service.oneshot(request).await.expect_err("inner error");
    assert_eq!(err.to_string(), "local service refused");
}

#[test]
fn layer_and_service_are_clone_and_debug_and_share_the_rules() {
    let layer = IpFilterLayer::new()
        .allow(cidr("10.0.0.0/8"))
        .deny(cidr("2001:db8::/32"));
    let copy = layer.clone();
    assert!(std::ptr::eq(layer.allowed(), copy.allowed()));
    assert_eq!(copy.denied(), [cidr("2001:db8::/32")]);
    assert_eq!(
        format!("{layer:?}"),
        "IpFilterLayer { allow: [10.0.0.0/8], deny: [2001:db8::/32] }"
    );
    let service = IpFilter::new("inner", &layer).clone();
    assert_eq!(
        format!("{service:?}"),
        r#"IpFilter { inner: "inner", rules: Rules { allow: [10.0.0.0/8], deny: [2001:db8::/32] } }"#
    );
    assert_eq!(*service.get_ref(), "inner");
    assert_eq!(service.into_inner(), "inner");
}

#[test]
fn the_layer_fits_a_ferrotunnel_server() {
    fn assert_server_layer<L>(_: &L)
    where
        L: tower::Layer<ferrotunnel::server::HttpService>,
        L::Service: tower::Service<Request<TunnelBody>> + Clone + Send + Sync + 'static,
        <L::Service as tower::Service<Request<TunnelBody>>>::Future: Send + 'static,
    {
    }
    assert_server_layer(&IpFilterLayer::new());
    let _ = ferrotunnel::Server::builder().layer(IpFilterLayer::new());
}
