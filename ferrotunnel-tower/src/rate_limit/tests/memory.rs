//! Bounded memory: idle keys are evicted, the map never outgrows `max_keys`, and new keys
//! share the overflow bucket while it is full.

use std::{net::Ipv4Addr, time::Duration};

use super::*;

/// The `i`-th of many visitors, from 10.0.0.0 up.
fn visitor(i: u32) -> Request<Full<Bytes>> {
    from(Ipv4Addr::from(0x0a00_0000 + i))
}

#[tokio::test]
async fn a_hundred_thousand_visitors_are_forgotten_once_idle() {
    let (layer, clock) = limited(Rate::per_second(10));
    let inner = Inner::default();
    for i in 0..100_000 {
        assert_eq!(
            inner.status(&layer, visitor(i)).await,
            StatusCode::OK,
            "visitor {i}"
        );
    }
    assert_eq!(layer.tracked_keys(), 100_000, "every visitor has a bucket");

    // The map is full (100 000 is the default bound), so a sweep may run once a second.
    // All these buckets are idle after 0.2 s, but the sweep is not due yet.
    clock.advance(Duration::from_millis(900));
    assert_eq!(inner.status(&layer, visitor(0)).await, StatusCode::OK);
    assert_eq!(layer.tracked_keys(), 100_000, "no sweep before it is due");

    // The next request after that sweeps the idle buckets away.
    clock.advance(Duration::from_millis(100));
    assert_eq!(inner.status(&layer, visitor(100_000)).await, StatusCode::OK);
    assert!(
        layer.tracked_keys() <= 2,
        "{} keys left after the sweep",
        layer.tracked_keys()
    );
    assert_eq!(inner.calls(), 100_002);
}

#[tokio::test]
async fn with_room_left_idle_visitors_are_swept_every_ten_seconds() {
    let (layer, clock) = limited(Rate::per_second(10));
    let inner = Inner::default();
    for i in 0..10_000 {
        assert_eq!(inner.status(&layer, visitor(i)).await, StatusCode::OK);
    }
    clock.advance(Duration::from_secs(9));
    assert_eq!(inner.status(&layer, visitor(0)).await, StatusCode::OK);
    assert_eq!(layer.tracked_keys(), 10_000, "no sweep before it is due");

    clock.advance(Duration::from_secs(1));
    assert_eq!(inner.status(&layer, visitor(10_000)).await, StatusCode::OK);
    assert!(
        layer.tracked_keys() <= 2,
        "{} keys left",
        layer.tracked_keys()
    );
}

#[tokio::test]
async fn the_map_never_outgrows_max_keys() {
    let (layer, clock) = limited(Rate::per_second(10));
    let layer = layer.max_keys(1_000);
    let inner = Inner::default();
    let mut most = 0;
    for i in 0..100_000 {
        // 100 000 new visitors over 100 s: 1 000 a second, each idle after 0.2 s.
        clock.advance(Duration::from_millis(1));
        let _ = inner.status(&layer, visitor(i)).await;
        if i % 97 == 0 {
            most = most.max(layer.tracked_keys());
        }
    }
    most = most.max(layer.tracked_keys());
    assert!(most <= 1_000, "{most} keys tracked");
    assert_eq!(most, 1_000, "the map fills up between sweeps");
    // The sweeps made room: far more than the first 1 000 visitors had a bucket of their own,
    // and the overflow bucket let the others through at the rate.
    assert!(inner.calls() > 50_000, "{} let through", inner.calls());
}

#[tokio::test]
async fn new_visitors_share_the_overflow_bucket_while_the_map_is_full() {
    let (layer, clock) = limited(Rate::per_minute(1));
    let layer = layer.max_keys(2);
    let inner = Inner::default();
    let ip = |last: u8| from([192, 0, 2, last]);
    assert_eq!(inner.status(&layer, ip(1)).await, StatusCode::OK);
    assert_eq!(inner.status(&layer, ip(2)).await, StatusCode::OK);
    assert_eq!(layer.tracked_keys(), 2);

    // The map is full: the third visitor is counted in the overflow bucket, and so is the
    // fourth, who finds it used up.
    assert_eq!(inner.status(&layer, ip(3)).await, StatusCode::OK);
    let response = inner.send(&layer, ip(4)).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        text(response).await,
        "429 Too Many Requests: too many visitors at once, and new ones share at most 1 request \
         per minute; retry in 60 s\n"
    );
    assert_eq!(layer.tracked_keys(), 2, "the map did not grow");
    // Known visitors keep their own buckets.
    let response = inner.send(&layer, ip(1)).await;
    assert!(text(response).await.contains("from 192.0.2.1;"));

    // A second later the map is still full of busy keys: a sweep frees nothing.
    clock.advance(Duration::from_secs(1));
    assert_eq!(
        inner.status(&layer, ip(5)).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(layer.tracked_keys(), 2);

    // Once the first two are idle (their minute earned back, plus one interval), a sweep
    // makes room, and a new visitor has a bucket of its own again.
    clock.advance(Duration::from_secs(120));
    assert_eq!(inner.status(&layer, ip(6)).await, StatusCode::OK);
    let response = inner.send(&layer, ip(6)).await;
    assert!(text(response).await.contains("from 192.0.2.6;"));
    assert_eq!(layer.tracked_keys(), 1);
    assert_eq!(inner.calls(), 4);
}
