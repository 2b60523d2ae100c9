//! The store's bounds: bytes and exchanges, eviction order, clearing.

use http::header;

use super::*;
use crate::capture::store::headers_cost;

#[tokio::test]
async fn the_store_stays_within_its_bounds_over_100_000_requests() {
    let config = CaptureConfig::default()
        .max_exchanges(500)
        .max_bytes(256 * 1024)
        .body_prefix(1024);
    let store = CaptureStore::new(config);
    let service = captured(&store, |request: Request<TunnelBody>| async move {
        let len = drain(request.into_body()).await?;
        Ok(Response::new(full(text(len as usize * 3))))
    });
    let mut most = (0, 0);
    for i in 0..100_000_u64 {
        // Bodies from nothing to above the prefix; headers growing now and then.
        let size = (i * 37 % 1500) as usize;
        let request = Request::post(format!("/items/{i}"))
            .header("x-padding", "p".repeat((i % 7 * 100) as usize))
            .body(full(text(size)))
            .unwrap();
        let (_, len) = send(&service, request).await;
        assert_eq!(len, size as u64 * 3);
        let (used, count) = (store.bytes_used(), store.len());
        assert!(used <= 256 * 1024, "request {i}: {used} bytes");
        assert!(count <= 500, "request {i}: {count} exchanges");
        most = (most.0.max(used), most.1.max(count));
    }
    assert!(most.0 > 200 * 1024, "the byte bound was reached: {most:?}");
    let all = store.all();
    assert_eq!(
        all.last().map(|e| e.id),
        Some(100_000),
        "the newest is kept"
    );
    assert!(all.windows(2).all(|pair| pair[0].id < pair[1].id));
    assert_eq!(store.totals().requests, 100_000);
    // What is counted is what the kept exchanges hold.
    let held: usize = all.iter().map(cost_of).sum();
    assert_eq!(store.bytes_used(), held);
}

/// What an exchange should cost, from the outside.
fn cost_of(exchange: &Exchange) -> usize {
    let uri = exchange
        .uri
        .path_and_query()
        .map_or(0, |p| p.as_str().len())
        + exchange.uri.authority().map_or(0, |a| a.as_str().len());
    let response = exchange
        .response
        .as_ref()
        .map_or(0, |r| headers_cost(&r.headers) + r.body.prefix.len());
    EXCHANGE_OVERHEAD
        + uri
        + headers_cost(&exchange.request_headers)
        + exchange.request_body.prefix.len()
        + response
}

#[tokio::test]
async fn bytes_are_counted_when_recorded_and_given_back_when_evicted() {
    let store = CaptureStore::new(CaptureConfig::default().max_exchanges(1));
    let service = captured(&store, |request: Request<TunnelBody>| async move {
        drain(request.into_body()).await?;
        let mut response = respond(200, "hello");
        response
            .headers_mut()
            .insert(header::CONTENT_LENGTH, 5.into());
        Ok(response)
    });
    let request = Request::post("/abc?d=1")
        .header(header::HOST, "app.localhost")
        .body(full("body"))
        .unwrap();
    send(&service, request).await;
    let expected = EXCHANGE_OVERHEAD
        + "/abc?d=1".len()
        + ("host".len() + "app.localhost".len() + 32)
        + "body".len()
        + ("content-length".len() + 1 + 32)
        + "hello".len();
    assert_eq!(store.bytes_used(), expected);
    assert_eq!(cost_of(&store.get(1).unwrap()), expected);

    send(&service, get("/")).await;
    assert_eq!(store.len(), 1);
    let second = store.get(2).unwrap();
    assert_eq!(
        store.bytes_used(),
        cost_of(&second),
        "the first's bytes given back"
    );
    store.clear();
    assert_eq!((store.len(), store.bytes_used()), (0, 0));
}

#[tokio::test]
async fn the_count_bound_keeps_the_newest() {
    let store = CaptureStore::new(CaptureConfig::default().max_exchanges(10));
    let service = answering(&store, b"ok");
    for _ in 0..100 {
        send(&service, get("/")).await;
    }
    let ids: Vec<u64> = store.all().iter().map(|e| e.id).collect();
    assert_eq!(ids, (91..=100).collect::<Vec<_>>());
}

/// A service where `POST /stream` answers with the request's own body, which does not end
/// until the test drops its sender; anything else answers 200 at once.
fn streaming(store: &CaptureStore) -> Svc {
    captured(store, |request: Request<TunnelBody>| async move {
        Ok(match request.uri().path() {
            "/stream" => Response::new(request.into_body()),
            _ => respond(200, "ok"),
        })
    })
}

#[tokio::test]
async fn exchanges_in_flight_go_last() {
    let store = CaptureStore::new(CaptureConfig::default().max_exchanges(2));
    let service = streaming(&store);
    let (tx, upload) = channel();
    let stream = service
        .clone()
        .oneshot(Request::post("/stream").body(upload).unwrap())
        .await
        .unwrap();
    send(&service, get("/a")).await;
    send(&service, get("/b")).await;
    let ids: Vec<u64> = store.all().iter().map(|e| e.id).collect();
    assert_eq!(
        ids,
        [1, 3],
        "the oldest finished one went, not the one in flight"
    );

    // Only exchanges in flight left: the oldest goes, and goes on streaming, unrecorded.
    let (tx2, upload2) = channel();
    let stream2 = service
        .clone()
        .oneshot(Request::post("/stream").body(upload2).unwrap())
        .await
        .unwrap();
    let (tx3, upload3) = channel();
    let _stream3 = service
        .clone()
        .oneshot(Request::post("/stream").body(upload3).unwrap())
        .await
        .unwrap();
    let ids: Vec<u64> = store.all().iter().map(|e| e.id).collect();
    assert_eq!(ids, [4, 5]);
    assert_eq!(store.in_flight(), 3);
    tx.send(Ok(text(3))).unwrap();
    drop(tx);
    assert_eq!(drain(stream.into_body()).await.unwrap(), 3);
    assert!(store.get(1).is_none());
    tx2.send(Ok(text(4))).unwrap();
    drop(tx2);
    assert_eq!(drain(stream2.into_body()).await.unwrap(), 4);
    assert_eq!(store.get(4).unwrap().outcome, Outcome::Complete);
    assert_eq!(store.in_flight(), 1);
    drop(tx3);
}

#[tokio::test]
async fn exchanges_past_a_gap_left_by_eviction_are_found_and_updated() {
    let store = CaptureStore::new(CaptureConfig::default().max_exchanges(3));
    let service = streaming(&store);
    let open = |service: &Svc| {
        let (tx, upload) = channel();
        let response = service
            .clone()
            .oneshot(Request::post("/stream").body(upload).unwrap());
        (tx, response)
    };
    let (tx1, first) = open(&service);
    let first = first.await.unwrap();
    send(&service, get("/a")).await;
    let (tx3, third) = open(&service);
    let third = third.await.unwrap();
    send(&service, get("/b")).await;
    let ids: Vec<u64> = store.all().iter().map(|e| e.id).collect();
    assert_eq!(ids, [1, 3, 4], "the finished /a went, leaving a gap");
    assert!(store.get(2).is_none());
    assert_eq!(store.get(4).unwrap().uri.path(), "/b");

    // Exchange 3 sits where 4 would be without the gap: its end must still reach it.
    tx3.send(Ok(text(5))).unwrap();
    drop(tx3);
    assert_eq!(drain(third.into_body()).await.unwrap(), 5);
    let third = store.get(3).unwrap();
    assert_eq!(third.outcome, Outcome::Complete);
    assert_eq!(third.response.unwrap().body.size, 5);
    tx1.send(Ok(text(1))).unwrap();
    drop(tx1);
    assert_eq!(drain(first.into_body()).await.unwrap(), 1);
    assert_eq!(store.get(1).unwrap().outcome, Outcome::Complete);
}

#[tokio::test]
async fn clear_forgets_exchanges_but_not_statistics_nor_ids() {
    let store = CaptureStore::new(CaptureConfig::default());
    let service = answering(&store, b"ok");
    for _ in 0..3 {
        send(&service, get("/")).await;
    }
    store.clear();
    assert!(store.is_empty());
    assert_eq!(store.bytes_used(), 0);
    assert_eq!(store.totals().requests, 3, "statistics count on");
    let response = service.oneshot(get("/")).await.unwrap();
    assert_eq!(response.extensions().get(), Some(&ExchangeId(4)));
    drain(response.into_body()).await.unwrap();
    assert_eq!(store.len(), 1);
    assert_eq!(store.totals().requests, 4);
}

#[tokio::test]
async fn an_exchange_bigger_than_the_byte_bound_is_not_kept() {
    let store = CaptureStore::new(CaptureConfig::default().max_bytes(EXCHANGE_OVERHEAD + 64));
    let service = answering(&store, b"ok");
    send(&service, get("/small")).await;
    assert_eq!(store.len(), 1);
    let request = Request::post("/big").body(full(text(1000))).unwrap();
    let (status, _) = send(&service, request).await;
    assert_eq!(status, StatusCode::OK, "traffic goes on");
    assert!(store.bytes_used() <= EXCHANGE_OVERHEAD + 64);
    assert!(store.get(2).is_none());
    assert_eq!(store.totals().requests, 2);
}
