//! Events: started and finished, in order; a slow subscriber never holds traffic back.

use tokio::sync::broadcast::error::{RecvError, TryRecvError};

use super::*;

#[tokio::test]
async fn events_say_started_then_finished() {
    let store = CaptureStore::new(CaptureConfig::default());
    let mut events = store.subscribe();
    let service = answering(&store, b"ok");

    let response = service.clone().oneshot(get("/one")).await.unwrap();
    match events.try_recv().unwrap() {
        CaptureEvent::Started(exchange) => {
            assert_eq!((exchange.id, exchange.uri.path()), (1, "/one"));
            assert_eq!(exchange.outcome, Outcome::InFlight);
            assert!(exchange.response.is_none(), "a snapshot of the start");
        }
        other => panic!("expected Started, got {other:?}"),
    }
    assert!(
        matches!(events.try_recv(), Err(TryRecvError::Empty)),
        "not finished yet"
    );
    drain(response.into_body()).await.unwrap();
    match events.try_recv().unwrap() {
        CaptureEvent::Finished(exchange) => {
            assert_eq!(exchange.id, 1);
            assert_eq!(exchange.outcome, Outcome::Complete);
            assert_eq!(exchange.response.as_ref().unwrap().body.size, 2);
        }
        other => panic!("expected Finished, got {other:?}"),
    }

    send(&service, get("/two")).await;
    let kinds: Vec<(&str, u64)> = [events.recv().await.unwrap(), events.recv().await.unwrap()]
        .iter()
        .map(|event| match event {
            CaptureEvent::Started(e) => ("started", e.id),
            CaptureEvent::Finished(e) => ("finished", e.id),
        })
        .collect();
    assert_eq!(kinds, [("started", 2), ("finished", 2)]);
    assert_eq!(
        store.get(1).unwrap().outcome,
        Outcome::Complete,
        "the store's copy too"
    );
}

#[tokio::test]
async fn a_lagging_subscriber_does_not_hold_traffic_back() {
    let store = CaptureStore::new(CaptureConfig::default().event_capacity(16));
    let mut slow = store.subscribe();
    let service = answering(&store, b"ok");
    for _ in 0..100 {
        let (status, _) = send(&service, get("/")).await;
        assert_eq!(status, StatusCode::OK);
    }
    // 200 events sent, 16 kept.
    assert_eq!(slow.recv().await.unwrap_err(), RecvError::Lagged(184));
    let CaptureEvent::Started(exchange) = slow.recv().await.unwrap() else {
        panic!("the oldest kept event is a start");
    };
    assert_eq!(exchange.id, 93);
    assert_eq!(store.len(), 100);
}

#[tokio::test]
async fn events_are_published_without_subscribers_and_to_late_ones_from_then_on() {
    let store = CaptureStore::new(CaptureConfig::default());
    let service = answering(&store, b"ok");
    send(&service, get("/")).await;
    let mut late = store.subscribe();
    assert!(matches!(late.try_recv(), Err(TryRecvError::Empty)));
    send(&service, get("/")).await;
    assert_eq!(late.recv().await.unwrap().exchange().id, 2);
}
