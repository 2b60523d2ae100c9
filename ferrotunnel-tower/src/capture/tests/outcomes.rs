//! How exchanges end, replays, and where timings run from.

use ferrotunnel::server::ReceivedAt;
use tokio::time::advance;

use super::*;

#[tokio::test]
async fn an_inner_error_is_recorded_and_passed_on() {
    let store = CaptureStore::new(CaptureConfig::default());
    let service = captured(&store, |_request: Request<TunnelBody>| async {
        Err::<Response<TunnelBody>, BoxError>("the local service refused the connection".into())
    });
    let err = service.oneshot(get("/")).await.unwrap_err();
    assert_eq!(err.to_string(), "the local service refused the connection");
    let exchange = store.get(1).unwrap();
    assert_eq!(
        exchange.outcome,
        Outcome::Error("the local service refused the connection".into())
    );
    assert_eq!(
        exchange.outcome.error(),
        Some("the local service refused the connection")
    );
    assert!(exchange.response.is_none());
    assert!(exchange.body_end.is_some());
    assert!(exchange.is_error());
    assert_eq!((store.in_flight(), store.totals().errors), (0, 1));
}

#[tokio::test]
async fn a_response_body_error_is_recorded() {
    let store = CaptureStore::new(CaptureConfig::default());
    let (tx, body) = channel();
    let body = std::sync::Arc::new(std::sync::Mutex::new(Some(body)));
    let service = captured(&store, move |_request: Request<TunnelBody>| {
        let body = body.lock().unwrap().take().unwrap();
        async move { Ok(Response::new(body)) }
    });
    tx.send(Ok(text(3))).unwrap();
    tx.send(Err("the tunnel closed".into())).unwrap();
    let response = service.oneshot(get("/")).await.unwrap();
    let err = drain(response.into_body()).await.unwrap_err();
    assert_eq!(err.to_string(), "the tunnel closed", "passed on");

    let exchange = store.get(1).unwrap();
    assert_eq!(exchange.outcome, Outcome::Error("the tunnel closed".into()));
    assert_eq!(exchange.status(), Some(StatusCode::OK));
    let body = &exchange.response.as_ref().unwrap().body;
    assert_eq!((body.size, body.complete), (3, false));
    assert!(exchange.is_error());
    assert_eq!(store.totals().errors, 1);
}

#[tokio::test]
async fn a_visitor_leaving_mid_body_is_recorded() {
    let store = CaptureStore::new(CaptureConfig::default());
    let service = captured(&store, |_request: Request<TunnelBody>| async {
        Ok(Response::new(into_tunnel_body(Chunks::new(text(8), 64))))
    });
    let response = service.oneshot(get("/download")).await.unwrap();
    let mut body = response.into_body();
    body.frame().await.unwrap().unwrap();
    assert_eq!(store.get(1).unwrap().outcome, Outcome::InFlight);
    drop(body);

    let exchange = store.get(1).unwrap();
    assert_eq!(exchange.outcome, Outcome::VisitorGone);
    let body = &exchange.response.as_ref().unwrap().body;
    assert_eq!(
        (&body.prefix[..], body.size, body.complete),
        (&text(8)[..], 8, false)
    );
    assert!(exchange.body_end.is_some());
    assert!(!exchange.is_error());
    assert_eq!(store.in_flight(), 0);
    assert_eq!(
        store.totals().p50,
        None,
        "a visitor leaving says nothing of latency"
    );
}

#[tokio::test]
async fn a_visitor_leaving_before_the_head_is_recorded() {
    let store = CaptureStore::new(CaptureConfig::default());
    let service = captured(&store, |_request: Request<TunnelBody>| {
        std::future::pending::<Answer>()
    });
    let mut call = service.oneshot(get("/slow"));
    assert!(poll_once(&mut call).is_none());
    assert_eq!(store.in_flight(), 1);
    assert_eq!(store.get(1).unwrap().outcome, Outcome::InFlight);
    drop(call);
    let exchange = store.get(1).unwrap();
    assert_eq!(exchange.outcome, Outcome::VisitorGone);
    assert!(exchange.response.is_none());
    assert_eq!(store.in_flight(), 0);
}

#[tokio::test]
async fn replays_are_recorded_and_their_ids_returned() {
    let store = CaptureStore::new(CaptureConfig::default());
    let service = captured(&store, |request: Request<TunnelBody>| async move {
        // The local service's side sees the id too.
        let ExchangeId(id) = *request.extensions().get().expect("an id inward");
        Ok(respond(200, id.to_string()))
    });
    send(&service, get("/original")).await;
    let mut replay = get("/original");
    replay.extensions_mut().insert(ReplayOf(1));
    let response = service.oneshot(replay).await.unwrap();
    assert_eq!(response.extensions().get(), Some(&ExchangeId(2)));
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], b"2");

    assert_eq!(store.get(1).unwrap().replay_of, None);
    assert_eq!(store.get(2).unwrap().replay_of, Some(1));
}

#[tokio::test(start_paused = true)]
async fn timings_run_from_when_the_ingress_received_the_request() {
    let store = CaptureStore::new(CaptureConfig::default());
    let service = captured(&store, |_request: Request<TunnelBody>| async {
        advance(millis(7)).await;
        Ok(respond(200, "ok"))
    });
    let mut request = get("/");
    let received = tokio::time::Instant::now().into_std() - millis(3);
    request.extensions_mut().insert(ReceivedAt(received));
    let response = service.clone().oneshot(request).await.unwrap();
    advance(millis(5)).await;
    drain(response.into_body()).await.unwrap();

    let exchange = store.get(1).unwrap();
    assert_eq!(exchange.response_head, Some(millis(10)));
    assert_eq!(exchange.body_end, Some(millis(15)));
    assert_eq!(exchange.duration(), Some(millis(15)));
    let now = store.all()[0].started_at + millis(15);
    let wall_now = store
        .shared()
        .clock
        .wall(tokio::time::Instant::now().into_std());
    assert_eq!(now, wall_now, "started_at is when the ingress received it");

    // Without ReceivedAt: from when the layer was called.
    let response = service.oneshot(get("/")).await.unwrap();
    drain(response.into_body()).await.unwrap();
    let exchange = store.get(2).unwrap();
    assert_eq!(exchange.response_head, Some(millis(7)));
    assert_eq!(exchange.body_end, Some(millis(7)));
}
