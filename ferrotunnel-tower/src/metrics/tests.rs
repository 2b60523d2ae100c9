//! The layer alone, recording into a Prometheus recorder set for the test's thread (the tests
//! run on a current-thread runtime, so every poll records there). Which tunnel a request was
//! for is the core's resolve step's to say: the end-to-end tests (`ferrotunnel-cli/tests/
//! metrics.rs`) cover it; here no step resolves, so every request counts for no tunnel.

use std::{convert::Infallible, future::Future, task::Poll};

use bytes::Bytes;
use ferrotunnel::{TunnelBody, server::into_tunnel_body};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusRecorder};
use tower::{Layer, ServiceExt, service_fn};

use super::MetricsLayer;
use crate::{ResponseBody, refusal};

fn recorder() -> PrometheusRecorder {
    PrometheusBuilder::new().build_recorder()
}

fn body(text: &'static str) -> TunnelBody {
    into_tunnel_body(Full::new(Bytes::from_static(text.as_bytes())))
}

/// The line of `series` in `rendered`, e.g. `name{a="b"} 3`.
fn line<'a>(rendered: &'a str, series: &str) -> Option<&'a str> {
    rendered
        .lines()
        .find(|line| line.starts_with(series) && line[series.len()..].starts_with(' '))
}

#[tokio::test]
async fn a_request_counts_when_its_response_body_ends_with_its_bytes() {
    let recorder = recorder();
    let _guard = metrics::set_default_local_recorder(&recorder);
    let service = MetricsLayer::new().layer(service_fn(|request: Request<TunnelBody>| async {
        let got = request
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        assert_eq!(&got[..], b"ping!");
        Ok::<_, Infallible>(Response::new(body("pong, twice")))
    }));
    let request = Request::post("/").body(body("ping!")).expect("request");
    let response = service.oneshot(request).await.expect("infallible");
    let rendered = recorder.handle().render();
    assert_eq!(
        line(
            &rendered,
            "ferrotunnel_requests_total{tunnel=\"\",method=\"POST\",status=\"2xx\"}"
        ),
        None,
        "not before the body ends: {rendered}"
    );
    let text = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    assert_eq!(&text[..], b"pong, twice");

    let rendered = recorder.handle().render();
    for expected in [
        "ferrotunnel_requests_total{tunnel=\"\",method=\"POST\",status=\"2xx\"} 1",
        "ferrotunnel_bytes_total{tunnel=\"\",direction=\"request\"} 5",
        "ferrotunnel_bytes_total{tunnel=\"\",direction=\"response\"} 11",
        "ferrotunnel_request_duration_seconds_count{tunnel=\"\"} 1",
    ] {
        assert!(
            rendered.lines().any(|line| line == expected),
            "{expected} in {rendered}"
        );
    }
}

#[tokio::test]
async fn invented_methods_share_one_series_and_refusals_count_by_layer() {
    let recorder = recorder();
    let _guard = metrics::set_default_local_recorder(&recorder);
    let service = MetricsLayer::new().layer(service_fn(|_: Request<TunnelBody>| async {
        let refused =
            refusal::<TunnelBody>("rate_limit", StatusCode::TOO_MANY_REQUESTS, "slow down");
        Ok::<_, Infallible>(refused.map(ResponseBody::into_tunnel_body))
    }));
    for method in ["BREW", "WHEN", "GET"] {
        let request = Request::builder()
            .method(method)
            .uri("/")
            .body(body(""))
            .expect("request");
        let response = service.clone().oneshot(request).await.expect("infallible");
        response.into_body().collect().await.expect("body");
    }
    let rendered = recorder.handle().render();
    for expected in [
        "ferrotunnel_requests_total{tunnel=\"\",method=\"_OTHER\",status=\"4xx\"} 2",
        "ferrotunnel_requests_total{tunnel=\"\",method=\"GET\",status=\"4xx\"} 1",
        "ferrotunnel_policy_refusals_total{tunnel=\"\",layer=\"rate_limit\",status=\"429\"} 3",
    ] {
        assert!(
            rendered.lines().any(|line| line == expected),
            "{expected} in {rendered}"
        );
    }
}

#[tokio::test]
async fn a_visitor_who_leaves_before_the_response_counts_as_an_error() {
    let recorder = recorder();
    let _guard = metrics::set_default_local_recorder(&recorder);
    let service = MetricsLayer::new().layer(service_fn(|_: Request<TunnelBody>| async {
        std::future::pending::<Result<Response<TunnelBody>, Infallible>>().await
    }));
    let request = Request::get("/slow").body(body("")).expect("request");
    let mut waiting = Box::pin(service.oneshot(request));
    let pending =
        std::future::poll_fn(|cx| Poll::Ready(waiting.as_mut().poll(cx).is_pending())).await;
    assert!(pending, "no response came");
    // The visitor hangs up: hyper drops the response future.
    drop(waiting);
    let rendered = recorder.handle().render();
    assert!(
        rendered.lines().any(|line| line
            == "ferrotunnel_requests_total{tunnel=\"\",method=\"GET\",status=\"error\"} 1"),
        "{rendered}"
    );
}
