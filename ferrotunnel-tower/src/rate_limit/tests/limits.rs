//! Counting, refusing, recovering, bursts, the headers, shared state.

use std::time::Duration;

use http::header;

use super::*;

#[tokio::test]
async fn beyond_the_limit_is_a_429_that_never_reaches_the_inner_service() {
    let (layer, _clock) = limited(Rate::per_second(2));
    let inner = Inner::default();
    for _ in 0..2 {
        let response = inner.send(&layer, from([192, 0, 2, 7])).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(text(response).await, "from the tunnel");
    }
    let response = inner.send(&layer, from([192, 0, 2, 7])).await;
    assert_eq!(
        inner.calls(),
        2,
        "the refused request must not reach the inner service"
    );
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(header(&response, "retry-after"), "1");
    assert_eq!(
        header(&response, "ratelimit-policy"),
        r#""ferrotunnel";q=2;w=1"#
    );
    assert_eq!(header(&response, "ratelimit"), r#""ferrotunnel";r=0;t=1"#);
    assert_eq!(
        header(&response, header::CONTENT_TYPE.as_str()),
        "text/plain; charset=utf-8"
    );
    assert_eq!(
        text(response).await,
        "429 Too Many Requests: at most 2 requests per second from 192.0.2.7; retry in 1 s\n"
    );
}

#[tokio::test]
async fn a_visitor_gets_through_again_once_the_time_has_passed() {
    let (layer, clock) = limited(Rate::per_minute(1));
    let inner = Inner::default();
    assert_eq!(
        inner.status(&layer, from([192, 0, 2, 7])).await,
        StatusCode::OK
    );
    let response = inner.send(&layer, from([192, 0, 2, 7])).await;
    assert_eq!(header(&response, "retry-after"), "60");
    assert!(text(response).await.contains("1 request per minute"));

    clock.advance(Duration::from_millis(59_500));
    let response = inner.send(&layer, from([192, 0, 2, 7])).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        header(&response, "retry-after"),
        "1",
        "half a second is rounded up"
    );

    clock.advance(Duration::from_millis(500));
    assert_eq!(
        inner.status(&layer, from([192, 0, 2, 7])).await,
        StatusCode::OK
    );
    assert_eq!(inner.calls(), 2);
}

#[tokio::test]
async fn retry_after_is_rounded_up_to_whole_seconds() {
    // 7 per minute: one every 8.57 s.
    let (layer, _clock) = limited(Rate::per_minute(7));
    let inner = Inner::default();
    for _ in 0..7 {
        assert_eq!(
            inner.status(&layer, from([192, 0, 2, 7])).await,
            StatusCode::OK
        );
    }
    let response = inner.send(&layer, from([192, 0, 2, 7])).await;
    assert_eq!(header(&response, "retry-after"), "9");
    assert_eq!(
        header(&response, "ratelimit-policy"),
        r#""ferrotunnel";q=7;w=60"#
    );
    assert_eq!(header(&response, "ratelimit"), r#""ferrotunnel";r=0;t=60"#);
}

#[tokio::test]
async fn the_burst_is_how_many_may_come_at_once() {
    let (layer, clock) = limited(Rate::per_second(1));
    let layer = layer.burst(3);
    let inner = Inner::default();
    for _ in 0..3 {
        assert_eq!(
            inner.status(&layer, from([192, 0, 2, 7])).await,
            StatusCode::OK
        );
    }
    let response = inner.send(&layer, from([192, 0, 2, 7])).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        header(&response, "ratelimit-policy"),
        r#""ferrotunnel";q=3;w=3"#
    );
    assert_eq!(header(&response, "ratelimit"), r#""ferrotunnel";r=0;t=3"#);

    // Over time, the rate holds: one more per second.
    clock.advance(Duration::from_secs(1));
    assert_eq!(
        inner.status(&layer, from([192, 0, 2, 7])).await,
        StatusCode::OK
    );
    assert_eq!(
        inner.status(&layer, from([192, 0, 2, 7])).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(inner.calls(), 4);
}

#[tokio::test]
async fn the_default_burst_is_the_rate_count() {
    let (layer, _clock) = limited(Rate::per_minute(5));
    let inner = Inner::default();
    for _ in 0..5 {
        assert_eq!(
            inner.status(&layer, from([192, 0, 2, 7])).await,
            StatusCode::OK
        );
    }
    assert_eq!(
        inner.status(&layer, from([192, 0, 2, 7])).await,
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn every_clone_of_the_layer_and_service_counts_against_the_same_buckets() {
    // tower's own RateLimit gives each clone its own budget; a server that clones its stack
    // per connection would then let a visitor through once per connection.
    let (layer, _clock) = limited(Rate::per_minute(3));
    let inner = Inner::default();
    let handler = |_request: Request<Full<Bytes>>| async {
        Ok::<_, Infallible>(Response::new(Full::<Bytes>::default()))
    };
    let first = ServiceBuilder::new()
        .layer(layer.clone())
        .service_fn(handler);
    let first_clone = first.clone();
    let second = ServiceBuilder::new()
        .layer(layer.clone().clone())
        .service_fn(handler);

    let response = first.oneshot(from([192, 0, 2, 7])).await.expect("answer");
    assert_eq!(response.status(), StatusCode::OK);
    let response = second.oneshot(from([192, 0, 2, 7])).await.expect("answer");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        inner.status(&layer, from([192, 0, 2, 7])).await,
        StatusCode::OK
    );
    let response = first_clone
        .oneshot(from([192, 0, 2, 7]))
        .await
        .expect("answer");
    assert_eq!(
        response.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "the fourth request, whichever clone it went through"
    );
    assert_eq!(layer.tracked_keys(), 1);
}

#[tokio::test]
async fn headers_on_success_are_opt_in() {
    let (layer, _clock) = limited(Rate::per_second(10));
    let inner = Inner::default();
    let response = inner.send(&layer, from([192, 0, 2, 7])).await;
    assert!(response.headers().get("ratelimit").is_none());
    assert!(response.headers().get("ratelimit-policy").is_none());

    let layer = layer.headers_on_success(true);
    let response = inner.send(&layer, from([192, 0, 2, 7])).await;
    assert_eq!(
        header(&response, "ratelimit-policy"),
        r#""ferrotunnel";q=10;w=1"#
    );
    assert_eq!(header(&response, "ratelimit"), r#""ferrotunnel";r=9;t=1"#);
    for left in (0..9).rev() {
        let response = inner.send(&layer, from([192, 0, 2, 7])).await;
        assert_eq!(
            header(&response, "ratelimit"),
            format!(r#""ferrotunnel";r={left};t=1"#)
        );
    }
}

#[tokio::test]
async fn errors_of_the_inner_service_pass_through() {
    let (layer, _clock) = limited(Rate::per_second(1));
    let result = ServiceBuilder::new()
        .layer(layer)
        .service_fn(|_request: Request<Full<Bytes>>| async {
            Err::<Response<Full<Bytes>>, _>("the local service is down")
        })
        .oneshot(from([192, 0, 2, 7]))
        .await;
    assert_eq!(result.err(), Some("the local service is down"));
}

#[test]
fn the_layer_says_what_it_limits_in_debug() {
    let (layer, _clock) = limited(Rate::per_minute(600));
    let layer = layer
        .burst(20)
        .by_header(http::HeaderName::from_static("x-api-key"));
    let debug = format!("{layer:?}");
    for needle in [
        "600/min",
        "burst: 20",
        "header:x-api-key",
        "max_keys: 100000",
    ] {
        assert!(debug.contains(needle), "{needle} in {debug}");
    }
    let service = tower::Layer::layer(&layer, ());
    assert!(format!("{service:?}").contains("600/min"));
}
