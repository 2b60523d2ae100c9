//! Events: started and finished, in order; a slow subscriber never holds traffic back.

use tokio::sync::broadcast::error::{RecvError, TryRecvError};

use super::*;

#[tokio::test]
async fn events_say_started_then_finished() {
    let store = CaptureStore::new(CaptureConfig::default());
    let mut events = store.subscribe();
    let service = answering(&store, b"ok");

    let response = service.clone().oneshot(get("/one")).await.unwrap();
    assert_eq!(events.try_recv().unwrap(), CaptureEvent::Started(1));
    let [started] = &store.snapshots(&[1])[..] else {
        panic!("the store has exchange 1");
    };
    assert_eq!(started.uri.path(), "/one");
    assert_eq!(started.outcome, Outcome::InFlight);
    assert!(started.response.is_some(), "the head came back already");
    assert!(
        matches!(events.try_recv(), Err(TryRecvError::Empty)),
        "not finished yet"
    );
    drain(response.into_body()).await.unwrap();
    assert_eq!(events.try_recv().unwrap(), CaptureEvent::Finished(1));
    assert_eq!(
        started.outcome,
        Outcome::InFlight,
        "a snapshot stays as it was"
    );
    let finished = store.get(1).unwrap();
    assert_eq!(finished.outcome, Outcome::Complete);
    assert_eq!(finished.response.as_ref().unwrap().body.size, 2);

    send(&service, get("/two")).await;
    let kinds = [events.recv().await.unwrap(), events.recv().await.unwrap()];
    assert_eq!(kinds, [CaptureEvent::Started(2), CaptureEvent::Finished(2)]);
    assert_eq!(kinds.map(CaptureEvent::id), [2, 2]);
}

#[tokio::test]
async fn snapshots_skip_what_the_store_no_longer_has() {
    let store = CaptureStore::new(CaptureConfig::default().max_exchanges(2));
    let service = answering(&store, b"ok");
    for path in ["/a", "/b", "/c"] {
        send(&service, get(path)).await;
    }
    let paths: Vec<String> = store
        .snapshots(&[3, 1, 2, 7])
        .iter()
        .map(|exchange| exchange.uri.path().to_owned())
        .collect();
    assert_eq!(paths, ["/c", "/b"], "1 was evicted and 7 never was");
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
    assert_eq!(
        slow.recv().await.unwrap(),
        CaptureEvent::Started(93),
        "the oldest kept event"
    );
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
    assert_eq!(late.recv().await.unwrap().id(), 2);
}
