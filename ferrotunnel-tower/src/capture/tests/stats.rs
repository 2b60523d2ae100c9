//! Statistics through the layer: the totals and the series of all requests. Per-tunnel
//! counting is tested on the stats book (stats.rs): a TunnelContext cannot be built outside the
//! core crate, so requests here have no tunnel; the end-to-end tests cover it through a server.

use std::time::UNIX_EPOCH;

use tokio::time::advance;

use super::*;

/// The layer over a local service that reads the request body, takes `x-ms` ms and answers
/// `x-status` with `x-bytes` bytes.
fn timed(store: &CaptureStore) -> Svc {
    captured(store, |request: Request<TunnelBody>| {
        let header =
            |name: &str| -> u64 { request.headers()[name].to_str().unwrap().parse().unwrap() };
        let (ms, status, bytes) = (header("x-ms"), header("x-status"), header("x-bytes"));
        async move {
            drain(request.into_body()).await?;
            advance(millis(ms)).await;
            Ok(respond(status as u16, text(bytes as usize)))
        }
    })
}

fn request(ms: u64, status: u16, bytes: u64, body: &'static str) -> Request<TunnelBody> {
    Request::post("/")
        .header("x-ms", ms)
        .header("x-status", status)
        .header("x-bytes", bytes)
        .body(full(body))
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn totals_count_requests_errors_bytes_and_latency_percentiles() {
    let store = CaptureStore::new(CaptureConfig::default());
    let service = timed(&store);
    assert_eq!(store.totals(), TunnelStats::default());
    for ms in (1..=100).rev() {
        let status = if ms % 25 == 0 { 503 } else { 200 };
        send(&service, request(ms, status, 10, "abc")).await;
    }
    let totals = store.totals();
    assert_eq!(totals.requests, 100);
    assert_eq!(totals.errors, 4, "the 5xx answers");
    assert_eq!((totals.bytes_in, totals.bytes_out), (300, 1000));
    assert_eq!(totals.in_flight, 0);
    assert_eq!(totals.p50, Some(millis(50)));
    assert_eq!(totals.p99, Some(millis(99)));

    // An inner error counts as an error, and its time counts.
    let failing = captured(&store, |_request: Request<TunnelBody>| async {
        advance(millis(1000)).await;
        Err::<Response<TunnelBody>, BoxError>("down".into())
    });
    failing.oneshot(get("/")).await.unwrap_err();
    let totals = store.totals();
    assert_eq!((totals.requests, totals.errors), (101, 5));
    assert_eq!(totals.p99, Some(millis(100)), "1000 ms is the 101st of 101");
    assert!(store.tunnel_stats("app").is_none());
    assert!(store.all_tunnel_stats().is_empty());
}

#[tokio::test(start_paused = true)]
async fn the_latency_window_is_the_last_1024_exchanges() {
    let store = CaptureStore::new(CaptureConfig::default().max_exchanges(10));
    let service = timed(&store);
    for _ in 0..LATENCY_WINDOW {
        send(&service, request(500, 200, 0, "")).await;
    }
    assert_eq!(store.totals().p50, Some(millis(500)));
    for _ in 0..LATENCY_WINDOW / 2 + 1 {
        send(&service, request(2, 200, 0, "")).await;
    }
    let totals = store.totals();
    assert_eq!(
        totals.p50,
        Some(millis(2)),
        "the older half is out of the window"
    );
    assert_eq!(totals.p99, Some(millis(500)));
}

#[tokio::test(start_paused = true)]
async fn the_series_has_a_point_a_second_for_ten_minutes() {
    let store = CaptureStore::new(CaptureConfig::default());
    let service = timed(&store);
    let series = store.series(None);
    assert_eq!(series.len(), SERIES_SECONDS);
    assert!(
        series
            .iter()
            .all(|point| point.requests == 0 && point.errors == 0)
    );

    // Start at a whole second, so that what follows falls in known seconds.
    let now = store.series(None)[SERIES_SECONDS - 1].at;
    let since = store
        .shared()
        .clock
        .wall(tokio::time::Instant::now().into_std());
    advance(Duration::from_secs(1) - since.duration_since(now).unwrap()).await;

    for _ in 0..3 {
        send(&service, request(0, 200, 0, "")).await;
    }
    send(&service, request(0, 500, 0, "")).await;
    advance(Duration::from_secs(2)).await;
    // Starts in this second, fails in the next.
    send(&service, request(1500, 502, 0, "")).await;

    let series = store.series(None);
    assert_eq!(series.len(), SERIES_SECONDS);
    let points: Vec<(u64, u64)> = series[SERIES_SECONDS - 4..]
        .iter()
        .map(|point| (point.requests, point.errors))
        .collect();
    assert_eq!(points, [(4, 1), (0, 0), (1, 0), (0, 1)]);
    for pair in series.windows(2) {
        assert_eq!(
            pair[1].at.duration_since(pair[0].at).unwrap(),
            Duration::from_secs(1)
        );
    }
    let last = series[SERIES_SECONDS - 1]
        .at
        .duration_since(UNIX_EPOCH)
        .unwrap();
    assert_eq!(last.subsec_nanos(), 0, "whole seconds");
    assert_eq!(store.series(Some("app")).len(), SERIES_SECONDS);
    assert!(
        store
            .series(Some("app"))
            .iter()
            .all(|point| point.requests == 0)
    );

    // Ten minutes on, it has all gone by.
    advance(Duration::from_secs(600)).await;
    assert!(
        store
            .series(None)
            .iter()
            .all(|point| point.requests == 0 && point.errors == 0)
    );
    assert_eq!(store.totals().requests, 5, "the counters stay");
}

#[tokio::test]
async fn in_flight_counts_exchanges_until_their_end() {
    let store = CaptureStore::new(CaptureConfig::default());
    let service = captured(&store, |request: Request<TunnelBody>| async move {
        Ok(Response::new(request.into_body()))
    });
    let (tx, upload) = channel();
    let response = service
        .clone()
        .oneshot(Request::post("/").body(upload).unwrap())
        .await
        .unwrap();
    assert_eq!((store.in_flight(), store.totals().in_flight), (1, 1));
    drop(tx);
    drain(response.into_body()).await.unwrap();
    assert_eq!(store.in_flight(), 0);
}
